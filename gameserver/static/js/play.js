// The player's phone page: PIN and name, waiting room, answer buttons, result after each
// question, final rank. Survives refresh and dropped networks: the token stays in localStorage
// and `resume` brings the player back where the game is (with `answered` honoured).

import { initI18n, onLangChange, t } from "./i18n.js";
import {
  $, Countdown, LETTERS, LiveSocket, ServerClock, checkIcon, crossIcon, h, optionBadge, setText,
  showScreen,
} from "./ui.js";
import { fitScreen, refitOnResize } from "./fit.js";

const LS_KEY = "livequiz.player";
const LS_CHOICE = "livequiz.player.choice";
const NAME_MAX = 24; // the server's bound (PROTOCOL.md: name_invalid beyond it)
// Characters the server refuses in names: controls, format (zero-width) and separators.
const NAME_BAD = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;
const JOIN_ERRORS = ["name_taken", "name_invalid", "locked", "finished", "game_full", "bad_message", "rate_limited"];

const state = {
  pin: null,
  token: null,
  playerId: null,
  name: "",
  score: 0,
  rank: null,
  joined: false,
  view: "join", // join | wait | question | result | final | gone
  status: "join",
  statusVars: null,
  question: null,
  answered: false,
  chosen: null,
  timeUp: false,
  pendingAnswer: null,
  reveal: null,
  finished: null,
  goneKey: null,
  leadIn: false,
};

const clock = new ServerClock();
let socket = null;
let countdown = null;
let leadIn = null; // the "get ready" countdown before answers open

/** True while the question's answers have not opened yet (`opens_at` on the server clock). */
function beforeOpening(q) {
  return typeof q.opens_at === "number" && q.opens_at > clock.now();
}

function stopTimers() {
  if (countdown) countdown.stop();
  if (leadIn) leadIn.stop();
  state.leadIn = false;
}

// ---------- storage ----------

function loadSaved() {
  try {
    const s = JSON.parse(localStorage.getItem(LS_KEY) || "null");
    return s && s.pin && s.token ? s : null;
  } catch {
    return null;
  }
}

function save() {
  try {
    localStorage.setItem(
      LS_KEY,
      JSON.stringify({
        pin: state.pin, token: state.token, player_id: state.playerId, name: state.name,
      }),
    );
  } catch (err) {
    console.warn(err);
  }
}

function forget() {
  localStorage.removeItem(LS_KEY);
  localStorage.removeItem(LS_CHOICE);
}

// The option tapped for the current question, so a refreshed page can show which one it was.
function saveChoice(question, option) {
  try {
    localStorage.setItem(LS_CHOICE, JSON.stringify({ pin: state.pin, q: question, option }));
  } catch {
    /* storage full or disabled: only the highlight is lost */
  }
}

function loadChoice(question) {
  try {
    const c = JSON.parse(localStorage.getItem(LS_CHOICE) || "null");
    return c && c.pin === state.pin && c.q === question && Number.isInteger(c.option) ? c.option : null;
  } catch {
    return null;
  }
}

// ---------- status line ----------

function setStatus(kind, vars) {
  state.status = kind;
  state.statusVars = vars || null;
  const el = $("#status");
  el.dataset.state = kind;
  setText(el, t(`play.status.${kind}`, vars));
}

function setConn(kind) {
  const el = $("#conn");
  el.dataset.state = kind;
  const key = { open: "conn.online", connecting: "conn.connecting", reconnecting: "conn.reconnecting" }[kind];
  setText(el, key && kind !== "open" ? t(key) : "");
  document.body.classList.toggle("offline", kind === "reconnecting");
}

function showMe() {
  $("#me").hidden = !state.joined;
  setText($("#me-name"), state.name);
  setText($("#points"), state.score);
  $("#points").dataset.value = String(state.score);
  $("#me-rank-wrap").hidden = !state.rank;
  setText($("#rank"), state.rank ?? "");
}

function view(name) {
  state.view = name;
  showScreen(`screen-${name}`);
  if (name !== "question") {
    $("#main").classList.remove("compact"); // the question's fitting does not carry over
    $("#main").style.removeProperty("--fit");
  }
}

// ---------- join ----------

