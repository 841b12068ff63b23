// The host page's account link: "Sign in" (to /account, and back here) for a visitor; the
// username, linking to the profile, for a browser that is signed in. Only a browser that
// signed in here (it keeps the session's CSRF token) asks the server who it is, so visitors
// cost the server nothing.

import { adoptCsrfCookie } from "./account-api.js";

const link = document.getElementById("account-link");

async function showSignedIn() {
  adoptCsrfCookie(); // back from "Sign in with Google"
  if (!link || !localStorage.getItem("lq_csrf")) return;
  let res;
  try {
    res = await fetch("/api/me", { credentials: "same-origin" });
  } catch {
    return;
  }
  if (res.status !== 200) return; // the session ended: the link keeps offering to sign in
  const me = await res.json();
  link.removeAttribute("data-i18n"); // a name, not a translation
  link.textContent = `@${me.username}`;
  link.href = "/account#profile";
  link.dataset.signedIn = "1";
}

showSignedIn();
