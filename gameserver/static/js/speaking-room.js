// The Speaking room: a WebRTC video call between the candidate and the grader, with a chat.
//
// The media go peer to peer; the server (/ws/speaking/{slot}) only relays the signalling (SDP
// offer/answer, ICE candidates) and the chat, and keeps them at most an hour. No STUN/TURN
// server: host candidates only (the platform runs none, 000 §14), so a call across strict NATs
// may not connect; the chat still works.
//
// Negotiation: the grader offers whenever the candidate is present (the welcome says so, or a
// `peer` message announces them); each offer names a new `session`, and a party drops signals
// of any other session. The candidate answers the newest offer with a fresh connection.

import { t, has } from "./i18n.js";
import { h, $, showScreen, setText } from "./ui.js";

const CLOSE_REASONS = { 4401: "unauthorized", 4403: "forbidden", 4404: "not_found", 4425: "not_open",
  4410: "ended", 4409: "replaced", 1009: "too_big", 1008: "rate", 1011: "server", 1013: "server" };

let ws = null;
let role = null;
let pc = null;
let session = null;
let pending = []; // ICE candidates that came before the remote description
let localStream = null;
let signals = Promise.resolve(); // handled one after another: each step awaits the last
let statusKey = "connecting";
let statusVars = {};
let welcome = null;
const seen = new Set(); // message ids (a backlog and the live channel may both bring one)
let maxBytes = 4096; // the server's frame bound (welcome.max_message_bytes)
const parts = new Map(); // "session:type" → the pieces of a description sent in parts

function setStatus(key, vars = {}) {
  statusKey = key;
  statusVars = vars;
  setText($("#room-status"), t(`speaking.room.status.${key}`, vars));
  document.body.dataset.roomStatus = key;
}

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

async function openCamera() {
  try {
    localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    $("#local-video").srcObject = localStream;
  } catch {
    localStream = null;
    setText($("#room-note"), t("speaking.room.no_camera"));
  }
}

function newConnection() {
  if (pc) pc.close();
  pending = [];
  // No ICE servers: host candidates only (see above).
  const connection = new RTCPeerConnection({ iceServers: [] });
  if (localStream) {
    for (const track of localStream.getTracks()) connection.addTrack(track, localStream);
  } else {
    connection.addTransceiver("audio", { direction: "recvonly" });
    connection.addTransceiver("video", { direction: "recvonly" });
  }
  const mine = session;
  connection.onicecandidate = (event) => {
    send({ type: "signal", session: mine, candidate: event.candidate ? event.candidate.toJSON() : null });
  };
  connection.ontrack = (event) => {
    const video = $("#remote-video");
    if (video.srcObject !== event.streams[0]) video.srcObject = event.streams[0];
  };
  connection.onconnectionstatechange = () => {
    if (connection !== pc) return;
    document.body.dataset.connection = connection.connectionState;
    if (connection.connectionState === "connected") setStatus("connected");
    else if (connection.connectionState === "failed") setStatus("failed");
  };
  pc = connection;
  return connection;
}

/** A description in as many frames as it needs: SDP is ASCII, JSON escaping at most doubles
 * its line breaks, so a third of headroom keeps each frame under the bound. */
function sendDescription(description) {
  const piece = Math.max(256, Math.floor((maxBytes - 400) / 1.5));
  const count = Math.max(1, Math.ceil(description.sdp.length / piece));
  for (let i = 0; i < count; i++) {
    send({ type: "signal", session, description: {
      type: description.type, sdp: description.sdp.slice(i * piece, (i + 1) * piece), part: [i, count] } });
  }
}

/** The whole description once its last part has come, else null. */
function assemble(message) {
  const d = message.description;
  if (!Array.isArray(d.part)) return d;
  const key = `${message.session}:${d.type}`;
  let got = parts.get(key);
  if (!got || got.length !== d.part[1]) {
    got = new Array(d.part[1]).fill(null);
    parts.set(key, got);
  }
  got[d.part[0]] = d.sdp;
  if (got.includes(null)) return null;
  parts.delete(key);
  return { type: d.type, sdp: got.join("") };
}

async function offer() {
  session = crypto.randomUUID();
  const connection = newConnection();
  const description = await connection.createOffer();
  await connection.setLocalDescription(description);
  sendDescription(description);
  setStatus("calling");
}

