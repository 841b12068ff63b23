// The account pages: sign-in, sign-up, password reset, profile (edit, Telegram link, password,
// export, delete) and "my games / my results". One page, one screen per location hash.
//
// The browser is signed in by the HttpOnly session cookie that login sets; this script never
// sees it. Login also answers the session's CSRF token, kept in localStorage and sent as
// X-CSRF-Token on every request that changes something (PLATFORM.md "Conventions").

import { initI18n, t, lang, onLangChange } from "./i18n.js";
import { h, $ } from "./ui.js";
import { CSRF_KEY, adoptCsrfCookie, api, hideError, showError } from "./account-api.js";

const SCREENS = ["signin", "signup", "profile", "games"];
const SIGNED_IN_ONLY = new Set(["profile", "games"]);
const PROFILE_FIELDS = ["username", "first_name", "last_name", "email", "phone"];
const PAGE_SIZE = 20;

let me = null; // the profile of the signed-in user, or null
let pendingFlash = ""; // a message to show once the hash change it comes with has happened

function flash(key) {
  const el = $("#flash");
  el.textContent = key ? t(key) : "";
  el.dataset.key = key || "";
  el.hidden = !key;
}

function formValues(form, names) {
  const out = {};
  for (const name of names) {
    const input = form.querySelector(`[name="${name}"]`);
    if (input) out[name] = input.value.trim();
  }
  return out;
}

function nextTarget() {
  const next = new URLSearchParams(location.search).get("next") || "";
  // Only a path on this site: never an open redirect.
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "";
}

// ---- Screens ----

/** Go to a screen, then show `flashKey` (a hash change clears the old message first). */
function go(hash, flashKey = "") {
  if (location.hash === hash) {
    show();
    flash(flashKey);
  } else {
    pendingFlash = flashKey;
    location.hash = hash;
  }
}

