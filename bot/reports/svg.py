"""Small SVG charts for the monthly review's HTML: a line chart, bars and stacked bars.

Colours are presentation attributes (`fill`, `stroke`), never `style`, so the charts draw
under the console's Content-Security-Policy and in a file opened on its own. The same
palette as `static/charts.js`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777")
WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 40, 12, 28, 36


def _nice_max(value: float) -> float:
    """A top for the value axis whose four steps are round (1, 2, 2.5 or 5 × 10^n)."""
    if value <= 0:
        return 4.0
    quarter = value / 4
    magnitude = 10 ** math.floor(math.log10(quarter))
    for step in (1, 1.5, 2, 2.5, 5, 10):
        if quarter <= step * magnitude:
            return 4 * step * magnitude
    return 40.0 * magnitude


def _frame(title: str, top: float, labels: Sequence[str]) -> list[str]:
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'class="chart" role="img" aria-label="{escape(title)}">',
             f'<title>{escape(title)}</title>']
    plot_h = HEIGHT - TOP - BOTTOM
    for i in range(5):
        y = TOP + plot_h * i / 4
        value = top * (4 - i) / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="#e5e7eb" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#6b7280">{value:g}</text>')
    step = max(1, len(labels) // 8)
    for i, label in enumerate(labels):
        if i % step == 0:
            x = _x(i, len(labels))
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#6b7280">{escape(label)}</text>')
    return parts


def _x(i: int, count: int) -> float:
    width = WIDTH - LEFT - RIGHT
    return LEFT + width * (i + 0.5) / max(1, count)


def _y(value: float, top: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1 - value / top)


def _legend(names: Sequence[str]) -> list[str]:
    parts, x = [], LEFT
    for i, name in enumerate(names):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="17" font-size="12" fill="#374151">'
                     f'{escape(name)}</text>')
        x += 24 + 13 * len(name)
    return parts


def line_chart(title: str, labels: Sequence[str],
               series: Sequence[tuple[str, Sequence[float | None]]]) -> str:
    """One line per series; a None leaves a gap."""
    values = [v for _, vs in series for v in vs if v is not None]
    top = _nice_max(max(values, default=0))
    parts = _frame(title, top, labels) + _legend([name for name, _ in series])
    for n, (_, points) in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        run: list[str] = []
        for i, value in enumerate([*points, None]):
            if value is not None:
                run.append(f"{_x(i, len(labels)):.1f},{_y(value, top):.1f}")
                continue
            if len(run) > 1:
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" '
                             f'stroke="{colour}" stroke-width="2"/>')
            elif run:
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            run = []
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(title: str, labels: Sequence[str],
                 series: Sequence[tuple[str, Sequence[float]]]) -> str:
    """One bar per label, the series stacked; one series makes plain bars."""
    totals = [sum(vs[i] for _, vs in series) for i in range(len(labels))]
    top = _nice_max(max(totals, default=0))
    parts = _frame(title, top, labels)
    if len(series) > 1:
        parts += _legend([name for name, _ in series])
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    bar = max(2.0, slot * 0.7)
    for i in range(len(labels)):
        base = 0.0
        for n, (_, values) in enumerate(series):
            value = values[i]
            if value <= 0:
                continue
            y_top, y_base = _y(base + value, top), _y(base, top)
            parts.append(f'<rect x="{_x(i, len(labels)) - bar / 2:.1f}" y="{y_top:.1f}" '
                         f'width="{bar:.1f}" height="{y_base - y_top:.1f}" '
                         f'fill="{PALETTE[n % len(PALETTE)]}"/>')
            base += value
    parts.append("</svg>")
    return "".join(parts)
