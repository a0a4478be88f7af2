"""Server-side SVG charts (no script): stacked columns, labelled bars, p50/p95 ranges, a share ring.

Colours come from CSS classes (``series-ok``, ``series-bad``, ``series-n``), so the theme
applies; every chart has a ``<title>`` and an ``aria-label`` for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH = 600


def _svg(height: float, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{escape(label)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def _text(x: float, y: float, text: object, anchor: str = "start", css: str = "axis") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{css}">{escape(str(text))}</text>'


def columns(label: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[int]]],
            *, label_every: int = 1, height: int = 220) -> Markup:
    """Stacked columns: one per label, each series (css class, values) stacked bottom-up."""
    left, bottom, top = 40.0, 28.0, 12.0
    plot_h, slot = height - bottom - top, (WIDTH - left - 4) / max(len(labels), 1)
    totals = [sum(values[i] for _, values in series) for i in range(len(labels))]
    peak = max([*totals, 1])
    body = [f'<line x1="{left}" y1="{top + plot_h}" x2="{WIDTH - 4}" y2="{top + plot_h}" class="grid"/>',
            _text(left - 6, top + 8, peak, "end"), _text(left - 6, top + plot_h, 0, "end")]
    for i, name in enumerate(labels):
        x, base = left + i * slot + slot * 0.15, top + plot_h
        for css, values in series:
            h = plot_h * values[i] / peak
            if h > 0:
                body.append(f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
                            f'class="{css}"><title>{escape(name)}: {values[i]}</title></rect>')
                base -= h
        if i % label_every == 0:
            body.append(_text(x + slot * 0.35, height - 8, name, "middle"))
    return _svg(height, label, body)


def bars(label: str, items: Sequence[tuple[str, int]], *, css: str = "series-bad") -> Markup:
    """Horizontal bars, one row per (label, count), longest first as given."""
    row, label_w = 24, 250.0
    height = max(len(items), 1) * row + 8
    peak = max([count for _, count in items] + [1])
    body = []
    for i, (name, count) in enumerate(items):
        y = 4 + i * row
        w = (WIDTH - label_w - 60) * count / peak
        body.append(_text(label_w - 8, y + 15, name, "end", "label"))
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" class="{css}"/>')
        body.append(_text(label_w + w + 6, y + 15, count, "start", "label"))
    if not items:
        body.append(_text(WIDTH / 2, 20, "nothing in this period", "middle", "label"))
    return _svg(height, label, body)


def ranges(label: str, rows: Sequence[tuple[str, float, float]], *, unit: str = "ms") -> Markup:
    """Horizontal bars, one row per (label, p50, p95): solid to the p50, faint on to the p95."""
    row, label_w = 24, 250.0
    height = max(len(rows), 1) * row + 8
    peak = max([p95 for _, _, p95 in rows] + [1e-9])
    scale = (WIDTH - label_w - 110) / peak
    body = []
    for i, (name, p50, p95) in enumerate(rows):
        y, text = 4 + i * row, f"{p50:.1f} / {p95:.1f} {unit}"
        body.append(_text(label_w - 8, y + 15, name, "end", "label"))
        # The faint bar is drawn first and to the p95, so the solid p50 covers its own part.
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(p95, 0.0) * scale:.1f}" height="{row - 8}" '
                    f'class="series-n" fill-opacity="0.35"><title>{escape(name)} p95: {p95:.1f} {unit}</title></rect>')
        body.append(f'<rect x="{label_w}" y="{y + 3}" width="{max(p50, 0.0) * scale:.1f}" height="{row - 8}" '
                    f'class="series-n"><title>{escape(name)} p50: {p50:.1f} {unit}</title></rect>')
        body.append(_text(label_w + max(p95, 0.0) * scale + 6, y + 15, text, "start", "label"))
    if not rows:
        body.append(_text(WIDTH / 2, 20, "nothing in this period", "middle", "label"))
    return _svg(height, label, body)


def share_ring(label: str, share: float | None) -> Markup:
    """A ring filled to ``share`` (0-1) with the percentage in the middle."""
    percent = 0.0 if share is None else 100 * share
    text = "n/a" if share is None else f"{percent:.0f}%"
    body = (f'<svg class="ring" viewBox="0 0 42 42" role="img" aria-label="{escape(label)}: {text}" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label)}: {text}</title>'
            '<circle cx="21" cy="21" r="15.915" class="ring-bg"/>'
            f'<circle cx="21" cy="21" r="15.915" class="ring-fg" stroke-dasharray="{percent:.1f} {100 - percent:.1f}" '
            'stroke-dashoffset="25"/>'
            f'<text x="21" y="24" text-anchor="middle" class="ring-text">{text}</text></svg>')
    return Markup(body)
