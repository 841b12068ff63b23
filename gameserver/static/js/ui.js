// Shared building blocks of the host screen and the player page: safe DOM helpers (text only,
// never HTML), the option shapes/colours/letters, the server clock and the countdown.

const SVG_NS = "http://www.w3.org/2000/svg";

/** Create an element. `props.text` sets textContent; other props become attributes. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = String(v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export function $(sel, root = document) {
  return root.querySelector(sel);
}

export function setText(el, value) {
  if (el) el.textContent = value === undefined || value === null ? "" : String(value);
}

/** Show exactly one of the `.screen` sections. */
export function showScreen(id) {
  for (const s of document.querySelectorAll(".screen")) s.hidden = s.id !== id;
  document.body.dataset.screen = id.replace(/^screen-/, "");
}

// ---- Options: colour + shape + letter, so colour is never the only cue. ----

export const LETTERS = ["A", "B", "C", "D", "E", "F"];
export const SHAPES = ["triangle", "diamond", "circle", "square", "star", "hexagon"];

function polygon(points) {
  return points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" ");
}

function regular(n, r, cx, cy, rot, inner) {
  const pts = [];
  const steps = inner ? n * 2 : n;
  for (let i = 0; i < steps; i++) {
    const rr = inner && i % 2 ? inner : r;
    const a = rot + (i * Math.PI * 2) / steps;
    pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)]);
  }
  return polygon(pts);
}

const SHAPE_DEFS = {
  triangle: ["polygon", { points: "50,8 95,88 5,88" }],
  diamond: ["polygon", { points: "50,3 97,50 50,97 3,50" }],
  circle: ["circle", { cx: 50, cy: 50, r: 45 }],
  square: ["rect", { x: 9, y: 9, width: 82, height: 82, rx: 4 }],
  star: ["polygon", { points: regular(5, 49, 50, 54, -Math.PI / 2, 20) }],
  hexagon: ["polygon", { points: regular(6, 47, 50, 50, 0) }],
};

/** An inline SVG shape (decorative: the letter carries the name for screen readers). */
export function shapeIcon(index, cls = "shape") {
  const name = SHAPES[index % SHAPES.length];
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 100 100");
  svg.setAttribute("class", `${cls} shape-${name}`);
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  const [tag, attrs] = SHAPE_DEFS[name];
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  svg.append(el);
  return svg;
}

export function checkIcon(cls = "check") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", "M4 12.5l5 5L20 6.5");
  svg.append(p);
  return svg;
}

export function crossIcon(cls = "cross") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", cls);
  svg.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(SVG_NS, "path");
  p.setAttribute("d", "M6 6l12 12M18 6L6 18");
  svg.append(p);
  return svg;
}

/** Badge with shape and letter, used in options, charts and legends. */
export function optionBadge(index) {
  return h("span", { class: "opt-badge" }, shapeIcon(index), h("span", { class: "opt-letter", text: LETTERS[index] }));
}

// ---- Time: the server's clock, from `server_time` in each question message. ----

export class ServerClock {
  constructor() {
    this.offset = 0; // server minus local, ms
  }
  /** Call with the message's server_time as soon as it arrives. */
  sync(serverTime) {
    if (typeof serverTime === "number" && Number.isFinite(serverTime)) {
      this.offset = serverTime - Date.now();
    }
  }
  now() {
    return Date.now() + this.offset;
  }
  remaining(deadline) {
    return Math.max(0, deadline - this.now());
  }
}

export const reducedMotion = () =>
  window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

/**
 * Countdown driven by a deadline on the server clock. Calls `render(msLeft, fraction)` about
 * every animation frame (every 250 ms under reduced motion) until stopped or at zero.
 */
