// TypeScript declarations of vigil.js, the Vigil check library (served beside it; nothing here runs).
// docs/integration.md shows its use; tests/test_page_embedding.py checks it with `tsc --noEmit`
// against docs/examples/typed.ts.

/** The protocol version this library speaks (LPProto, docs/protocol.md). */
export declare const PROTOCOL_VERSION: string;
/** The extra time the check page offers after a session whose actions ran out of time. */
export declare const MORE_TIME_SCALE: number;

/** The languages with messages: BCP 47 tags. */
export declare const LANGUAGES: readonly ["en", "ru", "es", "pt-BR", "fr", "de", "tr", "ar", "zh-Hans", "hi"];
export type Language = (typeof LANGUAGES)[number];

/** Ours for a BCP 47 tag ("pt" -> "pt-BR", "zh-CN" -> "zh-Hans"), or null. */
export declare function matchLanguage(tag: string | null | undefined): Language | null;
/** The first of the browser's preferred languages that we have, else "en". */
export declare function pickLanguage(preferred?: readonly string[]): Language;
/** "rtl" for a right-to-left language (Arabic), else "ltr": for the `dir` of what shows its messages. */
export declare function direction(lang: string): "rtl" | "ltr";
/** Fetches a language's messages (English where that fails): the language loaded. */
export declare function loadMessages(lang: string, base?: URL): Promise<Language>;

export declare function formatMessage(command: string, headers?: Record<string, string | number | null | undefined>,
  body?: string): string;
export declare function parseMessage(text: string): { command: string; headers: Record<string, string>; body: string };

/** Where the face belongs, in fractions of the frame (the service's `roi` settings). */
export interface Roi {
  center_x: number;
  center_y: number;
  width: number;
  height: number;
}

/** A message key: an LPProto code ("1", "91", "1012"), a session end ("close.4002") or a page string ("start"). */
export type MessageKey = string;

export interface CheckerOptions {
  /** Frames sent are fitted into this box (swapped for a portrait camera). Default 640 x 480. */
  imageWidth?: number;
  imageHeight?: number;
  /** The camera stream asked for. Default 640 x 480. */
  videoWidth?: number;
  videoHeight?: number;
  /** "selfie" (default): mirrored preview, the front camera; "operator": not mirrored, the back camera. */
  mode?: "selfie" | "operator";
  /** Send the mirrored picture (with `mirrored:1`) instead of the camera's. Default false. */
  mirrorFrames?: boolean;
  jpegQuality?: number;
  /** 0: no heartbeat. Default 5000. */
  heartbeatMs?: number;
  /** Each try to reach CONNECTED. Default 10000 (slow mobile networks need it). */
  connectTimeoutMs?: number;
  maxReconnects?: number;
  reconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  /** At most one frame per this many ms. Default 100. */
  frameIntervalMs?: number;
  maxTransientErrors?: number;
  maxZoom?: number;
  zoomStep?: number;
  roi?: Partial<Roi>;
  /** A BCP 47 tag ("es", "pt-BR", "ar"); null or absent: from the browser's languages. */
  lang?: string | null;
  /** Replaces messages by key, or for one language by "LANG:key" ("es:start"). */
  messages?: Record<MessageKey, string>;
  /** The relying party's nonce: it comes back as the JWT's `nonce` claim. */
  nonce?: string | null;
  /** A UI config's name: its `audience` becomes the JWT's `aud`. */
  uiConfig?: string | null;
  /** The relying party's own key for this person: failed checks are also counted per key. */
  userKey?: string | null;
  /** A random id kept in this browser's storage (abuse limits count per device); false: none. */
  deviceId?: boolean;
  /** Take part in the screen-light challenge. Default true. */
  light?: boolean;
  /** More time for each action, 1-5 (WCAG 2.2.1): the service grants up to its operator's cap. Default 1. */
  timeScale?: number;
  /** The photosensitivity warning: "ask" (default) shows it; "accept"/"decline" answer it beforehand. */
  lightConsent?: "ask" | "accept" | "decline";
  lightSettleMs?: number;
}

