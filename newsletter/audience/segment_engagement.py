"""The engagement predicates of a segment, counting people only: `opened` and `clicked` read the
human verdicts of `tracking_hits` (a human click counts as an open, as in the report; machine
hits never count), `bounced` the bounce records, `received` the send ledger.

Which sends a predicate means is worked out first, in Python, from the small `sends` table
(issue sends only for `in last N sends`, matched to the audience's lists by id); the ids then
reach the database as one bound list. Where the data is gone the predicate says so: a named
send whose hits were folded into totals, or that tracked neither opens nor clicks, is an error.
A reader who opted out of tracking is NULL for opened/clicked: neither it nor its `not`.

Each predicate is asked for as the condition that it is true or that it is false (`truth`),
both two-valued, so that an unknown (opted out; a delivery still in flight) is in neither.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Text, and_, bindparam, literal, select

from newsletter.audience.segment_scope import Scope, instant
from newsletter.audience.segment_syntax import Engagement, SegmentError
from newsletter.db import tables
from newsletter.db.segment_dialect import among
from newsletter.errors import did_you_mean

S = tables.subscribers
SENT = ("sent", "bounced", "complained")  # `received`
IN_FLIGHT = ("unknown", "queued", "claimed")  # neither received nor not: never resent silently
FOLLOW_UP_KINDS = ("followup", "test", "sequence")  # not counted by `in last N sends`


def engagement(node: Engagement, scope: Scope, truth: bool = True) -> Any:
    """The condition that the predicate is `truth` for a subscriber."""
    if node.verb == "bounced":
        b = tables.bounces
        since = scope.now - timedelta(days=scope.bounce_days)
        bounced = among(
            scope.sqlite,
            S.c.id,
            b.c.subscriber_id,
            b.c.kind == literal("bounce", Text),
            b.c.category.in_(bindparam(None, ["hard", "soft"], Text, expanding=True)),
            b.c.at >= literal(since, b.c.at.type),
        )
        return bounced if truth else ~bounced
    if node.verb == "received":
        return _received(node, scope, truth)
    return _opened_or_clicked(node, scope, truth)


def _ids(values: list[int]) -> Any:
    return bindparam(None, values, tables.sends.c.id.type, expanding=True)


def _received(node: Engagement, scope: Scope, truth: bool) -> Any:
    """True where some send of the issue has the reader's row as received; false where none
    has it received nor in flight; unknown (neither) while a row is in flight."""
    assert node.issue is not None
    ids = [row.id for row in _sends_of(scope, node.issue, node)]
    d = tables.deliveries

    def has(statuses: tuple[str, ...]) -> Any:
        return among(
            scope.sqlite,
            S.c.id,
            d.c.subscriber_id,
            d.c.send_id.in_(_ids(ids)),
            d.c.status.in_(bindparam(None, list(statuses), Text, expanding=True)),
        )

    return has(SENT) if truth else and_(~has(SENT), ~has(IN_FLIGHT))


def _opened_or_clicked(node: Engagement, scope: Scope, truth: bool) -> Any:
    scope.uses_tracking = True
    ids = _tracked_sends(node, scope)
    h = tables.tracking_hits
    where = [h.c.send_id.in_(_ids(ids)), h.c.verdict == literal("human", Text)]
    if node.verb == "clicked":
        where.append(h.c.link_id != literal(0, h.c.link_id.type))
    if node.since is not None:
        where.append(h.c.last_at >= literal(instant(node.since, scope.now), h.c.last_at.type))
    opted_out = among(scope.sqlite, S.c.id, tables.tracking_optouts.c.subscriber_id)
    engaged = among(scope.sqlite, S.c.id, h.c.subscriber_id, *where)
    return and_(~opted_out, engaged if truth else ~engaged)


def _all_sends(scope: Scope) -> list[Any]:
    s = tables.sends
    return list(
        scope.conn.execute(
            select(s.c.id, s.c.issue_id, s.c.list_slugs, s.c.list_ids, s.c.options).order_by(
                s.c.id.desc()
            )
        )
    )


def _sends_of(scope: Scope, issue: str, node: Engagement) -> list[Any]:
    s = tables.sends
    rows = list(
        scope.conn.execute(
            select(s.c.id, s.c.issue_id, s.c.list_slugs, s.c.list_ids, s.c.options)
            .where(s.c.issue_id == literal(issue, Text))
            .order_by(s.c.id.desc())
        )
    )
    if not rows:
        known = {r.issue_id for r in _all_sends(scope)}
        raise SegmentError(
            f"'{node}': issue '{issue}' was never sent{did_you_mean(issue, known)}",
            "segment",
            *node.at,
        )
    return rows


def _lists_of(scope: Scope, row: Any) -> set[int]:
    """The list ids a send went to: stored with it, else its slugs as the lists are named now."""
    stored = row.list_ids
    if stored:
        return {int(i) for i in stored}
    lst = tables.lists
    slugs = list(row.list_slugs or [])
    found = scope.conn.execute(
        select(lst.c.id).where(lst.c.slug.in_(bindparam(None, slugs, Text, expanding=True)))
    )
    return {int(i) for (i,) in found}


def _tracked_sends(node: Engagement, scope: Scope) -> list[int]:
    """The sends an opened/clicked means; SegmentError for a named one whose hits are gone."""
    named = node.issue is not None or node.last is not None
    rows = _all_sends(scope) if node.issue is None else _sends_of(scope, node.issue, node)
    if node.last is not None:
        audience = set(scope.list_ids)
        rows = [
            r
            for r in (_all_sends(scope) if node.issue is not None else rows)
            if (r.options or {}).get("kind", "issue") not in FOLLOW_UP_KINDS
            and _lists_of(scope, r) & audience
        ][: node.last]
        if node.issue is not None:
            rows = [r for r in rows if r.issue_id == node.issue]
    ids = [int(r.id) for r in rows]
    t, folded = tables.tracked_sends, tables.tracking_totals
    tracked = {
        int(i)
        for (i,) in scope.conn.execute(
            select(t.c.send_id).where(t.c.send_id.in_(_ids(ids)), t.c.opens | t.c.clicks)
        )
    }
    gone = {
        int(i)
        for (i,) in scope.conn.execute(
            select(folded.c.send_id).where(folded.c.send_id.in_(_ids(ids)))
        )
    }
    if named:
        for r in rows:
            why = (
                "its hits were folded into totals (older than tracking_retention_months)"
                if r.id in gone
                else "it tracked neither opens nor clicks"
                if r.id not in tracked
                else ""
            )
            if why:
                raise SegmentError(
                    f"'{node}' names send #{r.id} of {r.issue_id}, but {why}", "segment", *node.at
                )
    return [i for i in ids if i in tracked and i not in gone]