function currentScreen() {
  const name = location.hash.replace(/^#/, "");
  return SCREENS.includes(name) ? name : (me ? "profile" : "signin");
}

function show() {
  let name = currentScreen();
  if (!me && SIGNED_IN_ONLY.has(name)) name = "signin";
  if (me && (name === "signin" || name === "signup")) name = "profile";
  for (const s of SCREENS) $(`#screen-${s}`).hidden = s !== name;
  document.body.dataset.screen = name;
  $("#account-nav").hidden = !me;
  $("#sign-out").hidden = !me;
  $("#signed-in-as").textContent = me ? `@${me.username}` : "";
  for (const a of document.querySelectorAll(".account-nav a")) {
    if (a.getAttribute("href") === `#${name}`) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (name === "profile") fillProfile();
  if (name === "games") loadGames();
}

async function loadMe() {
  const { status, data } = await api("GET", "/api/me");
  me = status === 200 ? data : null;
}

// ---- Sign in, sign up, reset ----

async function signIn(login, password, flashKey = "") {
  const { status, data } = await api("POST", "/api/auth/login", { login, password });
  if (status !== 200) return { status, data };
  localStorage.setItem(CSRF_KEY, data.csrf);
  me = data.user;
  const next = nextTarget();
  if (next) location.assign(next);
  else go("#profile", flashKey);
  return { status, data };
}

async function onSignIn(event) {
  event.preventDefault();
  const box = $("#signin-error");
  hideError(box);
  const { status, data } = await signIn($("#signin-login").value.trim(), $("#signin-password").value);
  if (status !== 200) showError(box, data, status);
}

async function onSignUp(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const box = $("#signup-error");
  hideError(box);
  const body = formValues(form, [...PROFILE_FIELDS, "referral"]);
  body.password = $("#signup-password").value;
  for (const key of ["last_name", "email", "phone", "referral"]) if (!body[key]) delete body[key];
  const made = await api("POST", "/api/auth/register", body);
  if (made.status !== 201) { showError(box, made.data, made.status); return; }
  // The account exists; sign this browser in (a session cookie, not the API token).
  const { status, data } = await signIn(body.username, body.password, "account.signup.welcome");
  if (status !== 200) showError(box, data, status);
}

async function onReset(event) {
  event.preventDefault();
  const login = $("#reset-login").value.trim();
  if (!login) return;
  await api("POST", "/api/auth/reset", { login });
  $("#reset-done").hidden = false; // 202 whatever the login: the page says the same
}

async function onSignOut() {
  await api("POST", "/api/auth/logout");
  localStorage.removeItem(CSRF_KEY);
  me = null;
  go("#signin");
}

/** A write was refused because the session ended (or its CSRF token is gone): sign in again. */
function sessionEnded(status, data) {
  const code = data && data.error ? data.error.code : "";
  if (status === 401 || code === "csrf") {
    me = null;
    localStorage.removeItem(CSRF_KEY);
    go("#signin", "account.err.session_ended");
    return true;
  }
  return false;
}

// ---- Profile ----

function fillProfile() {
  if (!me) return;
  for (const name of PROFILE_FIELDS) $(`#profile-${name}`).value = me[name] || "";
  const linked = me.telegram_id !== null && me.telegram_id !== undefined;
  $("#tg-status").textContent = linked ? t("account.telegram.linked", { id: me.telegram_id }) : t("account.telegram.not_linked");
  $("#tg-unlink").hidden = !linked;
}

async function onSaveProfile(event) {
  event.preventDefault();
  const box = $("#profile-error");
  hideError(box);
  const body = formValues(event.currentTarget, PROFILE_FIELDS);
  for (const key of ["last_name", "email", "phone"]) if (!body[key]) body[key] = null;
  const { status, data } = await api("PATCH", "/api/me", body);
  if (sessionEnded(status, data)) return;
  if (status !== 200) { showError(box, data, status); return; }
  me = data;
  fillProfile();
  show();
  flash("account.profile.saved");
}

async function onTelegramCode() {
  const { status, data } = await api("POST", "/api/me/telegram");
  if (sessionEnded(status, data)) return;
  if (status !== 200) return;
  $("#tg-code-text").textContent = `/link ${data.code}`;
  $("#tg-code-box").hidden = false;
}

async function onTelegramUnlink() {
  const { status, data } = await api("DELETE", "/api/me/telegram");
  if (sessionEnded(status, data)) return;
  if (status === 204) { me.telegram_id = null; fillProfile(); flash("account.telegram.unlinked"); }
}

async function onChangePassword(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const box = $("#password-error");
  hideError(box);
  const { status, data } = await api("POST", "/api/me/password", { old: $("#password-old").value, new: $("#password-new").value });
  if (status === 401 && sessionEnded(status, data)) return;
  if (status !== 204) { showError(box, data, status); return; }
  form.reset();
  flash("account.password.changed");
}

async function onExport() {
  const { status, data } = await api("GET", "/api/me/export");
  if (sessionEnded(status, data) || status !== 200) return;
  const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
  const link = h("a", { href: URL.createObjectURL(blob), download: `livequiz-${me.username}.json` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

async function onDelete(event) {
  event.preventDefault();
  const box = $("#delete-error");
  box.hidden = true;
  if (!$("#delete-confirm").checked) {
    box.textContent = t("account.data.delete_unconfirmed");
    box.hidden = false;
    return;
  }
  const { status, data } = await api("DELETE", "/api/me", { password: $("#delete-password").value });
  if (status !== 204) {
    if (status === 401 && sessionEnded(status, data)) return;
    showError(box, data, status);
    return;
  }
  localStorage.removeItem(CSRF_KEY);
  me = null;
  go("#signin", "account.data.deleted");
}

// ---- My games and my results ----

function when(iso) {
  try { return new Date(iso).toLocaleString(lang() === "uz" ? "uz-Latn" : lang()); } catch { return iso; }
}

function hostedItem(game) {
  const rows = game.results.map((r) => h("tr", {},
    h("td", { class: "num", text: r.rank }), h("td", { text: r.name }), h("td", { class: "num", text: r.score })));
  return h("li", { "data-testid": "hosted-game", "data-pin": game.pin },
    h("div", { class: "h-title", text: game.title }),
    h("div", { class: "h-meta", text: t("account.games.meta_hosted", { date: when(game.finished_at), players: game.players }) }),
    h("table", {}, h("tbody", {}, rows)));
}

function playedItem(p) {
  return h("li", { "data-testid": "played-game", "data-pin": p.pin },
    h("div", { class: "h-title", text: p.title }),
    h("div", { class: "h-meta", text: t("account.games.meta_played", {
      date: when(p.date), rank: p.rank, players: p.players, score: p.score, correct: p.correct, answers: p.answers,
    }) }));
}

const LISTS = {
  hosted: { path: "/api/me/games", render: hostedItem, cursor: null },
  played: { path: "/api/me/results", render: playedItem, cursor: null },
};

/** One page of a list: the first (replacing what is shown) or the next (`more`). */
async function loadList(name, more = false) {
  const spec = LISTS[name];
  const cursor = more && spec.cursor ? `&cursor=${encodeURIComponent(spec.cursor)}` : "";
  const { status, data } = await api("GET", `${spec.path}?limit=${PAGE_SIZE}${cursor}`);
  if (sessionEnded(status, data) || status !== 200) return;
  const list = $(`#${name}`);
  const items = data.items.map(spec.render);
  if (more) list.append(...items);
  else list.replaceChildren(...items);
  spec.cursor = data.next_cursor;
  $(`#${name}-empty`).hidden = list.children.length > 0;
  $(`#${name}-more`).hidden = !data.next_cursor;
}

function loadGames() {
  loadList("hosted");
  loadList("played");
}

// ---- Sign in with Google ----

async function offerGoogle() {
  const { status, data } = await api("GET", "/api/auth/providers");
  const link = $("#google");
  if (status !== 200 || !data.google) return;
  const next = nextTarget();
  link.href = `/auth/google?next=${encodeURIComponent(next || "/account#profile")}`;
  link.hidden = false;
}

// ---- Start ----

async function main() {
  await initI18n($("#lang"));
  $("#signin-form").addEventListener("submit", onSignIn);
  $("#signup-form").addEventListener("submit", onSignUp);
  $("#reset-form").addEventListener("submit", onReset);
  $("#sign-out").addEventListener("click", onSignOut);
  $("#profile-form").addEventListener("submit", onSaveProfile);
  $("#tg-code").addEventListener("click", onTelegramCode);
  $("#tg-unlink").addEventListener("click", onTelegramUnlink);
  $("#password-form").addEventListener("submit", onChangePassword);
  $("#export").addEventListener("click", onExport);
  $("#delete-form").addEventListener("submit", onDelete);
  $("#hosted-more").addEventListener("click", () => loadList("hosted", true));
  $("#played-more").addEventListener("click", () => loadList("played", true));
  window.addEventListener("hashchange", () => { flash(pendingFlash); pendingFlash = ""; show(); });
  onLangChange(() => { show(); const key = $("#flash").dataset.key; if (key) flash(key); });
  adoptCsrfCookie();
  await loadMe();
  show();
  if (new URLSearchParams(location.search).get("google") === "failed") flash("account.err.google_failed");
  if (!me) offerGoogle();
  document.body.dataset.ready = "1";
}

main();
