// Vigil check library: a camera on an element, speaking LPProto (docs/protocol.md) to the service.
//
// A plain ES module, no build step:
//
//   import { Checker } from "https://vigil.example/static/vigil.js";
//   const checker = new Checker(document.querySelector("#check"), "wss://vigil.example/ws", {
//     mode: "selfie", imageWidth: 640, imageHeight: 480,
//     nonce: nonceFromYourBackend,  // comes back as the JWT's `nonce`: check it there
//   });
//   checker.on("prompt", ({ code, message }) => show(message));
//   checker.on("progress", ({ done, total }) => showStep(done, total));
//   checker.on("success", ({ jwt }) => sendToYourBackend(jwt));
//   checker.on("camera-error", ({ kind, message }) => showError(message));
//   checker.on("error", ({ code, message, fatal }) => showError(message));
//   await checker.openCamera();          // preview (and the permission prompt)
//   startButton.onclick = () => checker.start();
//
// It imports i18n.js (the messages, which it fetches from ./i18n/LANG.json) and light.js (the
// screen-light challenge's warning and overlay) from its own folder: serve them together. The elements it builds (the camera
// picture, the oval, the light overlay, the photosensitivity warning) are styled by the `.vigil-*`
// rules of style.css: copy them into your page's CSS. The stage must not sit inside a stacking
// context (transform, filter, z-index) so that the camera picture stays above the light overlay.
//
// Events (listen with `on(name, handler)`, or `addEventListener` and read `event.detail`):
//   ready         the camera picture is on screen: { label, settings }
//   state         { state, attempt?, max?, seconds? }: idle, camera, connecting, checking, reconnecting,
//                 waiting (the service is full: it retries by itself in `seconds`), success, failed, stopped
//   prompt        a reply's frame checks as messages: { codes, code, message, messages }
//   progress      active liveness: { done, total }
//   success       { jwt, sessionId }
//   error         { code, message, fatal }: system codes, session ends ("close.4002"...), "gaveUp";
//                 a session ended after code 102 or 103 says that code's message
//   camera-error  { kind, name, message }: kind is permission-denied, not-found, busy,
//                 unsupported, ended or failed. Never swallowed: also logged to the console.
//   stats         the raw STATS body, for integrators (it carries scores in development mode:
//                 do not show them to people)
//   light-warning the photosensitivity warning is shown: { declinable }
//   light-declined the person chose the check without colours in that warning
//
// The protocol: CONNECT with a heartbeat and the camera's label, settings and the user agent,
// the first FRAME right behind it (not after CONNECTED: a round trip less on a slow network);
// one FRAME (base64 JPEG of the configured image size, with its capture time) at a time, each
// after the previous reply; heartbeats answered; a dropped connection is re-established with
// the same session-id, up to `maxReconnects` tries, then a clear "gaveUp" error; each try has
// `connectTimeoutMs` (10 s) to reach CONNECTED. An idle close (ERROR 1021, close 4006) resumes the
// same session too. While the document is hidden (a phone's tab in the background) no frame is
// sent, and a dropped connection or a camera the system took back waits for the page to be
// visible again: then the camera reopens and the same session goes on, no tries spent.
//
// Languages: `lang` (a BCP 47 tag) or the browser's; the messages are fetched from ./i18n/LANG.json
// (`messagesReady` resolves once they are in); `messages` replaces any by key, or "LANG:key" for one
// language. Types: vigil.d.ts beside this file; embedding: docs/integration.md.
//
// The screen-light challenge (`light: true`, the default): CONNECT says `light:1` (or
// `light:declined`). When CONNECTED says the service runs it (`light:optional|required`), the
// photosensitivity warning comes before the first FRAME the service takes (unless `lightConsent`
// answered it; the FRAME sent behind CONNECT says `light:pending` and the service drops it). Each
// step of STATS' `estimations.lightChallenge` is painted full-screen on the next animation frame,
// within WCAG 2.3.1 whatever the service sends (at most 3 luminance changes a second, never a
// saturated red); each FRAME is then taken from a camera frame captured at least
// `lightSettleMs` after the paint and tagged `light-step`, `light-painted`. A reply without
// `lightChallenge`, or the session's end, removes the overlay (within the same limit).
// `checker.lightLog` lists what the overlay showed, in order: { step, total, pattern, colors,
// receivedAt, paintedAt } (performance.now() ms; step null: the overlay went). The warning, the
// overlay, the paints and the flash guard are light.js's LightPainter; this file decides when to
// ask, what to paint, and tags the frames.

import { loadMessages, matchLanguage, pickLanguage, translator } from "./i18n.js";
import { LightPainter } from "./light.js";

export { LANGUAGES, direction, loadMessages, matchLanguage, pickLanguage } from "./i18n.js";

export const PROTOCOL_VERSION = "1.0";

