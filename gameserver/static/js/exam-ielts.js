// IELTS and CEFR exams on the exam page (PLATFORM.md "IELTS and CEFR"): the section a question
// belongs to (Listening, Reading, Writing, Speaking) with a jump to each, Writing tasks as an
// essay box with a word count, and the result in bands (IELTS) or per-skill percentages (CEFR).
//
// An essay is saved like any text answer (PUT .../answers/{n} {text}) a moment after typing
// stops, and also kept in localStorage on every keystroke until the server has it: a reload or
// a lost connection between two saves loses nothing, the draft is sent again when the question
// shows. Writing and Speaking are graded by a person later, so the result shows each skill as
// it is graded, "awaiting grading" before, and the overall band (with its CEFR level) once both
// are graded; the page asks again every 30 s and on "Check again".

import { t, onLangChange } from "./i18n.js";
import { h, setText } from "./ui.js";

export const SKILLS = ["listening", "reading", "writing", "speaking"];
const DRAFT_PREFIX = "lq_essay:";
const ESSAY_SAVE_DELAY_MS = 800;
const MAX_ESSAY_CHARS = 5000; // the server's bound on a text answer
const POLL_MS = 30 * 1000;

/** An exam in sections (IELTS Academic / General Training, CEFR) rather than a plain list. */
export function isBanded(exam) {
  return Boolean(exam) && exam.kind !== "standard" && Array.isArray(exam.sections);
}

export function isIelts(exam) {
  return String(exam.kind).startsWith("ielts");
}

/** The skill of each position n: positions count through the sections in order. */
export function skillOf(exam, n) {
  let first = 0;
  for (const section of exam.sections) {
    if (n < first + section.questions.length) return section.skill;
    first += section.questions.length;
  }
  return "";
}

/** The heading over a question and a jump to the first question of each section. */
export function renderSections(nav, heading, exam, questions, index, goTo) {
  const here = skillOf(exam, questions[index].n);
  setText(heading, t(`ielts.skill.${here}`));
  heading.hidden = false;
  const buttons = [];
  for (const skill of SKILLS) {
    const at = questions.findIndex((q) => skillOf(exam, q.n) === skill);
    if (at < 0) continue;
    const button = h("button", { type: "button", class: "btn btn-ghost exam-section-tab",
      "data-testid": `section-${skill}`, text: t(`ielts.skill.${skill}`), onclick: () => goTo(at) });
    if (skill === here) button.setAttribute("aria-current", "step");
    buttons.push(button);
  }
  nav.replaceChildren(...buttons);
  nav.hidden = false;
}

export function countWords(text) {
  return text.trim().split(/\s+/).filter(Boolean).length;
}

// Essay saves go one after another (a slow long save never lands after a newer one), and
// finishing first sends what is still waiting for its delay.
let inflight = Promise.resolve();
let waiting = null; // the save of the essay typed last, while its delay runs

/** Send the essay still waiting for its delay and wait for every essay save in flight. */
export async function flushEssay() {
  if (waiting) waiting();
  await inflight;
}

/** The essay box of a Writing task. `save(body)` resolves true once the server has it. */
export function renderEssay(box, question, { attemptId, given, save }) {
  const key = `${DRAFT_PREFIX}${attemptId}:${question.n}`;
  const draft = localStorage.getItem(key);
  const stored = given ? given.text : "";
  const area = h("textarea", { class: "exam-text exam-essay", "data-testid": "essay", maxlength: String(MAX_ESSAY_CHARS),
    placeholder: t("ielts.essay_placeholder"), "aria-describedby": "word-count", spellcheck: "false" });
  const words = h("p", { class: "muted exam-words", id: "word-count", "data-testid": "word-count", "aria-live": "off" });
  area.value = draft !== null ? draft : stored;
  const showCount = () => setText(words, t("ielts.words", { count: countWords(area.value) }));
  let pending = null;
  const commit = () => {
    clearTimeout(pending);
    pending = null;
    if (waiting === commit) waiting = null;
    const text = area.value;
    inflight = inflight.then(async () => {
      if (await save({ text }) && localStorage.getItem(key) === text) localStorage.removeItem(key);
    });
    return inflight;
  };
  area.addEventListener("input", () => {
    localStorage.setItem(key, area.value);
    showCount();
    clearTimeout(pending);
    pending = setTimeout(commit, ESSAY_SAVE_DELAY_MS);
    waiting = commit;
  });
  area.addEventListener("change", commit);
  showCount();
  box.replaceChildren(area, words);
  if (draft !== null && draft !== stored) commit(); // typed before a reload, never saved
  else if (draft !== null) localStorage.removeItem(key);
}

/** Forget the drafts of an attempt that is over. */
export function dropDrafts(attemptId) {
  const prefix = `${DRAFT_PREFIX}${attemptId}:`;
  for (const key of Object.keys(localStorage)) if (key.startsWith(prefix)) localStorage.removeItem(key);
}

