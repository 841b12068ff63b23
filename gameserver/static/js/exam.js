// The exam page: take an exam alone, question by question, with the server's deadline shown as
// a timer (PLATFORM.md "Solo attempts"). Every answer is saved as it is given (PUT), so a
// closed tab or a lost connection loses nothing; reopening the page resumes the attempt.
//
// Proctoring (000 §10): an exam with fullscreen required enters fullscreen on Start, and leaving
// it reports `fullscreen_exit`, which ends the attempt with 0. An exam with the camera required
// sends a JPEG snapshot at once and every 5 minutes (every minute for IELTS); the server
// counts the faces on it. Signed in by the session cookie; writes carry the CSRF token that
// login stored (account.js).
//
// IELTS and CEFR exams (sections, essays, recorded speaking, results in bands) are drawn by
// exam-ielts.js and exam-speaking.js; this page calls them where a banded exam differs.

import { initI18n, t, has } from "./i18n.js";
import { h, $, showScreen, setText } from "./ui.js";
import { isBanded, isIelts, skillOf, renderSections, renderEssay, flushEssay, showBandResult, listMyResults }
  from "./exam-ielts.js";
import { renderSpeaking, stopRecording } from "./exam-speaking.js";

const CSRF_KEY = "lq_csrf";
const SNAPSHOT_EVERY_MS = 5 * 60 * 1000;
const IELTS_SNAPSHOT_EVERY_MS = 60 * 1000;
const TEXT_SAVE_DELAY_MS = 600;

const examId = new URLSearchParams(location.search).get("id") || "";
const attemptParam = new URLSearchParams(location.search).get("attempt") || "";
let exam = null;
let attempt = null; // {id, questions, deadline, mode}
const answers = new Map(); // n → the answer body as saved
let index = 0;
let ended = false;
let finishing = false;
let timerHandle = null;
let snapshotHandle = null;
let stream = null;