function joinError(text) {
  const el = $("#join-error");
  setText(el, text);
  el.hidden = !text;
}

function errText(code, fallback) {
  const key = `err.${code}`;
  const s = t(key);
  return s === key ? String(fallback || code) : s;
}

/** Live name check while typing: characters left, and the refusal before the server's. */
function checkName() {
  const value = $("#name-input").value;
  const hint = $("#name-hint");
  const bad = NAME_BAD.test(value) || [...value.trim()].length > NAME_MAX;
  hint.classList.toggle("bad", bad);
  $("#name-input").setAttribute("aria-invalid", String(bad));
  setText(hint, bad ? t("err.name_invalid") : value ? t("play.join.name_left", { n: NAME_MAX - [...value].length }) : "");
  return !bad;
}

async function onJoinSubmit(ev) {
  ev.preventDefault();
  joinError("");
  const pin = $("#pin-input").value.replace(/\D/g, "");
  const name = $("#name-input").value.trim();
  if (!/^\d{6}$/.test(pin)) {
    joinError(t("err.pin_format"));
    $("#pin-input").focus();
    return;
  }
  if (!name) {
    joinError(t("err.name_empty"));
    $("#name-input").focus();
    return;
  }
  if (!checkName()) {
    joinError(t("err.name_invalid"));
    $("#name-input").focus();
    return;
  }
  const btn = $("#join");
  btn.disabled = true;
  try {
    const res = await fetch(`/api/games/${pin}`);
    if (res.status === 404) {
      joinError(t("err.unknown_pin"));
      btn.disabled = false;
      return;
    }
    if (res.ok) {
      const info = await res.json();
      if (String(info.phase || "").toLowerCase() === "finished") {
        joinError(t("err.finished"));
        btn.disabled = false;
        return;
      }
    }
  } catch {
    /* the socket will tell */
  }
  forget();
  Object.assign(state, { pin, name, token: null, playerId: null, score: 0, rank: null, joined: false });
  connect();
}

function connect() {
  if (socket) socket.stop();
  const s = new LiveSocket(`/ws/play/${state.pin}`, {
    hello: () => (state.token ? { type: "resume", token: state.token } : { type: "join", name: state.name }),
    onMessage: handle,
    onState: setConn,
    onClose: (code) => onSocketClose(code),
  });
  socket = s;
  s.connect();
}

function onSocketClose(code) {
  if (code === 4403) {
    gone("kicked");
    return false;
  }
  if (code === 4404) {
    forget();
    if (state.joined) gone("game_gone");
    else backToJoin(t("err.unknown_pin"));
    return false;
  }
  if (!state.joined && !state.token) {
    // A join that never got through: say so instead of retrying a refused name forever.
    backToJoin(t("err.network"));
    return false;
  }
  return true;
}

function backToJoin(message) {
  if (socket) socket.stop();
  socket = null;
  stopTimers();
  state.joined = false;
  state.token = null;
  showMe();
  view("join");
  setStatus("join");
  $("#join").disabled = false;
  if (state.pin) $("#pin-input").value = state.pin;
  if (state.name) $("#name-input").value = state.name;
  joinError(message || "");
}

function gone(kind) {
  forget();
  if (socket) socket.stop();
  socket = null;
  stopTimers();
  state.joined = false;
  state.token = null;
  state.goneKey = kind;
  showMe();
  view("gone");
  setStatus(kind);
  setText($("#gone-text"), t(`play.gone.${kind}`));
}

// ---------- messages ----------

function handle(msg) {
  switch (msg.type) {
    case "joined":
      state.joined = true;
      state.token = String(msg.token);
      state.playerId = String(msg.player_id);
      state.name = String(msg.name ?? state.name);
      state.pin = String(msg.pin ?? state.pin);
      if (typeof msg.score === "number") state.score = msg.score;
      save();
      showMe();
      joinError("");
      if (state.view === "join" || state.view === "gone" || String(msg.phase).toLowerCase() === "waiting") showWait();
      {
        const url = new URL(location.href);
        url.searchParams.set("pin", state.pin);
        history.replaceState(null, "", url);
      }
      break;
    case "lobby":
      if (state.view === "wait" && typeof msg.count === "number") {
        setText($("#wait-text"), t("play.wait.text", { n: msg.count }));
      }
      break;
    case "question":
      onQuestion(msg);
      break;
    case "answer_ack":
      if (state.question && msg.question === state.question.question) {
        state.answered = true;
        state.pendingAnswer = null;
        renderAnswered();
      }
      break;
    case "reveal":
      onReveal(msg);
      break;
    case "leaderboard":
      break;
    case "finished":
      onFinished(msg);
      break;
    case "kicked":
      gone("kicked");
      break;
    case "error":
      onError(msg);
      break;
    default:
      break;
  }
}