const DEFAULTS = {
  imageWidth: 640, // frames sent: fitted into this box (swapped for a portrait camera)
  imageHeight: 480,
  videoWidth: 640, // the camera stream asked for
  videoHeight: 480,
  mode: "selfie", // selfie: the preview is mirrored; operator: it is not
  mirrorFrames: false, // send the mirrored picture (with `mirrored:1`) instead of the camera's
  jpegQuality: 0.9,
  heartbeatMs: 5000, // 0: none (then a dead connection is only noticed when the socket closes)
  connectTimeoutMs: 10000, // slow mobile networks need the whole 10 s
  maxReconnects: 5,
  reconnectDelayMs: 500, // doubled per try, at most maxReconnectDelayMs
  maxReconnectDelayMs: 5000,
  frameIntervalMs: 100, // at most ~10 frames a second
  maxTransientErrors: 10, // consecutive retryable ERROR replies before giving up
  maxZoom: 3,
  zoomStep: 0.25,
  roi: { center_x: 0.5, center_y: 0.5, width: 1, height: 1 }, // where the face belongs (oval guide)
  lang: null, // a BCP 47 tag ("es", "pt-BR", "ar"); null: from the browser's languages
  messages: {}, // replaces messages by key: "1", "1012", "close.4002", "hold", "cameraDenied"...
  nonce: null, // the relying party's nonce: it comes back as the JWT's `nonce` claim
  uiConfig: null, // the UI config's name: its `audience` becomes the JWT's `aud`
  userKey: null, // the relying party's own key for this person: failed checks are also counted per key
  // A random id kept in this browser's storage, sent as `device-id`: the service counts failed checks
  // per device (abuse limits). false: none is sent or stored.
  deviceId: true,
  light: true, // take part in the screen-light challenge; false: CONNECT without `light` (a legacy client)
  // More time for each action (1-5; WCAG 2.2.1), for a person who moves slowly: sent as `time-scale`;
  // the service grants it up to its operator's `active_liveness.max_time_scale`.
  timeScale: 1,
  // The photosensitivity warning: "ask" shows it; "accept" / "decline" answer it beforehand
  // (a kiosk whose operator asked already). "decline" still ends a session whose service requires the light.
  lightConsent: "ask",
  lightSettleMs: 60, // a tagged frame was captured this long after its step's paint (the display's own delay)
};

// Transient system codes: the frame is retried after a short pause.
const RETRYABLE = new Set([1000, 1008, 1014, 1017]);
// Close codes that end the session for good (the person starts again).
const SESSION_OVER = new Set([4000, 4002, 4003, 4004, 4005, 4007]);
// Where the page keeps its device id (abuse limits count failed checks per device).
const DEVICE_KEY = "vigil.device-id";
// Close codes that mean this client broke the protocol: reconnecting would not help.
const PROTOCOL_CLOSE = new Set([1009, 4001]);
// Frame checks after which the service ends the session (close 4000): the person reads that
// reason rather than close.4000's general one (102 LIGHT_FAILED, 103 LIGHT_REQUIRED).
const SESSION_ENDING = new Set([102, 103]);
const ACTION_TIMED_OUT = 97; // shared/errors.py FrameCheck.ACTION_TIMED_OUT
const NOT_CONNECTED = 1003; // shared/errors.py SystemCode.NOT_CONNECTED: a FRAME the service had no CONNECT for
const LIGHT_PENDING = "pending"; // a first FRAME's `light` before the light warning could be asked
// The extra time the page offers after a session whose actions ran out of time (WCAG 2.2.1).
export const MORE_TIME_SCALE = 2;
// States in which the session goes on (a light step may stay on screen, a warning stay open).
/** This browser's stable random id, or null where storage is refused (private modes). */
function deviceId() {
  try {
    let id = window.localStorage.getItem(DEVICE_KEY);
    if (!id) {
      id = crypto.randomUUID();
      window.localStorage.setItem(DEVICE_KEY, id);
    }
    return id;
  } catch {
    return null;
  }
}

const RUNNING = new Set(["connecting", "checking", "reconnecting", "waiting"]);
// The longest wait a busy service's retry-after may impose before the page tries again.
const MAX_WAIT_S = 60;

// Frames tagged with the light step on screen (light.js paints it). Without
// requestVideoFrameCallback the capture time is unknown: after a paint, wait also for a webcam's
// own delay (exposure to delivery, 1-2 frames).
const CAMERA_DELAY_MS = 60;
// A camera whose capture times never pass a paint (another clock): its frames go untagged
// after this long rather than the check stalling.
const LIGHT_TAG_WAIT_MS = 1000;
// A camera frame not sent yet takes at most this long (else the camera stalled).
const FRAME_WAIT_MS = 250;

/** An LPProto message as text: command line, `name:value` headers, empty line, body. */
export function formatMessage(command, headers = {}, body = "") {
  const lines = [command];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null || value === "") continue;
    lines.push(`${name}:${String(value).replace(/[\r\n]+/g, " ")}`);
  }
  return `${lines.join("\n")}\n\n${body}`;
}

