"""Times and durations as the CLI prints them: `2026-12-01 22:15 UTC`, `3m12s`."""

from __future__ import annotations

from datetime import UTC, datetime


def when(value: datetime | None) -> str:
    """A stored time in UTC to the minute; '-' when there is none."""
    if value is None:
        return "-"
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


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
