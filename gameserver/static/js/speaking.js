// The Speaking page (issue 21, 000 §14): scheduled IELTS/CEFR Speaking as a live call.
//
// /speaking?exam=ID  the exam's slots: its owner publishes and withdraws them and sees who
//                    booked which; a candidate books one free slot (one per exam) and may
//                    cancel it before it starts.
// /speaking?slot=ID  the room (speaking-room.js): video call and chat with the other party.
// /speaking          the caller's booked slots, as candidate or grader, each with its room.
//
// Signed in by the session cookie; writes carry the CSRF token login stored (account-api.js).

import { initI18n, t, has, onLangChange } from "./i18n.js";
import { h, $, showScreen, setText } from "./ui.js";
import { api } from "./account-api.js";
import { enterRoom } from "./speaking-room.js";

const params = new URLSearchParams(location.search);
let me = null;
let exam = null;
let rerender = () => {};

function when(iso) {
  return iso ? new Date(iso).toLocaleString(document.documentElement.lang || undefined,
    { dateStyle: "medium", timeStyle: "short" }) : "";
}

function showError(data, status) {
  const code = data && data.error ? data.error.code : "";
  const box = $("#error");
  if (code && has(`speaking.err.${code}`)) box.textContent = t(`speaking.err.${code}`);
  else if (data && data.error && data.error.message) box.textContent = data.error.message;
  else box.textContent = t("speaking.err.http", { status });
  box.hidden = false;
}

function clearError() {
  $("#error").hidden = true;
}

function stateBadge(state) {
  return h("span", { class: "speaking-state", dataset: { state }, "data-testid": "slot-state",
    text: t(`speaking.state.${state}`) });
}

function roomLink(slot) {
  return h("a", { class: "btn btn-primary btn-small", href: `/speaking?slot=${slot.id}`, "data-testid": "enter-room",
    text: t("speaking.enter_room") });
}

function upcoming(slot) {
  return Date.now() < new Date(slot.room_closes_at).getTime();
}

// ---- My slots ----

async function showMine() {
  showScreen("screen-mine");
  const { status, data } = await api("GET", "/api/me/speaking-slots?limit=100");
  if (status !== 200) return showError(data, status);
  const draw = () => {
    $("#mine-list").replaceChildren(...data.items.map((slot) => h("li", { class: "speaking-item", "data-testid": "mine-item" },
      h("span", { class: "speaking-item-when", text: when(slot.starts_at) }),
      h("span", { text: `${slot.exam_title} · ${t(`speaking.role.${slot.role}`)}: ${slot.with}` }),
      stateBadge(slot.state),
      upcoming(slot) ? roomLink(slot) : null)));
    $("#mine-empty").hidden = data.items.length > 0;
  };
  draw();
  rerender = draw;
}

// ---- One exam's slots ----

function owns() {
  return me && exam && (me.role === "admin" || exam.owner === me.id);
}

async function loadExam(examId) {
  const { status, data } = await api("GET", `/api/exams/${examId}`);
  if (status !== 200) return showError(data, status);
  exam = data;
  showScreen("screen-exam");
  setText($("#exam-title"), exam.title);
  document.title = `${exam.title} · ${t("speaking.page_title")}`;
  $("#publish-form").hidden = !owns();
  await refreshSlots();
}

async function refreshSlots() {
  clearError();
  const slotsAnswer = await api("GET", `/api/exams/${exam.id}/speaking-slots?limit=100`);
  if (slotsAnswer.status !== 200) return showError(slotsAnswer.data, slotsAnswer.status);
  let mine = null;
  if (!owns()) {
    const mineAnswer = await api("GET", "/api/me/speaking-slots?limit=100");
    if (mineAnswer.status === 200) {
      mine = mineAnswer.data.items.find((s) => s.exam_id === exam.id && s.role === "candidate" && upcoming(s)) || null;
    }
  }
  const draw = () => drawSlots(slotsAnswer.data.items, mine);
  draw();
  rerender = draw;
}

function drawSlots(items, mine) {
  setText($("#slots-heading"), t(owns() ? "speaking.exam.all_slots" : "speaking.exam.free_slots"));
  const booking = $("#my-booking");
  booking.hidden = !mine;
  if (mine) {
    const started = Date.now() >= new Date(mine.starts_at).getTime();
    booking.replaceChildren(h("div", { class: "speaking-item" },
      h("span", { class: "speaking-item-when", text: t("speaking.exam.your_booking", { when: when(mine.starts_at) }) }),
      roomLink(mine),
      started ? null : h("button", { type: "button", class: "btn btn-danger-ghost btn-small", "data-testid": "cancel-booking",
        text: t("speaking.exam.cancel"), onclick: () => cancel(mine.id) })));
  }
  $("#slot-list").replaceChildren(...items.map((slot) => h("li", { class: "speaking-item", "data-testid": "slot-item" },
    h("span", { class: "speaking-item-when",
      text: t("speaking.exam.slot", { when: when(slot.starts_at), minutes: slot.duration_min }) }),
    owns() ? stateBadge(slot.state) : null,
    owns() && slot.candidate ? h("span", { "data-testid": "slot-candidate", text: slot.candidate.name }) : null,
    owns() && slot.candidate && upcoming(slot) ? roomLink(slot) : null,
    owns() && Date.now() < new Date(slot.starts_at).getTime()
      ? h("button", { type: "button", class: "btn btn-danger-ghost btn-small", "data-testid": "withdraw",
        text: t("speaking.exam.withdraw"), onclick: () => withdraw(slot.id) }) : null,
    !owns() && !mine ? h("button", { type: "button", class: "btn btn-primary btn-small", "data-testid": "book",
      text: t("speaking.exam.book"), onclick: () => book(slot.id) }) : null)));
  $("#slots-empty").hidden = items.length > 0;
}

async function book(slotId) {
  const { status, data } = await api("POST", `/api/speaking-slots/${slotId}/booking`, {});
  if (status !== 201) showError(data, status);
  else await refreshSlots();
}

async function cancel(slotId) {
  const { status, data } = await api("DELETE", `/api/speaking-slots/${slotId}/booking`);
  if (status !== 204) showError(data, status);
  else await refreshSlots();
}

async function withdraw(slotId) {
  const { status, data } = await api("DELETE", `/api/speaking-slots/${slotId}`);
  if (status !== 204) showError(data, status);
  else await refreshSlots();
}

async function publish(event) {
  event.preventDefault();
  clearError();
  const start = new Date($("#publish-start").value);
  if (Number.isNaN(start.getTime())) return showError({ error: { code: "invalid" } }, 422);
  const body = { starts_at: start.toISOString(), duration_min: Number($("#publish-duration").value) };
  const { status, data } = await api("POST", `/api/exams/${exam.id}/speaking-slots`, body);
  if (status !== 201) return showError(data, status);
  await refreshSlots();
}

// ---- Start ----

async function main() {
  await initI18n($("#lang"));
  onLangChange(() => rerender());
  $("#publish-form").addEventListener("submit", publish);
  const who = await api("GET", "/api/me");
  if (who.status !== 200) {
    showScreen("screen-signin");
  } else {
    me = who.data;
    const slotId = params.get("slot");
    const examId = params.get("exam");
    if (slotId && /^\d+$/.test(slotId)) rerender = await enterRoom(Number(slotId));
    else if (examId && /^\d+$/.test(examId)) await loadExam(examId);
    else await showMine();
  }
  document.body.dataset.ready = "true";
}

main();
