// Speaking prompts of an IELTS or CEFR exam on the exam page (PLATFORM.md "IELTS and CEFR").
//
// speaking_mode "async": the candidate records the answer with the microphone (MediaRecorder),
// may listen and record again, and the recording is uploaded to
// POST /api/attempts/{id}/audio?n=N (multipart field `file`). XMLHttpRequest, not fetch, sends
// it because only XHR reports upload progress. The server checks the size (20 MB) and the type
// by content; its refusals are said plainly. What was uploaded plays back from the server, so
// the candidate hears what the grader will hear. A file input is there for browsers without
// MediaRecorder (and for a recording made elsewhere).
// speaking_mode "scheduled": speaking is a live call in a booked slot; the page points there.

import { t, has } from "./i18n.js";
import { h } from "./ui.js";

const CSRF_KEY = "lq_csrf";
export const MAX_AUDIO_BYTES = 20 * 1024 * 1024;
// A long answer still fits far below 20 MB (Opus at ~32 kbit/s: ~2.4 MB for 10 minutes).
const MAX_RECORDING_MS = 10 * 60 * 1000;
const TYPES = [
  ["audio/webm;codecs=opus", "webm"],
  ["audio/ogg;codecs=opus", "ogg"],
  ["audio/mp4", "m4a"],
  ["audio/webm", "webm"],
];

let active = null; // the recording in progress: {recorder, stream, timer}

/** Stop a recording in progress (leaving the question or the exam); what was said is uploaded. */
export function stopRecording() {
  if (active && active.recorder.state === "recording") active.recorder.stop();
}

function recordingType() {
  if (typeof MediaRecorder === "undefined") return null;
  return TYPES.find(([type]) => MediaRecorder.isTypeSupported(type)) || ["", "webm"];
}

