// Translations: one JSON table per language under /static/i18n/. Markup carries only keys
// (data-i18n="key" for text, data-i18n-attr="attr:key;attr:key" for attributes); scripts call t().
// Language: ?lang= forces (and is remembered), else the `lang` cookie, else the browser's.

export const LANGUAGES = ["uz", "ru", "en"];
const FALLBACK = "en";
const COOKIE_MAX_AGE = 365 * 24 * 3600;

let table = {};
let current = FALLBACK;
const listeners = new Set();

function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

function rememberLang(lang) {
  document.cookie = `lang=${lang}; Max-Age=${COOKIE_MAX_AGE}; Path=/; SameSite=Lax`;
}

export function detectLang() {
  const forced = new URLSearchParams(location.search).get("lang");
  if (forced && LANGUAGES.includes(forced)) {
    rememberLang(forced);
    return forced;
  }
  const cookie = readCookie("lang");
  if (LANGUAGES.includes(cookie)) return cookie;
  for (const tag of navigator.languages || [navigator.language || ""]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return FALLBACK;
}

export function lang() {
  return current;
}

/** Translate `key`, filling `{name}` placeholders from `vars`. A missing key shows as itself. */
export function t(key, vars) {
  let s = table[key];
  if (typeof s !== "string") {
    console.warn("i18n: missing key", key, "in", current);
    s = key;
  }
  if (vars) {
    s = s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
  }
  return s;
}

export function has(key) {
  return typeof table[key] === "string";
}

/** Fill every [data-i18n] / [data-i18n-attr] element under `root`. Always via textContent. */
export function applyTranslations(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
  for (const el of root.querySelectorAll("[data-i18n-attr]")) {
    for (const pair of el.dataset.i18nAttr.split(";")) {
      const [attr, key] = pair.split(":").map((x) => x.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

async function fetchTable(code) {
  const res = await fetch(`/static/i18n/${code}.json`, { cache: "no-cache" });
  if (!res.ok) throw new Error(`i18n ${code}: HTTP ${res.status}`);
  return res.json();
}

export async function setLang(code, { remember = true } = {}) {
  if (!LANGUAGES.includes(code)) code = FALLBACK;
  try {
    table = await fetchTable(code);
    current = code;
  } catch (err) {
    console.error(err);
    if (code !== FALLBACK) return setLang(FALLBACK, { remember: false });
  }
  if (remember) rememberLang(current);
  document.documentElement.lang = current === "uz" ? "uz-Latn" : current;
  applyTranslations();
  document.body.classList.remove("i18n-pending");
  for (const fn of listeners) fn(current);
}

export function onLangChange(fn) {
  listeners.add(fn);
}

/** Wire a <select> as the language switcher. Option labels are the languages' own names. */
export function mountSwitcher(select) {
  select.replaceChildren();
  for (const code of LANGUAGES) {
    const opt = document.createElement("option");
    opt.value = code;
    opt.dataset.i18n = `lang.${code}`;
    select.append(opt);
  }
  select.value = current;
  select.addEventListener("change", () => setLang(select.value));
  onLangChange((code) => {
    select.value = code;
  });
}

export async function initI18n(switcher) {
  const code = detectLang();
  current = code;
  if (switcher) mountSwitcher(switcher);
  await setLang(code, { remember: false });
}