// ---- Result ----

export function bandText(band) {
  return Number(band).toFixed(1);
}

function skillRows(exam, result) {
  const ielts = isIelts(exam);
  const scores = (ielts ? result.bands : result.skills) || {};
  const raw = result.raw || {};
  return SKILLS.filter((skill) => exam.sections.some((s) => s.skill === skill)).map((skill) => {
    const value = scores[skill];
    const graded = value !== null && value !== undefined;
    let shown = t("ielts.result.awaiting");
    if (graded) shown = ielts ? bandText(value) : t("ielts.result.percent", { percent: value });
    const note = ielts && raw[skill] != null ? t("ielts.result.raw", { correct: raw[skill] }) : "";
    return h("tr", { "data-testid": `skill-row-${skill}` },
      h("th", { scope: "row", text: t(`ielts.skill.${skill}`) }),
      h("td", { class: "exam-band", "data-testid": `band-${skill}`, "data-graded": String(graded), text: shown }),
      h("td", { class: "muted", text: note }));
  });
}

/** The skills (band or percentage, or awaiting), the overall band, the CEFR level, the comments. */
export function renderResult(root, exam, result) {
  const ielts = isIelts(exam);
  const rows = skillRows(exam, result);
  const table = h("table", { class: "exam-bands-table" },
    h("thead", {}, h("tr", {}, h("th", { text: t("ielts.result.skill") }),
      h("th", { text: ielts ? t("ielts.result.band") : t("ielts.result.score") }), h("th", {}))),
    h("tbody", {}, ...rows));
  const parts = [table];
  if (ielts) {
    const overall = result.overall;
    parts.push(h("p", { class: "exam-overall", "data-testid": "overall-band", "data-released": String(overall != null),
      text: overall != null ? t("ielts.result.overall", { band: bandText(overall) }) : t("ielts.result.overall_pending") }));
  }
  parts.push(h("p", { class: "exam-cefr", "data-testid": "cefr-level",
    text: result.cefr ? t("ielts.result.cefr", { level: result.cefr }) : t("ielts.result.cefr_pending") }));
  const comments = result.comments || {};
  for (const skill of ["writing", "speaking"]) {
    if (!comments[skill]) continue;
    parts.push(h("div", { class: "exam-comment", "data-testid": `comment-${skill}` },
      h("h3", { text: t("ielts.result.comment", { skill: t(`ielts.skill.${skill}`) }) }),
      h("p", { text: comments[skill] })));
  }
  root.replaceChildren(...parts);
}

function released(exam, result) {
  return isIelts(exam) ? result.overall != null : Boolean(result.cefr);
}

let polling = null;
let shown = null; // {root, exam, result}: what the result shows, re-rendered in a new language
onLangChange(() => shown && renderResult(shown.root, shown.exam, shown.result));

/**
 * Show the banded result of `attemptId` in `root` and keep it current until released:
 * GET /api/attempts/{id} now, on "Check again" (`refresh`) and every 30 s.
 */
export async function showBandResult(root, refresh, exam, attemptId, api) {
  clearInterval(polling);
  let last = null;
  const load = async () => {
    refresh.disabled = true;
    const { status, data } = await api("GET", `/api/attempts/${attemptId}`);
    refresh.disabled = false;
    if (status !== 200 || !data.result) return;
    last = data.result;
    shown = { root, exam, result: last };
    renderResult(root, exam, last);
    root.hidden = false;
    const done = released(exam, last);
    refresh.hidden = done;
    document.body.dataset.released = String(done);
    if (done) clearInterval(polling);
  };
  refresh.onclick = load;
  dropDrafts(attemptId);
  await load();
  if (!last || !released(exam, last)) polling = setInterval(load, POLL_MS);
}

/** A list entry's words: when it finished, and its overall band or CEFR level once released
 * (the list carries the same result fields as the attempt itself). */
function myResultText(attempt) {
  const when = new Date(attempt.finished_at).toLocaleString();
  const result = attempt.result || {};
  if (result.overall !== null && result.overall !== undefined) {
    return t("ielts.my_result_band", { when, band: bandText(result.overall), cefr: result.cefr });
  }
  if (result.cefr) return t("ielts.my_result_cefr", { when, cefr: result.cefr });
  return t("ielts.my_result", { when });
}

/** On the intro of a banded exam: the caller's finished attempts at it, each a link to its result. */
export async function listMyResults(list, examId, api) {
  const { status, data } = await api("GET", "/api/me/attempts?limit=50");
  if (status !== 200) return;
  const mine = data.items.filter((a) => String(a.exam_id) === String(examId) && a.state === "finished");
  list.replaceChildren(...mine.map((a) => h("li", {},
    h("a", { href: `/exam?id=${examId}&attempt=${a.id}`, "data-testid": "my-result", text: myResultText(a) }))));
  list.hidden = mine.length === 0;
}
