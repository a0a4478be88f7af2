// The screen-light challenge on the page (docs/protocol.md, "Screen-light challenge"): the
// photosensitivity warning, the full-screen overlay that paints each step the service sends, the
// page's own flash guard, and the log of what the overlay showed.
//
// A plain ES module, no build step, imported by vigil.js: each Checker creates one LightPainter
// and decides when to ask, which steps to paint and how to tag its frames; the painter builds the
// elements (styled by style.css's `.vigil-light*` and `.vigil-dialog*` rules), paints on the next
// animation frame and keeps what it paints within WCAG 2.3.1 whatever the service sends.

import { direction } from "./i18n.js";

// Photosensitivity (WCAG 2.3.1; the same rule as shared/light.py): at most 3 luminance changes in
// any second (stricter than WCAG's 3 flashes, each a pair of changes), a change being a move of
// 0.1 in relative luminance where the darker side is below 0.8; never a saturated red,
// R / (R + G + B) >= 0.8 on the sRGB values.
export const LIGHT_PATTERNS = { full: 1, left_right: 2, top_bottom: 2 }; // pattern: colours it takes
export const MAX_LIGHT_CHANGES = 3;
export const LIGHT_WINDOW_MS = 1000;
export const LUMINANCE_CHANGE = 0.1;
export const CHANGE_DARKER_BELOW = 0.8;
export const SATURATED_RED = 0.8;
// A paint reaches the display one or more frames after its animation frame, not always the
// same number: the spacing between changes keeps this much spare.
export const DISPLAY_JITTER_MS = 50;

/** "#rrggbb" in lower case, or null. */
export function parseColor(value) {
  return /^#[0-9a-f]{6}$/i.test(String(value)) ? String(value).toLowerCase() : null;
}

function channels(color) {
  return [1, 3, 5].map((at) => parseInt(color.slice(at, at + 2), 16) / 255);
}

