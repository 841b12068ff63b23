// The editor's account side (PLATFORM.md "Exams"): once signed in, a quiz is saved as one of the
// user's exams (POST /api/exams, then PATCH on later saves) and "my exams" open back into the
// editor. An editor question is a `select_one` exam question: options, `correct` (an index) and
// its own `time_limit` (seconds in a group game). Exams keep no images and no "get ready"
// seconds: those stay in the browser's draft. Only exams the editor can show whole are opened:
// a PATCH replaces the questions, so one with other question types, sections, `extra` questions
// or more options than the editor has would lose them.

import { api, adoptCsrfCookie, CSRF_KEY } from "./account-api.js";
import { requestBody } from "./editor-body.js";

export const MAX_EDITOR_OPTIONS = 6;

/** Who is signed in here, or null. Only a browser holding a session's CSRF token asks. */
export const account = { user: null };

export async function detectAccount() {
  adoptCsrfCookie();
  if (!localStorage.getItem(CSRF_KEY)) return null;
  const { status, data } = await api("GET", "/api/me");
  account.user = status === 200 && data && data.username ? data : null;
  return account.user;
}

/** The exam body of an editor quiz: the game's questions (`select_one`, each with its own
 * time limit) without images or game settings, which exams do not keep. */
export function examBody(quiz) {
  const { title, questions } = requestBody(quiz);
  return { title, questions };
}

/** Why the editor cannot open this exam whole (an i18n key), or null. */
export function notEditable(exam) {
  if (!exam || exam.sections || !Array.isArray(exam.questions)) return "host.exams.err.not_editable";
  const plain = (q) => q.type === "select_one" && !q.extra && !q.module && Array.isArray(q.options)
    && q.options.length <= MAX_EDITOR_OPTIONS && Number.isInteger(q.correct);
  return exam.questions.every(plain) ? null : "host.exams.err.not_editable";
}

/** An exam (with its answers, as its owner sees it) as the editor's raw quiz. */
export function quizOfExam(exam) {
  return {
    id: null,
    exam_id: exam.id,
    title: exam.title,
    questions: exam.questions.map((q) => ({
      text: q.text, options: q.options, correct: q.correct, time_limit: q.time_limit ?? 20, image: null,
    })),
  };
}

/** A pydantic `loc` of an exam body without the question type's tag, so it reads as the
 * game's: ["questions", 0, "select_one", "options", 1] -> ["questions", 0, "options", 1]. */
export function gameLoc(loc) {
  if (!Array.isArray(loc)) return loc;
  const out = loc[0] === "body" ? loc.slice(1) : loc.slice();
  if (out[0] === "questions" && Number.isInteger(out[1]) && typeof out[2] === "string" && out[2].startsWith("select_")) {
    out.splice(2, 1);
  }
  return out;
}

/**
 * Save the quiz to the account: PATCH the exam it came from (if its owner is still the one
 * signed in), else create one. `{ok, exam}` or `{ok: false, status, error}`.
 */
export async function saveExam(quiz) {
  const body = examBody(quiz);
  if (quiz.exam_id) {
    const edited = await api("PATCH", `/api/exams/${encodeURIComponent(quiz.exam_id)}`, body);
    if (edited.status === 200) return { ok: true, exam: edited.data, created: false };
    if (edited.status !== 403 && edited.status !== 404) return { ok: false, status: edited.status, error: edited.data?.error };
  }
  const made = await api("POST", "/api/exams", body);
  if (made.status === 201) return { ok: true, exam: made.data, created: true };
  return { ok: false, status: made.status, error: made.data?.error };
}

export async function openExam(id) {
  const { status, data } = await api("GET", `/api/exams/${encodeURIComponent(id)}`);
  if (status !== 200 || !data) return { ok: false, status, error: data?.error };
  return { ok: true, exam: data };
}

/** A page of exams: `{mine: true}` the caller's own, else active exams matching `q`. */
export async function listExams({ mine = false, q = "", cursor = null } = {}) {
  const params = new URLSearchParams({ limit: "50" });
  if (mine) params.set("mine", "1");
  else if (q) params.set("q", q);
  if (cursor) params.set("cursor", cursor);
  const { status, data } = await api("GET", `/api/exams?${params}`);
  if (status !== 200 || !data) return { ok: false, status, error: data?.error, items: [] };
  return { ok: true, items: data.items || [], next: data.next_cursor || null };
}

/** Host a live game from an exam: `{ok, game}` (pin, host_token, question_count, skipped) or the refusal. */
export async function hostExam(id) {
  const { status, data } = await api("POST", `/api/exams/${encodeURIComponent(id)}/games`, {});
  if (status === 201 && data && data.pin) return { ok: true, game: data };
  return { ok: false, status, error: data?.error };
}
