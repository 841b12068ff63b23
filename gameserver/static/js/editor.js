// The quiz editor on the host page: title, get-ready seconds, questions with 2–6 options, the
// correct one, a time limit and an optional image. Quizzes are kept in this browser
// (localStorage) for a visitor; once signed in, in the account as exams (editor-exams.js). The
// server is the one judge of a quiz:
// its `details` (pydantic `loc`s) are mapped back to the fields and said in the page's language.
// Import (.xlsx/.csv in Kahoot's layout, GIFT, Aiken) and export go through /api/quiz/*.

import { t } from "./i18n.js";
import { $, h, optionBadge, setText } from "./ui.js";
import { account, detectAccount, gameLoc, listExams, notEditable, openExam, quizOfExam, saveExam } from "./editor-exams.js";
import { initEditorIo } from "./editor-io.js";
import { dataUrlBlob, fieldOf, messageOf, requestBody as bodyOf } from "./editor-body.js";

const LS_QUIZZES = "livequiz.editor.quizzes";
const LS_DRAFT = "livequiz.editor.draft";
const MIN_OPTIONS = 2;
const MAX_OPTIONS = 6;
const DEFAULT_TIME = 20;
const DEFAULT_LEAD_IN = 4;
const MAX_IMAGE_BYTES = 512 * 1024; // the server's bound (gameserver/images.py)
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"];

const blankQuestion = () => ({ text: "", options: ["", "", "", ""], correct: null, time_limit: DEFAULT_TIME, image: null });
const blankQuiz = () => ({ id: null, exam_id: null, title: "", lead_in_s: DEFAULT_LEAD_IN, questions: [blankQuestion()] });

let quiz = blankQuiz();
let errors = {}; // field key -> i18n key of the message
let onStart = () => {};
let myExams = []; // the signed-in user's exams: [{id, title, ...}]

// ---------- storage ----------

function readSaved() {
  try {
    const all = JSON.parse(localStorage.getItem(LS_QUIZZES) || "{}");
    return all && typeof all === "object" ? all : {};
  } catch {
    return {};
  }
}

function writeStorage(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
    return true;
  } catch {
    return false; // quota (large images) or storage disabled
  }
}

function saveDraft() {
  writeStorage(LS_DRAFT, quiz);
}

function normalise(raw) {
  const q = blankQuiz();
  if (!raw || typeof raw !== "object") return q;
  q.id = typeof raw.id === "string" ? raw.id : null;
  q.exam_id = Number.isInteger(raw.exam_id) ? raw.exam_id : null;
  q.title = String(raw.title ?? "");
  const lead = Number(raw.lead_in_s ?? raw.settings?.lead_in_s);
  q.lead_in_s = Number.isFinite(lead) ? lead : DEFAULT_LEAD_IN;
  const questions = Array.isArray(raw.questions) ? raw.questions : [];
  q.questions = questions.map((x) => ({
    text: String(x.text ?? ""),
    options: Array.isArray(x.options) ? x.options.map(String).slice(0, MAX_OPTIONS) : ["", ""],
    correct: Number.isInteger(x.correct) ? x.correct : null,
    time_limit: Number.isFinite(Number(x.time_limit)) ? Number(x.time_limit) : DEFAULT_TIME,
    image: typeof x.image === "string" && x.image.startsWith("data:image/") ? x.image : null,
  }));
  for (const x of q.questions) while (x.options.length < MIN_OPTIONS) x.options.push("");
  if (!q.questions.length) q.questions.push(blankQuestion());
  return q;
}

