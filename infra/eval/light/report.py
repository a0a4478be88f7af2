"""The light evaluation's output: OUT/light.json and a terminal table, each headed by its label
(SIMULATED, or real recordings) and the parameters the figures depend on."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from infra.eval.light.figures import Rate


def write(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "light.json").write_text(json.dumps(report, indent=1))


def _rate(entry: dict[str, Any]) -> str:
    return Rate(entry["hits"], entry["total"]).text()


def _seconds(entry: dict[str, Any]) -> str:
    return "-" if entry["median"] is None else f"{entry['median']:.1f}/{entry['p95']:.1f}"


def table(report: dict[str, Any]) -> str:
    lines = [f"Light challenge: {report['label']}"]
    parameters = ", ".join(f"{k}={v}" for k, v in report.get("parameters", {}).items())
    lines += textwrap.wrap(f"model: {parameters}", 118, subsequent_indent="  ")
    settings = ", ".join(f"{k}={v}" for k, v in report.get("light_challenge_settings", {}).items())
    lines += textwrap.wrap(f"light_challenge settings: {settings}", 118, subsequent_indent="  ")
    lines.append("")
    lines.append(f"{'group':24s} {'n':>3s} {'pass':>4s} {'ref':>4s} {'skip':>4s} {'und':>4s}  "
                 f"{'BPCER / APCER [Wilson 95%]':30s} {'no-light path':24s} {'s med/p95':>10s} {'lag':>9s}  reason")
    groups = report["summary"]["groups"]
    for group in sorted(groups, key=lambda g: (not g.startswith("genuine@"), _order(g))):
        entry = groups[group]
        outcomes = entry["outcomes"]
        headline = entry.get("bpcer") or entry["apcer"]
        kind = "BPCER" if "bpcer" in entry else "APCER"
        lag = ",".join(f"{k}:{v}" for k, v in entry["lag"].items()) or "-"
        reason = next(iter(entry["reasons"]), "")
        lines.append(f"{group:24s} {entry['sessions']:3d} {outcomes.get('pass', 0):4d} {outcomes.get('refused', 0):4d} "
                     f"{outcomes.get('skipped', 0):4d} {outcomes.get('no_decision', 0):4d}  "
                     f"{kind} {_rate(headline):24s} {_rate(entry['no_light']):24s} "
                     f"{_seconds(entry['challenge_s']):>10s} {lag:>9s}  {reason}")
    onset = report["summary"].get("genuine_onset")
    if onset:
        lines.append(f"\ngenuine: BPCER >= {onset['bpcer_at_least']:.0%} from {onset['fail_lux']} lux; no-light path "
                     f">= {onset['bpcer_at_least']:.0%} from {onset['no_light_lux']} lux; first retry at "
                     f"{onset['first_retry_lux']} lux (None: not within the levels run)")
    every = report["summary"].get("genuine_all")
    if every:
        lines.append(f"seconds the challenge adds (genuine, first step sent -> decision): median/p95 "
                     f"{_seconds(every['challenge_s'])} all, {_seconds(every['challenge_s_passed'])} passed; "
                     f"plugin's response_s {_seconds(every['response_s'])}; lag {every['lag']}")
    lines.append("pass: passed with the light defence; ref: refused (102); skip: no-light path (too weak after "
                 "every retry); und: no decision. Every figure above is " + report["label"].split(":")[0] + ".")
    return "\n".join(lines)


def _order(group: str) -> tuple[str, float]:
    name, _, rest = group.partition("@")
    if rest:
        return name, float(rest.removesuffix("lux"))
    digits = "".join(c for c in name if c.isdigit())
    return name.rstrip("0123456789ms_"), float(digits or 0)
