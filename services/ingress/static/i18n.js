// Messages of the check page and of the Vigil library, one JSON file per language in ./i18n/.
//
// Keys are the LPProto codes as strings (frame checks 1-103, system codes 1000-1022, WebSocket
// close codes as "close.NNNN") and named keys for the page's own strings. Only the language in
// use is fetched (each file is ~6-12 KB; all ten inline would double the page's weight), or none
// when the page carries it inline (addMessages), and English only when that one cannot be
// loaded. Every language has every key: tests/test_page_i18n.py checks that, and the codes
// against shared/errors.py. How the texts are written: docs/translations.md.
//
// A UI config's `error_messages` replaces any of them by key ("1", "start", "close.4002"), or
// for one language only by "LANG:key" ("es:start"); its dedicated fields (success_message,
// start_button_text, mode_tooltip, camera_not_attached_message) replace theirs.

export const LANGUAGES = ["en", "ru", "es", "pt-BR", "fr", "de", "tr", "ar", "zh-Hans", "hi"];
const RIGHT_TO_LEFT = new Set(["ar"]);
// Chinese in traditional characters: we have none; better the reader's next language than the
// simplified script chosen for them.
const TRADITIONAL = /^zh-(hant|tw|hk|mo)\b/;
// The page's last words when even English cannot be fetched (the network went mid-load).
const BUILT_IN = {
  configFailed: "The page settings could not be loaded. Reload the page.",
  unknownError: "Something went wrong. Retrying…",
  unknownCheck: "Adjust your position and hold still.",
};

const tables = new Map(); // language -> its messages, once loaded
const pending = new Map(); // language -> the promise of its messages

/** Ours for a BCP 47 tag ("pt" and "pt-PT" -> "pt-BR", "zh-CN" -> "zh-Hans"), or null. */
export function matchLanguage(tag) {
  const wanted = String(tag ?? "").trim().toLowerCase().replace(/_/g, "-");
  if (!wanted) return null;
  const exact = LANGUAGES.find((lang) => lang.toLowerCase() === wanted);
  if (exact) return exact;
  if (TRADITIONAL.test(wanted)) return null;
  const base = wanted.split("-")[0];
  return LANGUAGES.find((lang) => lang.toLowerCase().split("-")[0] === base) ?? null;
}

/** The first of the browser's preferred languages that we have, else English. */
export function pickLanguage(preferred = globalThis.navigator?.languages ?? []) {
  for (const tag of preferred) {
    const lang = matchLanguage(tag);
    if (lang) return lang;
  }
  return "en";
}

/** "rtl" for a right-to-left language, else "ltr" (for the `dir` attribute). */
export function direction(lang) {
  return RIGHT_TO_LEFT.has(lang) ? "rtl" : "ltr";
}

/**
 * Fetch a language's messages (once; later calls share the promise). On failure it loads English
 * instead and resolves to "en"; else to the language itself.
 */
export function loadMessages(lang, base = new URL("./i18n/", import.meta.url)) {
  const wanted = matchLanguage(lang) ?? "en";
  if (!pending.has(wanted)) {
    const fetched = fetch(new URL(`${wanted}.json`, base))
      .then((response) => {
        if (!response.ok) throw new Error(`${response.status} for ${response.url}`);
        return response.json();
      })
      .then((table) => {
        tables.set(wanted, table);
        return wanted;
      });
    pending.set(wanted, fetched);
    fetched.catch(() => pending.delete(wanted)); // a later call tries again
  }
  return pending.get(wanted).catch((error) => {
    if (wanted === "en") throw error;
    console.error(`vigil: messages in ${wanted} could not be loaded; using English`, error);
    return loadMessages("en", base);
  });
}

/**
 * Messages the page has already (the ingress inlines its language's: services/ingress/page_data.py):
 * loadMessages then resolves at once instead of fetching. False when `lang` is not one of ours.
 */
export function addMessages(lang, table) {
  const known = matchLanguage(lang);
  if (!known || !table || typeof table !== "object") return false;
  tables.set(known, table);
  pending.set(known, Promise.resolve(known));
  return true;
}

/**
 * A message lookup: the overrides (a UI config's) for this language ("es:start"), then for any
 * language ("start"), then the language's own table, then English. Looked up at each call, so a
 * translator made before its language finished loading speaks it once it has.
 */
export function translator(lang, overrides = {}) {
  const lookup = (id) =>
    overrides[`${lang}:${id}`] ?? overrides[id] ?? tables.get(lang)?.[id] ?? tables.get("en")?.[id] ?? BUILT_IN[id];
  function t(key, params = {}) {
    const id = String(key);
    let text = lookup(id);
    if (text === undefined) return id;
    for (const [name, value] of Object.entries(params)) text = text.replaceAll(`{${name}}`, String(value));
    return text;
  }
  t.has = (key) => lookup(String(key)) !== undefined;
  return t;
}
