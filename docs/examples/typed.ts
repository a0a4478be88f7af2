// A typed integration (TypeScript): the declarations in vigil.d.ts, beside vigil.js. In your
// project, copy vigil.d.ts next to where you import vigil.js from, or declare the module's URL:
//   declare module "https://vigil.example/static/vigil.js" { export * from "./vigil"; }
import { Checker, LANGUAGES, matchLanguage, type CheckerEvents } from "../../services/ingress/static/vigil.js";

const stage = document.querySelector<HTMLElement>("#check");
if (!stage) throw new Error("no #check element");

const checker = new Checker(stage, "wss://vigil.example/ws", {
  mode: "selfie",
  lang: matchLanguage(navigator.language) ?? "en",
  nonce: crypto.randomUUID(),
  messages: { start: "Begin", "es:start": "Comenzar" },
});

const show = (text: string): void => {
  document.querySelector("#prompt")!.textContent = text;
};

checker.on("prompt", ({ message, code }) => show(code === null ? checker.message("hold") : message));
checker.on("progress", ({ done, total }) => show(`${done}/${total}`));
const stopListening = checker.on("success", async ({ jwt }: CheckerEvents["success"]) => {
  await fetch("/api/liveness-result", { method: "POST", body: JSON.stringify({ jwt }) });
});
checker.on("camera-error", ({ kind, message }) => show(kind === "permission-denied" ? message : `${kind}: ${message}`));
checker.on("error", ({ code, fatal }) => console.warn(code, fatal));
checker.on("state", ({ state }) => document.body.setAttribute("data-state", state));

console.log(LANGUAGES.length, checker.lang, checker.state);
await checker.openCamera();
document.querySelector("#start")?.addEventListener("click", () => void checker.start());
stopListening();
