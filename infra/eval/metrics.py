"""ISO/IEC 30107-3 style figures from the sessions of one run at one fixed configuration.

* BPCER: the share of bona fide (kind 1) sessions that did not pass (refused or undecided).
* APCER of an attack instrument species (here: each attack kind, and each medium within it): the
  share of its attack sessions that passed. The headline per kind is the worst medium's.
* Non-response rate: sessions that reached their frame/time bound without any decision.
* Frames and seconds to a decision (pass or refusal): p50 / p95 over the decided sessions.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import numpy as np

from infra.eval.plan import Kind
from infra.eval.runner import SessionResult


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


def rate(hits: int, total: int) -> float | None:
    return round(hits / total, 4) if total else None


def summarise(results: list[SessionResult]) -> dict[str, Any]:
    by_kind: dict[Kind, list[SessionResult]] = defaultdict(list)
    for result in results:
        by_kind[result.kind].append(result)
    kinds: dict[str, Any] = {}
    for kind in Kind:
        sessions = by_kind.get(kind, [])
        if not sessions:
            continue
        decided = [r for r in sessions if r.outcome != "no decision"]
        passed = sum(r.outcome == "pass" for r in sessions)
        media: dict[str, list[SessionResult]] = defaultdict(list)
        for r in sessions:
            media[r.media].append(r)
        per_media = {name: {"sessions": len(rs), "passed": sum(r.outcome == "pass" for r in rs),
                            "rate": rate(sum(r.outcome == "pass" for r in rs), len(rs))}
                     for name, rs in media.items()}
        entry: dict[str, Any] = {
            "sessions": len(sessions), "passed": passed,
            "non_response_rate": rate(len(sessions) - len(decided), len(sessions)),
            "frames_to_decision": {"p50": percentile([r.frames for r in decided], 50),
                                   "p95": percentile([r.frames for r in decided], 95)},
            "seconds_to_decision": {"p50": percentile([r.seconds for r in decided], 50),
                                    "p95": percentile([r.seconds for r in decided], 95)},
            "media": per_media,
            "deciding": dict(Counter(r.deciding for r in sessions).most_common()),
        }
        if kind.attack:
            entry["apcer"] = rate(passed, len(sessions))
            worst: list[float] = [m["rate"] for m in per_media.values() if m["rate"] is not None]
            entry["apcer_worst_media"] = max(worst, default=None)
        else:
            entry["bpcer"] = rate(len(sessions) - passed, len(sessions))
        kinds[kind.value] = entry
    undecided = sum(r.outcome == "no decision" for r in results)
    attacks = [k for k in kinds.values() if "apcer_worst_media" in k]
    return {
        "sessions": len(results),
        "bpcer": kinds.get(Kind.GENUINE.value, {}).get("bpcer"),
        "apcer_worst": max((k["apcer_worst_media"] for k in attacks if k["apcer_worst_media"] is not None),
                           default=None),
        "non_response_rate": rate(undecided, len(results)),
        "kinds": kinds,
    }