async function saveQuiz() {
  if (account.user) return saveToAccount();
  if (!quiz.id) quiz.id = `q${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const all = readSaved();
  all[quiz.id] = { ...quiz, saved_at: Date.now() };
  if (!writeStorage(LS_QUIZZES, all)) {
    note(t("host.editor.save_failed"), true);
    return;
  }
  saveDraft();
  renderSavedList();
  note(t("host.editor.saved", { title: quiz.title || t("host.editor.untitled") }));
}

async function saveToAccount() {
  errors = {};
  render();
  note("");
  const button = $("#editor-save");
  button.disabled = true;
  try {
    const saved = await saveExam(quiz);
    if (!saved.ok) {
      if (saved.error && saved.error.code === "invalid") showServerErrors(saved.error.details, "host.editor.fix_marked_save");
      else note(t(`host.exams.err.${saved.error?.code === "unauthorized" || saved.error?.code === "csrf" ? "signed_out" : "save"}`, { status: saved.status }), true);
      return;
    }
    quiz.exam_id = saved.exam.id;
    quiz.id = null;
    saveDraft();
    await refreshMyExams();
    render();
    note(t("host.editor.saved_exam", { title: saved.exam.title }));
    document.dispatchEvent(new CustomEvent("lq-exam-saved", { detail: { id: saved.exam.id } }));
  } finally {
    button.disabled = false;
  }
}

async function refreshMyExams() {
  const listed = account.user ? await listExams({ mine: true }) : { items: [] };
  myExams = listed.items;
}

/** Open one of the signed-in user's exams in the editor (from the list or the host page's panel). */
export async function openExamInEditor(id) {
  const opened = await openExam(id);
  const why = opened.ok ? notEditable(opened.exam) : `host.exams.err.open`;
  if (why) {
    note(t(why, { status: opened.status }), true);
    renderSavedList();
    return false;
  }
  quiz = normalise(quizOfExam(opened.exam));
  errors = {};
  saveDraft();
  render();
  note(t("host.editor.loaded", { title: quiz.title }));
  $("#editor").scrollIntoView({ block: "start" });
  return true;
}

function loadQuiz(id) {
  if (id.startsWith("exam:")) return openExamInEditor(Number(id.slice(5)));
  const all = readSaved();
  if (!all[id]) return;
  quiz = normalise(all[id]);
  errors = {};
  saveDraft();
  render();
  note(t("host.editor.loaded", { title: quiz.title || t("host.editor.untitled") }));
}

function deleteQuiz() {
  if (!quiz.id || quiz.exam_id) return;
  const all = readSaved();
  delete all[quiz.id];
  writeStorage(LS_QUIZZES, all);
  quiz = blankQuiz();
  errors = {};
  saveDraft();
  render();
}

// ---------- rendering ----------

function note(text, bad = false) {
  const el = $("#editor-note");
  setText(el, text);
  el.classList.toggle("bad", bad);
}

function fieldError(key) {
  return h("p", { class: "field-error", "data-testid": `error-${key}`, id: `error-${key}`, hidden: !errors[key], text: errors[key] ? t(errors[key]) : "" });
}

function invalid(el, key) {
  if (errors[key]) {
    el.setAttribute("aria-invalid", "true");
    el.setAttribute("aria-describedby", `error-${key}`);
  }
  return el;
}

function renderSavedList() {
  const select = $("#editor-saved");
  const all = readSaved();
  const entries = Object.entries(all).sort((a, b) => (b[1].saved_at || 0) - (a[1].saved_at || 0));
  const local = entries.map(([id, q]) => h("option", { value: id, text: q.title || t("host.editor.untitled"), selected: id === quiz.id && !quiz.exam_id }));
  if (account.user) {
    const exams = myExams.map((e) => h("option", { value: `exam:${e.id}`, text: e.title, selected: e.id === quiz.exam_id }));
    select.replaceChildren(
      h("option", { value: "", text: t("host.editor.my_exams", { n: myExams.length }) }),
      h("optgroup", { label: t("host.editor.in_account") }, ...exams),
      local.length ? h("optgroup", { label: t("host.editor.in_browser") }, ...local) : null,
    );
  } else {
    select.replaceChildren(h("option", { value: "", text: t("host.editor.my_quizzes", { n: entries.length }) }), ...local);
  }
  $("#editor-delete").disabled = !quiz.id || Boolean(quiz.exam_id) || !all[quiz.id];
  renderWhere();
}

/** Which exam (or the browser) the editor saves to. */
function renderWhere() {
  const hint = $("#editor-hint");
  hint.dataset.i18n = account.user ? "host.editor.hint_account" : "host.editor.hint";
  setText(hint, t(hint.dataset.i18n));
  const where = $("#editor-exam");
  const exam = quiz.exam_id ? myExams.find((e) => e.id === quiz.exam_id) : null;
  where.dataset.examId = quiz.exam_id ? String(quiz.exam_id) : "";
  if (!account.user) setText(where, t("host.editor.where_browser"));
  else if (quiz.exam_id) setText(where, t("host.editor.where_exam", { id: quiz.exam_id, title: exam ? exam.title : quiz.title }));
  else setText(where, t("host.editor.where_new_exam"));
}

function questionCard(q, n) {
  const card = h("li", { class: "ed-q", "data-index": n, "data-testid": `question-${n}` });
  const remove = h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": `remove-question-${n}`, text: t("host.editor.remove_question"), disabled: quiz.questions.length <= 1 });
  remove.addEventListener("click", () => {
    quiz.questions.splice(n, 1);
    changed(true);
  });
  card.append(h("div", { class: "ed-q-head" }, h("span", { class: "ed-q-num", text: t("host.editor.question_n", { n: n + 1 }) }), remove));

  const text = invalid(h("textarea", { class: "ed-text", rows: 2, maxlength: 500, "data-testid": `question-text-${n}`, "aria-label": t("host.editor.question_n", { n: n + 1 }), placeholder: t("host.editor.question_placeholder") }), `text-${n}`);
  text.value = q.text;
  text.addEventListener("input", () => {
    q.text = text.value;
    changed();
  });
  card.append(text, fieldError(`text-${n}`));

  const options = h("div", { class: "ed-options", role: "radiogroup", "aria-label": t("host.editor.options") });
  q.options.forEach((value, m) => {
    const radio = h("input", { type: "radio", name: `correct-${n}`, "data-testid": `correct-${n}-${m}`, checked: q.correct === m, "aria-label": t("host.editor.correct_option", { letter: "ABCDEF"[m] }) });
    radio.addEventListener("change", () => {
      q.correct = m;
      changed();
    });
    const input = invalid(h("input", { type: "text", class: "ed-opt-input", maxlength: 150, "data-testid": `option-${n}-${m}`, "aria-label": t("host.editor.option_letter", { letter: "ABCDEF"[m] }), placeholder: t("host.editor.option_placeholder") }), `options-${n}`);
    input.value = value;
    input.addEventListener("input", () => {
      q.options[m] = input.value;
      changed();
    });
    const drop = h("button", { type: "button", class: "ed-opt-remove", "data-testid": `remove-option-${n}-${m}`, "aria-label": t("host.editor.remove_option"), title: t("host.editor.remove_option"), text: "×", disabled: q.options.length <= MIN_OPTIONS });
    drop.addEventListener("click", () => {
      q.options.splice(m, 1);
      if (q.correct === m) q.correct = null;
      else if (q.correct !== null && q.correct > m) q.correct -= 1;
      changed(true);
    });
    options.append(h("div", { class: `ed-opt opt-${m}` }, radio, optionBadge(m), input, drop));
  });
  card.append(options, fieldError(`options-${n}`), fieldError(`correct-${n}`));

  const addOption = h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": `add-option-${n}`, text: t("host.editor.add_option"), disabled: q.options.length >= MAX_OPTIONS });
  addOption.addEventListener("click", () => {
    q.options.push("");
    changed(true);
  });

  const time = invalid(h("input", { type: "number", class: "ed-time", min: 5, max: 120, step: 1, "data-testid": `time-limit-${n}`, id: `time-limit-${n}` }), `time-${n}`);
  time.value = String(q.time_limit ?? "");
  time.addEventListener("input", () => {
    q.time_limit = time.value === "" ? null : Number(time.value);
    changed();
  });

  const image = h("input", { type: "file", accept: IMAGE_TYPES.join(","), "data-testid": `image-${n}`, id: `image-${n}` });
  image.addEventListener("change", () => readImage(q, n, image.files[0]));
  const imageRow = h("div", { class: "ed-image" }, h("label", { class: "btn btn-ghost btn-small file-btn" }, h("span", { text: t("host.editor.image") }), image));
  if (q.image) {
    const dropImage = h("button", { type: "button", class: "btn btn-ghost btn-small", "data-testid": `remove-image-${n}`, text: t("host.editor.remove_image") });
    dropImage.addEventListener("click", () => {
      q.image = null;
      changed(true);
    });
    imageRow.append(h("img", { class: "ed-image-preview", src: q.image, alt: "", "data-testid": `image-preview-${n}` }), dropImage);
  }
  card.append(
    h(
      "div",
      { class: "ed-q-foot" },
      addOption,
      h("label", { class: "ed-time-label", for: `time-limit-${n}` }, h("span", { text: t("host.editor.time_limit") }), time),
      imageRow,
    ),
    fieldError(`time-${n}`),
    fieldError(`image-${n}`),
  );
  return card;
}

function render() {
  const title = $("#editor-title");
  if (title.value !== quiz.title) title.value = quiz.title;
  invalid(title, "title");
  if (!errors.title) title.removeAttribute("aria-invalid");
  const lead = $("#editor-lead-in");
  lead.value = String(quiz.lead_in_s ?? "");
  for (const key of ["title", "lead_in", "questions"]) {
    const el = $(`#error-${key}`);
    el.hidden = !errors[key];
    setText(el, errors[key] ? t(errors[key]) : "");
  }
  const list = $("#editor-questions");
  list.replaceChildren(...quiz.questions.map(questionCard));
  $("#editor-add-question").disabled = quiz.questions.length >= 200;
  renderSavedList();
}