async function api(method, path, body, headers = {}) {
  const sent = { ...headers };
  if (body !== undefined && !(body instanceof Blob)) sent["Content-Type"] = "application/json";
  const csrf = localStorage.getItem(CSRF_KEY);
  if (method !== "GET" && csrf) sent["X-CSRF-Token"] = csrf;
  let res;
  try {
    const payload = body === undefined ? undefined : body instanceof Blob ? body : JSON.stringify(body);
    res = await fetch(path, { method, headers: sent, body: payload, credentials: "same-origin" });
  } catch {
    return { status: 0, data: { error: { code: "network" } } };
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  return { status: res.status, data };
}

function showError(data, status) {
  const code = data && data.error ? data.error.code : "";
  const box = $("#error");
  if (code && has(`exam.err.${code}`)) box.textContent = t(`exam.err.${code}`);
  else if (data && data.error && data.error.message) box.textContent = data.error.message;
  else box.textContent = t("exam.err.http", { status });
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
}

// ---- Intro ----

function renderIntro() {
  setText($("#intro-title"), exam.title);
  setText($("#intro-description"), exam.description);
  const facts = [t("exam.fact.questions", { count: exam.question_count })];
  facts.push(exam.time_limit_s ? t("exam.fact.time_limit", { minutes: Math.ceil(exam.time_limit_s / 60) })
    : t("exam.fact.no_time_limit"));
  facts.push(t("exam.fact.pass", { percent: exam.pass_percent }));
  if (exam.price > 0) facts.push(t("exam.fact.price", { price: exam.price.toLocaleString() }));
  if (exam.mode === "trainer") facts.push(t("exam.fact.trainer"));
  if (exam.proctoring.fullscreen) facts.push(t("exam.fact.fullscreen"));
  if (exam.proctoring.camera) facts.push(isBanded(exam) && isIelts(exam) ? t("ielts.fact.camera") : t("exam.fact.camera"));
  if (isBanded(exam)) facts.unshift(t(`ielts.kind.${exam.kind}`));
  if (isBanded(exam) && exam.speaking_mode === "scheduled") facts.push(t("ielts.fact.scheduled"));
  $("#intro-facts").replaceChildren(...facts.map((text) => h("li", { text })));
  document.title = `${exam.title} · ${t("exam.page_title")}`;
}

async function start() {
  clearError();
  $("#start").disabled = true;
  if (exam.proctoring.fullscreen) {
    try {
      await document.documentElement.requestFullscreen();
    } catch {
      showError({ error: { code: "fullscreen" } }, 0);
      $("#start").disabled = false;
      return;
    }
  }
  const headers = exam.price > 0 ? { "Idempotency-Key": crypto.randomUUID() } : {};
  const { status, data } = await api("POST", `/api/exams/${examId}/attempts`, { platform: "web" }, headers);
  const details = data && data.error && Array.isArray(data.error.details) ? data.error.details : [];
  if (status === 409 && details.length && details[0].type === "attempt_in_progress") {
    await resume(details[0].attempt_id);
  } else if (status === 201) {
    attempt = data;
    begin();
  } else {
    showError(data, status);
    $("#start").disabled = false;
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
  }
}

async function resume(attemptId) {
  const { status, data } = await api("GET", `/api/attempts/${attemptId}`);
  if (status !== 200) return showError(data, status);
  if (data.state === "finished") return showResult(data.result, data.id);
  attempt = { ...data, mode: exam.mode };
  for (const a of data.answers) {
    const { n, ...body } = a;
    answers.set(n, body);
  }
  begin();
}

function begin() {
  ended = false;
  index = 0;
  if (exam.proctoring.fullscreen) document.addEventListener("fullscreenchange", onFullscreenChange);
  if (exam.proctoring.camera) startCamera();
  // A banded exam's address names the attempt, so a reload after it ends shows its result.
  if (isBanded(exam)) history.replaceState(null, "", `/exam?id=${examId}&attempt=${attempt.id}`);
  if (attempt.deadline) {
    $("#timer").hidden = false;
    tick();
    timerHandle = setInterval(tick, 250);
  }
  showScreen("screen-question");
  renderQuestion();
}

// ---- Questions ----

function renderQuestion() {
  const question = attempt.questions[index];
  const total = attempt.questions.length;
  setText($("#progress"), t("exam.progress", { n: index + 1, total }));
  setText($("#question-text"), question.text);
  setText($("#question-hint"), t(`exam.hint.${question.type}`));
  $("#feedback").hidden = true;
  $("#saved").textContent = "";
  $("#prev").disabled = index === 0;
  $("#next").disabled = index === total - 1;
  const given = answers.get(question.n);
  const box = $("#answer");
  stopRecording();
  const skill = isBanded(exam) ? skillOf(exam, question.n) : "";
  if (skill) renderSections($("#sections"), $("#section-heading"), exam, attempt.questions, index, goTo);
  if (question.type === "free" && skill === "writing") {
    renderEssay(box, question, { attemptId: attempt.id, given, save: (body) => save(question, body) });
  } else if (question.type === "free" && skill === "speaking") {
    setText($("#question-hint"), t(exam.speaking_mode === "scheduled" ? "ielts.hint.scheduled" : "ielts.hint.speaking"));
    renderSpeaking(box, question, { exam, attemptId: attempt.id, given, onClosed: finish,
      onUploaded: (answer) => answers.set(question.n, answer) });
  } else if (question.type === "select_one" || question.type === "select_many") {
    const multi = question.type === "select_many";
    const chosen = new Set(multi ? (given ? given.options : []) : given ? [given.option] : []);
    box.replaceChildren(...question.options.map((option, i) => {
      const input = h("input", { type: multi ? "checkbox" : "radio", name: "answer", value: String(i),
        "data-testid": `option-${i}` });
      input.checked = chosen.has(i);
      input.addEventListener("change", () => saveChoice(question, multi));
      return h("label", { class: "exam-choice" }, input, h("span", { text: option }));
    }));
  } else {
    const free = question.type === "free";
    const input = h(free ? "textarea" : "input", { class: "exam-text", "data-testid": "text-answer",
      placeholder: t(free ? "exam.free_placeholder" : "exam.text_placeholder"), maxlength: "5000" });
    input.value = given ? given.text : "";
    let pending = null;
    input.addEventListener("input", () => {
      clearTimeout(pending);
      pending = setTimeout(() => save(question, { text: input.value }), TEXT_SAVE_DELAY_MS);
    });
    input.addEventListener("change", () => {
      clearTimeout(pending);
      save(question, { text: input.value });
    });
    box.replaceChildren(input);
  }
}

function saveChoice(question, multi) {
  const checked = [...$("#answer").querySelectorAll("input:checked")].map((el) => Number(el.value));
  if (multi) return save(question, { options: checked });
  if (checked.length) return save(question, { option: checked[0] });
  return undefined;
}

async function save(question, body) {
  if (ended) return;
  setText($("#saved"), t("exam.saving"));
  const { status, data } = await api("PUT", `/api/attempts/${attempt.id}/answers/${question.n}`, body);
  if (status === 204) {
    answers.set(question.n, body);
    if (attempt.questions[index] === question) setText($("#saved"), t("exam.saved"));
    if (attempt.mode === "trainer") await showFeedback(question);
    return true;
  }
  if (status === 409) {
    await finish();
  } else {
    setText($("#saved"), "");
    showError(data, status);
  }
  return false;
}

async function showFeedback(question) {
  const { status, data } = await api("GET", `/api/attempts/${attempt.id}/answers/${question.n}`);
  if (status !== 200 || attempt.questions[index] !== question) return;
  const box = $("#feedback");
  box.dataset.correct = String(data.correct);
  let right = "";
  if ("option" in data.expected) right = question.options[data.expected.option];
  else if ("options" in data.expected) right = data.expected.options.map((i) => question.options[i]).join(", ");
  else if ("text" in data.expected) right = data.expected.text;
  box.textContent = data.correct ? t("exam.feedback.correct") : t("exam.feedback.wrong", { answer: right });
  box.hidden = false;
}

function move(step) {
  goTo(index + step);
}

function goTo(position) {
  index = Math.min(Math.max(position, 0), attempt.questions.length - 1);
  renderQuestion();
}

// ---- Timer, finish, result ----

function tick() {
  const left = Math.max(0, Math.ceil((Date.parse(attempt.deadline) - Date.now()) / 1000));
  const timer = $("#timer");
  timer.textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
  timer.toggleAttribute("data-low", left <= 60);
  if (left === 0 && !ended) finish();
}

function stopProctoring() {
  ended = true;
  stopRecording();
  clearInterval(timerHandle);
  clearInterval(snapshotHandle);
  document.removeEventListener("fullscreenchange", onFullscreenChange);
  if (stream) for (const track of stream.getTracks()) track.stop();
  $("#camera").hidden = true;
  if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
}

async function finish() {
  if (ended || finishing) return;
  finishing = true;
  await flushEssay(); // the last words typed reach the server before the attempt closes
  finishing = false;
  if (ended) return;
  stopProctoring();
  const { status, data } = await api("POST", `/api/attempts/${attempt.id}/finish`);
  if (status === 200) showResult(data);
  else showError(data, status);
}

function showResult(result, attemptId = attempt && attempt.id) {
  $("#timer").hidden = true;
  setText($("#result-title"), exam.title);
  setText($("#result-score"), t("exam.result.score", { score: result.score, max: result.max, percent: result.percent }));
  const verdict = $("#result-verdict");
  verdict.textContent = result.passed ? t("exam.result.passed") : t("exam.result.failed");
  verdict.dataset.passed = String(result.passed);
  setText($("#result-reason"), t(`exam.ended.${result.ended_by || "finish"}`));
  showScreen("screen-result");
  if (isBanded(exam)) {
    // Bands, not a pass mark: Writing and Speaking are graded by a person later.
    $("#result-score").hidden = true;
    verdict.hidden = true;
    history.replaceState(null, "", `/exam?id=${examId}&attempt=${attemptId}`);
    showBandResult($("#bands"), $("#result-refresh"), exam, attemptId, api);
  }
}

// ---- Proctoring ----

async function onFullscreenChange() {
  if (document.fullscreenElement || ended) return;
  stopProctoring();
  await api("POST", `/api/attempts/${attempt.id}/events`, { type: "fullscreen_exit" });
  const { status, data } = await api("POST", `/api/attempts/${attempt.id}/finish`);
  if (status === 200) showResult(data);
  else showError(data, status);
}

async function startCamera() {
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  } catch {
    showError({ error: { code: "camera" } }, 0);
    await api("POST", `/api/attempts/${attempt.id}/events`, { type: "camera_denied" });
    return;
  }
  const video = $("#camera");
  video.srcObject = stream;
  video.hidden = false;
  await video.play().catch(() => {});
  const every = String(exam.kind).startsWith("ielts") ? IELTS_SNAPSHOT_EVERY_MS : SNAPSHOT_EVERY_MS;
  // The first snapshot as soon as the camera shows a frame, then one per interval.
  const first = () => (video.videoWidth ? snapshot() : setTimeout(first, 200));
  first();
  snapshotHandle = setInterval(snapshot, every);
}

