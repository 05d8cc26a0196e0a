"""`newsletter report ISSUE --html FILE`: one self-contained page (inline CSS and SVG, no
script, nothing fetched) with the figures, the 7-day timeline and a bar per link."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter import times
from newsletter.tracking import timeline
from newsletter.tracking.ab_report import verdict_line

if TYPE_CHECKING:
    import jinja2

TEMPLATE = Path(__file__).resolve().parent / "report.html.j2"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _chart(report: dict[str, Any]) -> dict[str, Any] | None:
    line = report.get("timeline")
    if not line:
        return None
    opens, clicks = line["opens"], line["clicks"]
    summary = (
        f"First human opens and clicks per hour over 7 days: {sum(opens)} readers opened "
        f"(most in one hour: {max(opens, default=0)}), {sum(clicks)} clicked "
        f"(most in one hour: {max(clicks, default=0)})."
    )
    days = list(zip(timeline.by_day(opens), timeline.by_day(clicks), strict=True))
    return {"svg": timeline.svg(opens, clicks, summary), "days": days}


def _bars(links: list[dict[str, Any]]) -> list[dict[str, Any]]:
    widest = max([1, *(link["human"] + link["machine"] for link in links)])
    return [
        {
            **link,
            "human_pct": round(100 * link["human"] / widest, 1),
            "machine_pct": round(100 * link["machine"] / widest, 1),
        }
        for link in links
    ]


def _variant_bars(variants: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A subject-line test's variants: opens and clicks as bars of the variant's recipients."""
    out = []
    for v in variants:
        whole = max(1, v["recipients"])
        bars = {
            f"{key}_{who}_pct": round(100 * v[key][who] / whole, 1)
            for key in ("opens", "clicks")
            for who in ("human", "machine")
        }
        out.append({**v, **bars})
    return out


def environment() -> jinja2.Environment:
    """The reports' Jinja environment: escaping on, undefined names an error, the filters."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(times.FILTERS, percent=_percent)
    env.filters["number"] = lambda n: "–" if n is None else f"{n:,}"
    return env


def render(report: dict[str, Any], *, generated_at: datetime, language: str = "en") -> str:
    from markupsafe import Markup

    env = environment()
    chart = _chart(report)
    if chart:
        chart["svg"] = Markup(chart["svg"])  # built from numbers and escaped text only
    page = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return page.render(
        r=report,
        chart=chart,
        links=_bars(report.get("links") or []),
        variants=_variant_bars(report.get("variants") or []),
        verdict=verdict_line(report["ab_test"]) if report.get("ab_test") else "",
        generated_at=generated_at,
        language=language,
        colours={"opens": timeline.OPENS_COLOUR, "clicks": timeline.CLICKS_COLOUR},
    )
