// What the account pages share: calls to the platform API (JSON, the CSRF header on writes),
// error boxes in the page's language, and taking over the CSRF token after "Sign in with
// Google" (it arrives in a short-lived readable cookie, lq_csrf_once).

import { t, has } from "./i18n.js";
import { h } from "./ui.js";

export const CSRF_KEY = "lq_csrf";

/** After Google's redirect, the session's CSRF token waits in a short-lived readable cookie. */
export function adoptCsrfCookie() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "lq_csrf_once") {
      localStorage.setItem(CSRF_KEY, decodeURIComponent(rest.join("=")));
      document.cookie = "lq_csrf_once=; Max-Age=0; Path=/; SameSite=Lax";
    }
  }
}

export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const csrf = localStorage.getItem(CSRF_KEY);
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
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

function errorText(data, status) {
  const code = data && data.error ? data.error.code : "";
  if (code && has(`account.err.${code}`)) return t(`account.err.${code}`);
  if (data && data.error && data.error.message) return data.error.message;
  return t("account.err.http", { status });
}

function fieldName(loc) {
  const name = Array.isArray(loc) ? loc[loc.length - 1] : "";
  return has(`account.field.${name}`) ? t(`account.field.${name}`) : String(name);
}

/** Show an error box: `box` holds a <p> and a <ul> (details) or is itself the text element. */
export function showError(box, data, status) {
  const p = box.querySelector("p");
  const ul = box.querySelector("ul");
  (p || box).textContent = errorText(data, status);
  if (ul) {
    const details = data && data.error && Array.isArray(data.error.details) ? data.error.details : [];
    ul.replaceChildren(...details.map((d) => h("li", { text: `${fieldName(d.loc)}: ${d.msg}` })));
  }
  box.hidden = false;
}

export function hideError(box) { box.hidden = true; }
