"""One load level's figures, the sweep's table, and its SVG plot (no plotting library needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from load.capacity.session import Tally
from shared.errors import SystemCode

# ERROR replies that end a session by its own rules (the person ran out of attempts): outcomes of
# the check, not failures of the service. Every other ERROR reply counts as an error.
SESSION_OUTCOMES = frozenset({SystemCode.SESSION_ENDED, SystemCode.MAX_ATTEMPTS})
P95_BUDGET_MS = 300.0  # issue 15's goal, drawn on the plot


@dataclass
class Level:
    sessions: int
    fps_per_session: float
    window_s: float
    frames: int
    achieved_fps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    late: int
    admitted: int  # sessions the service admitted in the window (new ones included)
    replies: dict[str, int]
    closes: dict[str, int]
    refused: dict[str, int]
    failures: dict[str, int]
    cpu_ms_per_frame: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all cores
    # The load generator's own CPU (this process): it shares the machine with Vigil here, unlike
    # real people's phones, so it is shown beside the Vigil processes but not in their total.
    generator_cpu_ms_per_frame: float = 0.0

    @property
    def asked_fps(self) -> float:
        return self.sessions * self.fps_per_session


def summarise(sessions: int, fps: float, tally: Tally, window: tuple[float, float],
              cpu_s: dict[str, float], busy: float, generator_cpu_s: float = 0.0) -> Level:
    start, end = window
    inside = [seconds for sent, seconds in tally.round_trips if start <= sent < end]
    ms = np.asarray(inside, dtype=np.float64) * 1000.0
    p50, p95, p99 = (float(v) for v in np.percentile(ms, [50, 95, 99])) if ms.size else (np.nan,) * 3
    errors = sum(n for kind, n in tally.replies.items()
                 if kind.startswith("ERROR") and _code(kind) not in SESSION_OUTCOMES) + sum(tally.failures.values())
    frames = len(inside)
    return Level(sessions, fps, end - start, frames, frames / (end - start), p50, p95, p99, errors, tally.late,
                 tally.sessions, dict(tally.replies), {str(k): v for k, v in sorted(tally.closes.items())},
                 {str(k): v for k, v in sorted(tally.refused.items())}, dict(tally.failures),
                 {role: round(s * 1000.0 / max(frames, 1), 2) for role, s in sorted(cpu_s.items())}, busy,
                 round(generator_cpu_s * 1000.0 / max(frames, 1), 2))


def _code(kind: str) -> int:
    try:
        return int(kind.split()[-1])
    except ValueError:
        return int(SystemCode.INTERNAL)


def table(levels: list[Level]) -> str:
    header = (f"{'sessions':>8} {'asked/s':>8} {'frames/s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
              f"{'errors':>6} {'refused':>7} {'late':>5} {'busy':>5}  closes")
    lines = [header, "-" * len(header)]
    for lv in levels:
        closes = " ".join(f"{k}:{v}" for k, v in lv.closes.items()) or "-"
        lines.append(f"{lv.sessions:>8} {lv.asked_fps:>8.1f} {lv.achieved_fps:>8.1f} {lv.p50_ms:>7.0f} "
                     f"{lv.p95_ms:>7.0f} {lv.p99_ms:>7.0f} {lv.errors:>6} {sum(lv.refused.values()):>7} "
                     f"{lv.late:>5} {lv.machine_busy:>5.0%}  {closes}")
    roles = sorted({role for lv in levels for role in lv.cpu_ms_per_frame})
    lines += ["", "CPU ms per answered frame, per process (from /proc):",
              f"{'sessions':>8} " + " ".join(f"{r[:12]:>12}" for r in roles) + f" {'total':>8} {'generator':>9}"]
    for lv in levels:
        cells = " ".join(f"{lv.cpu_ms_per_frame.get(r, 0.0):>12.1f}" for r in roles)
        lines.append(f"{lv.sessions:>8} {cells} {sum(lv.cpu_ms_per_frame.values()):>8.1f} "
                     f"{lv.generator_cpu_ms_per_frame:>9.1f}")
    return "\n".join(lines)


def svg(levels: list[Level], title: str) -> str:
    """Two panels over the number of sessions: round trip p50/p95/p99 (with the 300 ms budget) and
    frames per second achieved against asked."""
    width, height, pad = 760, 300, 48
    panel = (width - 3 * pad) / 2
    xs = [lv.sessions for lv in levels]
    x_max = max(xs) if xs else 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 40}" '
             f'font-family="sans-serif" font-size="11" role="img"><title>{title}</title>',
             f'<rect width="100%" height="100%" fill="white"/><text x="{pad}" y="18" font-size="13">{title}</text>']

    def plot(left: float, label: str, series: list[tuple[str, str, list[float]]], y_max: float,
             guide: float | None) -> None:
        top, bottom = 36.0, height - 10.0

        def x(v: float) -> float:
            return left + v / x_max * panel

        def y(v: float) -> float:
            return bottom - min(v, y_max) / y_max * (bottom - top)

        parts.append(f'<rect x="{left}" y="{top}" width="{panel}" height="{bottom - top}" fill="none" stroke="#999"/>')
        parts.append(f'<text x="{left}" y="{top - 4}">{label} (max {y_max:.0f})</text>')
        for tick in xs:
            parts.append(f'<text x="{x(tick):.1f}" y="{bottom + 14}" text-anchor="middle">{tick}</text>')
        if guide is not None:
            parts.append(f'<line x1="{left}" x2="{left + panel}" y1="{y(guide):.1f}" y2="{y(guide):.1f}" '
                         f'stroke="#c00" stroke-dasharray="4 3"/>')
        for name, colour, values in series:
            points = " ".join(f"{x(a):.1f},{y(b):.1f}" for a, b in zip(xs, values, strict=True) if b == b)
            parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
            last = next(((a, b) for a, b in reversed(list(zip(xs, values, strict=True))) if b == b), None)
            if last:
                parts.append(f'<text x="{x(last[0]) + 3:.1f}" y="{y(last[1]):.1f}" fill="{colour}">{name}</text>')

    latency_max = max([P95_BUDGET_MS * 1.5, *(lv.p99_ms for lv in levels if lv.p99_ms == lv.p99_ms)])
    plot(pad, "round trip ms by sessions (red: 300 ms)",
         [("p50", "#1b7837", [lv.p50_ms for lv in levels]), ("p95", "#e08214", [lv.p95_ms for lv in levels]),
          ("p99", "#b2182b", [lv.p99_ms for lv in levels])], latency_max, P95_BUDGET_MS)
    fps_max = max([1.0, *(lv.asked_fps for lv in levels)]) * 1.1
    plot(2 * pad + panel, "frames/s by sessions",
         [("asked", "#999999", [lv.asked_fps for lv in levels]),
          ("answered", "#2166ac", [lv.achieved_fps for lv in levels])], fps_max, None)
    parts.append(f'<text x="{pad}" y="{height + 30}">sessions (each at the same frame rate)</text></svg>')
    return "\n".join(parts) + "\n"


def as_json(level: Level) -> dict[str, Any]:
    return {**asdict(level), "asked_fps": level.asked_fps}
