// The grading page (PLATFORM.md "IELTS and CEFR"): Writing and Speaking of IELTS and CEFR
// attempts are graded by a person, the exam's owner or a grader they named.
//
// The queue is GET /api/grading (finished attempts with a human-graded skill still ungraded,
// paged). Opening one reads the attempt (a grader sees its answers: the essays' text and which
// speaking prompts have audio) and the exam (which position belongs to which skill). The audio
// plays straight from GET /api/attempts/{id}/audio/{n}, the session cookie authorising it.
// A grade is a band 0–9 in half bands (IELTS) or a percentage (CEFR) with a comment, sent to
// POST /api/attempts/{id}/grades; grading again replaces it. `?attempt=ID` opens one directly.
// Owners of IELTS/CEFR exams name their graders in a panel below the queue (grading-graders.js).

import { initI18n, t, has, onLangChange } from "./i18n.js";
import { h, $, showScreen, setText } from "./ui.js";
import { api } from "./account-api.js";
import { isIelts, skillOf, bandText, countWords, renderResult } from "./exam-ielts.js";
import { mountGraders } from "./grading-graders.js";

const PAGE_SIZE = 20;
const GRADED_SKILLS = ["writing", "speaking"];
const BANDS = Array.from({ length: 19 }, (_, i) => i / 2); // 0, 0.5, … 9
const MAX_COMMENT = 5000; // the server's bound (persistence/ielts/grading.py)

let queueCursor = null;
const queued = new Map(); // attempt id → its queue entry (the candidate's name)
let opened = null; // {attempt, exam}

function showError(data, status) {
  const code = data && data.error ? data.error.code : "";
  const box = $("#error");
  if (code && has(`ielts.err.${code}`)) box.textContent = t(`ielts.err.${code}`);
  else if (data && data.error && data.error.message) box.textContent = data.error.message;
  else box.textContent = t("ielts.err.http", { status });
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "";
}

function gradeText(value, ielts) {
  if (value && typeof value === "object") value = ielts ? value.band : value.percent;
  if (value === null || value === undefined) return "";
  return ielts ? bandText(value) : t("ielts.result.percent", { percent: value });
}

// ---- Queue ----

function queueItem(item) {
  queued.set(item.attempt_id, item);
  const ielts = String(item.kind).startsWith("ielts");
  const awaiting = (item.awaiting || []).map((skill) => t(`ielts.skill.${skill}`)).join(", ");
  const graded = Object.entries(item.graded || {})
    .map(([skill, value]) => [skill, gradeText(value, ielts)]).filter(([, text]) => text)
    .map(([skill, text]) => `${t(`ielts.skill.${skill}`)} ${text}`).join(", ");
  return h("li", { "data-testid": "grading-item", "data-attempt": String(item.attempt_id) },
    h("div", { class: "h-title", text: item.exam_title }),
    h("div", { class: "h-meta", text: t("ielts.grading.candidate", { name: item.candidate, when: when(item.finished_at) }) }),
    h("div", { "data-testid": "grading-awaiting", text: t("ielts.grading.awaiting", { skills: awaiting }) }),
    graded ? h("div", { class: "muted", "data-testid": "grading-graded", text: t("ielts.grading.graded", { grades: graded }) })
      : null,
    h("button", { type: "button", class: "btn btn-primary", "data-testid": "grading-open", text: t("ielts.grading.open"),
      onclick: () => openAttempt(item.attempt_id) }));
}

async function loadQueue(more = false) {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (more && queueCursor) params.set("cursor", queueCursor);
  const { status, data } = await api("GET", `/api/grading?${params}`);
  if (status !== 200) return showError(data, status);
  const items = data.items.map(queueItem);
  if (more) $("#queue").append(...items);
  else $("#queue").replaceChildren(...items);
  queueCursor = data.next_cursor;
  $("#queue-more").hidden = !queueCursor;
  $("#queue-empty").hidden = $("#queue").children.length > 0;
  document.body.dataset.queued = String($("#queue").children.length);
  return undefined;
}

function showQueue() {
  opened = null;
  clearError();
  history.replaceState(null, "", "/grading");
  showScreen("screen-queue");
  loadQueue();
}

// ---- One attempt ----

function answerView(attempt, exam, question, answer) {
  const n = question.n;
  if (skillOf(exam, n) === "writing") {
    if (!answer || !answer.text) return h("p", { class: "muted", text: t("ielts.grading.no_essay") });
    return h("div", {},
      h("div", { class: "grading-essay", "data-testid": `essay-${n}`, text: answer.text }),
      h("p", { class: "muted", "data-testid": `essay-words-${n}`, text: t("ielts.words", { count: countWords(answer.text) }) }));
  }
  if (answer && answer.audio) {
    return h("audio", { controls: true, preload: "metadata", "data-testid": `audio-${n}`,
      src: `/api/attempts/${attempt.id}/audio/${n}` });
  }
  return h("p", { class: "muted", "data-testid": `no-audio-${n}`,
    text: exam.speaking_mode === "scheduled" ? t("ielts.grading.live_call") : t("ielts.grading.no_audio") });
}