function onError(msg) {
  const code = String(msg.code || "");
  if (!state.joined) {
    if (code === "bad_token") {
      forget();
      backToJoin(t("err.session_expired"));
      return;
    }
    if (JOIN_ERRORS.includes(code)) {
      backToJoin(errText(code, msg.message));
      return;
    }
  }
  if (["too_late", "not_active", "wrong_question"].includes(code)) {
    state.pendingAnswer = null;
    if (state.view === "question" && !state.answered) {
      state.timeUp = true;
      renderAnswered();
    } else if (state.view === "question" && state.answered && code === "too_late") {
      state.answered = false;
      state.timeUp = true;
      renderAnswered();
    }
    return;
  }
  if (code === "already_answered") {
    state.answered = true;
    renderAnswered();
    return;
  }
  if (code === "not_open" || code === "invalid_option") {
    // not_open: tapped before the answers opened (the get-ready lead-in); nothing was counted.
    state.answered = false;
    state.chosen = null;
    renderAnswered();
  }
}

function showWait() {
  stopTimers();
  view("wait");
  setStatus("wait");
  setText($("#wait-name"), state.name);
  setText($("#wait-text"), t("play.wait.text_plain"));
}

function onQuestion(msg) {
  clock.sync(msg.server_time);
  const same = state.question && state.question.question === msg.question;
  state.question = msg;
  state.reveal = null;
  state.answered = Boolean(msg.answered) || (same && state.answered);
  state.timeUp = false;
  if (!same) state.chosen = null;
  if (state.answered && state.chosen === null) state.chosen = loadChoice(msg.question);
  // An answer tapped while the network was down goes out now, once.
  const p = state.pendingAnswer;
  state.pendingAnswer = null;
  view("question");
  renderQuestion();
  if (p && p.question === msg.question && !msg.answered && !state.leadIn) sendAnswer(p.option);
}

function renderQuestion() {
  const q = state.question;
  setText($("#pq-counter"), t("play.question.counter", { n: q.question + 1, total: q.total ?? "?" }));
  setText($("#question-text"), q.text);
  showImage(q.question);
  loadImages().then(() => {
    if (state.view === "question" && state.question === q) {
      showImage(q.question);
      fitQuestion();
    }
  });
  const box = $("#options");
  box.replaceChildren();
  const ready = $("#get-ready");
  if (leadIn) leadIn.stop();
  if (beforeOpening(q)) {
    // Reading time: the question alone, answers appear when the server opens them.
    state.leadIn = true;
    box.hidden = true;
    ready.hidden = false;
    $("#answered-note").hidden = true;
    setText($("#pq-secs"), Math.ceil((Number(q.time_limit_ms) || 0) / 1000));
    $("#pq-bar").style.transform = "scaleX(1)";
    setStatus("get_ready");
    leadIn = new Countdown(
      clock,
      (ms) => setText($("#get-ready-num"), Math.max(1, Math.ceil(ms / 1000))),
      () => {
        if (state.view === "question" && state.question === q) renderQuestion();
      },
    );
    leadIn.start(q.opens_at, q.opens_at - clock.now());
    fitQuestion();
    return;
  }
  state.leadIn = false;
  ready.hidden = true;
  box.hidden = false;
  const options = Array.isArray(q.options) ? q.options : [];
  box.dataset.count = String(options.length);
  options.forEach((text, i) => {
    const btn = h(
      "button",
      { type: "button", class: `option opt-${i}`, "data-testid": `option-${i}`, "aria-label": `${LETTERS[i]}: ${text}` },
      optionBadge(i),
      h("span", { class: "opt-text", text: String(text) }),
    );
    btn.addEventListener("click", () => choose(i));
    box.append(btn);
  });
  if (!countdown) {
    countdown = new Countdown(
      clock,
      (ms, f) => {
        const secs = Math.ceil(ms / 1000);
        const el = $("#pq-secs");
        if (el.textContent !== String(secs)) el.textContent = String(secs);
        $("#pq-bar").style.transform = `scaleX(${f})`;
        $("#pq-bar").classList.toggle("urgent", ms <= 5000);
      },
      () => {
        if (state.view === "question" && !state.answered) {
          state.timeUp = true;
          renderAnswered();
        }
      },
    );
  }
  countdown.start(q.deadline, q.time_limit_ms);
  renderAnswered();
  fitQuestion();
}

