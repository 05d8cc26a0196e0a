"""`send_at` as an issue writes it: a date-time with a UTC offset (`2026-12-07T09:00+01:00`) or
a local time and an IANA zone name (`2026-12-07T09:00 Europe/Berlin`), resolved with
`zoneinfo`, so a newsletter that goes out at nine keeps going out at nine across daylight
saving time.

A local time in the spring-forward gap never happens on the wall clock: an error. One in the
autumn overlap happens twice: the first occurrence is taken (Python's `fold=0`), and `check`
notes it (`overlap_note`); an offset before the zone name picks either
(`2026-10-25T02:30+01:00 Europe/Berlin` is the second).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from newsletter.errors import did_you_mean

EXAMPLE = "2019-03-01T14:00:00+00:00 or 2019-03-01T14:00 Europe/Berlin"


def parse_send_at(text: str) -> datetime | str:
    """The moment `text` names (aware; with a zone name, in that zone), or why it names none
    (one sentence that says what to write)."""
    head, _, last = text.rpartition(" ")
    if head.strip() and ("/" in last or last.upper() in ("UTC", "GMT")):
        return _in_zone(text, head.strip(), last)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return f"send_at '{text}' is not an ISO 8601 date-time: write it like {EXAMPLE}"
    if when.tzinfo is None or when.utcoffset() is None:
        return (
            f"send_at '{text}' has no timezone: add a UTC offset like +00:00 "
            "or a zone name like Europe/Berlin"
        )
    return when


def _zone(name: str) -> ZoneInfo | str:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, available_timezones())
        return f"unknown time zone '{name}'{hint}: use an IANA name like Europe/Berlin"


def _in_zone(text: str, local: str, name: str) -> datetime | str:
    zone = _zone(name)
    if isinstance(zone, str):
        return f"send_at '{text}': {zone}"
    try:
        when = datetime.fromisoformat(local)
    except ValueError:
        return f"send_at '{text}' is not an ISO 8601 date-time: write it like {EXAMPLE}"
    naive = when.replace(tzinfo=None)
    first, second = naive.replace(tzinfo=zone), naive.replace(tzinfo=zone, fold=1)
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:  # skipped
        return (
            f"send_at '{text}' never happens: clocks in {name} jump from "
            f"{_offset(first.utcoffset())} to {_offset(second.utcoffset())} that night, "
            "skipping it; pick a time outside the gap"
        )
    if when.tzinfo is None:
        return first
    for candidate in (first, second):
        if candidate.utcoffset() == when.utcoffset():
            return candidate
    return (
        f"send_at '{text}': {name} is not at {_offset(when.utcoffset())} then "
        f"(it is at {_offset(first.utcoffset())}); write one of the two, not both"
    )


def overlap_note(when: datetime | None) -> str | None:
    """What `check` says about a local time that happens twice (clocks go back), or None."""
    if when is None or not isinstance(when.tzinfo, ZoneInfo):
        return None
    other = when.replace(fold=1 - when.fold)
    if other.utcoffset() == when.utcoffset():
        return None
    name, local = when.tzinfo.key, when.strftime("%Y-%m-%dT%H:%M")
    taken, left = ("second", "first") if when.fold else ("first", "second")
    return (
        f"send_at {local} {name} happens twice (clocks go back that night): the {taken} is "
        f"taken, {_utc(when)}; for the {left} ({_utc(other)}) write "
        f"{local}{_offset(other.utcoffset())} {name}"
    )


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%H:%M UTC")


def _offset(delta: timedelta | None) -> str:
    """`+01:00` for one hour east of UTC."""
    minutes = int((delta or timedelta()).total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def local_time(when: datetime) -> str:
    """A send time where it was written: in its zone (`2026-12-07 09:00 CET Europe/Berlin`),
    else as the machine's local time."""
    if isinstance(when.tzinfo, ZoneInfo):
        return f"{when.strftime('%Y-%m-%d %H:%M %Z')} {when.tzinfo.key}"
    return when.astimezone().strftime("%Y-%m-%d %H:%M %Z")