function snapshot() {
  const video = $("#camera");
  if (ended || !video.videoWidth) return;
  const canvas = h("canvas", { width: String(video.videoWidth), height: String(video.videoHeight) });
  canvas.getContext("2d").drawImage(video, 0, 0);
  canvas.toBlob(async (blob) => {
    if (!blob || ended) return;
    const { status } = await api("POST", `/api/attempts/${attempt.id}/snapshots`, blob, { "Content-Type": "image/jpeg" });
    document.body.dataset.snapshots = String(Number(document.body.dataset.snapshots || 0) + (status === 201 ? 1 : 0));
  }, "image/jpeg", 0.85);
}

// ---- Catalogue: the caller's exams or a search; take one, or host a group game from it ----

let searchDelay = null;

async function loadCatalogue() {
  const mine = $("#mine").checked;
  const query = $("#search").value.trim();
  const params = new URLSearchParams({ limit: "50" });
  if (mine) params.set("mine", "1");
  else if (query) params.set("q", query);
  const { status, data } = await api("GET", `/api/exams?${params}`);
  if (status !== 200) return showError(data, status);
  clearError();
  $("#exam-list").replaceChildren(...data.items.map((item) => h("li", { class: "exam-item", "data-testid": "exam-item" },
    h("span", { class: "exam-item-title", text: item.title }),
    h("span", { class: "muted", text: t("exam.fact.questions", { count: item.question_count }) }),
    h("a", { class: "btn btn-primary", href: `/exam?id=${item.id}`, "data-testid": "exam-take", text: t("exam.catalogue.take") }),
    h("button", { type: "button", class: "btn btn-ghost", "data-testid": "exam-host", text: t("exam.catalogue.host"),
      onclick: () => hostGame(item.id) }))));
  $("#exam-list-empty").hidden = data.items.length > 0;
  document.body.dataset.listed = String(data.items.length);
  return undefined;
}

