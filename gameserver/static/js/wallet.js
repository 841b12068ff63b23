// The wallet page (PLATFORM.md "Wallet"): balances and rates, top-up with the code the
// payment provider sends (the sandbox shows it on the page), transfers from earnings,
// withdrawals to a card, the history; for admins, pending withdrawals and bonuses.
//
// Signed in by the session cookie; writes carry the session's CSRF token (kept by the account
// page in localStorage). Every money-moving POST carries an Idempotency-Key made once per
// submission and reused if the same submission is retried after a network failure, so a
// retried click never moves money twice.

import { initI18n, t, has, lang, onLangChange } from "./i18n.js";
import { h, $ } from "./ui.js";

const CSRF_KEY = "lq_csrf";
const PAGE_SIZE = 20;

let me = null;
let wallet = null;
let topupId = null;
let historyCursor = null;

function newKey() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

async function api(method, path, body, key) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = localStorage.getItem(CSRF_KEY);
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  if (key) headers["Idempotency-Key"] = key;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  } catch {
    return { status: 0, data: { error: { code: "network", message: "" } } };
  }
  let data = null;
  const text = await res.text();
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  return { status: res.status, data };
}

/** POST under the form's Idempotency-Key: kept across a network failure, new after any answer. */
async function moneyPost(form, path, body) {
  if (!form.dataset.key) form.dataset.key = newKey();
  const answer = await api("POST", path, body, form.dataset.key);
  if (answer.status !== 0) delete form.dataset.key;
  return answer;
}

function money(amount) {
  return t("wallet.money", { amount: new Intl.NumberFormat(lang()).format(amount) });
}

function errorText(data, status) {
  const code = data && data.error ? data.error.code : "";
  if (code && has(`wallet.err.${code}`)) return t(`wallet.err.${code}`);
  if (data && data.error && data.error.message) return data.error.message;
  return t("wallet.err.http", { status });
}

function showError(el, answer) {
  el.textContent = errorText(answer.data, answer.status);
  el.hidden = false;
}

function flash(key, vars) {
  const el = $("#flash");
  el.textContent = key ? t(key, vars) : "";
  el.hidden = !key;
}

