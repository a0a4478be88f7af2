// The check page: loads the UI config named by `?cn=NAME` (default "default"), shows the camera
// with the oval guide, and runs the check with the Vigil library. It shows only the prompts of
// the codes and the active-liveness progress, never a score. Where the service runs the
// screen-light challenge, the library asks the person first (its photosensitivity warning) and
// paints the colours; the prompts stay in this page's live region.
//
// Query: `cn` the UI config's name; `lang` forces a language (a BCP 47 tag: "es", "pt-BR", "ar";
// else the browser's); `nonce` the relying party's nonce (it comes back in the JWT).
//
// The ingress inlines the config, the check settings and this language's messages (a JSON block,
// services/ingress/page_data.py): each is fetched only when the block lacks it (a page served
// elsewhere, a config the ingress could not read), a round trip saved on a slow network.

import { Checker, MORE_TIME_SCALE } from "./vigil.js";
import { addMessages, direction, loadMessages, matchLanguage, pickLanguage, translator } from "./i18n.js";

const REDIRECT_DELAY_MS = 1500;
const DATA_ID = "vigil-page-data"; // page_data.py's DATA_ID
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const configName = params.get("cn") || "default";
const lang = matchLanguage(params.get("lang")) ?? pickLanguage();
const inlined = readInlined();
let t = translator(lang);

const ui = {
  alert: $("alert"),
  prompt: $("prompt"),
  progress: $("progress"),
  progressBar: $("progress-bar"),
  progressText: $("progress-text"),
  success: $("success"),
  start: $("start"),
  moreTime: $("more-time"),
  mode: $("mode"),
  modeBox: document.querySelector(".mode"),
  zoomIn: $("zoom-in"),
  zoomOut: $("zoom-out"),
  zoomLevel: $("zoom-level"),
  camera: $("camera"),
  cameraBox: document.querySelector(".camera"),
  stage: $("stage"),
};

function setState(state) {
  document.body.dataset.state = state;
}

function translatePage() {
  document.documentElement.lang = lang;
  document.documentElement.dir = direction(lang); // style.css uses logical sides: it mirrors for "rtl"
  document.title = t("title");
  for (const element of document.querySelectorAll("[data-i18n]")) element.textContent = t(element.dataset.i18n);
  for (const element of document.querySelectorAll("[data-i18n-label]")) {
    const text = t(element.dataset.i18nLabel);
    element.setAttribute("aria-label", text);
    element.title = text;
  }
  ui.modeBox.title = t("modeTooltip");
  ui.zoomLevel.textContent = t("zoomLevel", { zoom: 1 });
}

function showPrompt(text, codes = []) {
  ui.prompt.textContent = text;
  ui.prompt.dataset.codes = codes.join(" "); // for CSS and tests: [data-codes~="1"]
}

function showAlert(text, kind) {
  ui.alert.textContent = text;
  ui.alert.dataset.kind = kind;
  ui.alert.hidden = !text;
}

function fatal(text, kind) {
  showAlert(text, kind);
  showPrompt("");
  ui.start.disabled = true;
  setState("unavailable");
}

/** The ingress's data block, or {} (none, or unreadable: then everything is fetched). */
function readInlined() {
  const block = document.getElementById(DATA_ID);
  if (!block) return {};
  try {
    return JSON.parse(block.textContent) ?? {};
  } catch (error) {
    console.error("vigil page: the inlined data is not JSON", error);
    return {};
  }
}

async function loadJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: the status tells
  }
  return { status: response.status, ok: response.ok, body };
}

async function loadConfig() {
  // Inlined for this very config (the ingress read the same `cn`): no fetch.
  if (inlined.config?.name === configName && inlined.settings) {
    return { config: inlined.config, settings: inlined.settings };
  }
  const [config, settings] = await Promise.all([
    loadJson(`/api/ui-config/${encodeURIComponent(configName)}`),
    loadJson("/api/check-settings"),
  ]);
  if (config.status === 404) {
    console.error("vigil page:", config.body?.message);
    return { error: "unknownConfig", kind: "unknown-config" }; // translated once the messages are in
  }
  if (!config.ok || !settings.ok || !config.body) {
    console.error("vigil page: config", config.status, config.body, "settings", settings.status);
    return { error: "configFailed", kind: "config-failed" };
  }
  return { config: config.body, settings: settings.body };
}