/** Parse an LPProto message (`\r\n` tolerated): { command, headers, body }. */
export function parseMessage(text) {
  const normalised = String(text).replace(/\r\n/g, "\n");
  const split = normalised.indexOf("\n\n");
  const head = split < 0 ? normalised.replace(/\n+$/, "") : normalised.slice(0, split);
  const body = split < 0 ? "" : normalised.slice(split + 2);
  const [command, ...lines] = head.split("\n");
  const headers = {};
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { command: command.trim(), headers, body };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function cameraErrorKind(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return "permission-denied";
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
      return "not-found";
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return "busy";
    case "TypeError":
      return "unsupported";
    default:
      return "failed";
  }
}

const CAMERA_MESSAGES = {
  "permission-denied": "cameraDenied",
  "not-found": "cameraNotAttached",
  busy: "cameraBusy",
  unsupported: "cameraUnsupported",
  ended: "cameraEnded",
  failed: "cameraFailed",
};

export class Checker extends EventTarget {
  /**
   * @param {HTMLElement} element where the camera picture and the oval guide go
   * @param {string} url the LPProto WebSocket, e.g. "wss://vigil.example/ws"
   * @param {object} options see DEFAULTS above
   */
  constructor(element, url, options = {}) {
    super();
    this.element = element;
    this.url = url;
    this.options = { ...DEFAULTS, ...options, roi: { ...DEFAULTS.roi, ...(options.roi ?? {}) } };
    this.lang = matchLanguage(this.options.lang) ?? pickLanguage();
    this.t = translator(this.lang, this.options.messages);
    // The messages arrive by fetch: the camera and the check wait for them (English on failure).
    this.messagesReady = loadMessages(this.lang).catch((error) => console.error("vigil: no messages", error));
    this.mode = this.options.mode === "operator" ? "operator" : "selfie";
    this.zoom = 1;
    this.state = "idle";
    this.sessionId = null;
    this.stream = null;
    this.socket = null;
    this._generation = 0; // bumped by start/stop/reconnect: stale callbacks check it
    this._attempt = 0;
    this._transientErrors = 0;
    this._inFlight = false;
    this._pendingFrame = false; // this connection's first FRAME went out marked light:pending
    this._lastFrameAt = 0;
    this._lastSeen = 0;
    this._watchdog = null;
    this._connectTimer = null;
    this._canvas = document.createElement("canvas");
    // The screen-light challenge: what the service offers this session and the person's answer;
    // the warning, the overlay and what it showed are the painter's (light.js).
    this._lightOffer = null; // "optional" | "required" | null (off, or a legacy client)
    this._lightAnswer = null; // "accepted" | "declined" | null (not asked yet)
    this._light = new LightPainter(element, {
      lang: this.lang,
      t: this.t,
      onStop: () => this.stop(),
      onWarning: (detail) => this._emit("light-warning", detail),
    });
    this._endingCode = null; // the last STATS' SESSION_ENDING code
    // A phone's tab in the background: frames pause, a lost connection or camera waits for the
    // tab to come back, then the same session goes on (docs/integration.md).
    this._whenVisible = null; // { promise, resolve } while the document is hidden
    this._deviceId = null; // the camera asked for by id, reopened after the background
    this._onVisibility = () => this._visibilityChanged();
    document.addEventListener("visibilitychange", this._onVisibility);
    if (document.hidden) this._visibilityChanged(); // opened in a background tab
    this._build();
  }

  // ---- events -------------------------------------------------------------------------------

