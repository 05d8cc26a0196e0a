"""Times and durations as the CLI prints them: `2026-12-01 22:15 UTC`, `3m12s`."""

from __future__ import annotations

from datetime import datetime

from newsletter.times import minute_utc


def when(value: datetime | None) -> str:
    """A stored time in UTC to the minute; '-' when there is none."""
    return "-" if value is None else minute_utc(value)


def duration(seconds: float) -> str:
    """`2d3h`, `5h12m`, `3m12s`, `4.2s`: the two largest units."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    parts = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts[:2])
