"""The run's report: a terminal table, the JSON document, an SVG of liveness scores per kind."""

from __future__ import annotations

from html import escape
from typing import Any

from infra.eval.plan import Kind
from infra.eval.runner import SessionResult

COLOURS = {Kind.GENUINE: "#2e7d32", Kind.NAIVE_REPLAY: "#c62828", Kind.PHOTO: "#ef6c00",
           Kind.SMART_REPLAY: "#6a1b9a"}


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f} %"


def table(summary: dict[str, Any]) -> str:
    header = f"{'kind':<13} {'sessions':>8} {'passed':>6} {'BPCER/APCER':>11} {'worst media':>11} " \
             f"{'no resp.':>8} {'frames p50/p95':>15} {'s p50/p95':>13}  deciding evidence"
    lines = [header, "-" * len(header)]
    for name, k in summary["kinds"].items():
        error = k.get("bpcer", k.get("apcer"))
        worst = _pct(k.get("apcer_worst_media")) if "apcer" in k else ""
        frames, seconds = k["frames_to_decision"], k["seconds_to_decision"]
        deciding = "; ".join(f"{count}x {what}" for what, count in list(k["deciding"].items())[:2])
        lines.append(f"{name:<13} {k['sessions']:>8} {k['passed']:>6} {_pct(error):>11} {worst:>11} "
                     f"{_pct(k['non_response_rate']):>8} {str(frames['p50']) + '/' + str(frames['p95']):>15} "
                     f"{str(seconds['p50']) + '/' + str(seconds['p95']):>13}  {deciding}")
    lines.append("")
    for name, k in summary["kinds"].items():
        for media, m in k["media"].items():
            lines.append(f"  {name:<13} {media:<64} {m['passed']}/{m['sessions']} passed")
    lines.append(f"\nBPCER {_pct(summary['bpcer'])}   worst APCER {_pct(summary['apcer_worst'])}   "
                 f"non-response {_pct(summary['non_response_rate'])}   ({summary['sessions']} sessions)")
    return "\n".join(lines)


def svg(results: list[SessionResult], bins: int = 20) -> str:
    """Histograms (share of frames per bin) of the per-frame passive liveness score, per kind."""
    width, height, left, bottom, top = 640, 360, 50, 40, 30
    plot_w, plot_h = width - left - 20, height - bottom - top
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11">', f'<text x="{left}" y="18" font-size="13">Passive liveness score per frame, '
             f'by kind of user (share of frames)</text>']
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width - 20}" y2="{height - bottom}" stroke="black"/>')
    for tick in range(6):
        x = left + plot_w * tick / 5
        parts.append(f'<text x="{x:.0f}" y="{height - bottom + 15}" text-anchor="middle">{tick / 5:.1f}</text>')
    histograms: dict[Kind, list[float]] = {}
    for kind in Kind:
        scores = [s for r in results if r.kind is kind for s in r.liveness]
        if scores:
            counts = [0] * bins
            for s in scores:
                counts[min(bins - 1, max(0, int(s * bins)))] += 1
            histograms[kind] = [c / len(scores) for c in counts]
    peak = max((max(h) for h in histograms.values()), default=1.0) or 1.0
    for row, (kind, shares) in enumerate(histograms.items()):
        points = " ".join(f"{left + plot_w * (i + 0.5) / bins:.1f},{height - bottom - plot_h * v / peak:.1f}"
                          for i, v in enumerate(shares))
        parts.append(f'<polyline fill="none" stroke="{COLOURS[kind]}" stroke-width="2" points="{points}"/>')
        parts.append(f'<text x="{width - 160}" y="{top + 15 * row + 10}" fill="{COLOURS[kind]}">'
                     f'{escape(kind.value)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