export class Countdown {
  constructor(clock, render, onZero) {
    this.clock = clock;
    this.render = render;
    this.onZero = onZero;
    this.timer = null;
    this.raf = null;
  }
  start(deadline, totalMs) {
    this.stop();
    this.deadline = deadline;
    this.total = Math.max(1, totalMs);
    const tick = () => {
      const left = this.clock.remaining(this.deadline);
      this.render(left, Math.min(1, left / this.total));
      if (left <= 0) {
        this.stop();
        if (this.onZero) this.onZero();
        return;
      }
      if (reducedMotion() || document.hidden) this.timer = setTimeout(tick, 250);
      else this.raf = requestAnimationFrame(tick);
    };
    tick();
  }
  stop() {
    if (this.timer) clearTimeout(this.timer);
    if (this.raf) cancelAnimationFrame(this.raf);
    this.timer = this.raf = null;
  }
}

/** Build the SVG countdown ring; returns {root, update(msLeft, fraction)}. */
export function countdownRing(testid = "countdown") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 120 120");
  svg.setAttribute("class", "ring-svg");
  svg.setAttribute("aria-hidden", "true");
  const track = document.createElementNS(SVG_NS, "circle");
  const bar = document.createElementNS(SVG_NS, "circle");
  for (const c of [track, bar]) {
    c.setAttribute("cx", "60");
    c.setAttribute("cy", "60");
    c.setAttribute("r", "52");
  }
  track.setAttribute("class", "ring-track");
  bar.setAttribute("class", "ring-bar");
  const circ = 2 * Math.PI * 52;
  bar.setAttribute("stroke-dasharray", circ.toFixed(2));
  svg.append(track, bar);
  const num = h("span", { class: "ring-num", "data-testid": testid, role: "timer", "aria-live": "off" });
  const root = h("div", { class: "ring" }, svg, num);
  return {
    root,
    update(msLeft, fraction) {
      const secs = Math.ceil(msLeft / 1000);
      if (num.textContent !== String(secs)) num.textContent = String(secs);
      num.dataset.ms = String(Math.round(msLeft));
      bar.setAttribute("stroke-dashoffset", (circ * (1 - fraction)).toFixed(2));
      root.classList.toggle("urgent", msLeft <= 5000 && msLeft > 0);
    },
  };
}

// ---- Sockets ----

export function wsUrl(path) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  return `${scheme}://${location.host}${path}`;
}

/**
 * A socket that reconnects by itself. `hello()` returns the first message to send on each
 * (re)connect; `onMessage(msg)` gets decoded objects; `onClose(code)` returns false to stop.
 */
export class LiveSocket {
  constructor(path, { hello, onMessage, onState, onClose }) {
    this.path = path;
    this.hello = hello;
    this.onMessage = onMessage;
    this.onState = onState || (() => {});
    this.onClose = onClose || (() => true);
    this.ws = null;
    this.stopped = false;
    this.attempt = 0;
    this.retryTimer = null;
    this.handleOnline = () => this.retryNow();
    window.addEventListener("online", this.handleOnline);
  }
  connect() {
    if (this.stopped) return;
    clearTimeout(this.retryTimer);
    this.onState(this.attempt ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(wsUrl(this.path), ["quiz.v1.json"]);
    } catch (err) {
      console.error(err);
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.attempt = 0;
      this.onState("open");
      ws.send(JSON.stringify(this.hello()));
    });
    ws.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (msg && typeof msg.type === "string") this.onMessage(msg);
    });
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      const again = this.onClose(ev.code, ev.reason);
      if (again === false) {
        this.stop();
        return;
      }
      this.scheduleRetry();
    });
  }
  scheduleRetry() {
    if (this.stopped) return;
    this.attempt += 1;
    this.onState("reconnecting");
    const delay = Math.min(5000, 300 * 2 ** Math.min(this.attempt - 1, 5)) + Math.random() * 250;
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }
  retryNow() {
    if (this.stopped || this.ws) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }
  get open() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }
  send(obj) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    window.removeEventListener("online", this.handleOnline);
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
    this.onState("closed");
  }
}

export function ordinalRank(rank) {
  return `#${rank}`;
}
