// What the editor sends and how the server's refusals map back to its fields: a quiz as
// `POST /api/games` takes it (editor-exams.js sends the same questions as an exam's), the
// editor field a pydantic `loc` names, and the message (an i18n key) that field shows.

/** Which editor field a pydantic `loc` names (PROTOCOL.md `details`). */
export function fieldOf(loc) {
  if (!Array.isArray(loc) || !loc.length) return "questions";
  const [head, n, field] = loc;
  if (head === "title") return "title";
  if (head === "settings") return "lead_in";
  if (head === "questions" && Number.isInteger(n)) {
    if (field === "text") return `text-${n}`;
    if (field === "options") return `options-${n}`;
    if (field === "time_limit") return `time-${n}`;
    if (field === "image") return `image-${n}`;
    return `correct-${n}`; // `correct` itself, or the whole question (correct out of range)
  }
  return "questions";
}

/** Two answers that differ only in case or spaces: the server refuses them as one. */
function hasRepeats(q) {
  const filled = (q ? q.options : []).map((o) => o.trim().toLocaleLowerCase()).filter(Boolean);
  return new Set(filled).size !== filled.length;
}

/** The i18n key of the message under the field `key` of `quiz`. */
export function messageOf(key, quiz) {
  if (key === "title") return "host.editor.err.title";
  if (key === "lead_in") return "host.editor.err.lead_in";
  if (key === "questions") return "host.editor.err.questions";
  const [field, n] = key.split("-");
  if (field === "options" && hasRepeats(quiz.questions[Number(n)])) return "host.editor.err.options_differ";
  return `host.editor.err.${field}`;
}

/** A `data:` URL (an editor image) as a Blob to upload. */
export function dataUrlBlob(url) {
  const [head, body] = url.split(",", 2);
  const type = head.slice(5).split(";")[0];
  const bytes = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  return new Blob([bytes], { type });
}

/** The quiz as `POST /api/games` takes it. Empty option fields are left out. */
export function requestBody(quiz, images = []) {
  return {
    title: quiz.title.trim(),
    questions: quiz.questions.map((q, n) => {
      const kept = [];
      let correct = null;
      q.options.forEach((o, m) => {
        if (!o.trim()) return;
        if (m === q.correct) correct = kept.length;
        kept.push(o.trim());
      });
      const out = { type: "select_one", text: q.text.trim(), options: kept, correct, time_limit: q.time_limit };
      if (images[n]) out.image = images[n];
      return out;
    }),
    settings: { lead_in_s: quiz.lead_in_s },
  };
}
