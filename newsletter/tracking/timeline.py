"""The report's timeline as inline SVG: readers by the hour of their first human open and first
human click, over the first 7 days after the send started. No script, no external resource;
the opens line is solid and the clicks line dashed, so colour is never the only difference,
and a day-by-day table beside it says the same in words."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 720, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 34  # room for the axis labels
OPENS_COLOUR, CLICKS_COLOUR = "#1f5fa8", "#b0470c"


def _points(series: Sequence[int], peak: int) -> str:
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / max(len(series) - 1, 1)
    return " ".join(
        f"{LEFT + i * step:.1f},{TOP + inner_h - (v / peak) * inner_h:.1f}"
        for i, v in enumerate(series)
    )


def _axes(hours: int, peak: int) -> list[str]:
    inner_w, bottom = WIDTH - LEFT - RIGHT, HEIGHT - BOTTOM
    parts = [
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#6b6b6b"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#6b6b6b"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{peak}</text>',
        f'<text x="{LEFT - 6}" y="{bottom}" text-anchor="end">0</text>',
    ]
    for day in range(hours // 24 + 1):
        x = LEFT + inner_w * day * 24 / max(hours - 1, 1)
        if x > WIDTH - RIGHT + 0.5:
            break
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#6b6b6b"/>'
        )
        if day < hours // 24:
            parts.append(
                f'<text x="{x + inner_w * 12 / hours:.1f}" y="{bottom + 20}" '
                f'text-anchor="middle">day {day + 1}</text>'
            )
    return parts


def svg(opens: Sequence[int], clicks: Sequence[int], summary: str) -> str:
    """The chart; `summary` (plain text) becomes its accessible title."""
    hours = len(opens)
    peak = max([1, *opens, *clicks])
    body = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg" '
        'font-family="system-ui, sans-serif" font-size="12" fill="#1b1b1b">',
        f'<title id="timeline-title">{escape(summary)}</title>',
        *_axes(hours, peak),
        f'<polyline fill="none" stroke="{OPENS_COLOUR}" stroke-width="2" '
        f'points="{_points(opens, peak)}"/>',
        f'<polyline fill="none" stroke="{CLICKS_COLOUR}" stroke-width="2" '
        f'stroke-dasharray="6 4" points="{_points(clicks, peak)}"/>',
        "</svg>",
    ]
    return "\n".join(body)


def by_day(series: Sequence[int]) -> list[int]:
    """Hourly counts summed per day."""
    return [sum(series[d * 24 : (d + 1) * 24]) for d in range((len(series) + 23) // 24)]
