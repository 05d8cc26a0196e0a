"""Growth over time, per week: joins, confirmations, unsubscribes, bounces and complaints, from
the subscriber history (`lists --history`, and the chart of `report --html` without an issue).

Joins are memberships by the day they were made (added, imported or signed up through the
form, confirmed yet or not: an import writes memberships, not history events); the rest are
the subscribers' history events (`confirmed`, `unsubscribed`, `bounced`, `complained`), one per
person and change, so a bounce that suppresses an address for every list counts once. What
`forget` erased (the person and their history) is not counted; nor are suppressions of
addresses that were never subscribers here (`import --as` of another provider's past).
Weeks start on Monday, 00:00 UTC; the last one is the current week, so far.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, func, select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.dialect import is_sqlite

KINDS = ("joins", "confirmations", "unsubscribes", "bounces", "complaints")
_EVENTS = {
    "confirmed": "confirmations",
    "unsubscribed": "unsubscribes",
    "bounced": "bounces",
    "complained": "complaints",
}
MAX_WEEKS = 520  # ten years: enough for any chart, and a bound on the work


def week_start(day: date) -> date:
    """The Monday of `day`'s week."""
    return day - timedelta(days=day.weekday())


def weekly_history(conn: Connection, weeks: int, now: datetime | None = None) -> list[dict]:
    """The last `weeks` weeks, oldest first: {"week": Monday (date), "joins": n, ...}, weeks
    with nothing in them included (as zeros)."""
    weeks = max(1, min(weeks, MAX_WEEKS))
    today = (now or utcnow()).astimezone(UTC).date()
    first = week_start(today) - timedelta(weeks=weeks - 1)
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    rows = {first + timedelta(weeks=i): dict.fromkeys(KINDS, 0) for i in range(weeks)}
    m, e = tables.memberships, tables.subscriber_events
    joined = _by_day(conn, m.c.created_at)
    per_day = select(joined, func.count()).where(m.c.created_at >= since).group_by(joined)
    for on, n in conn.execute(per_day):
        _count(rows, "joins", on, n)
    day = _by_day(conn, e.c.at)
    per_kind = (
        select(e.c.kind, day, func.count())
        .where(e.c.at >= since, e.c.kind.in_(list(_EVENTS)))
        .group_by(e.c.kind, day)
    )
    for kind, on, n in conn.execute(per_kind):
        _count(rows, _EVENTS[kind], on, n)
    return [{"week": week, **counts} for week, counts in sorted(rows.items())]


def _by_day(conn: Connection, column: ColumnElement) -> ColumnElement[str]:
    """`column`'s UTC day as `YYYY-MM-DD` text, in the database (grouping there keeps a
    million-row import week one row per day)."""
    if is_sqlite(conn):
        return func.substr(column, 1, 10)  # stored as UTC text, `YYYY-MM-DD HH:MM:SS...`
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _count(rows: dict[date, dict[str, int]], kind: str, on: str, n: int) -> None:
    week = week_start(date.fromisoformat(str(on)[:10]))
    if week in rows:
        rows[week][kind] += int(n)
