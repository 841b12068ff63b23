// The host page's exams panel (PLATFORM.md "Exams"): the signed-in user's exams and a search
// of active exams; "Host live" makes a live game from one (POST /api/exams/{id}/games) and
// goes into the lobby as the editor's start does; the owner's exams open into the editor.
// The server's refusals (paid, proctored, inactive, nothing playable) are said in the page's
// language. Searching needs no account; hosting does.

import { t, has } from "./i18n.js";
import { $, h, setText } from "./ui.js";
import { account, hostExam, listExams } from "./editor-exams.js";

let onHosted = () => {};
let onEdit = async () => false;
let shown = { mine: false, q: "" };
let items = [];
let next = null; // the cursor of the list's next page
let error = null; // {say: () => text, item}: said again in a newly chosen language

function refusal(result) {
  const code = result.error && result.error.code;
  if (code === "unauthorized" || code === "csrf") return t("host.exams.err.signed_out");
  if (code && has(`exam.err.${code}`)) return t(`exam.err.${code}`);
  if (result.status === 0) return t("exam.err.network");
  return t("exam.err.http", { status: result.status });
}

function showError(say, item = null) {
  error = say ? { say, item } : null;
  renderError();
}

function renderError() {
  const box = $("#exams-error");
  setText(box, error ? error.say() : "");
  box.hidden = !error;
  box.dataset.examId = error && error.item ? String(error.item.id) : "";
}

function flags(item) {
  const out = [t("host.setup.questions", { n: item.question_count })];
  if (item.price > 0) out.push(t("host.exams.paid"));
  if (item.proctoring && (item.proctoring.fullscreen || item.proctoring.camera)) out.push(t("host.exams.proctored"));
  if (item.active === false) out.push(t("host.exams.inactive"));
  return out.join(" · ");
}

function row(item) {
  const host = h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": `exams-host-${item.id}`, text: t("host.exams.host") });
  host.addEventListener("click", () => startFrom(item, host));
  const mine = account.user && item.owner === account.user.id;
  const edit = mine ? h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": `exams-edit-${item.id}`, text: t("host.exams.edit") }) : null;
  if (edit) edit.addEventListener("click", () => onEdit(item.id));
  return h(
    "li",
    { class: "sample", "data-testid": "exams-item", "data-exam-id": item.id },
    h("span", { class: "sample-title", text: item.title }),
    h("span", { class: "sample-meta", text: flags(item) }),
    h("span", { class: "editor-library" }, edit, host),
  );
}

function render() {
  $("#exams-mine").hidden = !account.user;
  $("#exams-mine").setAttribute("aria-pressed", String(shown.mine));
  const hint = !account.user ? "host.exams.hint_signed_out" : shown.mine ? "host.exams.hint_mine" : "host.exams.hint_search";
  setText($("#exams-hint"), t(hint, { q: shown.q }));
  $("#exams-list").replaceChildren(...items.map(row));
  if (!items.length) $("#exams-list").append(h("li", { class: "muted", "data-testid": "exams-empty", text: t("host.exams.empty") }));
  if (next) {
    const more = h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": "exams-more", text: t("host.exams.more") });
    more.addEventListener("click", () => loadExams(shown, next));
    $("#exams-list").append(h("li", {}, more));
  }
  renderError();
}

/** Show the first page of `which` ({mine} or {q}), or with `cursor` its next page below the shown. */
export async function loadExams(which = shown, cursor = null) {
  shown = { mine: Boolean(which.mine), q: which.mine ? "" : String(which.q || "").trim() };
  const listed = await listExams({ ...shown, cursor });
  showError(listed.ok ? null : () => refusal(listed));
  items = cursor ? [...items, ...listed.items] : listed.items;
  next = listed.ok ? listed.next : null;
  render();
  document.body.dataset.examsListed = String(items.length);
}

async function startFrom(item, button) {
  showError(null);
  if (!account.user) {
    showError(() => t("host.exams.err.signed_out"), item);
    return;
  }
  button.disabled = true;
  try {
    const made = await hostExam(item.id);
    if (!made.ok) {
      showError(() => refusal(made), item);
      return;
    }
    onHosted(made.game, item);
  } finally {
    button.disabled = false;
  }
}

/** `hosted(game, exam)`: a game exists, go into its lobby; `edit(id)`: open an exam in the editor. */
export function initExamsPanel(hosted, edit) {
  onHosted = hosted;
  onEdit = edit;
  $("#exams-search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    loadExams({ mine: false, q: $("#exams-search").value });
  });
  // The editor saved an exam: a shown "my exams" list gains it.
  document.addEventListener("lq-exam-saved", () => shown.mine && loadExams());
  $("#exams-mine").addEventListener("click", () => {
    $("#exams-search").value = "";
    loadExams({ mine: true });
  });
  return { rerender: render };
}