export type CheckerState =
  | "idle" | "camera" | "connecting" | "checking" | "reconnecting" | "waiting" | "success" | "failed" | "stopped";

export type CameraErrorKind = "permission-denied" | "not-found" | "busy" | "unsupported" | "ended" | "failed";

export interface LightStep {
  step: number | null;
  total: number;
  pattern: "full" | "left_right" | "top_bottom" | null;
  colors: string[];
  receivedAt: number | null;
  paintedAt: number;
}

/** Each event's `detail` (also what `on(name, handler)` passes to the handler). */
export interface CheckerEvents {
  ready: { label: string; settings: MediaTrackSettings; playing: boolean };
  state: { state: CheckerState; attempt?: number; max?: number; seconds?: number };
  /** The frame checks of a reply as messages; `code` null: all good, hold still. */
  prompt: { codes: number[]; code: number | null; message: string; messages: string[] };
  /** Active liveness: actions done of total. */
  progress: { done: number; total: number };
  /** The signed JWT: send it to your backend and verify it there (docs/examples/). */
  success: { jwt: string; sessionId: string | null };
  /** code: a system code, "close.NNNN", "close.protocol", "gaveUp" or "camera.KIND". */
  /** `timedOut`: the session ended after its actions ran out of time (offer `timeScale: MORE_TIME_SCALE`). */
  error: { code: number | string; message: string; fatal: boolean; detail?: string; timedOut?: boolean };
  "camera-error": { kind: CameraErrorKind; name: string; message: string };
  /** The raw STATS body, for integrators: it may carry scores (development mode); never show them. */
  stats: { isOk: boolean; errors: number[]; estimations: Record<string, unknown> };
  "light-warning": { declinable: boolean };
  "light-declined": Record<string, never>;
}

export declare class Checker extends EventTarget {
  /**
   * @param element where the camera picture and the oval guide go (style them with style.css's `.vigil-*` rules)
   * @param url the LPProto WebSocket, e.g. "wss://vigil.example/ws"
   */
  constructor(element: HTMLElement, url: string, options?: CheckerOptions);

  readonly element: HTMLElement;
  readonly url: string;
  readonly options: Required<Omit<CheckerOptions, "roi" | "lang">> & { roi: Roi; lang: string | null };
  /** The language in use. */
  readonly lang: Language;
  /** Resolves once the messages of `lang` (or English) are loaded. */
  readonly messagesReady: Promise<unknown>;
  readonly state: CheckerState;
  readonly sessionId: string | null;
  readonly mode: "selfie" | "operator";
  readonly zoom: number;
  readonly stream: MediaStream | null;
  readonly track: MediaStreamTrack | null;
  readonly video: HTMLVideoElement;
  /** What the screen-light overlay showed this session, in order. */
  lightLog: LightStep[];

  /** Listen to an event; returns a function that unsubscribes. */
  on<K extends keyof CheckerEvents>(type: K, handler: (detail: CheckerEvents[K]) => void): () => void;
  /** The message for a code or named key, in the chosen language (overrides first). */
  message(key: MessageKey | number): string;

  /** The video inputs (labels appear once the camera permission is granted). */
  cameras(): Promise<Array<{ deviceId: string; label: string }>>;
  /** Open the camera (a given device, or the one fitting the mode) and show it: true when it plays. */
  openCamera(deviceId?: string | null): Promise<boolean>;
  /** Start a new check (a new session); opens the camera first when needed. */
  start(): Promise<void>;
  /** Stop the check; the camera stays on. */
  stop(): void;
  /** Stop and turn the camera off. */
  destroy(): void;
  setMode(mode: "selfie" | "operator"): void;
  /** Digital zoom, 1 to maxZoom: the zoom applied. */
  setZoom(zoom: number): number;
  zoomIn(): number;
  zoomOut(): number;
}
