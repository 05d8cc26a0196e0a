"""`newsletter report --html FILE` without an issue: one self-contained page (inline CSS and
SVG, no script, nothing fetched) with growth per week drawn as a chart (`growth_chart`) and
told in a table, beside the last 20 sends."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from newsletter import times
from newsletter.tracking import growth_chart
from newsletter.tracking.report_html import environment

TEMPLATE = Path(__file__).resolve().parent / "overview.html.j2"


def _summary(weeks: list[dict[str, Any]]) -> str:
    kinds = list(growth_chart.STYLE)
    totals = ", ".join(f"{sum(int(w[k]) for w in weeks):,} {k}" for k in kinds)
    return f"Per week over the last {len(weeks)} weeks, in all: {totals}."


def render(
    sends: list[dict[str, Any]],
    weeks: list[dict[str, Any]],
    *,
    generated_at: datetime,
    language: str = "en",
) -> str:
    from markupsafe import Markup

    env = environment()
    env.filters.update(times.FILTERS)
    kinds = list(growth_chart.STYLE)
    page = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return page.render(
        sends=sends,
        weeks=weeks,
        kinds=kinds,
        fills={k: growth_chart.fill(k) for k in kinds},
        chart=Markup(growth_chart.svg(weeks, _summary(weeks))),  # numbers and escaped text
        generated_at=generated_at,
        language=language,
    )
