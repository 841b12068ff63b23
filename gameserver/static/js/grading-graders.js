// The grading page's panel for exam owners: who grades each of their IELTS/CEFR exams.
//
// The owner picks one of their banded exams (GET /api/exams?mine=1), sees its graders
// (GET /api/exams/{id}/graders), names one by email or account number (POST, {email} or
// {user_id}) and removes one (DELETE). The panel stays hidden for someone without such exams.

import { t, has, onLangChange } from "./i18n.js";
import { h, $ } from "./ui.js";
import { api } from "./account-api.js";

let examId = "";

function say(data, status) {
  const box = $("#graders-error");
  const code = data && data.error ? data.error.code : "";
  if (code && has(`ielts.graders.err.${code}`)) box.textContent = t(`ielts.graders.err.${code}`);
  else if (code && has(`ielts.err.${code}`)) box.textContent = t(`ielts.err.${code}`);
  else if (data && data.error && data.error.message) box.textContent = data.error.message;
  else box.textContent = t("ielts.err.http", { status });
  box.hidden = false;
}

async function loadGraders() {
  $("#graders-error").hidden = true;
  if (!examId) return;
  const { status, data } = await api("GET", `/api/exams/${examId}/graders`);
  if (status !== 200) return say(data, status);
  $("#graders-list").replaceChildren(...data.items.map((grader) => h("li", { "data-testid": "grader" },
    h("span", { text: t("ielts.graders.who", { name: grader.name, id: grader.user_id }) }), " ",
    h("button", { type: "button", class: "btn btn-ghost", "data-testid": "grader-remove",
      text: t("ielts.graders.remove"), onclick: () => removeGrader(grader.user_id) }))));
  $("#graders-none").hidden = data.items.length > 0;
  return undefined;
}

async function removeGrader(userId) {
  const { status, data } = await api("DELETE", `/api/exams/${examId}/graders/${userId}`);
  if (status !== 204) return say(data, status);
  return loadGraders();
}

async function addGrader(event) {
  event.preventDefault();
  const who = $("#grader-who").value.trim();
  if (!who || !examId) return undefined;
  // An account number is all digits; anything else is taken as an email.
  const body = /^[0-9]{1,10}$/.test(who) ? { user_id: Number(who) } : { email: who };
  const { status, data } = await api("POST", `/api/exams/${examId}/graders`, body);
  if (status !== 201) return say(data, status);
  $("#grader-who").value = "";
  return loadGraders();
}

/** Show the panel when the caller owns IELTS/CEFR exams, and wire it. */
export async function mountGraders() {
  const { status, data } = await api("GET", "/api/exams?mine=1&limit=100");
  if (status !== 200) return;
  const banded = data.items.filter((exam) => exam.kind !== "standard");
  if (!banded.length) return;
  const select = $("#graders-exam");
  select.replaceChildren(...banded.map((exam) => h("option", { value: String(exam.id), text: exam.title })));
  examId = select.value;
  select.addEventListener("change", () => {
    examId = select.value;
    loadGraders();
  });
  $("#graders-form").addEventListener("submit", addGrader);
  $("#graders").hidden = false;
  onLangChange(loadGraders);
  await loadGraders();
}
