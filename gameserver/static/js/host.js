// The host's projector screen: choose a quiz, lobby with PIN and QR, questions with a countdown,
// reveal with the distribution, leaderboard, podium and results. Talks only PROTOCOL.md.

import { initI18n, onLangChange, t } from "./i18n.js";
import {
  $, Countdown, LETTERS, LiveSocket, ServerClock, checkIcon, countdownRing, h, optionBadge,
  reducedMotion, setText, showScreen,
} from "./ui.js";
import { fitScreen, refitOnResize } from "./fit.js";
import { Sound, soundToggle } from "./sound.js";
import { initEditor, openExamInEditor } from "./editor.js";
import { initExamsPanel, loadExams } from "./host-exams.js";
import { account } from "./editor-exams.js";

const SS_CURRENT = "livequiz.host.current";
const ssKey = (pin) => `livequiz.host.${pin}`;

const state = {
  pin: null,
  token: null,
  title: "",
  questionCount: 0,
  skipped: 0,
  phase: null,
  players: new Map(), // player_id -> name
  count: 0,
  locked: false,
  question: null, // last `question` message
  answered: 0,
  reveal: null,
  leaderboards: {}, // question index -> top list
  finished: null,
  view: "setup", // setup | connecting | lobby | question | reveal | leaderboard | podium
  restoreBoardQ: null, // after a reload: the question whose leaderboard was showing
  pendingNext: false,
  timeUp: false,
};

const clock = new ServerClock();
let socket = null;
let ring = null;
let countdown = null;
let endArmed = null;
let leadIn = null; // the "get ready" countdown before answers open
const sound = new Sound("livequiz.sound.host", true);

// ---------- persistence (sessionStorage: survives reload of this tab only) ----------

function saveSession() {
  if (!state.pin || state.view === "connecting") return;
  const data = {
    pin: state.pin,
    token: state.token,
    title: state.title,
    skipped: state.skipped,
    question: state.question,
    leaderboards: state.leaderboards,
    view: state.view,
    boardQ: state.view === "leaderboard" && state.reveal ? state.reveal.question : null,
  };
  try {
    sessionStorage.setItem(ssKey(state.pin), JSON.stringify(data));
    sessionStorage.setItem(SS_CURRENT, state.pin);
  } catch (err) {
    console.warn(err);
  }
}

function loadSession(pin) {
  try {
    const raw = sessionStorage.getItem(ssKey(pin));
    return raw ? JSON.parse(raw) : null;
  } catch {
    return null;
  }
}

function clearSession() {
  if (state.pin) sessionStorage.removeItem(ssKey(state.pin));
  sessionStorage.removeItem(SS_CURRENT);
}

// ---------- connection ----------

function setConn(kind) {
  const el = $("#conn");
  el.dataset.state = kind;
  const key = { open: "conn.online", connecting: "conn.connecting", reconnecting: "conn.reconnecting" }[kind];
  setText(el, key ? t(key) : "");
  document.body.classList.toggle("offline", kind === "reconnecting");
}

function connect() {
  if (socket) socket.stop();
  socket = new LiveSocket(`/ws/host/${state.pin}`, {
    hello: () => ({ type: "host", token: state.token }),
    onMessage: handle,
    onState: setConn,
    onClose: (code) => {
      if (code === 4401 || code === 4404) {
        const key = code === 4401 ? "host.err.bad_token" : "host.err.unknown_game";
        resetToSetup(t(key));
        return false;
      }
      return true;
    },
  });
  socket.connect();
}

function send(msg) {
  if (!socket || !socket.send(msg)) {
    flash(t("conn.reconnecting"));
    return false;
  }
  return true;
}

// ---------- messages ----------

function phaseName(p) {
  return String(p || "").toLowerCase();
}

