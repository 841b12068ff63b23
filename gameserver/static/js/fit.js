// Long questions must fit the screen without scrolling (a projector has no scroll bar, and a
// phone that scrolls hides answers below the fold). The CSS sizes question and option text as
// `… * var(--fit)`; `fitScreen` finds the largest `--fit` at which nothing overflows, by a
// short bisection (each step is one layout). When even the smallest text does not fit, the
// `compact` class is tried: on phones it shows only the shapes and letters of the options.

const STEPS = 7;

function visible(el) {
  return el && !el.hidden && el.getClientRects().length > 0;
}

/** Lowest y the content may reach: the top of a visible fixed/sticky footer, else the viewport. */
function floorY(footer) {
  if (visible(footer)) return Math.min(window.innerHeight, footer.getBoundingClientRect().top);
  return window.innerHeight;
}

/**
 * True when the page scrolls, a part runs past the floor, a part's own content overflows it, or
 * a part reaches into the next one (parts are listed top to bottom).
 */
export function overflows(parts, footer = null) {
  const doc = document.scrollingElement;
  if (doc.scrollHeight > window.innerHeight + 1 || doc.scrollWidth > window.innerWidth + 1) return true;
  const floor = floorY(footer) + 1;
  const shown = parts.filter(visible);
  for (const el of shown) {
    if (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1) return true;
    if (el.getBoundingClientRect().bottom > floor) return true;
    for (const child of el.children) {
      if (child.scrollHeight > child.clientHeight + 1) return true;
      if (child.getBoundingClientRect().bottom > floor) return true;
    }
  }
  for (let i = 0; i + 1 < shown.length; i++) {
    if (shown[i].getBoundingClientRect().bottom > shown[i + 1].getBoundingClientRect().top + 1) return true;
  }
  return false;
}

function setFit(root, value) {
  root.style.setProperty("--fit", value.toFixed(3));
}

function search(root, parts, footer, min) {
  setFit(root, min);
  if (overflows(parts(), footer)) return null;
  let lo = min;
  let hi = 1;
  for (let i = 0; i < STEPS; i++) {
    const mid = (lo + hi) / 2;
    setFit(root, mid);
    if (overflows(parts(), footer)) hi = mid;
    else lo = mid;
  }
  setFit(root, lo);
  return lo;
}

/**
 * Shrink the text of `root` until `parts()` fit. Returns the scale used and whether the compact
 * layout was needed. Without any fit, keeps the smallest (compact) layout: the best it can do.
 */
export function fitScreen(root, { parts, footer = null, compact = null, min = 0.4 }) {
  if (compact) root.classList.remove(compact);
  setFit(root, 1);
  if (!overflows(parts(), footer)) return { scale: 1, compact: false };
  const scale = search(root, parts, footer, min);
  if (scale !== null || !compact) return { scale: scale ?? min, compact: false };
  root.classList.add(compact);
  setFit(root, 1);
  if (!overflows(parts(), footer)) return { scale: 1, compact: true };
  const small = search(root, parts, footer, min);
  if (small === null) setFit(root, min);
  return { scale: small ?? min, compact: true };
}

/** Call `fit` again when the window changes size (a phone turned, a projector resolution). */
export function refitOnResize(fit) {
  let timer = null;
  window.addEventListener("resize", () => {
    clearTimeout(timer);
    timer = setTimeout(fit, 80);
  });
}
