// The editor's import (.xlsx/.csv in Kahoot's layout, GIFT, Aiken) and export, through
// /api/quiz/import and /api/quiz/export; the editor hands in how to replace its quiz.

import { t } from "./i18n.js";
import { $, h } from "./ui.js";

const KNOWN_IMPORT_ERRORS = ["unsupported_format", "file_too_large", "no_questions", "bad_row"];

async function importFile(file, editor) {
  if (!file) return;
  editor.note("");
  const res = await fetch(`/api/quiz/import?filename=${encodeURIComponent(file.name)}`, { method: "POST", body: file });
  const data = await res.json().catch(() => null);
  $("#editor-import").value = "";
  if (!res.ok || !data || !data.quiz) {
    const where = data?.error?.details?.[0]?.loc;
    const line = Array.isArray(where) && Number.isInteger(where[1]) ? where[1] : null;
    const code = data?.error?.code || "import_failed";
    const known = KNOWN_IMPORT_ERRORS.includes(code) ? code : "import_failed";
    editor.note(t(`host.editor.import_err.${known}`, { line: line ?? "?", file: file.name }), true);
    return;
  }
  const n = editor.replace(data.quiz);
  editor.note(t("host.editor.imported", { n, skipped: data.skipped || 0, file: file.name }));
}

async function exportQuiz(editor) {
  const format = $("#editor-export-format").value;
  const body = editor.requestBody();
  const res = await fetch(`/api/quiz/export?format=${encodeURIComponent(format)}`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  if (!res.ok) {
    editor.note(t("host.editor.export_failed"), true);
    return;
  }
  const blob = await res.blob();
  const safe = (editor.title() || "quiz").replace(/[^\p{L}\p{N}_-]+/gu, "_").slice(0, 60) || "quiz";
  const a = h("a", { href: URL.createObjectURL(blob), download: `${safe}.${format === "gift" || format === "aiken" ? "txt" : format}` });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

/** `editor`: {note(text, bad), requestBody(), title(), replace(rawQuiz) -> question count}. */
export function initEditorIo(editor) {
  $("#editor-import").addEventListener("change", (ev) => importFile(ev.target.files[0], editor));
  $("#editor-export").addEventListener("click", () => exportQuiz(editor));
}