function handle(msg) {
  switch (msg.type) {
    case "hosting":
      state.title = String(msg.title ?? "");
      state.questionCount = Number(msg.question_count) || 0;
      state.phase = phaseName(msg.phase);
      state.players = new Map((msg.players || []).map((p) => [String(p.player_id), String(p.name)]));
      state.count = state.players.size;
      if (typeof msg.locked === "boolean") state.locked = msg.locked;
      setText($("#game-title"), state.title);
      if (state.phase === "waiting") showLobby();
      saveSession();
      break;
    case "lobby":
      for (const p of msg.joined || []) state.players.set(String(p.player_id), String(p.name));
      for (const id of msg.left || []) state.players.delete(String(id));
      state.count = typeof msg.count === "number" ? msg.count : state.players.size;
      if (typeof msg.locked === "boolean") state.locked = msg.locked;
      if (state.view === "lobby" || state.view === "setup") showLobby();
      else if (state.view === "question") updateAnswerCount();
      break;
    case "locked":
      if (typeof msg.locked === "boolean") state.locked = msg.locked;
      renderLock();
      break;
    case "question":
      sound.stopLobby();
      clock.sync(msg.server_time);
      state.phase = "active";
      state.question = msg;
      state.reveal = null;
      state.answered = 0;
      state.timeUp = false;
      state.pendingNext = false;
      state.view = "question";
      renderQuestion();
      saveSession();
      break;
    case "answer_count":
      if (state.question && msg.question === state.question.question) {
        state.answered = Number(msg.answered) || 0;
        if (typeof msg.players === "number") state.count = msg.players;
        updateAnswerCount();
      }
      break;
    case "reveal": {
      state.phase = "between";
      state.pendingNext = false;
      // Stay on the leaderboard if it was showing for this question (reconnect or reload).
      const boardQ = state.view === "leaderboard" && state.reveal ? state.reveal.question : state.restoreBoardQ;
      state.restoreBoardQ = null;
      state.reveal = msg;
      if (state.view === "question") sound.reveal();
      if (boardQ === msg.question) {
        state.view = "leaderboard";
        renderLeaderboard();
      } else {
        state.view = "reveal";
        renderReveal();
      }
      saveSession();
      break;
    }
    case "leaderboard":
      state.leaderboards[msg.question] = (msg.top || []).map((r) => ({
        rank: Number(r.rank), name: String(r.name), score: Number(r.score),
      }));
      if (state.view === "leaderboard") renderLeaderboard();
      saveSession();
      break;
    case "finished":
      sound.stopLobby();
      if (state.view !== "podium") sound.fanfare();
      state.phase = "finished";
      state.pendingNext = false;
      state.finished = msg;
      state.view = "podium";
      renderPodium();
      saveSession();
      break;
    case "error":
      state.pendingNext = false;
      if (!["not_active", "wrong_question"].includes(msg.code)) flash(errorText(msg.code, msg.message));
      break;
    default:
      break;
  }
  renderControls();
}

function errorText(code, fallback) {
  const key = `err.${code}`;
  const s = t(key);
  return s === key ? String(fallback || code) : s;
}

let flashTimer = null;
function flash(text) {
  const el = $("#conn");
  el.dataset.flash = "1";
  setText(el, text);
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => {
    delete el.dataset.flash;
    setConn(el.dataset.state);
  }, 3500);
}

// ---------- setup ----------

async function loadSamples() {
  const list = $("#sample-list");
  try {
    const res = await fetch("/api/samples");
    const data = await res.json();
    list.replaceChildren();
    for (const s of data.samples || []) {
      const btn = h(
        "button",
        { type: "button", class: "sample", "data-testid": `sample-${s.name}`, "data-name": s.name },
        h("span", { class: "sample-title", text: s.title }),
        h("span", { class: "sample-meta", "data-count": s.question_count }),
      );
      btn.addEventListener("click", () => pickSample(s.name));
      list.append(h("li", {}, btn));
    }
    renderSampleMeta();
  } catch (err) {
    console.error(err);
  }
}

function renderSampleMeta() {
  for (const el of document.querySelectorAll(".sample-meta")) {
    setText(el, t("host.setup.questions", { n: el.dataset.count }));
  }
}

async function pickSample(name) {
  const res = await fetch(`/api/samples/${encodeURIComponent(name)}`);
  if (!res.ok) return;
  const body = await res.json();
  $("#quiz-json").value = JSON.stringify(body, null, 2);
  for (const b of document.querySelectorAll(".sample")) b.classList.toggle("picked", b.dataset.name === name);
  hideQuizError();
  setText($("#quiz-note"), t("host.setup.loaded", { title: body.title ?? name }));
  $("#create").focus();
}

function hideQuizError() {
  $("#quiz-error").hidden = true;
}

function showQuizError(message, details) {
  setText($("#quiz-error-msg"), message);
  const ul = $("#quiz-error-details");
  ul.replaceChildren();
  for (const d of details || []) ul.append(h("li", { text: describeDetail(d) }));
  $("#quiz-error").hidden = false;
}

