"""The two ways a moment is written for people and for machines, defined once: `minute_utc`
(`2026-12-01 22:15 UTC`: the CLI, the HTML report) and `stamp_utc` (`2026-12-01T22:15:03Z`: cron
log lines, the Atom feed). Templates get them as the Jinja filters of the same names. And the
one way a delay is written (`parse_duration`: `24h`, `90m`, `1d12h`): `max_late`, a sequence
step's `after:`."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from newsletter.errors import ConfigError

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


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str, where: str = "--max-late") -> timedelta:
    """`24h`, `90m`, `1d12h`, `2w` -> timedelta."""
    cleaned = text.strip().lower()
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ConfigError(f"{where}: {text!r} is not a duration; write e.g. 24h, 90m or 2d")
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())