function amountOf(input) {
  const digits = input.value.replace(/[\s,.'’]/g, "");
  return /^\d{1,15}$/.test(digits) ? Number(digits) : NaN;
}

function tax(amount, rate) {
  return Math.floor((amount * rate + 50) / 100); // round half up, as the server does
}

// ---- Balances, rates, history ----

function renderWallet() {
  for (const kind of ["main", "bonus", "earnings", "held"]) $(`#balance-${kind}`).textContent = money(wallet[kind]);
  $("#rates").textContent = t("wallet.rates", wallet.rates);
  previewTransfer();
  previewWithdraw();
}

async function loadWallet() {
  const answer = await api("GET", "/api/wallet");
  if (answer.status !== 200) return false;
  wallet = answer.data;
  renderWallet();
  return true;
}

function kindText(kind) {
  return has(`wallet.kind.${kind}`) ? t(`wallet.kind.${kind}`) : kind;
}

function historyRow(item) {
  const total = Object.values(item.changes).reduce((a, b) => a + b, 0);
  const sign = total > 0 ? "+" : total < 0 ? "−" : "";
  const after = t("wallet.history.after_value", { main: money(item.balance.main), bonus: money(item.balance.bonus) });
  return h("tr", { dataset: { testid: "history-row", kind: item.kind } },
    h("td", { text: new Date(item.created_at).toLocaleString(lang()) }),
    h("td", { text: kindText(item.kind) }),
    h("td", { class: `num ${total >= 0 ? "amount-in" : "amount-out"}`, text: `${sign}${money(item.amount)}` }),
    h("td", { class: "num", text: item.tax ? money(item.tax) : "" }),
    h("td", { text: after }));
}

async function loadHistory(more = false) {
  const query = `?limit=${PAGE_SIZE}${more && historyCursor ? `&cursor=${encodeURIComponent(historyCursor)}` : ""}`;
  const answer = await api("GET", `/api/wallet/transactions${query}`);
  if (answer.status !== 200) return;
  const body = $("#history tbody");
  if (!more) body.replaceChildren();
  body.append(...answer.data.items.map(historyRow));
  historyCursor = answer.data.next_cursor;
  $("#history-more").hidden = !historyCursor;
  $("#history-empty").hidden = body.children.length > 0;
}

async function refresh() {
  await loadWallet();
  await loadHistory();
  if (me && me.role === "admin") await loadPending();
}

// ---- Top-up ----

async function startTopup(event) {
  event.preventDefault();
  const form = $("#topup-form");
  const error = $("#topup-error");
  error.hidden = true;
  const amount = amountOf($("#topup-amount"));
  if (Number.isNaN(amount)) { error.textContent = t("wallet.err.amount"); error.hidden = false; return; }
  const answer = await moneyPost(form, "/api/wallet/topups", { amount });
  if (answer.status !== 201) { showError(error, answer); return; }
  topupId = answer.data.id;
  $("#otp-step").hidden = false;
  const sandbox = $("#sandbox-otp");
  sandbox.hidden = !answer.data.sandbox_otp;
  sandbox.textContent = answer.data.sandbox_otp ? t("wallet.topup.sandbox", { code: answer.data.sandbox_otp }) : "";
  $("#topup-otp").value = "";
  $("#topup-otp").focus();
}

async function confirmTopup() {
  const form = $("#topup-form");
  const error = $("#topup-error");
  error.hidden = true;
  const otp = $("#topup-otp").value.trim();
  const answer = await moneyPost(form, `/api/wallet/topups/${topupId}/confirm`, { otp });
  if (answer.status !== 200) {
    showError(error, answer);
    if (answer.status === 410) $("#otp-step").hidden = true;
    return;
  }
  $("#otp-step").hidden = true;
  $("#topup-amount").value = "";
  flash("wallet.topup.done", { amount: money(answer.data.amount) });
  await refresh();
}

// ---- Transfer and withdrawal ----

function previewTransfer() {
  const amount = amountOf($("#transfer-amount"));
  const to = $("#transfer-to").value;
  if (!wallet || Number.isNaN(amount)) { $("#transfer-preview").textContent = ""; return; }
  const rate = to === "bonus" ? wallet.rates.to_bonus : wallet.rates.to_main;
  const cut = tax(amount, rate);
  $("#transfer-preview").textContent = t("wallet.transfer.preview", { tax: money(cut), credited: money(amount - cut) });
}

function previewWithdraw() {
  const amount = amountOf($("#withdraw-amount"));
  if (!wallet || Number.isNaN(amount)) { $("#withdraw-preview").textContent = ""; return; }
  const cut = tax(amount, wallet.rates.withdraw);
  $("#withdraw-preview").textContent = t("wallet.withdraw.preview", { tax: money(cut), payout: money(amount - cut) });
}

async function submitTransfer(event) {
  event.preventDefault();
  const form = $("#transfer-form");
  const error = $("#transfer-error");
  error.hidden = true;
  const amount = amountOf($("#transfer-amount"));
  if (Number.isNaN(amount)) { error.textContent = t("wallet.err.amount"); error.hidden = false; return; }
  const answer = await moneyPost(form, "/api/wallet/transfers", { amount, to: $("#transfer-to").value });
  if (answer.status !== 201) { showError(error, answer); return; }
  $("#transfer-amount").value = "";
  flash("wallet.transfer.done", { credited: money(answer.data.credited), tax: money(answer.data.tax) });
  await refresh();
}

async function submitWithdraw(event) {
  event.preventDefault();
  const form = $("#withdraw-form");
  const error = $("#withdraw-error");
  error.hidden = true;
  const amount = amountOf($("#withdraw-amount"));
  if (Number.isNaN(amount)) { error.textContent = t("wallet.err.amount"); error.hidden = false; return; }
  const card = $("#withdraw-card").value.replace(/[\s-]/g, "");
  const answer = await moneyPost(form, "/api/wallet/withdrawals", { amount, card });
  if (answer.status !== 201) { showError(error, answer); return; }
  $("#withdraw-amount").value = "";
  $("#withdraw-card").value = "";
  flash("wallet.withdraw.done", { amount: money(answer.data.amount), card: answer.data.card });
  await refresh();
}

// ---- Admin ----

async function decide(item, action, button) {
  button.disabled = true;
  if (!button.dataset.key) button.dataset.key = newKey();
  const answer = await api("POST", `/api/admin/withdrawals/${item.id}/${action}`, undefined, button.dataset.key);
  if (answer.status !== 0) delete button.dataset.key;
  if (answer.status !== 200) {
    button.disabled = false;
    flash("wallet.admin.failed", { reason: errorText(answer.data, answer.status) });
  } else {
    flash(action === "approve" ? "wallet.admin.approved" : "wallet.admin.rejected", { id: item.id });
  }
  await refresh();
}

function pendingItem(item) {
  const approve = h("button", { type: "button", class: "btn btn-primary btn-small", dataset: { testid: "approve" }, text: t("wallet.admin.approve") });
  const reject = h("button", { type: "button", class: "btn btn-ghost btn-small", dataset: { testid: "reject" }, text: t("wallet.admin.reject") });
  approve.addEventListener("click", () => decide(item, "approve", approve));
  reject.addEventListener("click", () => decide(item, "reject", reject));
  return h("li", { class: "panel", dataset: { testid: "pending-item", id: String(item.id) } },
    h("div", { text: t("wallet.admin.item", { id: item.id, user: item.user_id, amount: money(item.amount), payout: money(item.payout), card: item.card }) }),
    h("div", { class: "pending-actions" }, approve, reject));
}

async function loadPending() {
  const answer = await api("GET", "/api/admin/withdrawals?status=pending&limit=50");
  if (answer.status !== 200) return;
  $("#pending").replaceChildren(...answer.data.items.map(pendingItem));
  $("#pending-empty").hidden = answer.data.items.length > 0;
}

async function showLedger(event) {
  event.preventDefault();
  const error = $("#ledger-error");
  error.hidden = true;
  const user = amountOf($("#ledger-user"));
  if (Number.isNaN(user)) { error.textContent = t("wallet.err.amount"); error.hidden = false; return; }
  const answer = await api("GET", `/api/admin/users/${user}/wallet?limit=50`);
  if (answer.status !== 200) { showError(error, answer); return; }
  const b = answer.data;
  $("#ledger-balances").textContent = t("wallet.admin.ledger_balances", {
    main: money(b.main), bonus: money(b.bonus), earnings: money(b.earnings), held: money(b.held),
  });
  $("#ledger tbody").replaceChildren(...b.items.map(historyRow));
}

async function submitBonus(event) {
  event.preventDefault();
  const form = $("#bonus-form");
  const error = $("#bonus-error");
  error.hidden = true;
  const user = amountOf($("#bonus-user"));
  const amount = amountOf($("#bonus-amount"));
  if (Number.isNaN(user) || Number.isNaN(amount)) { error.textContent = t("wallet.err.amount"); error.hidden = false; return; }
  const answer = await moneyPost(form, `/api/admin/users/${user}/bonus`, { amount, reason: $("#bonus-reason").value.trim() });
  if (answer.status !== 201) { showError(error, answer); return; }
  form.reset();
  flash("wallet.admin.granted", { amount: money(answer.data.amount), user: answer.data.user_id });
  await refresh();
}

// ---- Start ----

async function start() {
  await initI18n($("#lang"));
  const answer = await api("GET", "/api/me");
  me = answer.status === 200 ? answer.data : null;
  $("#signed-out").hidden = Boolean(me);
  $("#wallet").hidden = !me;
  if (!me) return;
  $("#signed-in-as").textContent = `@${me.username}`;
  $("#admin").hidden = me.role !== "admin";
  $("#topup-form").addEventListener("submit", startTopup);
  $("#otp-confirm").addEventListener("click", confirmTopup);
  $("#transfer-form").addEventListener("submit", submitTransfer);
  $("#withdraw-form").addEventListener("submit", submitWithdraw);
  $("#bonus-form").addEventListener("submit", submitBonus);
  $("#ledger-form").addEventListener("submit", showLedger);
  $("#history-more").addEventListener("click", () => loadHistory(true));
  for (const id of ["#transfer-amount", "#transfer-to"]) $(id).addEventListener("input", previewTransfer);
  $("#withdraw-amount").addEventListener("input", previewWithdraw);
  onLangChange(() => refresh());
  await refresh();
}

start();
