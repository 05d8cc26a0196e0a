"""What a segment is evaluated against (`Scope`: the connection, the audience's lists, the
time relative times count back from, the soft-bounce window) and how its times resolve."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Connection

from newsletter.audience.segment_syntax import Value
from newsletter.db.dialect import is_sqlite


@dataclass
class Scope:
    """What a segment is evaluated against: the audience's lists, the time that relative
    times count back from, and the soft-bounce window (days)."""

    conn: Connection
    list_ids: tuple[int, ...]
    now: datetime
    bounce_days: int = 30
    uses_tracking: bool = field(default=False)  # set once an opened/clicked is compiled

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.conn)


def instant(value: Value, now: datetime) -> datetime:
    """A date (midnight UTC) or a relative time, as an aware datetime."""
    if value.kind == "ago":
        return now - timedelta(**{value.unit: value.number})
    return datetime.combine(date.fromisoformat(value.text), datetime.min.time(), UTC)
