"""The stored side of a hit, shared by both databases' recording paths (`hits`, `hits_pg`):
the hit and the one set of parameters every statement about it takes (`hit_params`), the
recipient's state as read for judging, the merging upsert, and turning earlier human rows into
machine rows. Plain SQL through the driver (`db.driver_sql`): this is the click redirect's hot
path."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from newsletter.db.clock import as_utc
from newsletter.db.driver_sql import Sql, read_datetime
from newsletter.tracking.judge import BURST_WINDOW, LINK, OPEN, Decision, Seen, verdict_of


@dataclass(frozen=True)
class Hit:
    send_id: int
    subscriber_id: int
    link_id: int  # 0: the open pixel
    kind: str  # open | link | trap
    reason: str  # what the request alone said (judge.judge_request)
    at: datetime


def hit_params(hit: Hit, reason: str, window: timedelta) -> dict[str, Any]:
    """The parameters of every statement about `hit`, stored with `reason`: `:send`, `:sub`,
    `:link`, `:verdict`, `:reason`, `:at` (= `:first_at` = `:last_at`, one `:hits`), and
    `:since` (hits older than this cannot change how it is judged: trap and burst windows)."""
    return {
        "send": hit.send_id,
        "sub": hit.subscriber_id,
        "link": hit.link_id,
        "verdict": verdict_of(reason),
        "reason": reason,
        "at": hit.at,
        "first_at": hit.at,
        "last_at": hit.at,
        "hits": 1,
        "since": hit.at - max(window, BURST_WINDOW),
    }


@dataclass(frozen=True)
class State:
    version: int  # PostgreSQL's judging version of the recipient (0: none yet)
    recent: list[Seen]
    counts: dict[tuple[int, str], int]  # (link id, verdict) -> hits, of the recent rows


# The recipient, whether they may be recorded, their judging version and their recent hits.
READ_SQL = """
SELECT (SELECT 1 FROM tracking_optouts WHERE subscriber_id = :sub) AS opted_out,
       (SELECT 1 FROM tracking_totals WHERE send_id = :send) AS folded,
       r.version, h.link_id, h.verdict, h.first_at, h.last_at, h.hits, l.kind
FROM subscribers s
LEFT JOIN tracking_recipients r ON r.subscriber_id = s.id AND r.send_id = :send
LEFT JOIN tracking_hits h
       ON h.send_id = :send AND h.subscriber_id = s.id AND h.last_at >= :since
LEFT JOIN tracked_links l ON l.id = h.link_id
WHERE s.id = :sub
"""
_READ = Sql(READ_SQL)


def read_state(conn: Connection, hit: Hit, window: timedelta) -> State | None:
    """The recipient's state, or None when nothing may be recorded (gone, opted out, or the
    send's hits already folded into totals)."""
    return state_of(conn, _READ.run(conn, **hit_params(hit, hit.reason, window)).all())


def state_of(conn: Connection, rows: Sequence[Any]) -> State | None:
    """The State in the rows of READ_SQL (or of a statement that ends with it)."""
    if not rows or rows[0].opted_out or rows[0].folded:
        return None
    recent, counts = [], {}
    for r in rows:
        if r.link_id is None:
            continue
        kind = OPEN if r.link_id == 0 else (r.kind or LINK)
        first = as_utc(read_datetime(conn.dialect, r.first_at))
        last = as_utc(read_datetime(conn.dialect, r.last_at))
        assert first is not None and last is not None
        recent.append(Seen(r.link_id, kind, r.verdict, first, last))
        counts[(r.link_id, r.verdict)] = r.hits
    return State(rows[0].version or 0, recent, counts)


# Insert a hit row, or merge it into the stored one: counts add up, first and last widen, the
# first reason stays.
UPSERT = Sql(
    """
INSERT INTO tracking_hits
    (send_id, subscriber_id, link_id, verdict, reason, first_at, last_at, hits)
VALUES (:send, :sub, :link, :verdict, :reason, :first_at, :last_at, :hits)
ON CONFLICT (send_id, subscriber_id, link_id, verdict) DO UPDATE
SET hits = tracking_hits.hits + excluded.hits,
    first_at = CASE WHEN excluded.first_at < tracking_hits.first_at
               THEN excluded.first_at ELSE tracking_hits.first_at END,
    last_at = CASE WHEN excluded.last_at > tracking_hits.last_at
              THEN excluded.last_at ELSE tracking_hits.last_at END
"""
)
_DELETE = Sql(
    "DELETE FROM tracking_hits WHERE send_id = :send AND subscriber_id = :sub "
    "AND link_id = :link AND verdict = 'human'"
)


def store(conn: Connection, params: dict[str, Any]) -> None:
    """Store the hit of `params` (`hit_params`), merged into its row if there is one."""
    UPSERT.run(conn, **params)


def convert(conn: Connection, params: dict[str, Any], decision: Decision, state: State) -> None:
    """Turn the recipient's human rows named by the decision into machine rows (merged); the
    hit is that of `params` (`hit_params`)."""
    for link_id, reason in decision.convert:
        seen = next(s for s in state.recent if s.link_id == link_id and s.verdict == "human")
        merged = {
            **params,
            "link": link_id,
            "verdict": verdict_of(reason),
            "reason": reason,
            "first_at": seen.first_at,
            "last_at": seen.last_at,
            "hits": state.counts[(link_id, "human")],
        }
        UPSERT.run(conn, **merged)
        _DELETE.run(conn, **merged)