function changed(structural = false) {
  saveDraft();
  if (structural) render();
}

function readImage(q, n, file) {
  delete errors[`image-${n}`];
  if (!file) return;
  if (!IMAGE_TYPES.includes(file.type) || file.size > MAX_IMAGE_BYTES) {
    errors[`image-${n}`] = file.size > MAX_IMAGE_BYTES ? "host.editor.err.image_size" : "host.editor.err.image_type";
    render();
    return;
  }
  const reader = new FileReader();
  reader.onload = () => {
    q.image = String(reader.result || "");
    changed(true);
  };
  reader.readAsDataURL(file);
}

// ---------- server errors -> fields ----------

export function showServerErrors(details, noteKey = "host.editor.fix_marked") {
  errors = {};
  for (const d of details || []) {
    const key = fieldOf(gameLoc(d && d.loc));
    errors[key] = messageOf(key, quiz);
  }
  if (!Object.keys(errors).length) errors.questions = "host.editor.err.questions";
  render();
  note(t(noteKey), true);
  const first = document.querySelector("#editor [aria-invalid='true'], #editor .field-error:not([hidden])");
  if (first) first.scrollIntoView({ block: "center" });
}

// ---------- building the request ----------

/** The quiz as `POST /api/games` takes it. */
export function requestBody(images = []) {
  return bodyOf(quiz, images);
}