function describeDetail(d) {
  if (typeof d === "string") return d;
  if (d && typeof d === "object") {
    const where = Array.isArray(d.loc) ? d.loc.join(".") : d.loc ?? d.path ?? d.field ?? "";
    const what = d.msg ?? d.message ?? d.error ?? JSON.stringify(d);
    return where !== "" ? `${where}: ${what}` : String(what);
  }
  return String(d);
}

async function createGame(ev) {
  ev.preventDefault();
  hideQuizError();
  const raw = $("#quiz-json").value.trim();
  if (!raw) {
    showQuizError(t("host.setup.err_empty"));
    return;
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch (err) {
    showQuizError(t("host.setup.err_json"), [err.message]);
    return;
  }
  const btn = $("#create");
  btn.disabled = true;
  try {
    const res = await fetch("/api/games", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (res.status === 201 && data && data.pin) {
      startHosting(String(data.pin), String(data.host_token), Number(data.skipped) || 0, String(body.title ?? ""));
      return;
    }
    const err = (data && data.error) || {};
    showQuizError(
      err.message ? `${t("host.setup.err_invalid")} ${err.message}` : t("host.setup.err_http", { status: res.status }),
      err.details,
    );
  } catch (err) {
    showQuizError(t("host.setup.err_network"), [String(err.message || err)]);
  } finally {
    btn.disabled = false;
  }
}

function readFile() {
  const file = $("#quiz-file").files[0];
  if (!file) return;
  const reader = new FileReader();
  reader.onload = () => {
    $("#quiz-json").value = String(reader.result || "");
    setText($("#quiz-note"), t("host.setup.file_loaded", { file: file.name }));
    hideQuizError();
  };
  reader.readAsText(file);
}

// ---------- question images (gameserver/images.py) ----------

let imagesFor = null;
let images = []; // question index -> image id or null

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
  document.body.classList.toggle("has-image", Boolean(id));
  if (id) {
    const src = `/api/images/${encodeURIComponent(id)}`;
    if (img.getAttribute("src") !== src) img.src = src;
    img.hidden = false;
  } else {
    img.hidden = true;
    img.removeAttribute("src");
  }
}

async function createdFromEditor(created, body, imageIds) {
  const pin = String(created.pin);
  const token = String(created.host_token);
  if (imageIds.some(Boolean)) {
    try {
      await fetch(`/api/games/${pin}/images`, {
        method: "PUT",
        headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` },
        body: JSON.stringify({ images: imageIds }),
      });
    } catch (err) {
      console.warn(err);
    }
  }
  imagesFor = pin;
  images = imageIds;
  startHosting(pin, token, Number(created.skipped) || 0, String(body.title ?? ""));
}

function startHosting(pin, token, skipped, title) {
  Object.assign(state, {
    pin, token, skipped, title, view: "lobby", phase: "waiting",
    players: new Map(), count: 0, question: null, reveal: null, leaderboards: {}, finished: null,
  });
  saveSession();
  if (editor) editor.clear();
  const url = new URL(location.href);
  url.searchParams.set("pin", pin);
  history.replaceState(null, "", url);
  showLobby();
  connect();
}

function resetToSetup(errorMessage) {
  sound.stopLobby();
  if (socket) socket.stop();
  socket = null;
  if (countdown) countdown.stop();
  clearSession();
  state.pin = null;
  state.token = null;
  state.view = "setup";
  const url = new URL(location.href);
  url.searchParams.delete("pin");
  history.replaceState(null, "", url);
  setText($("#game-title"), "");
  setConn("idle");
  showScreen("screen-setup");
  if (editor) editor.rerender();
  renderControls();
  if (errorMessage) showQuizError(errorMessage);
}

// ---------- lobby ----------

let joinInfoFor = null;
async function loadJoinInfo() {
  if (joinInfoFor === state.pin) return;
  joinInfoFor = state.pin;
  const pin = state.pin;
  $("#qr").src = `/qr.svg?pin=${encodeURIComponent(pin)}`;
  let url = `${location.origin}/play?pin=${pin}`;
  try {
    const res = await fetch(`/api/join/${encodeURIComponent(pin)}`);
    if (res.ok) url = (await res.json()).url || url;
  } catch {
    /* keep the local guess */
  }
  const shown = url.replace(/^https?:\/\//, "").replace(/\?pin=\d+$/, "");
  setText($("#join-url"), shown);
  $("#join-url").dataset.url = url;
  $("#qr").alt = t("host.lobby.qr_alt", { url });
}

// The bot's t.me deep link that carries the host token into a private chat with the bot (the
// first step of showing this game in a Telegram group); the row stays hidden without a bot.
async function loadTelegramLink() {
  const row = $("#telegram-row");
  row.hidden = true;
  try {
    const res = await fetch(`/api/games/${encodeURIComponent(state.pin)}/telegram`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
    const link = res.ok ? (await res.json()).host_link : null;
    if (typeof link === "string" && link.startsWith("https://t.me/")) {
      $("#telegram-link").href = link;
      row.hidden = false;
    }
  } catch {
    /* no bot: no link */
  }
}

function hostLink() {
  return `${location.origin}/host?pin=${encodeURIComponent(state.pin)}#token=${encodeURIComponent(state.token || "")}`;
}

async function copyHostLink() {
  try {
    await navigator.clipboard.writeText(hostLink());
    flash(t("host.lobby.host_link_copied"));
  } catch {
    flash(t("host.lobby.host_link_copy_failed"));
  }
}

function showLobby() {
  state.view = "lobby";
  sound.startLobby();
  $("#host-link").href = hostLink();
  showScreen("screen-lobby");
  loadJoinInfo();
  loadTelegramLink();
  setText($("#pin"), state.pin);
  $("#pin").setAttribute("aria-label", t("host.lobby.pin_aria", { pin: state.pin.split("").join(" ") }));
  setText($("#player-count"), state.count);
  renderLock();
  const ul = $("#names");
  const have = new Map([...ul.children].map((li) => [li.dataset.id, li]));
  for (const [id, name] of state.players) {
    if (have.has(id)) {
      have.delete(id);
      continue;
    }
    const btn = h("button", {
      type: "button", class: "name-chip", "data-testid": "player-name",
      title: t("host.lobby.kick", { name }), "aria-label": t("host.lobby.kick", { name }), text: name,
    });
    btn.addEventListener("click", () => armKick(id, name));
    ul.append(h("li", { "data-id": id, class: reducedMotion() ? "" : "pop" }, btn));
  }
  for (const li of have.values()) li.remove();
  $("#waiting-note").hidden = state.players.size > 0;
  $("#start").disabled = state.count === 0;
  const hint = $("#lobby-hint");
  if (state.skipped) {
    hint.removeAttribute("data-i18n");
    setText(hint, t("host.lobby.skipped", { n: state.skipped }));
  } else {
    hint.dataset.i18n = "host.lobby.kick_hint";
    setText(hint, t("host.lobby.kick_hint"));
  }
}

function renderLock() {
  const btn = $("#lock");
  btn.setAttribute("aria-pressed", String(state.locked));
  setText(btn, state.locked ? t("host.lobby.unlock") : t("host.lobby.lock"));
  document.body.classList.toggle("locked", state.locked);
}

// A chip click asks first (a projector click is easy to misplace): a confirm button appears
// beside the chip for a few seconds.
let kickArmed = null;
function armKick(id, name) {
  disarmKick();
  const li = [...$("#names").children].find((el) => el.dataset.id === id);
  if (!li) return;
  const confirm = h("button", {
    type: "button", class: "kick-confirm", "data-testid": "kick-confirm", text: t("host.lobby.kick_confirm", { name }),
  });
  confirm.addEventListener("click", () => {
    disarmKick();
    kick(id, name);
  });
  li.classList.add("armed");
  li.append(confirm);
  confirm.focus();
  kickArmed = { li, confirm, timer: setTimeout(disarmKick, 5000) };
}

function disarmKick() {
  if (!kickArmed) return;
  clearTimeout(kickArmed.timer);
  kickArmed.confirm.remove();
  kickArmed.li.classList.remove("armed");
  kickArmed = null;
}

function kick(id, name) {
  if (send({ type: "kick", player_id: id })) {
    state.players.delete(id);
    state.count = Math.max(0, state.count - 1);
    flash(t("host.lobby.kicked", { name }));
    showLobby();
  }
}

function toggleLock() {
  const want = !state.locked;
  if (send({ type: want ? "lock" : "unlock" })) {
    state.locked = want;
    renderLock();
  }
}

// ---------- question and reveal ----------

function ensureRing() {
  if (!ring) {
    ring = countdownRing("countdown");
    $("#ring-slot").append(ring.root);
    let lastSecond = null;
    countdown = new Countdown(clock, (ms, f) => {
      ring.update(ms, f);
      const secs = Math.ceil(ms / 1000);
      if (secs !== lastSecond) {
        if (lastSecond !== null && secs > 0 && secs <= 5) sound.urgentTick();
        lastSecond = secs;
      }
    }, () => {
      state.timeUp = true;
      if (state.view === "question") setText($("#q-status"), t("host.question.time_up"));
    });
  }
}

function optionTexts(qIndex, count) {
  const q = state.question;
  if (q && q.question === qIndex && Array.isArray(q.options)) return q.options.map(String);
  return Array.from({ length: count }, () => "");
}

function renderOptions(texts) {
  const ol = $("#options");
  ol.replaceChildren();
  ol.dataset.count = String(texts.length);
  texts.forEach((text, i) => {
    ol.append(
      h(
        "li",
        { class: `option opt-${i}`, "data-testid": `option-${i}`, "aria-label": `${LETTERS[i]}: ${text}` },
        optionBadge(i),
        h("span", { class: "opt-text", text }),
      ),
    );
  });
}

function renderQuestion() {
  const q = state.question;
  showScreen("screen-question");
  ensureRing();
  if (leadIn) leadIn.stop();
  setText($("#q-counter"), t("host.question.counter", { n: q.question + 1, total: q.total ?? state.questionCount }));
  setText($("#question-text"), q.text);
  setText($("#q-status"), "");
  $("#distribution").hidden = true;
  $("#no-answer").hidden = true;
  showImage(q.question);
  loadImages().then(() => {
    if (state.view === "question" && state.question === q) {
      showImage(q.question);
      fitQuestion();
    }
  });
  const ready = $("#get-ready");
  if (typeof q.opens_at === "number" && q.opens_at > clock.now()) {
    // Reading time: the question alone with a "get ready" countdown; answers open after it.
    document.body.dataset.phase = "get-ready";
    countdown.stop();
    ring.update(q.time_limit_ms, 1); // the full time, still to come
    ready.hidden = false;
    $("#q-timer").hidden = true;
    $("#q-answers").hidden = true;
    $("#options").replaceChildren();
    $("#options").hidden = true; // shares the grid area with the countdown
    let lastSecond = null;
    leadIn = new Countdown(
      clock,
      (ms) => {
        const secs = Math.max(1, Math.ceil(ms / 1000));
        if (secs !== lastSecond) {
          lastSecond = secs;
          setText($("#get-ready-num"), secs);
          sound.tick();
        }
      },
      () => {
        if (state.view === "question" && state.question === q) renderQuestion();
      },
    );
    leadIn.start(q.opens_at, q.opens_at - clock.now());
    fitQuestion();
    return;
  }
  document.body.dataset.phase = "question";
  ready.hidden = true;
  $("#options").hidden = false;
  $("#q-timer").hidden = false;
  $("#q-answers").hidden = false;
  renderOptions((q.options || []).map(String));
  updateAnswerCount();
  countdown.start(q.deadline, q.time_limit_ms);
  fitQuestion();
}

function updateAnswerCount() {
  setText($("#answer-count"), state.answered);
  setText($("#answers-of"), `/ ${state.count}`);
}

function renderReveal() {
  const r = state.reveal;
  if (countdown) countdown.stop();
  if (leadIn) leadIn.stop();
  showScreen("screen-question");
  document.body.dataset.phase = "reveal";
  $("#get-ready").hidden = true;
  $("#options").hidden = false;
  const dist = Array.isArray(r.distribution) ? r.distribution.map((n) => Number(n) || 0) : [];
  const q = state.question && state.question.question === r.question ? state.question : null;
  const texts = q ? (q.options || []).map(String) : Array.isArray(r.options) ? r.options.map(String) : optionTexts(r.question, dist.length);
  const total = q?.total ?? r.total ?? state.questionCount;
  setText($("#q-counter"), t("host.question.counter", { n: r.question + 1, total }));
  setText($("#question-text"), q ? q.text : r.text ?? "");
  showImage(r.question);
  setText($("#q-status"), "");
  $("#q-timer").hidden = true;
  $("#q-answers").hidden = true;
  renderOptions(texts);
  [...$("#options").children].forEach((li, i) => {
    const ok = i === r.correct;
    li.classList.add(ok ? "correct" : "wrong");
    if (ok) li.append(checkIcon("opt-check"));
  });
  const chart = $("#distribution");
  chart.replaceChildren();
  const max = Math.max(1, ...dist);
  const n = Math.max(dist.length, texts.length);
  for (let i = 0; i < n; i++) {
    const v = dist[i] || 0;
    const bar = h("div", { class: "bar-fill" });
    bar.style.height = `${Math.max(3, (v / max) * 100)}%`;
    chart.append(
      h(
        "div",
        { class: `bar opt-${i}${i === r.correct ? " correct" : ""}`, "data-testid": `bar-${i}`, "data-count": v },
        h("span", { class: "bar-num", text: v }),
        h("div", { class: "bar-track" }, bar),
        h("div", { class: "bar-base" }, optionBadge(i), i === r.correct ? checkIcon("bar-check") : null),
      ),
    );
  }
  chart.hidden = false;
  chart.setAttribute("aria-label", dist.map((v, i) => `${LETTERS[i]}: ${v}`).join(", "));
  const answered = dist.reduce((a, b) => a + b, 0);
  const missing = Math.max(0, state.count - answered);
  const note = $("#no-answer");
  note.hidden = missing === 0;
  note.dataset.count = String(missing);
  setText(note, t("host.reveal.no_answer", { n: missing }));
  fitQuestion();
}

function fitQuestion() {
  fitScreen($("#screen-question"), {
    parts: () => ["#question-text", "#get-ready", "#distribution", "#options"].map((sel) => $(sel)),
    footer: $("#controls"),
    min: 0.35,
  });
}

// ---------- leaderboard ----------

function renderLeaderboard() {
  const r = state.reveal;
  const qi = r ? r.question : state.question ? state.question.question : 0;
  showScreen("screen-leaderboard");
  document.body.dataset.phase = "leaderboard";
  const total = state.question?.total ?? state.questionCount;
  setText($("#lb-sub"), t("host.question.counter", { n: qi + 1, total }));
  const top = state.leaderboards[qi] || [];
  const prev = state.leaderboards[qi - 1];
  const before = new Map((prev || []).map((row) => [row.name, row.rank]));
  const ol = $("#leaderboard");
  ol.replaceChildren();
  if (!top.length) ol.append(h("li", { class: "lb-empty muted", text: t("host.leaderboard.empty") }));
  top.forEach((row, i) => {
    let move = "none";
    let moveText = "";
    let moveLabel = "";
    if (prev) {
      move = "same";
      moveText = "–";
      moveLabel = t("host.leaderboard.same");
      const was = before.get(row.name);
      if (was === undefined) {
        move = "up";
        moveText = "▲";
        moveLabel = t("host.leaderboard.new");
      } else if (was > row.rank) {
        move = "up";
        moveText = `▲ ${was - row.rank}`;
        moveLabel = t("host.leaderboard.up", { n: was - row.rank });
      } else if (was < row.rank) {
        move = "down";
        moveText = `▼ ${row.rank - was}`;
        moveLabel = t("host.leaderboard.down", { n: row.rank - was });
      }
    }
    const li = h(
      "li",
      { class: `lb-row${row.rank <= 3 ? ` top${row.rank}` : ""}`, "data-testid": "leaderboard-row" },
      h("span", { class: "lb-rank", "data-testid": "lb-rank", text: row.rank }),
      h("span", { class: "lb-name", "data-testid": "lb-name", text: row.name }),
      h("span", { class: `lb-move ${move}`, title: moveLabel || null, "aria-label": moveLabel || null, text: moveText }),
      h("span", { class: "lb-score", "data-testid": "lb-score", text: row.score }),
    );
    if (!reducedMotion()) li.style.animationDelay = `${i * 60}ms`;
    ol.append(li);
  });
}

// ---------- podium and results ----------

async function renderPodium() {
  if (countdown) countdown.stop();
  if (leadIn) leadIn.stop();
  showScreen("screen-podium");
  document.body.dataset.phase = "finished";
  const f = state.finished || {};
  const pod = $("#podium");
  pod.replaceChildren();
  const podium = (f.podium || []).slice(0, 3);
  const order = [1, 0, 2]; // 2nd, 1st, 3rd
  for (const idx of order) {
    const p = podium[idx];
    if (!p) {
      pod.append(h("div", { class: `step step-${idx + 1} empty` }));
      continue;
    }
    pod.append(
      h(
        "div",
        { class: `step step-${idx + 1}`, "data-testid": `podium-${idx + 1}`, "data-rank": p.rank },
        h("span", { class: "step-name", "data-testid": "podium-name", text: p.name }),
        h("span", { class: "step-score", "data-testid": "podium-score", text: t("host.podium.points", { n: p.score }) }),
        h("div", { class: "step-block" }, h("span", { class: "step-rank", text: p.rank })),
      ),
    );
  }
  let results = Array.isArray(f.results) ? f.results : null;
  if (!results && state.pin && state.token) {
    try {
      const res = await fetch(`/api/games/${state.pin}/results`, { headers: { Authorization: `Bearer ${state.token}` } });
      if (res.ok) results = (await res.json()).results;
    } catch {
      results = null;
    }
  }
  state.results = results || [];
  const tbody = $("#results-body");
  tbody.replaceChildren();
  for (const r of state.results) {
    tbody.append(
      h(
        "tr",
        { "data-testid": "result-row" },
        h("td", { text: r.rank }),
        h("td", { text: r.name }),
        h("td", { text: r.score }),
        h("td", { text: r.answers ?? "" }),
        h("td", { text: r.correct ?? "" }),
      ),
    );
  }
}

function csvCell(v) {
  let s = v === undefined || v === null ? "" : String(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`; // keep spreadsheets from running formulas
  return `"${s.replace(/"/g, '""')}"`;
}

function downloadCsv() {
  const head = ["results.rank", "results.name", "results.score", "results.answers", "results.correct"].map((k) => t(k));
  const lines = [head.map(csvCell).join(",")];
  for (const r of state.results || []) {
    lines.push([r.rank, r.name, r.score, r.answers, r.correct].map(csvCell).join(","));
  }
  const blob = new Blob(["\ufeff", lines.join("\r\n"), "\r\n"], { type: "text/csv;charset=utf-8" });
  const a = h("a", { href: URL.createObjectURL(blob), download: `livequiz-${state.pin || "results"}.csv` });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

/** The .xlsx report (gameserver/reports.py): fetched with the host token, saved as a file. */
async function downloadReport() {
  const res = await fetch(`/api/games/${encodeURIComponent(state.pin)}/report.xlsx`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  if (!res.ok) {
    flash(t("host.podium.report_failed", { status: res.status }));
    return;
  }
  const blob = await res.blob();
  const a = h("a", { href: URL.createObjectURL(blob), download: `livequiz-${state.pin}.xlsx` });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

// ---------- controls ----------

function isLastQuestion() {
  const r = state.reveal;
  const total = state.question?.total ?? state.questionCount;
  return r && total && r.question + 1 >= total;
}

function renderControls() {
  const footer = $("#controls");
  const next = $("#next");
  const view = state.view;
  footer.hidden = !["question", "reveal", "leaderboard"].includes(view);
  let key = "host.next.next";
  if (view === "question") key = "host.next.skip";
  else if (view === "reveal") key = "host.next.scores";
  else if (view === "leaderboard") key = isLastQuestion() ? "host.next.finish" : "host.next.next_question";
  next.dataset.action = key;
  setText(next, t(key));
  next.disabled = state.pendingNext;
  setText($("#end"), endArmed ? t("host.end_confirm") : t("host.end"));
  const start = $("#start");
  if (start) start.disabled = state.count === 0 || state.pendingNext;
}

// start and next advance the game: one press sends once, and the button rests for 2 s so a
// double tap cannot skip a question.
// A `next` names the step it leaves, so a retry or a second host screen can never move the
// game twice, and the server needs no repeat window to guess it (docs/protocol.md).
function stepBeingLeft() {
  if (state.phase === "active" && state.question) return { question: state.question.question, phase: "ACTIVE" };
  if (state.phase === "between" && state.reveal) return { question: state.reveal.question, phase: "BETWEEN" };
  return {};
}

function sendAdvance(type) {
  if (state.pendingNext) return;
  if (send(type === "next" ? { type, ...stepBeingLeft() } : { type })) {
    state.pendingNext = true;
    setTimeout(() => {
      state.pendingNext = false;
      renderControls();
    }, 2000);
  }
  renderControls();
}

function primaryAction() {
  switch (state.view) {
    case "lobby":
      if (state.count > 0) startGame();
      break;
    case "question":
      sendAdvance("next");
      break;
    case "reveal":
      state.view = "leaderboard";
      renderLeaderboard();
      saveSession();
      renderControls();
      break;
    case "leaderboard":
      sendAdvance("next");
      break;
    default:
      break;
  }
}

function startGame() {
  sendAdvance("start");
}

function endGame() {
  if (!endArmed) {
    endArmed = setTimeout(() => {
      endArmed = null;
      renderControls();
    }, 4000);
    renderControls();
    return;
  }
  clearTimeout(endArmed);
  endArmed = null;
  send({ type: "end" });
  renderControls();
}

function onKey(ev) {
  if (ev.key !== " " && ev.key !== "Enter") return;
  if (ev.repeat || ev.altKey || ev.ctrlKey || ev.metaKey) return;
  const tag = ev.target && ev.target.tagName;
  if (["BUTTON", "INPUT", "TEXTAREA", "SELECT", "A", "LABEL", "SUMMARY"].includes(tag)) return;
  if (ev.target && ev.target.isContentEditable) return;
  if (state.view === "setup") return;
  ev.preventDefault();
  primaryAction();
}

let editor = null;
let examsPanel = null;
let renderSound = () => {};

function rerender() {
  // Language changed: redraw the dynamic parts.
  renderSampleMeta();
  if (editor && state.view === "setup") editor.rerender();
  if (examsPanel) examsPanel.rerender();
  renderSound();
  if (state.view === "lobby") {
    joinInfoFor = null;
    showLobby();
  } else if (state.view === "question" && state.question) {
    setText($("#q-counter"), t("host.question.counter", { n: state.question.question + 1, total: state.question.total ?? state.questionCount }));
    if (state.timeUp) setText($("#q-status"), t("host.question.time_up"));
  } else if (state.view === "reveal" && state.reveal) renderReveal();
  else if (state.view === "leaderboard") renderLeaderboard();
  else if (state.view === "podium") renderPodium();
  setConn($("#conn").dataset.state);
  renderLock();
  renderControls();
}

// ---------- boot ----------

async function main() {
  await initI18n($("#lang"));
  editor = initEditor(createdFromEditor);
  examsPanel = initExamsPanel(
    (game, exam) => startHosting(String(game.pin), String(game.host_token), Number(game.skipped) || 0, String(exam.title ?? "")),
    openExamInEditor,
  );
  editor.ready.then(() => loadExams({ mine: Boolean(account.user) }));
  renderSound = soundToggle($("#sound-toggle"), sound, (on) => t(on ? "sound.on" : "sound.off"), (on) => {
    if (on && state.view === "lobby") sound.startLobby();
  });
  onLangChange(rerender);
  $("#q-image").addEventListener("load", () => state.view === "question" || state.view === "reveal" ? fitQuestion() : null);
  refitOnResize(() => (state.view === "question" || state.view === "reveal" ? fitQuestion() : null));
  $("#host-link-copy").addEventListener("click", copyHostLink);
  $("#quiz-form").addEventListener("submit", createGame);
  $("#quiz-file").addEventListener("change", readFile);
  $("#start").addEventListener("click", startGame);
  $("#lock").addEventListener("click", toggleLock);
  $("#next").addEventListener("click", primaryAction);
  $("#end").addEventListener("click", endGame);
  $("#new-game").addEventListener("click", () => resetToSetup());
  $("#csv").addEventListener("click", downloadCsv);
  $("#report").addEventListener("click", downloadReport);
  document.addEventListener("keydown", onKey);

  const params = new URLSearchParams(location.search);
  const pin = params.get("pin") || sessionStorage.getItem(SS_CURRENT);
  // `livequiz demo` prints /host?pin=PIN#token=TOKEN: adopt the token, then drop it from the URL.
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (pin && /^\d{6}$/.test(pin) && fragment.get("token")) {
    sessionStorage.setItem(ssKey(pin), JSON.stringify({ pin, token: fragment.get("token") }));
    history.replaceState(null, "", `${location.pathname}${location.search}`);
  }
  const saved = pin ? loadSession(pin) : null;
  loadSamples();
  if (saved && saved.token) {
    Object.assign(state, {
      pin: saved.pin, token: saved.token, title: saved.title || "", skipped: saved.skipped || 0,
      question: saved.question || null, leaderboards: saved.leaderboards || {}, view: "connecting",
    });
    state.restoreBoardQ = saved.boardQ ?? null;
    setText($("#game-title"), state.title);
    editor.clear();
    showScreen("screen-lobby");
    setText($("#pin"), state.pin);
    connect();
  } else {
    resetToSetup();
  }
  renderControls();
}

main();