function applyConfig(config) {
  const overrides = { ...(config.error_messages ?? {}) };
  if (config.success_message) overrides.success = config.success_message;
  if (config.start_button_text) overrides.start = config.start_button_text;
  if (config.mode_tooltip) overrides.modeTooltip = config.mode_tooltip;
  if (config.camera_not_attached_message) overrides.cameraNotAttached = config.camera_not_attached_message;
  t = translator(lang, overrides);
  if (config.styles) {
    const style = document.createElement("style");
    style.id = "vigil-config-styles";
    style.textContent = config.styles; // CSS text only (the service refuses '<' in it)
    document.head.append(style);
  }
  document.body.dataset.config = config.name;
  translatePage();
  return overrides;
}

async function fillCameras(checker) {
  const cameras = await checker.cameras();
  const current = checker.track?.getSettings?.().deviceId;
  ui.camera.replaceChildren(
    ...cameras.map((camera, index) => {
      const option = document.createElement("option");
      option.value = camera.deviceId;
      option.textContent = camera.label || t("cameraDefault", { n: index + 1 });
      option.selected = camera.deviceId === current;
      return option;
    }),
  );
  ui.camera.disabled = cameras.length < 2 || isRunning(checker);
  ui.cameraBox.hidden = cameras.length < 2; // nothing to choose between
}

const isRunning = (checker) => ["connecting", "checking", "reconnecting", "waiting"].includes(checker.state);

function showZoom(checker) {
  ui.zoomLevel.textContent = t("zoomLevel", { zoom: checker.zoom.toFixed(2).replace(/\.?0+$/, "") });
  ui.zoomOut.disabled = checker.zoom <= 1;
  ui.zoomIn.disabled = checker.zoom >= checker.options.maxZoom;
}