/** WCAG relative luminance of an sRGB colour. */
export function luminance(color) {
  const [r, g, b] = channels(color).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function saturatedRed(color) {
  const [r, g, b] = channels(color);
  return r + g + b > 0 && r / (r + g + b) >= SATURATED_RED;
}

/**
 * A step's colour in each quarter of the screen (top-left, top-right, bottom-left, bottom-right):
 * a change from left/right to top/bottom halves is seen where the quarters change.
 */
export function quarters({ pattern, colors: [a, b] }) {
  if (pattern === "left_right") return [a, b, a, b];
  if (pattern === "top_bottom") return [a, a, b, b];
  return [a, a, a, a];
}

/** A change that counts towards the flash limit, on any part of the screen. */
export function luminanceChanged(before, after) {
  const next = quarters(after);
  return quarters(before).some((color, at) => {
    const [a, b] = [luminance(color), luminance(next[at])];
    return Math.abs(a - b) >= LUMINANCE_CHANGE && Math.min(a, b) < CHANGE_DARKER_BELOW;
  });
}

let dialogCount = 0; // unique ids for the warnings' aria-labelledby

/**
 * One Checker's light: the warning, the overlay over the whole viewport with the prompt and a
 * Stop button above it, the paints (each on the next animation frame, the latest step wins), the
 * flash guard and `log`, what the overlay showed in order: { step, total, pattern, colors,
 * receivedAt, paintedAt } (performance.now() ms; step null: the overlay went).
 */
export class LightPainter {
  /**
   * @param {HTMLElement} stage the Checker's element (marked `data-vigil-light` while the light shows)
   * @param {object} host lang, t (the translator), onStop (the caption's Stop button),
   *   onWarning({ declinable }) (the warning is shown)
   */
  constructor(stage, { lang, t, onStop, onWarning }) {
    this.stage = stage;
    this.lang = lang;
    this.t = t;
    this._onStop = onStop;
    this._onWarning = onWarning;
    this._question = null; // the open warning: { answer, resolve }
    this._dialog = null; // the warning's elements, built on first use
    this._overlay = null; // the overlay, built on first use, with
    this._caption = null; // the prompt and the hint above it: { element, prompt }
    this._prompt = ""; // the last prompt, also shown above the light
    this._target = null; // the step the service asks for
    this._shown = null; // the step on screen, with its paintedAt
    this._frame = 0; // the requested animation frame that paints the target
    this._timer = null; // a paint waiting for the flash limit
    this._painting = null; // { promise, resolve } while a paint is due on the next animation frame
    this._changes = []; // when the screen's luminance last changed (any session: the eyes do not reset)
    this.log = [];
  }

  /** The step on screen ({ step, total, pattern, colors, target, paintedAt }), or null. */
  get shown() {
    return this._shown;
  }

  /** While a paint is due on the next animation frame: a promise of it; else null. */
  get due() {
    return this._painting?.promise ?? null;
  }

  /** The prompt shown above the light (the page's live region announces it). */
  setPrompt(text) {
    this._prompt = text;
    if (this._caption) this._caption.prompt.textContent = text;
  }

  // ---- the photosensitivity warning ---------------------------------------------------------

  /** The photosensitivity warning: resolves "accept", "decline" or "cancel" (the check stops). */
  ask(declinable) {
    if (this._question) return this._question.answer; // reconnected while it was open
    const { dialog, accept, decline, cancel, buttons } = (this._dialog ??= this._buildDialog());
    decline.hidden = !declinable;
    cancel.hidden = declinable; // no colours-free check here: leaving is the way out
    // Reduced motion asked for: the check without colours comes first and has the focus.
    const gentle = declinable && globalThis.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
    buttons.replaceChildren(...(gentle ? [decline, accept, cancel] : [accept, decline, cancel]));
    let resolve;
    const answer = new Promise((done) => {
      resolve = done;
    });
    this._question = { answer, resolve };
    dialog.returnValue = "";
    document.body.append(dialog);
    dialog.showModal(); // modal: the page behind is inert, Escape closes it
    (gentle ? decline : accept).focus();
    this._onWarning({ declinable });
    return answer;
  }

  /** The session ended with the warning open: close it unanswered. */
  closeQuestion() {
    const question = this._question;
    if (!question) return;
    this._question = null;
    this._dialog.dialog.close();
    question.resolve("cancel");
  }

  _buildDialog() {
    const dialog = document.createElement("dialog");
    dialog.className = "vigil-dialog";
    dialog.lang = this.lang;
    dialog.dir = direction(this.lang); // it sits outside the page's <main>: its own direction
    const id = `vigil-light-${++dialogCount}`;
    const title = document.createElement("h2");
    title.id = `${id}-title`;
    title.textContent = this.t("lightTitle");
    const text = document.createElement("p");
    text.id = `${id}-text`;
    text.textContent = this.t("lightWarning");
    dialog.setAttribute("aria-labelledby", title.id);
    dialog.setAttribute("aria-describedby", text.id);
    const button = (key, answer) => {
      const element = document.createElement("button");
      element.type = "button";
      element.textContent = this.t(key);
      element.dataset.answer = answer;
      element.addEventListener("click", () => dialog.close(answer));
      return element;
    };
    const buttons = document.createElement("div");
    buttons.className = "vigil-dialog-buttons";
    const parts = {
      dialog,
      accept: button("lightStart", "accept"),
      decline: button("lightDecline", "decline"),
      cancel: button("lightCancel", "cancel"),
      buttons,
    };
    dialog.append(title, text, buttons);
    // Escape (or any close without a button) takes the way that shows no colours.
    dialog.addEventListener("close", () => {
      const question = this._question;
      this._question = null;
      dialog.remove();
      question?.resolve(dialog.returnValue || (parts.decline.hidden ? "cancel" : "decline"));
    });
    return parts;
  }

  // ---- the light --------------------------------------------------------------------------

  /** A STATS reply's light step (`lightChallenge`): painted on the next animation frame. */
  show(challenge, receivedAt) {
    const step = Number(challenge.step);
    const pattern = String(challenge.pattern);
    const colors = Array.isArray(challenge.colors) ? challenge.colors.map(parseColor) : [];
    if (!Number.isInteger(step) || step < 0 || colors.length !== LIGHT_PATTERNS[pattern] || colors.includes(null)) {
      console.warn("vigil: ignoring a malformed light step", challenge);
      return;
    }
    const target = this._target;
    if (target?.step === step && target.pattern === pattern && target.colors.join() === colors.join()) return;
    this._target = { step, total: Number(challenge.total) || 0, pattern, colors, receivedAt };
    this._schedule();
  }

  /**
   * The challenge or the session is over: the light goes on the next animation frame, like a
   * step (its going is a luminance change too: it waits if it would be a 4th within the second).
   */
  end() {
    this._target = null;
    if (this._shown) this._schedule();
  }

  /** Paint the target on the next animation frame, unless a paint is on its way already (it takes the latest). */
  _schedule() {
    if (this._frame || this._timer) return;
    let resolve;
    const promise = new Promise((done) => {
      resolve = done;
    });
    this._painting = { promise, resolve };
    this._frame = requestAnimationFrame((time) => this._paint(time));
  }

  _paint(time) {
    this._frame = 0;
    const painting = this._painting;
    this._painting = null;
    painting?.resolve();
    const target = this._target;
    const shown = this._shown;
    if (target === (shown?.target ?? null)) return;
    const next = target && {
      step: target.step,
      total: target.total,
      pattern: target.pattern,
      colors: target.colors.map((color, half) => {
        if (!saturatedRed(color)) return color;
        console.warn("vigil: not painting saturated red", color, "(WCAG 2.3.1)");
        return shown ? quarters(shown)[half === 0 ? 0 : 3] : "#ffffff"; // what that half showed
      }),
    };
    // The overlay coming or going counts as a change: the page behind it may be dark.
    if (!next || !shown || luminanceChanged(shown, next)) {
      const recent = this._changes.filter((at) => at > time - LIGHT_WINDOW_MS - DISPLAY_JITTER_MS);
      if (recent.length >= MAX_LIGHT_CHANGES) {
        // A 4th change within the second: it waits (frames stay tagged with what is on screen).
        const allowed = recent[recent.length - MAX_LIGHT_CHANGES] + LIGHT_WINDOW_MS + DISPLAY_JITTER_MS;
        this._timer = setTimeout(() => {
          this._timer = null;
          this._schedule();
        }, allowed - time);
        return;
      }
      this._changes = [...recent, time];
    }
    if (next) this._show(next, target, time);
    else this._hide(time);
  }

  _show(next, target, time) {
    const overlay = (this._overlay ??= this._buildOverlay());
    overlay.dataset.pattern = next.pattern;
    const [first, second] = overlay.children;
    first.style.backgroundColor = next.colors[0];
    second.style.backgroundColor = next.colors[next.colors.length - 1];
    if (!overlay.isConnected) {
      this._caption.prompt.textContent = this._prompt;
      document.body.append(overlay, this._caption.element);
      this.stage.dataset.vigilLight = "on"; // style.css lifts the camera picture above the light
    }
    this._shown = { ...next, target, paintedAt: time };
    this.log.push({ ...next, receivedAt: target.receivedAt, paintedAt: time });
  }

  _hide(time) {
    this._shown = null;
    this._overlay.remove();
    this._caption.element.remove();
    delete this.stage.dataset.vigilLight;
    this.log.push({ step: null, total: 0, pattern: null, colors: [], receivedAt: null, paintedAt: time });
  }

  _buildOverlay() {
    const overlay = document.createElement("div");
    overlay.className = "vigil-light";
    overlay.setAttribute("aria-hidden", "true");
    for (let half = 0; half < 2; half += 1) {
      const part = document.createElement("div");
      part.className = "vigil-light-half";
      overlay.append(part);
    }
    // The prompt and the hint above the light, readable on any colour (the page's live region
    // announces the prompt; this is its visible copy).
    const element = document.createElement("div");
    element.className = "vigil-light-caption";
    element.lang = this.lang;
    element.dir = direction(this.lang);
    const prompt = document.createElement("p");
    prompt.className = "vigil-light-prompt";
    prompt.setAttribute("aria-hidden", "true");
    const hint = document.createElement("p");
    hint.className = "vigil-light-hint";
    const text = document.createElement("span");
    text.textContent = this.t("lightHint");
    // WCAG 2.2.2: a way to stop the changing colours.
    const stop = document.createElement("button");
    stop.type = "button";
    stop.textContent = this.t("lightStop");
    stop.addEventListener("click", () => this._onStop());
    hint.append(text, stop);
    element.append(prompt, hint);
    this._caption = { element, prompt };
    return overlay;
  }
}
