"""Growth per week as inline SVG, for `report --html` without an issue: one group of five bars
per week (joins, confirmations, unsubscribes, bounces, complaints). No script, no external
resource; each kind has its own colour and its own fill pattern (solid, hatched, dotted...),
so colour is never the only difference, and the page's table says the same in words."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40
# kind -> (colour, SVG pattern id or "" for solid)
STYLE = {
    "joins": ("#1f5fa8", ""),
    "confirmations": ("#2e7d4f", "hatch"),
    "unsubscribes": ("#b0470c", "dots"),
    "bounces": ("#6b6b6b", "cross"),
    "complaints": ("#a3153a", "vertical"),
}
_PATTERNS = {
    "hatch": '<path d="M0,6 L6,0" stroke="white" stroke-width="1.5"/>',
    "dots": '<circle cx="3" cy="3" r="1.3" fill="white"/>',
    "cross": '<path d="M0,0 L6,6 M6,0 L0,6" stroke="white" stroke-width="1"/>',
    "vertical": '<path d="M3,0 L3,6" stroke="white" stroke-width="1.5"/>',
}


def fill(kind: str) -> str:
    """The SVG fill of a kind's bars (its colour, or its pattern over its colour); the
    patterns are defined once, in the chart, and the page's legend uses them too."""
    colour, pattern = STYLE[kind]
    return f"url(#growth-{pattern}-{kind})" if pattern else colour


def _defs() -> str:
    parts = []
    for kind, (colour, pattern) in STYLE.items():
        if pattern:
            parts.append(
                f'<pattern id="growth-{pattern}-{kind}" width="6" height="6" '
                f'patternUnits="userSpaceOnUse"><rect width="6" height="6" fill="{colour}"/>'
                f"{_PATTERNS[pattern]}</pattern>"
            )
    return "<defs>" + "".join(parts) + "</defs>"


def _axes(peak: int) -> list[str]:
    bottom = HEIGHT - BOTTOM
    return [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#6b6b6b"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#6b6b6b"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end">0</text>',
    ]


def svg(weeks: Sequence[dict[str, Any]], summary: str) -> str:
    """The chart of `weeks` (rows of `audience.growth.weekly_history`); `summary` (plain
    text) becomes its accessible title."""
    kinds = list(STYLE)
    peak = max([1, *(int(w[k]) for w in weeks for k in kinds)])
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = inner_w / max(len(weeks), 1)
    bar = slot * 0.8 / len(kinds)
    body = [
        f'<svg class="growth" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="growth-title" xmlns="http://www.w3.org/2000/svg" '
        'font-family="system-ui, sans-serif" font-size="12" fill="#1b1b1b">',
        f'<title id="growth-title">{escape(summary)}</title>',
        _defs(),
        *_axes(peak),
    ]
    for i, week in enumerate(weeks):
        x0 = LEFT + i * slot + slot * 0.1
        for j, kind in enumerate(kinds):
            h = inner_h * int(week[kind]) / peak
            if h:
                body.append(
                    f'<rect x="{x0 + j * bar:.1f}" y="{TOP + inner_h - h:.1f}" '
                    f'width="{bar:.1f}" height="{h:.1f}" fill="{fill(kind)}"/>'
                )
        if len(weeks) <= 16 or i % 4 == 0:
            label = escape(week["week"].strftime("%d %b"))
            body.append(
                f'<text x="{LEFT + (i + 0.5) * slot:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                f'text-anchor="middle">{label}</text>'
            )
    body.append("</svg>")
    return "".join(body)