function upload(attemptId, n, blob, filename, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/attempts/${attemptId}/audio?n=${n}`);
    const csrf = localStorage.getItem(CSRF_KEY);
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let data = null;
      try { data = JSON.parse(xhr.responseText); } catch { data = null; }
      resolve({ status: xhr.status, data });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, data: { error: { code: "network" } } }));
    const form = new FormData();
    form.append("file", blob, filename);
    xhr.send(form);
  });
}

function errorText(data, status) {
  const code = data && data.error ? data.error.code : "";
  if (code && has(`ielts.err.${code}`)) return t(`ielts.err.${code}`);
  if (data && data.error && data.error.message) return data.error.message;
  return t("ielts.err.http", { status });
}

function sizeText(bytes) {
  return bytes < 1024 * 1024 ? t("ielts.size_kb", { size: Math.max(1, Math.round(bytes / 1024)) })
    : t("ielts.size_mb", { size: (bytes / 1024 / 1024).toFixed(1) });
}

function scheduledNote(examId) {
  return h("div", { class: "exam-speaking", "data-testid": "speaking-scheduled" },
    h("p", { text: t("ielts.speaking.scheduled") }),
    h("a", { class: "btn btn-ghost", href: `/speaking?exam=${examId}`, "data-testid": "speaking-book",
      text: t("ielts.speaking.book") }));
}

/**
 * Render a speaking prompt's answer into `box`. `given` is the stored answer
 * ({audio, content_type, size} once uploaded); `onUploaded(answer)` hears of a new upload and
 * `onClosed()` of an attempt the server says is over.
 */
export function renderSpeaking(box, question, { exam, attemptId, given, onUploaded, onClosed }) {
  if (exam.speaking_mode === "scheduled") {
    box.replaceChildren(scheduledNote(exam.id));
    return;
  }
  const type = recordingType();
  const record = h("button", { type: "button", class: "btn btn-primary", "data-testid": "record" });
  const stop = h("button", { type: "button", class: "btn btn-danger-ghost", "data-testid": "stop",
    text: t("ielts.speaking.stop"), hidden: true });
  const clock = h("span", { class: "exam-rec-clock", "data-testid": "rec-time", role: "timer", hidden: true });
  const bar = h("progress", { max: "100", value: "0", "data-testid": "upload-progress", hidden: true });
  const status = h("p", { class: "muted", "data-testid": "rec-status", "aria-live": "polite" });
  const error = h("p", { class: "form-error", "data-testid": "rec-error", role: "alert", hidden: true });
  const player = h("audio", { controls: true, preload: "metadata", "data-testid": "playback", hidden: true });
  const file = h("input", { type: "file", accept: "audio/*", class: "sr-only", "data-testid": "audio-file" });
  const pick = h("label", { class: "btn btn-ghost file-btn" }, h("span", { text: t("ielts.speaking.file") }), file);

  let current = given && given.audio ? given : null; // what the server holds for this prompt
  const showUploaded = (answer) => {
    current = answer;
    record.textContent = t("ielts.speaking.record_again");
    status.textContent = t("ielts.speaking.uploaded", { size: sizeText(answer.size || 0) });
    // From the server, with a fresh query so a new recording is not served from the cache.
    player.src = `/api/attempts/${attemptId}/audio/${question.n}?v=${Date.now()}`;
    player.hidden = false;
  };
  const fail = (data, statusCode) => {
    error.textContent = errorText(data, statusCode);
    error.hidden = false;
    // A refused upload leaves the earlier recording in place: say so, not nothing.
    status.textContent = current ? t("ielts.speaking.uploaded", { size: sizeText(current.size || 0) }) : "";
  };

  async function send(blob, filename) {
    error.hidden = true;
    if (blob.size > MAX_AUDIO_BYTES) return fail({ error: { code: "too_large" } }, 413);
    if (blob.size === 0) return fail({ error: { code: "empty_recording" } }, 0);
    record.disabled = true;
    file.disabled = true;
    bar.value = 0;
    bar.hidden = false;
    status.textContent = t("ielts.speaking.uploading", { percent: 0 });
    document.body.dataset.uploading = "true";
    const answer = await upload(attemptId, question.n, blob, filename, (fraction) => {
      bar.value = Math.round(fraction * 100);
      status.textContent = t("ielts.speaking.uploading", { percent: Math.round(fraction * 100) });
    });
    delete document.body.dataset.uploading;
    record.disabled = false;
    file.disabled = false;
    bar.hidden = true;
    if (answer.status === 201) {
      const stored = { audio: true, content_type: answer.data.content_type, size: answer.data.size };
      onUploaded(stored);
      showUploaded(stored);
    } else if (answer.status === 409) {
      onClosed();
    } else {
      fail(answer.data, answer.status);
    }
    return undefined;
  }

  async function start() {
    error.hidden = true;
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch {
      return fail({ error: { code: "microphone" } }, 0);
    }
    const recorder = type[0] ? new MediaRecorder(stream, { mimeType: type[0] }) : new MediaRecorder(stream);
    const chunks = [];
    const began = Date.now();
    recorder.addEventListener("dataavailable", (event) => {
      if (event.data && event.data.size) chunks.push(event.data);
    });
    recorder.addEventListener("stop", () => {
      clearInterval(active.timer);
      for (const track of stream.getTracks()) track.stop();
      active = null;
      stop.hidden = true;
      clock.hidden = true;
      record.hidden = false;
      const blob = new Blob(chunks, { type: (recorder.mimeType || type[0] || "audio/webm").split(";")[0] });
      send(blob, `speaking-${question.n}.${type[1]}`);
    });
    active = { recorder, stream, timer: null };
    active.timer = setInterval(() => {
      const seconds = Math.floor((Date.now() - began) / 1000);
      clock.textContent = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
      if (Date.now() - began >= MAX_RECORDING_MS) recorder.stop();
    }, 250);
    recorder.start(1000);
    clock.textContent = "0:00";
    clock.hidden = false;
    record.hidden = true;
    stop.hidden = false;
    status.textContent = t("ielts.speaking.recording");
    return undefined;
  }

  record.textContent = t("ielts.speaking.record");
  record.addEventListener("click", start);
  stop.addEventListener("click", stopRecording);
  file.addEventListener("change", () => {
    const [chosen] = file.files;
    if (chosen) send(chosen, chosen.name);
    file.value = "";
  });
  if (!type) {
    record.disabled = true;
    status.textContent = t("ielts.speaking.no_recorder");
  }
  if (current) showUploaded(current);
  box.replaceChildren(h("div", { class: "exam-speaking" },
    h("div", { class: "exam-rec-controls" }, record, stop, clock, pick), bar, status, error, player));
}