function wire(checker, config) {
  let cameraOk = false;

  ui.mode.checked = checker.mode === "selfie";
  ui.mode.addEventListener("change", () => checker.setMode(ui.mode.checked ? "selfie" : "operator"));
  ui.modeBox.addEventListener("keydown", (event) => {
    if (event.key === "Escape") ui.modeBox.classList.add("tip-dismissed");
  });
  ui.modeBox.addEventListener("focusout", () => ui.modeBox.classList.remove("tip-dismissed"));
  ui.modeBox.addEventListener("mouseleave", () => ui.modeBox.classList.remove("tip-dismissed"));

  ui.zoomIn.addEventListener("click", () => {
    checker.zoomIn();
    showZoom(checker);
  });
  ui.zoomOut.addEventListener("click", () => {
    checker.zoomOut();
    showZoom(checker);
  });
  ui.camera.addEventListener("change", async () => {
    showAlert("");
    if (await checker.openCamera(ui.camera.value)) await fillCameras(checker);
  });

  ui.moreTime.addEventListener("click", async () => {
    // Every action of the new check gets more time (the service grants up to its operator's cap).
    checker.options.timeScale = Math.max(checker.options.timeScale ?? 1, MORE_TIME_SCALE);
    ui.moreTime.hidden = true;
    ui.start.focus();
    showAlert("");
    ui.success.hidden = true;
    ui.progress.hidden = true;
    await checker.start();
  });

  ui.start.addEventListener("click", async () => {
    if (isRunning(checker)) {
      checker.stop();
      return;
    }
    ui.moreTime.hidden = true;
    showAlert("");
    ui.success.hidden = true;
    ui.progress.hidden = true;
    await checker.start();
  });

  checker.on("ready", () => {
    cameraOk = true;
    showAlert("");
    ui.start.disabled = false;
    showZoom(checker);
    if (checker.state === "camera") showPrompt(t("ready"));
    fillCameras(checker).catch((error) => console.error("vigil page: cameras", error));
  });

  checker.on("camera-error", ({ kind, message }) => {
    cameraOk = kind === "ended" ? false : cameraOk;
    showAlert(message, `camera-${kind}`);
    showPrompt("");
    // Permission refused or no camera: Start could only fail again (it re-asks for the camera).
    ui.start.disabled = kind !== "ended" && kind !== "busy";
    ui.camera.disabled = true;
  });

  checker.on("state", ({ state, attempt, max, seconds }) => {
    setState(state);
    const running = isRunning(checker);
    ui.start.textContent = running ? t("stop") : state === "failed" || state === "stopped" ? t("restart") : t("start");
    ui.start.dataset.action = running ? "stop" : "start";
    ui.camera.disabled = running || ui.camera.options.length < 2;
    if (state === "connecting") showPrompt(t("connecting"));
    else if (state === "reconnecting") showPrompt(t("reconnecting", { attempt, max }));
    else if (state === "waiting") showPrompt(t("waiting", { seconds }));
    else if (state === "checking" && !ui.prompt.dataset.codes) showPrompt(t("checking"));
    else if (state === "stopped") {
      showPrompt(t("stopped"));
      ui.progress.hidden = true;
    }
  });

  checker.on("prompt", ({ codes, message }) => showPrompt(message, codes));

  checker.on("progress", ({ done, total }) => {
    ui.progress.hidden = false;
    ui.progressBar.max = total;
    ui.progressBar.value = done;
    ui.progressText.textContent = t("progress", { done: Math.min(done + 1, total), total });
  });

  checker.on("error", ({ message, fatal: isFatal, timedOut }) => {
    if (isFatal) {
      showAlert(message, "check-failed");
      showPrompt("");
      ui.progress.hidden = true;
      ui.start.disabled = !cameraOk;
      ui.moreTime.hidden = !(timedOut && cameraOk && (checker.options.timeScale ?? 1) < MORE_TIME_SCALE);
    } else {
      showPrompt(message);
    }
  });

  checker.on("success", () => {
    showPrompt("");
    ui.progress.hidden = true;
    ui.success.textContent = t("success");
    ui.success.hidden = false;
    ui.start.disabled = true;
    if (config.redirect_url) {
      ui.success.textContent = `${t("success")} ${t("redirecting")}`;
      setTimeout(() => location.assign(config.redirect_url), REDIRECT_DELAY_MS);
    }
  });
}

async function main() {
  // The messages and the config at once (a round trip each on a slow network, none when inlined).
  // Messages failing: English instead; English failing too: the built-in last words.
  if (inlined.lang === lang) addMessages(lang, inlined.messages);
  const [, loaded] = await Promise.all([
    loadMessages(lang),
    loadConfig().catch((error) => {
      console.error("vigil page:", error);
      return { error: "configFailed", kind: "config-failed" };
    }),
  ]);
  translatePage();
  if (loaded.error) {
    fatal(t(loaded.error, { name: configName }), loaded.kind);
    return;
  }
  const { config, settings } = loaded;
  const messages = applyConfig(config);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const checker = new Checker(ui.stage, `${scheme}//${location.host}/ws`, {
    imageWidth: config.image_width,
    imageHeight: config.image_height,
    videoWidth: config.video_width,
    videoHeight: config.video_height,
    mode: config.mode,
    roi: settings.roi,
    lang,
    messages,
    uiConfig: configName, // its audience binds the token (docs/protocol.md)
    nonce: params.get("nonce"), // a relying party that frames this page passes its nonce here
  });
  window.vigilChecker = checker; // for integrators' debugging and the browser tests
  wire(checker, config);
  setState("camera-opening");
  showPrompt(t("openingCamera"));
  await checker.openCamera();
}

main().catch((error) => {
  console.error("vigil page:", error);
  fatal(t("configFailed"), "page-failed");
});