async function uploadImages() {
  const ids = [];
  for (const [n, q] of quiz.questions.entries()) {
    if (!q.image) {
      ids.push(null);
      continue;
    }
    const res = await fetch("/api/images", { method: "POST", body: dataUrlBlob(q.image) });
    const body = await res.json().catch(() => null);
    if (!res.ok || !body || !body.id) {
      errors = { [`image-${n}`]: body?.error?.code === "image_too_large" ? "host.editor.err.image_size" : "host.editor.err.image_type" };
      render();
      note(t("host.editor.fix_marked"), true);
      return null;
    }
    ids.push(String(body.id));
  }
  return ids;
}

async function startFromEditor() {
  errors = {};
  render();
  note("");
  const button = $("#editor-start");
  button.disabled = true;
  try {
    const images = await uploadImages();
    if (images === null) return;
    const body = requestBody(images);
    const res = await fetch("/api/games", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => null);
    if (res.status === 201 && data && data.pin) {
      saveDraft();
      onStart(data, body, images);
      return;
    }
    if (data && data.error && data.error.code === "invalid_quiz") showServerErrors(data.error.details);
    else note(t("host.setup.err_http", { status: res.status }), true);
  } catch (err) {
    note(`${t("host.setup.err_network")} ${String(err.message || err)}`, true);
  } finally {
    button.disabled = false;
  }
}

// ---------- boot ----------

/** Set the editor up; `start(created, body, images)` is called once a game exists. */
export function initEditor(start) {
  onStart = start;
  try {
    const draft = JSON.parse(localStorage.getItem(LS_DRAFT) || "null");
    if (draft) quiz = normalise(draft);
  } catch {
    quiz = blankQuiz();
  }
  $("#editor-title").addEventListener("input", (ev) => {
    quiz.title = ev.target.value;
    changed();
  });
  $("#editor-lead-in").addEventListener("input", (ev) => {
    quiz.lead_in_s = ev.target.value === "" ? null : Number(ev.target.value);
    changed();
  });
  $("#editor-add-question").addEventListener("click", () => {
    quiz.questions.push(blankQuestion());
    changed(true);
    const n = quiz.questions.length - 1;
    $(`[data-testid="question-text-${n}"]`).focus();
  });
  $("#editor-save").addEventListener("click", saveQuiz);
  $("#editor-start").addEventListener("click", startFromEditor);
  $("#editor-new").addEventListener("click", () => {
    quiz = blankQuiz();
    errors = {};
    changed(true);
  });
  $("#editor-delete").addEventListener("click", deleteQuiz);
  $("#editor-saved").addEventListener("change", (ev) => ev.target.value && loadQuiz(ev.target.value));
  initEditorIo({
    note,
    requestBody,
    title: () => quiz.title,
    replace(raw) {
      quiz = normalise({ ...raw, id: null, exam_id: null });
      errors = {};
      saveDraft();
      render();
      return quiz.questions.length;
    },
  });
  render();
  const ready = detectAccount().then(refreshMyExams).then(renderSavedList);
  // While a game runs the editor's fields leave the page: its option-N-M test ids and inputs
  // must not mix with the game's option-N.
  return { rerender: render, clear: () => $("#editor-questions").replaceChildren(), ready };
}