// ---------- fitting and images ----------

let imagesFor = null;
let images = [];

async function loadImages() {
  if (!state.pin || imagesFor === state.pin) return;
  imagesFor = state.pin;
  try {
    const res = await fetch(`/api/games/${encodeURIComponent(state.pin)}/images`);
    if (res.ok) images = (await res.json()).images || [];
  } catch {
    images = [];
  }
}

function showImage(qIndex) {
  const img = $("#q-image");
  const id = images[qIndex];
  if (id) {
    const src = `/api/images/${encodeURIComponent(id)}`;
    if (img.getAttribute("src") !== src) img.src = src;
    img.hidden = false;
  } else {
    img.hidden = true;
    img.removeAttribute("src");
  }
}

/** Question, image and options on one screen: smaller text first, then shapes and letters only. */
function fitQuestion() {
  if (state.view !== "question") return;
  fitScreen($("#main"), {
    parts: () => ["#question-text", "#q-image", "#get-ready", "#options", "#answered-note"].map((sel) => $(sel)),
    compact: "compact",
    min: 0.55,
  });
}

function renderAnswered() {
  if (state.view !== "question" || state.leadIn) return;
  const locked = state.answered || state.timeUp;
  const box = $("#options");
  box.classList.toggle("locked", locked);
  for (const btn of box.querySelectorAll("button")) {
    const i = Number(btn.dataset.testid.split("-")[1]);
    btn.disabled = locked;
    btn.classList.toggle("chosen", state.chosen === i);
    btn.setAttribute("aria-pressed", String(state.chosen === i));
  }
  const note = $("#answered-note");
  requestAnimationFrame(fitQuestion); // the note takes room: fit again once it is laid out
  if (state.answered) {
    setStatus("answered");
    note.hidden = false;
    setText(note, state.pendingAnswer ? t("play.question.sending") : t("play.question.wait_others"));
  } else if (state.timeUp) {
    setStatus("timeup");
    note.hidden = false;
    setText(note, t("play.question.wait_reveal"));
  } else {
    setStatus("question");
    note.hidden = true;
  }
}

function choose(i) {
  if (!state.question || state.leadIn || state.answered || state.timeUp) return;
  sendAnswer(i);
}

function sendAnswer(i) {
  state.chosen = i;
  state.answered = true;
  saveChoice(state.question.question, i);
  const msg = { type: "answer", question: state.question.question, option: i };
  if (!socket || !socket.send(msg)) state.pendingAnswer = { question: msg.question, option: i };
  renderAnswered();
  if (navigator.vibrate) {
    try {
      navigator.vibrate(30);
    } catch {
      /* not allowed */
    }
  }
}

function onReveal(msg) {
  stopTimers();
  state.reveal = msg;
  state.pendingAnswer = null;
  const you = msg.you || {};
  if (typeof you.score === "number") state.score = you.score;
  if (typeof you.rank === "number") state.rank = you.rank;
  showMe();
  view("result");
  renderReveal();
}

