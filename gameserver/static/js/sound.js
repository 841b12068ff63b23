// Game sounds generated in the browser with Web Audio (nothing to download, nothing to license):
// a soft lobby loop, countdown ticks, a chord at the reveal, a fanfare at the podium.
// Switchable; the choice is kept per page kind in localStorage. Browsers only let audio start
// after a user gesture, so the context is created on the first click or key press.

const LOBBY_NOTES = [261.63, 329.63, 392.0, 523.25, 392.0, 329.63]; // C major arpeggio
const LOBBY_STEP_MS = 320;

export class Sound {
  constructor(storageKey, defaultOn) {
    this.storageKey = storageKey;
    let saved = null;
    try {
      saved = localStorage.getItem(storageKey);
    } catch {
      saved = null;
    }
    this.on = saved === null ? defaultOn : saved === "1";
    this.ctx = null;
    this.played = 0;
    this.lobbyTimer = null;
    this.lobbyStep = 0;
    const unlock = () => this.context();
    window.addEventListener("pointerdown", unlock, { passive: true });
    window.addEventListener("keydown", unlock);
  }

  context() {
    if (!this.on) return null;
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    if (!this.ctx) {
      try {
        this.ctx = new Ctx();
      } catch {
        return null;
      }
    }
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  setOn(on) {
    this.on = on;
    try {
      localStorage.setItem(this.storageKey, on ? "1" : "0");
    } catch {
      /* private mode: the choice lasts for this page only */
    }
    if (!on) this.stopLobby();
  }

  /** One note: frequency (Hz), start offset and length (s), peak volume, wave shape. */
  note(freq, at = 0, length = 0.15, volume = 0.2, type = "sine") {
    const ctx = this.context();
    if (!ctx) return;
    const start = ctx.currentTime + at;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = type;
    osc.frequency.setValueAtTime(freq, start);
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(volume, start + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    osc.connect(gain).connect(ctx.destination);
    osc.start(start);
    osc.stop(start + length + 0.02);
    this.played += 1;
    document.body.dataset.soundPlayed = String(this.played);
  }

  tick() {
    this.note(880, 0, 0.08, 0.15, "square");
  }

  /** The last seconds of a question: a higher, more urgent tick. */
  urgentTick() {
    this.note(1320, 0, 0.09, 0.2, "square");
  }

  reveal() {
    [523.25, 659.25, 783.99].forEach((f) => this.note(f, 0, 0.6, 0.12, "triangle"));
  }

  fanfare() {
    [392.0, 523.25, 659.25, 783.99, 1046.5].forEach((f, i) => this.note(f, i * 0.14, 0.4, 0.14, "triangle"));
  }

  startLobby() {
    if (this.lobbyTimer || !this.on) return;
    this.lobbyTimer = setInterval(() => {
      if (!this.on || document.hidden) return;
      const f = LOBBY_NOTES[this.lobbyStep % LOBBY_NOTES.length];
      this.lobbyStep += 1;
      this.note(f, 0, 0.28, 0.05, "sine");
    }, LOBBY_STEP_MS);
  }

  stopLobby() {
    clearInterval(this.lobbyTimer);
    this.lobbyTimer = null;
  }
}

/** Wire a toggle button (aria-pressed) to a Sound; `label(on)` gives its text. */
export function soundToggle(button, sound, label, onChange = () => {}) {
  const render = () => {
    button.setAttribute("aria-pressed", String(sound.on));
    button.textContent = label(sound.on);
    button.title = label(sound.on);
  };
  button.addEventListener("click", () => {
    sound.setOn(!sound.on);
    if (sound.on) sound.context();
    render();
    onChange(sound.on);
  });
  render();
  return render;
}
