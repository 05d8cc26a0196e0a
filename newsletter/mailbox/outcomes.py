"""Verdicts applied to the database, a batch per transaction, and the run's report.

Unsubscribe requests go through `audience.unsubscribe`; bounces, complaints and delays through
`sending.return_path.record_return`, whose (send, subscriber, kind) key makes a rerun harmless:
a message read again after a crash (written, not yet moved) changes nothing and counts nothing
twice. Nothing is moved out of the mailbox before its batch is committed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from newsletter.audience.bounces import SoftBouncePolicy
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import UnknownTarget, unsubscribe
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.transaction import begin
from newsletter.mailbox.reports import Verdict, unrecognised
from newsletter.recipient_tags import LEGACY_TAG_DAYS
from newsletter.sending.return_path import record_returns


@dataclass
class Report:
    """What one run did; `summary` is the one line a cron job prints."""

    read: int = 0
    unsubscribed: int = 0
    hard: int = 0
    soft: int = 0
    blocked: int = 0
    complaints: int = 0
    delayed: int = 0
    other: int = 0  # reports that ask for nothing (a success notice, a recipient gone)
    suppressed: int = 0
    already: int = 0  # read before (a rerun after a crash): nothing changed
    unrecognised: list[dict[str, str]] = field(default_factory=list)  # {"message", "reason"}
    problems: list[dict[str, str]] = field(default_factory=list)  # could not be read at all

    @property
    def bounced(self) -> int:
        return self.hard + self.soft + self.blocked

    def summary(self) -> str:
        return (
            f"read {self.read} messages: {self.unsubscribed} unsubscribed, {self.bounced} "
            f"bounced ({self.hard} hard, {self.soft} soft, {self.blocked} blocked), "
            f"{self.complaints} complaints, {self.delayed} delayed, {self.other} other reports, "
            f"{len(self.unrecognised)} unrecognised; {self.suppressed} addresses suppressed"
            + (f"; {self.already} already counted before" if self.already else "")
            + (f"; {len(self.problems)} could not be read" if self.problems else "")
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bounced": self.bounced, "summary": self.summary()}

    def count(self, verdict: Verdict) -> None:
        if verdict.kind == "bounce":
            setattr(self, verdict.category, getattr(self, verdict.category) + 1)
        elif verdict.kind == "complaint":
            self.complaints += 1
        elif verdict.kind == "delayed":
            self.delayed += 1
        elif verdict.kind == "unsubscribe":
            self.unsubscribed += 1
        else:
            self.other += 1


GONE = Verdict("info", reason="about a subscriber who no longer exists")
ALREADY = Verdict("info", reason="read before; nothing changed")


LIST_GONE = unrecognised("an unsubscribe request for a list that no longer exists")
TOO_OLD = unrecognised(
    f"named by an old-style recipient tag (the same value as its links) of a send older than "
    f"{LEGACY_TAG_DAYS} days: not honoured"
)


def _too_old(conn: Connection, legacy: list[int], verdicts: list[Verdict]) -> list[int]:
    """Of the verdicts named by an old single-purpose tag, those whose send is too old to
    trust it (a reader's shared link carried the same value). Send 0 (a confirmation mail)
    had no tracked links: its old tags stay good."""
    send_ids = {verdicts[i].send_id for i in legacy} - {0}
    if not send_ids:
        return []
    cutoff = utcnow() - timedelta(days=LEGACY_TAG_DAYS)
    s = tables.sends
    recent = set(
        conn.execute(
            select(s.c.id).where(
                s.c.id.in_(sorted(send_ids)),
                func.coalesce(s.c.started_at, s.c.created_at) >= cutoff,  # when it went out
            )
        ).scalars()
    )
    return [i for i in legacy if verdicts[i].send_id and verdicts[i].send_id not in recent]


def apply_batch(
    engine: Engine,
    policy: SoftBouncePolicy,
    source: str,
    verdicts: list[Verdict],
    report: Report,
) -> list[Verdict]:
    """Write what the verdicts ask for (one transaction for the batch's reports) and count
    them; returns the verdicts as finally judged (a recipient that is gone becomes info)."""
    final = list(verdicts)
    for i, v in enumerate(verdicts):
        if v.kind == "unsubscribe":  # rare: one short transaction each, as the web app does
            if get_subscriber(engine, v.subscriber_id) is None:
                final[i] = GONE
                continue
            try:
                unsubscribe(engine, v.subscriber_id, v.list_id or None, source="mailto")
            except UnknownTarget:  # the list was deleted since: settle this one, go on
                final[i] = LIST_GONE
    wanted = [i for i, v in enumerate(verdicts) if v.kind in ("bounce", "complaint", "delayed")]
    s = tables.subscribers
    with begin(engine) as conn:
        ids = sorted({verdicts[i].subscriber_id for i in wanted})
        known = set(conn.execute(select(s.c.id).where(s.c.id.in_(ids))).scalars()) if ids else set()
        for i in wanted:
            if verdicts[i].subscriber_id not in known:
                final[i] = GONE
        for i in _too_old(conn, [i for i in wanted if verdicts[i].legacy], verdicts):
            final[i] = TOO_OLD
        kept = [i for i in wanted if final[i] is verdicts[i]]
        applied = record_returns(conn, [verdicts[i].returned(source) for i in kept], policy)
    for i, outcome in zip(kept, applied, strict=True):
        if not outcome.new:
            report.already += 1
            final[i] = ALREADY
        report.suppressed += bool(outcome.suppressed)
    for verdict in final:
        if verdict.kind != "unrecognised" and verdict is not ALREADY:
            report.count(verdict)
    return final