function renderReveal() {
  const msg = state.reveal;
  const you = msg.you || {};
  const kind = you.correct ? "correct" : you.answered ? "wrong" : "missed";
  setStatus(kind);
  const mark = $("#result-mark");
  mark.replaceChildren(you.correct ? checkIcon("big-mark") : crossIcon("big-mark"));
  mark.dataset.kind = kind;
  document.body.dataset.result = kind;
  const pts = Number(you.points) || 0;
  const gained = $("#gained");
  setText(gained, `+${pts}`);
  gained.dataset.value = String(pts);
  setText($("#result-rank"), state.rank ? t("play.result.rank", { rank: state.rank }) : "");
  const q = state.question && state.question.question === msg.question ? state.question : null;
  const correctText = q && Array.isArray(q.options) ? String(q.options[msg.correct] ?? "") : "";
  const correctBadge =
    typeof msg.correct === "number"
      ? h(
          "span",
          { class: `correct-badge opt-${msg.correct}`, "data-testid": "correct-answer" },
          optionBadge(msg.correct),
          correctText ? h("span", { class: "correct-text", text: correctText }) : null,
        )
      : null;
  const total = $("#result-total");
  total.replaceChildren();
  if (!you.correct && correctBadge) {
    total.append(h("span", { text: t("play.result.correct_was") }), " ", correctBadge);
  } else {
    setText(total, t("play.result.total", { score: state.score }));
  }
}

function onFinished(msg) {
  stopTimers();
  state.finished = msg;
  const you = msg.you || {};
  if (typeof you.score === "number") state.score = you.score;
  if (typeof you.rank === "number") state.rank = you.rank;
  showMe();
  view("final");
  renderFinal();
}

function renderFinal() {
  const you = (state.finished && state.finished.you) || {};
  delete document.body.dataset.result;
  setStatus(you.rank === 1 ? "winner" : "finished");
  setText($("#final-rank"), you.rank ? t("play.final.rank", { rank: you.rank }) : "");
  $("#final-rank").dataset.rank = String(you.rank ?? "");
  setText($("#final-score"), t("play.result.total", { score: state.score }));
  setText($("#final-answers"), typeof you.answers === "number" ? t("play.final.answers", { n: you.answers }) : "");
}

function playAgain() {
  forget();
  if (socket) socket.stop();
  socket = null;
  Object.assign(state, { token: null, joined: false, score: 0, rank: null, finished: null, question: null });
  showMe();
  $("#pin-input").value = "";
  view("join");
  setStatus("join");
  $("#join").disabled = false;
  joinError("");
  const url = new URL(location.href);
  url.searchParams.delete("pin");
  history.replaceState(null, "", url);
  $("#pin-input").focus();
}

function rerender() {
  setConn($("#conn").dataset.state);
  setStatus(state.status, state.statusVars);
  showMe();
  if (state.view === "wait") showWait();
  else if (state.view === "question" && state.question) {
    setText($("#pq-counter"), t("play.question.counter", { n: state.question.question + 1, total: state.question.total ?? "?" }));
    if (state.leadIn) setStatus("get_ready");
    renderAnswered();
  } else if (state.view === "result" && state.reveal) renderReveal();
  else if (state.view === "final") renderFinal();
  else if (state.view === "gone" && state.goneKey) setText($("#gone-text"), t(`play.gone.${state.goneKey}`));
}

// ---------- boot ----------

async function main() {
  await initI18n($("#lang"));
  onLangChange(rerender);
  $("#join-form").addEventListener("submit", onJoinSubmit);
  $("#pin-input").addEventListener("input", (ev) => {
    const v = ev.target.value.replace(/\D/g, "").slice(0, 6);
    if (v !== ev.target.value) ev.target.value = v;
  });
  $("#name-input").addEventListener("input", checkName);
  $("#q-image").addEventListener("load", fitQuestion);
  refitOnResize(fitQuestion);
  $("#again").addEventListener("click", playAgain);
  $("#gone-again").addEventListener("click", playAgain);

  const urlPin = (new URLSearchParams(location.search).get("pin") || "").replace(/\D/g, "").slice(0, 6);
  const saved = loadSaved();
  if (saved && (!urlPin || urlPin === saved.pin)) {
    Object.assign(state, { pin: saved.pin, token: saved.token, playerId: saved.player_id, name: saved.name || "" });
    view("wait");
    setStatus("resuming");
    setText($("#wait-name"), state.name);
    setText($("#wait-text"), "");
    connect();
    return;
  }
  view("join");
  setStatus("join");
  if (urlPin) {
    $("#pin-input").value = urlPin;
    $("#name-input").focus();
  } else {
    $("#pin-input").focus();
  }
}

main();