async function addCandidates() {
  for (const candidate of pending.splice(0)) {
    try { await pc.addIceCandidate(candidate); } catch { /* a stale one: nothing to do */ }
  }
}

async function onSignal(message) {
  if (message.description && message.description.type === "offer" && role === "candidate") {
    session = message.session;
    const connection = newConnection();
    await connection.setRemoteDescription(message.description);
    await addCandidates();
    const answer = await connection.createAnswer();
    await connection.setLocalDescription(answer);
    sendDescription(answer);
  } else if (message.session !== session || !pc) {
    return; // another negotiation's
  } else if (message.description && message.description.type === "answer" && role === "grader") {
    await pc.setRemoteDescription(message.description);
    await addCandidates();
  } else if ("candidate" in message) {
    if (message.candidate === null) return;
    pending.push(message.candidate);
    if (pc.remoteDescription) await addCandidates();
  }
}

function addChat(message) {
  const who = message.from === role ? t("speaking.room.you") : message.name;
  const at = new Date(message.at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  const log = $("#chat-log");
  log.append(h("li", { "data-testid": "chat-line", dataset: { from: message.from } },
    h("span", { class: "who", text: `${who} ${at}` }), h("span", { class: "text", text: message.text })));
  log.scrollTop = log.scrollHeight;
}

function onMessage(event) {
  let message;
  try { message = JSON.parse(event.data); } catch { return; }
  if (message.id !== undefined) {
    if (seen.has(message.id)) return;
    seen.add(message.id);
  }
  switch (message.type) {
    case "welcome":
      welcome = message;
      role = message.role;
      maxBytes = message.max_message_bytes || maxBytes;
      drawHeader();
      setStatus(message.peer_present ? "peer_here" : "waiting");
      $("#room-status").dataset.held = String(message.held);
      if (role === "grader" && message.peer_present) signals = signals.then(offer);
      break;
    case "peer":
      if (message.present) {
        setStatus("peer_here");
        if (role === "grader") signals = signals.then(offer);
      } else {
        setStatus("peer_left");
        $("#remote-video").srcObject = null;
      }
      break;
    case "signal": {
      const whole = message.description ? assemble(message) : null;
      if (message.description && !whole) break; // more parts to come
      const signal = whole ? { ...message, description: whole } : message;
      signals = signals.then(() => onSignal(signal)).catch((err) => console.warn("speaking: signal", err));
      break;
    }
    case "chat":
      addChat(message);
      break;
    case "call":
      $("#room-status").dataset.held = "true";
      document.body.dataset.held = "true";
      break;
    case "error":
      setText($("#room-note"), message.message);
      break;
    default:
      break;
  }
}

function onClose(event) {
  const reason = CLOSE_REASONS[event.code];
  if (pc) pc.close();
  if (localStream) for (const track of localStream.getTracks()) track.stop();
  document.body.dataset.connection = "closed";
  if (reason && has(`speaking.room.status.closed.${reason}`)) setStatus(`closed.${reason}`, { reason: event.reason });
  else setStatus("closed.other", { reason: event.reason || String(event.code) });
  $("#chat-form").hidden = true;
}

function drawHeader() {
  if (!welcome) return;
  setText($("#room-title"), welcome.exam_title);
  setText($("#room-when"), t("speaking.room.when", {
    start: new Date(welcome.starts_at).toLocaleString(), end: new Date(welcome.ends_at).toLocaleTimeString(),
  }));
  setText($("#remote-name"), welcome.peer_name);
}

/** Enter room `slotId`; the function to call when the language changes. */
export async function enterRoom(slotId) {
  showScreen("screen-room");
  setStatus("connecting");
  $("#room-status").after(h("p", { class: "muted", id: "room-note", "data-testid": "room-note" }));
  await openCamera();
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws/speaking/${slotId}`);
  ws.onmessage = onMessage;
  ws.onclose = onClose;
  $("#chat-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("#chat-text").value.trim();
    if (!text) return;
    send({ type: "chat", text });
    $("#chat-text").value = "";
  });
  $("#leave").addEventListener("click", () => {
    if (ws) ws.close(1000, "left");
    location.href = "/speaking";
  });
  return () => {
    drawHeader();
    setStatus(statusKey, statusVars);
  };
}
