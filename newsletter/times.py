"""The two ways a moment is written for people and for machines, defined once: `minute_utc`
(`2026-12-01 22:15 UTC`: the CLI, the HTML report) and `stamp_utc` (`2026-12-01T22:15:03Z`: cron
log lines, the Atom feed). Templates get them as the Jinja filters of the same names."""

from __future__ import annotations

from datetime import UTC, datetime

MINUTE_UTC = "%Y-%m-%d %H:%M UTC"
STAMP_UTC = "%Y-%m-%dT%H:%M:%SZ"


def _in_utc(value: datetime) -> datetime:
    """A stored naive time is UTC already; an aware one is converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def minute_utc(value: datetime) -> str:
    return _in_utc(value).strftime(MINUTE_UTC)


def stamp_utc(value: datetime | None = None) -> str:
    """`value` (default: now) to the second, in UTC."""
    return _in_utc(value or datetime.now(UTC)).strftime(STAMP_UTC)


FILTERS = {"minute_utc": minute_utc, "stamp_utc": stamp_utc}