  /** Listen to an event; the handler gets the event's detail. Returns a function that unsubscribes. */
  on(type, handler) {
    const listener = (event) => handler(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  _emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _setState(state, extra = {}) {
    if (state !== "checking") this._light.end();
    if (!RUNNING.has(state)) this._light.closeQuestion();
    this.state = state;
    this.element.dataset.vigilState = state;
    this._emit("state", { state, ...extra });
  }

  /** The message for a code (frame check, system code) or a named key, in the chosen language. */
  message(key) {
    const id = String(key);
    if (this.t.has(id)) return this.t(id);
    const code = Number(id);
    if (Number.isInteger(code)) return this.t(code >= 1000 ? "unknownError" : "unknownCheck");
    return id;
  }

  // ---- view ---------------------------------------------------------------------------------

  _build() {
    this.element.classList.add("vigil-stage");
    this.viewport = document.createElement("div");
    this.viewport.className = "vigil-viewport";
    this.video = document.createElement("video");
    // Mobile browsers and WebViews: inline, muted, and played from code (no autoplay assumption).
    this.video.setAttribute("playsinline", "");
    this.video.setAttribute("webkit-playsinline", "");
    this.video.setAttribute("muted", "");
    this.video.muted = true;
    this.video.autoplay = true;
    this.video.disablePictureInPicture = true;
    this.video.className = "vigil-video";
    this.video.setAttribute("aria-hidden", "true");
    const ns = "http://www.w3.org/2000/svg";
    this.guide = document.createElementNS(ns, "svg");
    this.guide.setAttribute("class", "vigil-guide");
    this.guide.setAttribute("aria-hidden", "true");
    this.guide.setAttribute("preserveAspectRatio", "none");
    this._shade = document.createElementNS(ns, "path");
    this._shade.setAttribute("class", "vigil-shade");
    this._shade.setAttribute("fill-rule", "evenodd");
    this._oval = document.createElementNS(ns, "ellipse");
    this._oval.setAttribute("class", "vigil-oval");
    this.guide.append(this._shade, this._oval);
    this.viewport.append(this.video, this.guide);
    this.element.append(this.viewport);
    this.video.addEventListener("loadedmetadata", () => this._applyView());
    this.video.addEventListener("resize", () => this._applyView());
    this._applyView();
  }

  _applyView() {
    const width = this.video.videoWidth || this.options.videoWidth;
    const height = this.video.videoHeight || this.options.videoHeight;
    this.element.style.setProperty("--vigil-aspect", (width / height).toFixed(4));
    const mirrored = this.mode === "selfie";
    const scaleX = mirrored ? -this.zoom : this.zoom;
    this.video.style.transform = scaleX === 1 && this.zoom === 1 ? "none" : `scale(${scaleX}, ${this.zoom})`;
    this.element.dataset.vigilMode = this.mode;
    // The oval: inside the ROI (fractions of the frame sent, which is the visible picture).
    const w = 1000;
    const h = Math.round((1000 * height) / width);
    const roi = this.options.roi;
    const roiW = roi.width * w;
    const roiH = roi.height * h;
    let ry = 0.42 * Math.min(roiH, 0.95 * h);
    let rx = ry / 1.3;
    if (rx > 0.45 * roiW) {
      rx = 0.45 * roiW;
      ry = Math.min(ry, rx * 1.35);
    }
    const cx = (mirrored ? 1 - roi.center_x : roi.center_x) * w;
    const cy = roi.center_y * h;
    this.guide.setAttribute("viewBox", `0 0 ${w} ${h}`);
    this._oval.setAttribute("cx", cx.toFixed(1));
    this._oval.setAttribute("cy", cy.toFixed(1));
    this._oval.setAttribute("rx", rx.toFixed(1));
    this._oval.setAttribute("ry", ry.toFixed(1));
    this._shade.setAttribute(
      "d",
      `M0 0H${w}V${h}H0Z M${(cx - rx).toFixed(1)} ${cy.toFixed(1)}` +
        `a${rx.toFixed(1)} ${ry.toFixed(1)} 0 1 0 ${(2 * rx).toFixed(1)} 0` +
        `a${rx.toFixed(1)} ${ry.toFixed(1)} 0 1 0 ${(-2 * rx).toFixed(1)} 0Z`,
    );
  }

  /** "selfie" (mirrored preview) or "operator" (not mirrored). */
  setMode(mode) {
    this.mode = mode === "operator" ? "operator" : "selfie";
    this._applyView();
  }

  /** Digital zoom, 1 to maxZoom: the preview and the frames sent show the same centre crop. */
  setZoom(zoom) {
    const step = this.options.zoomStep;
    this.zoom = Math.min(this.options.maxZoom, Math.max(1, Math.round(zoom / step) * step));
    this._applyView();
    return this.zoom;
  }

  zoomIn() {
    return this.setZoom(this.zoom + this.options.zoomStep);
  }

  zoomOut() {
    return this.setZoom(this.zoom - this.options.zoomStep);
  }

  /** Show how the last frame went on the oval: "ok", "bad" or "" (neutral). */
  _mark(kind) {
    this._oval.setAttribute("class", kind ? `vigil-oval vigil-oval-${kind}` : "vigil-oval");
  }

  // ---- camera -------------------------------------------------------------------------------

  get track() {
    return this.stream?.getVideoTracks()[0] ?? null;
  }

  /** The video inputs (labels appear once the camera permission is granted). */
  async cameras() {
    if (!navigator.mediaDevices?.enumerateDevices) return [];
    const devices = await navigator.mediaDevices.enumerateDevices();
    return devices.filter((d) => d.kind === "videoinput").map((d) => ({ deviceId: d.deviceId, label: d.label }));
  }

  /** Open the camera (a given device, or the one fitting the mode) and show it. True when it plays. */
  async openCamera(deviceId = null) {
    await this.messagesReady;
    this._deviceId = deviceId;
    this._closeCamera();
    if (!navigator.mediaDevices?.getUserMedia) {
      this._cameraError("unsupported", { name: "NoMediaDevices" });
      return false;
    }
    const video = { width: { ideal: this.options.videoWidth }, height: { ideal: this.options.videoHeight } };
    if (deviceId) video.deviceId = { exact: deviceId };
    else video.facingMode = { ideal: this.mode === "selfie" ? "user" : "environment" };
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ audio: false, video });
    } catch (error) {
      this._cameraError(cameraErrorKind(error), error);
      return false;
    }
    const track = this.track;
    if (!track) {
      this._cameraError("not-found", { name: "NoVideoTrack" });
      return false;
    }
    track.addEventListener("ended", () => {
      // In the background a phone may take the camera back: it reopens when the tab returns.
      if (this.track === track && !document.hidden) this._cameraError("ended", { name: "TrackEnded" });
    });
    this.video.srcObject = this.stream;
    const playing = await this._play();
    if (this.state === "idle" || this.state === "failed" || this.state === "stopped") this._setState("camera");
    this._emit("ready", { label: track.label, settings: track.getSettings?.() ?? {}, playing });
    return true;
  }

  async _play() {
    try {
      await this.video.play();
      return true;
    } catch (error) {
      // Autoplay refused (no user gesture yet): start() plays it again from the click.
      console.warn("vigil: the camera picture waits for a user gesture to play", error);
      return false;
    }
  }

  _closeCamera() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
  }

  _cameraError(kind, error) {
    const message = this.message(CAMERA_MESSAGES[kind] ?? "cameraFailed");
    console.error(`vigil: camera ${kind}`, error);
    this._emit("camera-error", { kind, name: error?.name ?? "", message });
    if (this.state === "connecting" || this.state === "checking" || this.state === "reconnecting") {
      this._fail({ code: `camera.${kind}`, message }, true);
    }
  }

  _cameraInfo() {
    const track = this.track;
    const headers = { "user-agent": (navigator.userAgent ?? "").slice(0, 300) };
    if (!track) return headers;
    headers["camera-label"] = (track.label ?? "").slice(0, 200);
    let settings = track.getSettings?.() ?? {};
    let json = JSON.stringify(settings);
    if (json.length > 2000) {
      const { width, height, frameRate, facingMode, resizeMode, aspectRatio } = settings;
      settings = { width, height, frameRate, facingMode, resizeMode, aspectRatio };
      json = JSON.stringify(settings);
    }
    headers["camera-settings"] = json;
    return headers;
  }

  // ---- the check ----------------------------------------------------------------------------

  /** Start a new check (a new session). Opens the camera first when needed. */
  async start() {
    if (RUNNING.has(this.state)) return;
    if (!this.stream || this.track?.readyState !== "live") {
      if (!(await this.openCamera())) return;
    }
    if (this.video.paused) await this._play();
    this._generation += 1;
    this.sessionId = null;
    this._attempt = 0;
    this._transientErrors = 0;
    this._lightAnswer = { accept: "accepted", decline: "declined" }[this.options.lightConsent] ?? null;
    this._endingCode = null;
    this._timedOut = false; // an action ran out of time in this session (code 97)
    this._light.log = [];
    this._connect(this._generation);
  }

  /** Stop the check (the camera stays on; `destroy()` turns it off too). */
  stop() {
    this._generation += 1;
    this._closeSocket(1000, "stopped");
    if (this.state !== "success") this._setState("stopped");
  }

  destroy() {
    this.stop();
    this._closeCamera();
    this.video.srcObject = null;
    document.removeEventListener("visibilitychange", this._onVisibility);
  }

  // ---- the tab in the background --------------------------------------------------------------

  /** Resolves when the document is visible (at once when it is). */
  _visible() {
    return this._whenVisible?.promise ?? Promise.resolve();
  }

  _visibilityChanged() {
    if (document.hidden) {
      if (!this._whenVisible) {
        let resolve;
        const promise = new Promise((done) => {
          resolve = done;
        });
        this._whenVisible = { promise, resolve };
      }
      return;
    }
    const waiting = this._whenVisible;
    this._whenVisible = null;
    this._resume().finally(() => waiting?.resolve());
  }

  /** Back from the background: a camera the system took is reopened; the session goes on. */
  async _resume() {
    // openCamera keeps a running check's state: only its picture is new.
    if (this.stream && this.track?.readyState !== "live" && !(await this.openCamera(this._deviceId))) return;
    if (this.video.paused && this.stream) await this._play();
  }

  _connect(generation) {
    this._closeSocket(1000, "reconnecting");
    this._setState(this._attempt ? "reconnecting" : "connecting", this._attempt
      ? { attempt: this._attempt, max: this.options.maxReconnects } : {});
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this._fail({ code: "gaveUp", message: this.message("gaveUp") }, true, error);
      return;
    }
    this.socket = socket;
    this._inFlight = false;
    this._pendingFrame = false;
    let connected = false;
    this._connectTimer = setTimeout(() => {
      if (generation === this._generation && !connected) {
        console.warn("vigil: no CONNECTED within", this.options.connectTimeoutMs, "ms");
        this._dropped(generation);
      }
    }, this.options.connectTimeoutMs);
    socket.addEventListener("open", () => {
      if (generation !== this._generation) return;
      this._sendConnect();
      this._sendFirstFrame(generation);
    });
    socket.addEventListener("message", (event) => {
      if (generation !== this._generation) return;
      this._lastSeen = performance.now();
      if (typeof event.data !== "string") return;
      const message = parseMessage(event.data);
      if (!connected) {
        if (message.command === "CONNECTED") {
          connected = true;
          clearTimeout(this._connectTimer);
          this.sessionId = message.headers["session-id"] ?? this.sessionId;
          this._setState("checking");
          this._startWatchdog(generation);
          this._beginFrames(generation, message.headers.light);
        } else if (message.command === "ERROR" && Number(message.headers.error) === NOT_CONNECTED) {
          this._inFlight = false; // the first FRAME's answer where CONNECT was refused: it was not taken
        } else if (message.command === "ERROR") {
          this._connectRefused(generation, Number(message.headers.error), message.headers);
        } else if (message.command === "HEARTBEAT") {
          this._send("HEARTBEAT\n\n");
        }
        return;
      }
      this._onMessage(generation, message);
    });
    socket.addEventListener("close", (event) => {
      if (generation !== this._generation) return;
      this._onClose(generation, event.code, event.reason);
    });
    // "error" is always followed by "close": handled there.
  }

  _sendConnect() {
    const headers = {
      version: PROTOCOL_VERSION,
      heartbeat: String(this.options.heartbeatMs),
      "session-id": this.sessionId ?? undefined,
      ...this._cameraInfo(),
    };
    if (this.options.mirrorFrames) headers.mirrored = "1";
    if (this.options.nonce) headers.nonce = String(this.options.nonce);
    if (this.options.uiConfig) headers["ui-config"] = String(this.options.uiConfig);
    if (this.options.userKey) headers["user-key"] = String(this.options.userKey).slice(0, 200);
    const device = this.options.deviceId ? deviceId() : null;
    if (device) headers["device-id"] = device;
    if (this.options.light) headers.light = this._lightAnswer === "declined" ? "declined" : "1";
    if (this.options.timeScale > 1) headers["time-scale"] = String(Math.min(5, this.options.timeScale));
    this._send(formatMessage("CONNECT", headers));
  }

  /** After CONNECTED: the photosensitivity warning first when the service runs the light challenge. */
  async _beginFrames(generation, offer) {
    // CONNECTED with `light`: the service dropped a light:pending first FRAME unanswered.
    if (this._pendingFrame && offer !== undefined) this._inFlight = false;
    this._lightOffer = this.options.light && (offer === "optional" || offer === "required") ? offer : null;
    if (this._lightOffer && this._lightAnswer === null) {
      const answer = await this._light.ask(this._lightOffer === "optional");
      if (generation !== this._generation) return;
      if (answer === "cancel") {
        this.stop();
        return;
      }
      this._lightAnswer = answer === "decline" ? "declined" : "accepted";
      if (answer === "decline") this._emit("light-declined");
    }
    this._nextFrame(generation);
  }

  _connectRefused(generation, code, headers) {
    const detail = headers.message;
    if (code === 1020) {
      this._waitForRoom(generation, Number(headers["retry-after"]));
    } else if (code === 1012) {
      // The session expired while we were away: a new one (a fresh CONNECT on this socket).
      console.warn("vigil: session", this.sessionId, "expired; starting a new one");
      this.sessionId = null;
      this._sendConnect();
    } else if (code === 1017 || code === 1000) {
      this._dropped(generation);
    } else {
      this._fail({ code, message: this.message(code), detail }, true);
    }
  }

  _onMessage(generation, message) {
    switch (message.command) {
      case "HEARTBEAT":
        this._send("HEARTBEAT\n\n");
        return;
      case "STATS": {
        this._inFlight = false;
        this._attempt = 0; // this connection serves frames: a later drop gets every try again
        this._transientErrors = 0;
        let body;
        try {
          body = JSON.parse(message.body);
        } catch (error) {
          console.error("vigil: STATS body is not JSON", error);
          body = { isOk: false, errors: [], estimations: {} };
        }
        this._onStats(body, this._lastSeen);
        this._nextFrame(generation);
        return;
      }
      case "SUCCESS":
        this._inFlight = false;
        this._stopWatchdog();
        this._setState("success");
        this._mark("ok");
        this._emit("success", { jwt: message.body, sessionId: this.sessionId });
        return;
      case "ERROR": {
        const code = Number(message.headers.error);
        if (code === 1005) return; // our previous frame's reply is still coming
        this._inFlight = false;
        if (RETRYABLE.has(code) && ++this._transientErrors <= this.options.maxTransientErrors) {
          this._emit("error", { code, message: this.message(code), fatal: false, detail: message.headers.message });
          setTimeout(() => this._nextFrame(generation), 500);
        } else if (code === 1003 || code === 1021) {
          // 1021: idle too long (a tab in the background); close 4006 follows: the same session resumes.
          this._dropped(generation);
        } else {
          this._fail({ code, message: this.message(code), detail: message.headers.message }, true);
        }
        return;
      }
      default:
        console.warn("vigil: ignoring", message.command);
    }
  }

  _onStats(body, receivedAt) {
    this._emit("stats", body);
    this._onLight(body.estimations?.lightChallenge, receivedAt);
    const codes = Array.isArray(body.errors) ? body.errors.map(Number) : [];
    const active = body.estimations?.activeLiveness;
    if (active && Number.isFinite(Number(active.total)) && Number(active.total) > 0) {
      this._emit("progress", { done: Number(active.done) || 0, total: Number(active.total) });
    }
    const messages = codes.map((code) => this.message(code));
    const message = codes.length ? messages[0] : this.message("hold");
    this._endingCode = codes.find((code) => SESSION_ENDING.has(code)) ?? null;
    if (codes.includes(ACTION_TIMED_OUT)) this._timedOut = true;
    this._mark(codes.length ? "bad" : "ok");
    this._light.setPrompt(message);
    this._emit("prompt", { codes, code: codes.length ? codes[0] : null, message, messages });
  }

  _onClose(generation, code, reason) {
    this._stopWatchdog();
    clearTimeout(this._connectTimer);
    this.socket = null;
    if (this.state === "success") return;
    if (SESSION_OVER.has(code)) {
      const why = code === 4000 && this._endingCode ? this._endingCode : `close.${code}`;
      // Ended after actions ran out of time: the page may offer a new check with more time (timeScale).
      const timedOut = code === 4000 && this._timedOut;
      this._fail({ code: `close.${code}`, message: this.message(why), detail: reason, timedOut }, true);
    } else if (PROTOCOL_CLOSE.has(code)) {
      this._fail({ code: "close.protocol", message: this.message("close.protocol"), detail: reason }, true);
    } else {
      this._dropped(generation);
    }
  }

  /** The service is full (ERROR 1020, then close 1013): wait the seconds it asked, then try again.
   * Not counted as a reconnection: a busy service is not a broken one. */
  async _waitForRoom(generation, seconds) {
    if (generation !== this._generation) return;
    this._generation += 1; // the close that follows belongs to the refused connection
    const next = this._generation;
    clearTimeout(this._connectTimer);
    this._closeSocket(1000, "waiting");
    const wait = Number.isFinite(seconds) && seconds > 0 ? Math.min(Math.ceil(seconds), MAX_WAIT_S) : 5;
    // One announcement, not a countdown: the prompt is a live region a screen reader reads out.
    this._setState("waiting", { seconds: wait });
    await sleep(wait * 1000);
    if (next === this._generation) this._connect(next);
  }

  /** The connection is gone (or never came): try again with the same session-id, a bounded number of times. */
  async _dropped(generation) {
    if (generation !== this._generation) return;
    this._generation += 1;
    const next = this._generation;
    this._stopWatchdog();
    clearTimeout(this._connectTimer);
    this._closeSocket(1000, "reconnecting");
    if (document.hidden) {
      // A tab in the background (a phone's OS closes its sockets): no tries are spent there;
      // the same session reconnects once the person is back.
      this._setState("reconnecting", { attempt: this._attempt + 1, max: this.options.maxReconnects });
      await this._visible();
      if (next === this._generation) this._connect(next);
      return;
    }
    this._attempt += 1;
    if (this._attempt > this.options.maxReconnects) {
      this._fail({ code: "gaveUp", message: this.message("gaveUp") }, true);
      return;
    }
    this._setState("reconnecting", { attempt: this._attempt, max: this.options.maxReconnects });
    const delay = Math.min(this.options.reconnectDelayMs * 2 ** (this._attempt - 1), this.options.maxReconnectDelayMs);
    await sleep(delay);
    if (next === this._generation) this._connect(next);
  }

  _fail(detail, closeSocket, error) {
    if (error) console.error("vigil:", detail.message, error);
    this._generation += 1;
    this._stopWatchdog();
    clearTimeout(this._connectTimer);
    if (closeSocket) this._closeSocket(1000, "failed");
    this._mark("");
    this._setState("failed");
    this._emit("error", { ...detail, fatal: true });
  }

  _startWatchdog(generation) {
    this._stopWatchdog();
    const period = this.options.heartbeatMs;
    if (!period) return;
    this._lastSeen = performance.now();
    this._watchdog = setInterval(() => {
      if (performance.now() - this._lastSeen > 3 * period + 1000) {
        console.warn("vigil: no heartbeat from the service; reconnecting");
        this._dropped(generation);
      }
    }, Math.min(period, 1000));
  }

  _stopWatchdog() {
    if (this._watchdog) clearInterval(this._watchdog);
    this._watchdog = null;
  }

  _send(text) {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
  }

  _closeSocket(code, reason) {
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= WebSocket.OPEN) {
      try {
        socket.close(code, reason);
      } catch {
        // already closing
      }
    }
  }

  // ---- the screen-light challenge ----------------------------------------------------------

  /** What the light overlay showed this session, in order (see the header). */
  get lightLog() {
    return this._light.log;
  }

  set lightLog(log) {
    this._light.log = log;
  }

  /** A STATS reply's light step, painted when the person took the light. None: the challenge is over. */
  _onLight(challenge, receivedAt) {
    if (!challenge || !this._lightOffer || this._lightAnswer !== "accepted") this._light.end();
    else this._light.show(challenge, receivedAt);
  }

  // ---- frames -------------------------------------------------------------------------------

  async _nextFrame(generation) {
    if (this._lightOffer && this._lightAnswer === null) return; // the light warning is not answered yet
    const wait = this.options.frameIntervalMs - (performance.now() - this._lastFrameAt);
    if (wait > 0) await sleep(wait);
    if (document.hidden) await this._visible(); // nobody is in front of the camera meanwhile
    const shot = await this._nextShot(generation);
    if (!shot || generation !== this._generation || this.state !== "checking" || this._inFlight) return;
    const body = this._capture();
    if (!body) {
      setTimeout(() => this._nextFrame(generation), 100); // the camera picture is not there yet
      return;
    }
    this._sendFrame(shot, body, this._frameLight(false));
  }

  /**
   * The first FRAME right behind CONNECT, not after CONNECTED: on a slow network that saves a
   * round trip before the service sees the person. Before CONNECTED the page cannot know whether
   * the light warning comes: unanswered, the frame says `light:pending`, and a service that runs
   * the light challenge drops it (docs/protocol.md, "The first FRAME"). None from a hidden tab, or
   * before the camera picture is there: CONNECTED's frames follow as ever.
   */
  async _sendFirstFrame(generation) {
    if (document.hidden) return;
    const shot = await this._nextShot(generation);
    if (!shot || generation !== this._generation || this.state === "checking" || this._inFlight) return;
    const body = this._capture();
    if (!body) return;
    const light = this._frameLight(true);
    this._pendingFrame = light === LIGHT_PENDING;
    this._sendFrame(shot, body, light);
  }

  /**
   * A FRAME's `light` header: "declined" after the person said no (where the service offered the
   * light, or before CONNECTED told), "pending" on a first FRAME while the warning may yet come.
   */
  _frameLight(first) {
    if (!this.options.light || (!first && !this._lightOffer)) return null;
    if (this._lightAnswer === "declined") return "declined";
    return first && this._lightAnswer === null ? LIGHT_PENDING : null;
  }

  _sendFrame(shot, body, light) {
    this._lastFrameAt = performance.now();
    this._inFlight = true;
    const headers = { "content-type": "image/x-jpeg-base64", "frame-time": shot.time.toFixed(1) };
    if (light) headers.light = light;
    else if (shot.light) {
      headers["light-step"] = String(shot.light.step);
      headers["light-painted"] = shot.light.paintedAt.toFixed(1);
    }
    this._send(formatMessage("FRAME", headers, body));
  }

  /**
   * The camera frame to send next: { time: its capture time, light: the step on screen when it
   * was taken, or null }. While a step is on screen, only a frame captured `lightSettleMs` after
   * its paint shows the step's light; null when the check moved on meanwhile.
   */
  async _nextShot(generation) {
    const light = this._light;
    for (;;) {
      if (light.due) await light.due; // a step due on screen: capture after it
      const captured = await this._freshVideoFrame();
      if (generation !== this._generation) return null;
      if (light.due) continue;
      const shown = light.shown;
      if (!shown) return { time: captured ?? performance.now(), light: null };
      const settled = shown.paintedAt + this.options.lightSettleMs;
      if (captured !== null) {
        if (captured >= settled) return { time: captured, light: shown };
        if (performance.now() - shown.paintedAt > LIGHT_TAG_WAIT_MS) return { time: captured, light: null };
      } else if (typeof this.video.requestVideoFrameCallback === "function") {
        return { time: performance.now(), light: null }; // the camera stalled: which step its picture shows is unknown
      } else {
        const wait = settled + CAMERA_DELAY_MS - performance.now();
        if (wait <= 0) return { time: performance.now(), light: shown };
        await sleep(wait);
      }
    }
  }

  /**
   * Wait for a camera frame not sent yet: its capture time (requestVideoFrameCallback's
   * captureTime, else its expected display time), or null when unknown (no frame callbacks, a
   * paused picture, or no new frame within FRAME_WAIT_MS).
   */
  _freshVideoFrame() {
    const video = this.video;
    if (typeof video.requestVideoFrameCallback !== "function" || video.paused) return Promise.resolve(null);
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        if (!done) {
          done = true;
          resolve(null);
        }
      }, FRAME_WAIT_MS);
      video.requestVideoFrameCallback((now, metadata) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        const time = metadata?.captureTime ?? metadata?.expectedDisplayTime;
        resolve(Number.isFinite(time) ? time : now);
      });
    });
  }

  /** The visible picture (zoom crop) as base64 JPEG fitted into the configured image size. */
  _capture() {
    const video = this.video;
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!vw || !vh || video.readyState < 2) return null;
    const sw = vw / this.zoom;
    const sh = vh / this.zoom;
    let iw = this.options.imageWidth;
    let ih = this.options.imageHeight;
    if (sh > sw !== ih > iw) [iw, ih] = [ih, iw]; // a portrait camera: a portrait box
    const scale = Math.min(iw / sw, ih / sh);
    const canvas = this._canvas;
    canvas.width = Math.max(1, Math.round(sw * scale));
    canvas.height = Math.max(1, Math.round(sh * scale));
    const context = canvas.getContext("2d");
    context.save();
    if (this.options.mirrorFrames) {
      context.translate(canvas.width, 0);
      context.scale(-1, 1);
    }
    context.drawImage(video, (vw - sw) / 2, (vh - sh) / 2, sw, sh, 0, 0, canvas.width, canvas.height);
    context.restore();
    const url = canvas.toDataURL("image/jpeg", this.options.jpegQuality);
    return url.slice(url.indexOf(",") + 1);
  }
}