function gradeForm(attempt, exam, skill) {
  const ielts = isIelts(exam);
  const result = attempt.result || {};
  const current = ielts ? (result.bands || {})[skill] : (result.skills || {})[skill];
  const graded = current !== null && current !== undefined;
  let score;
  if (ielts) {
    score = h("select", { class: "big-input", id: `score-${skill}`, "data-testid": `grade-band-${skill}`, required: true },
      h("option", { value: "", text: t("ielts.grading.choose_band") }),
      ...BANDS.map((band) => h("option", { value: String(band), text: bandText(band) })));
    score.value = graded ? String(current) : "";
  } else {
    score = h("input", { class: "big-input", id: `score-${skill}`, "data-testid": `grade-percent-${skill}`, type: "number",
      min: "0", max: "100", step: "1", inputmode: "numeric", required: true });
    score.value = graded ? String(current) : "";
  }
  const comment = h("textarea", { class: "exam-text", id: `comment-${skill}`, "data-testid": `grade-comment-${skill}`,
    maxlength: String(MAX_COMMENT), rows: "4" });
  comment.value = (result.comments || {})[skill] || "";
  const state = h("p", { class: "muted", "data-testid": `graded-${skill}`, "aria-live": "polite",
    text: graded ? t("ielts.grading.graded_as", { grade: gradeText(current, ielts) }) : t("ielts.grading.not_graded") });
  const form = h("form", { class: "account-form grading-form", novalidate: true },
    h("label", { class: "field-label", for: `score-${skill}`, text: ielts ? t("ielts.result.band") : t("ielts.result.score") }),
    score,
    h("label", { class: "field-label", for: `comment-${skill}`, text: t("ielts.grading.comment") }),
    comment,
    h("button", { type: "submit", class: "btn btn-primary", "data-testid": `grade-${skill}`,
      text: t("ielts.grading.submit", { skill: t(`ielts.skill.${skill}`) }) }),
    state);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearError();
    const value = score.value.trim();
    if (value === "" || !Number.isFinite(Number(value))) return showError({ error: { code: "choose_grade" } }, 0);
    const body = { section: skill, comment: comment.value.trim() };
    body[ielts ? "band" : "percent"] = Number(value);
    const button = form.querySelector("button");
    button.disabled = true;
    const { status, data } = await api("POST", `/api/attempts/${attempt.id}/grades`, body);
    button.disabled = false;
    if (status !== 200) return showError(data, status);
    attempt.result = data;
    renderResult($("#scores"), exam, data);
    const now = ielts ? (data.bands || {})[skill] : (data.skills || {})[skill];
    setText(state, t("ielts.grading.graded_as", { grade: gradeText(now, ielts) }));
    state.dataset.saved = "true";
    return undefined;
  });
  return form;
}

function renderAttempt() {
  const { attempt, exam } = opened;
  const entry = queued.get(attempt.id);
  setText($("#attempt-title"), exam.title);
  setText($("#attempt-meta"), entry ? t("ielts.grading.candidate", { name: entry.candidate, when: when(attempt.finished_at) })
    : t("ielts.grading.attempt", { id: attempt.id, when: when(attempt.finished_at) }));
  renderResult($("#scores"), exam, attempt.result || {});
  const answers = new Map((attempt.answers || []).map((a) => [a.n, a]));
  const panels = GRADED_SKILLS.filter((skill) => exam.sections.some((s) => s.skill === skill)).map((skill) => {
    const questions = attempt.questions.filter((q) => skillOf(exam, q.n) === skill);
    return h("section", { class: "panel grading-skill", "data-testid": `grading-${skill}` },
      h("h2", { text: t(`ielts.skill.${skill}`) }),
      ...questions.map((q) => h("div", { class: "grading-task" },
        h("h3", { class: "grading-prompt", text: q.text }), answerView(attempt, exam, q, answers.get(q.n)))),
      gradeForm(attempt, exam, skill));
  });
  $("#work").replaceChildren(...panels);
}

async function openAttempt(attemptId) {
  clearError();
  const found = await api("GET", `/api/attempts/${attemptId}`);
  if (found.status !== 200) return showError(found.data, found.status);
  const examFound = await api("GET", `/api/exams/${found.data.exam_id}`);
  if (examFound.status !== 200) return showError(examFound.data, examFound.status);
  if (!Array.isArray(examFound.data.sections)) return showError({ error: { code: "not_banded" } }, 0);
  opened = { attempt: found.data, exam: examFound.data };
  history.replaceState(null, "", `/grading?attempt=${attemptId}`);
  renderAttempt();
  showScreen("screen-attempt");
  document.body.dataset.opened = String(attemptId);
  return undefined;
}

// ---- Boot ----

async function boot() {
  await initI18n($("#lang"));
  $("#back").addEventListener("click", showQueue);
  $("#queue-more").addEventListener("click", () => loadQueue(true));
  onLangChange(() => {
    if (opened) renderAttempt();
    else if ($("#screen-queue").hidden === false) loadQueue();
  });
  const me = await api("GET", "/api/me");
  if (me.status !== 200) {
    $("#signed-out").hidden = false;
    document.body.dataset.ready = "true";
    return;
  }
  setText($("#signed-in-as"), me.data.username ? `@${me.data.username}` : "");
  mountGraders();
  const wanted = new URLSearchParams(location.search).get("attempt") || "";
  if (/^[0-9]{1,12}$/.test(wanted)) await openAttempt(wanted);
  else showQueue();
  document.body.dataset.ready = "true";
}

boot();