async function hostGame(id) {
  const { status, data } = await api("POST", `/api/exams/${id}/games`, {});
  if (status !== 201) return showError(data, status);
  // The host page adopts a game from its PIN and the token in the fragment (never sent to a server).
  location.assign(`/host?pin=${encodeURIComponent(data.pin)}#token=${encodeURIComponent(data.host_token)}`);
  return undefined;
}

async function importFile(file) {
  const path = `/api/exams/import?filename=${encodeURIComponent(file.name)}`;
  const { status, data } = await api("POST", path, file, { "Content-Type": "application/octet-stream" });
  if (status !== 201) return showError(data, status);
  location.assign(`/exam?id=${data.exam.id}`);
  return undefined;
}

function showCatalogue() {
  showScreen("screen-catalogue");
  $("#search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadCatalogue();
  });
  $("#search").addEventListener("input", () => {
    clearTimeout(searchDelay);
    searchDelay = setTimeout(loadCatalogue, 300);
  });
  $("#mine").addEventListener("change", loadCatalogue);
  $("#import-file").addEventListener("change", (event) => {
    const [file] = event.target.files;
    if (file) importFile(file);
  });
  loadCatalogue();
  document.body.dataset.ready = "true";
}

// ---- Boot ----

async function boot() {
  await initI18n($("#lang"));
  $("#start").addEventListener("click", start);
  $("#prev").addEventListener("click", () => move(-1));
  $("#next").addEventListener("click", () => move(1));
  $("#finish").addEventListener("click", finish);
  if (examId === "") return showCatalogue();
  if (!/^[0-9]{1,12}$/.test(examId)) {
    $("#start").hidden = true;
    return showError({ error: { code: "not_found" } }, 404);
  }
  const [found, me] = await Promise.all([api("GET", `/api/exams/${examId}`), api("GET", "/api/me")]);
  if (found.status !== 200) {
    $("#start").hidden = true;
    return showError(found.data, found.status);
  }
  exam = found.data;
  renderIntro();
  if (isBanded(exam) && me.status === 200) {
    listMyResults($("#my-results"), examId, api);
    if (/^[0-9]{1,12}$/.test(attemptParam)) {
      const shown = await api("GET", `/api/attempts/${attemptParam}`);
      if (shown.status === 200 && shown.data.state === "finished") showResult(shown.data.result, shown.data.id);
    }
  }
  if (me.status !== 200) {
    $("#intro-signin").hidden = false;
    $("#start").disabled = true;
  }
  if (!exam.active) {
    // An imported exam starts inactive: its owner switches it on once it is right.
    $("#intro-inactive").hidden = false;
    $("#start").disabled = true;
    const activate = $("#activate");
    activate.hidden = !(me.status === 200 && me.data.id === exam.owner);
    activate.addEventListener("click", async () => {
      const { status, data } = await api("PATCH", `/api/exams/${examId}`, { active: true });
      if (status !== 200) return showError(data, status);
      exam = data;
      $("#intro-inactive").hidden = true;
      $("#start").disabled = false;
      return undefined;
    });
  }
  document.body.dataset.ready = "true";
  return undefined;
}

boot();
