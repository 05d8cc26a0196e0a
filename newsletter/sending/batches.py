"""One batch at a time, for any running send: claim -> re-check suppressions -> personalise
(per-recipient tokens and URLs) -> hand to the backend -> record. Used by `send` and by
`newsletter worker` processes alike (on PostgreSQL, on several machines)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine

from newsletter import tokens
from newsletter.audience.lists import get_list
from newsletter.audience.recipients import blocked, live_memberships
from newsletter.authoring import placeholders
from newsletter.config import Settings
from newsletter.db.connection import reading
from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.sending import ledger, sends
from newsletter.sending.delivery.base import Backend
from newsletter.sending.mime.message import MessageTemplate, list_message_template
from newsletter.sending.pace import Pace
from newsletter.sending.workers import Worker
from newsletter.tracking.links import html_to_send


@dataclass
class Progress:
    send_id: int
    total: int
    counts: dict[str, int]
    this_run: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        return self.this_run / max(time.monotonic() - self.started, 1e-6)


Callback = Callable[[Progress], None]


def _test_hook(stage: str, batch: int) -> None:
    """Crash tests only: NEWSLETTER_TEST_CRASH_AT=stage:batch SIGKILLs this process there."""
    if os.environ.get("NEWSLETTER_TEST_CRASH_AT") == f"{stage}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)
    if stage == "recorded" and os.environ.get("NEWSLETTER_TEST_BATCH_DELAY"):
        time.sleep(float(os.environ["NEWSLETTER_TEST_BATCH_DELAY"]))


def build_template(
    settings: Settings, send: sends.SendRow, lists: list[dict[str, Any]], subject_prefix: str = ""
) -> MessageTemplate:
    return list_message_template(
        settings,
        lists[0] if lists else {},
        subject=subject_prefix + send.subject,
        html=send.html,
        text=send.text,
        send_ref=f"send-{send.id}",
    )


@dataclass
class _Batchmaker:
    """What every batch of one send needs, computed once: lists, template, signer, URLs."""

    settings: Settings
    send: sends.SendRow
    list_ids: list[int]
    template: MessageTemplate
    signer: tokens.Signer
    view_url: str
    wants_preferences: bool

    @classmethod
    def for_send(cls, engine: Engine, settings: Settings, send: sends.SendRow) -> _Batchmaker:
        lists = [get_list(engine, slug) for slug in send.list_slugs]
        with reading(engine) as conn:  # click/open tracking: the HTML stored with its links
            tracked = html_to_send(conn, send.id)
        return cls(
            settings=settings,
            send=send,
            list_ids=[lst["id"] for lst in lists],
            template=build_template(settings, replace(send, html=tracked or send.html), lists),
            signer=tokens.signer_for(settings, allow_generated=send.backend == "outbox"),
            view_url=tokens.view_url(settings, send.issue_id),
            wants_preferences=placeholders.PREFERENCES_URL in send.html + send.text,
        )

    def members(
        self, engine: Engine, batch: list[ledger.Claimed]
    ) -> tuple[dict[int, tuple[str, int]], set[int]]:
        """Current (name, first list id) of the batch's still-subscribed members, and the
        suppressed ones: re-read for every batch so an unsubscribe mid-send is honoured."""
        order = {lid: i for i, lid in enumerate(self.list_ids)}
        found: dict[int, tuple[str, int]] = {}
        with reading(engine) as conn:
            rows = live_memberships(conn, self.list_ids, [c.subscriber_id for c in batch])
            for sid, name, _key, lid in rows:
                if sid not in found or order[lid] < order[found[sid][1]]:
                    found[sid] = (name, lid)
            suppressed = blocked(conn, self.list_ids, rows)
        return found, suppressed

    def recipient(self, claimed: ledger.Claimed, name: str, list_id: int) -> Recipient:
        settings, signer, sid = self.settings, self.signer, claimed.subscriber_id
        # The send rides in the unsubscribe token: "unsubscribed through this issue" is counted.
        unsub = signer.make("unsubscribe", sid, list_id, self.send.id)
        prefs = signer.make("preferences", sid, list_id) if self.wants_preferences else ""
        return Recipient(
            email=claimed.email,
            name=name,
            subscriber_id=sid,
            view_url=self.view_url,
            unsubscribe_url=tokens.unsubscribe_url(settings, unsub),
            unsubscribe_mailto=tokens.unsubscribe_mailto(settings, unsub),
            preferences_url=tokens.preferences_url(settings, prefs) if prefs else "",
            tag=signer.recipient_tag(self.send.id, sid),
        )


def deliver(
    engine: Engine,
    settings: Settings,
    send_id: int,
    worker: Worker,
    backend: Backend,
    *,
    rate: float | None = None,
    limit: int | None = None,
    on_progress: Callback | None = None,
) -> Progress:
    """Claim and send batches of one send until none is left (or `limit` is reached, or the
    send is cancelled elsewhere); returns this worker's progress."""
    with reading(engine) as conn:
        send = sends.get_send(conn, send_id)
        counts = ledger.counts(conn, send_id)
    assert send is not None
    maker = _Batchmaker.for_send(engine, settings, send)
    per_second = settings.rate if rate is None else rate
    size = settings.batch_size
    if per_second > 0:  # small batches, so the pace is even
        size = min(size, max(1, int(per_second)))
    progress = Progress(send_id, sum(counts.values()), counts)
    pace = Pace(per_second)
    number = 0
    _test_hook("start", 0)
    while limit is None or progress.this_run < limit:
        if not _still_running(engine, send_id):
            break  # cancelled (or paused) elsewhere: stop claiming
        want = size if limit is None else min(size, limit - progress.this_run)
        batch = ledger.claim(engine, send_id, worker, want)
        if not batch:
            break
        number += 1
        _test_hook("claimed", number)
        results, skipped = _one_batch(engine, maker, worker, backend, batch, number)
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        counts["skipped"] += skipped
        counts["queued"] -= len(batch)
        progress.this_run += len(batch)
        if on_progress:
            on_progress(progress)
        pace.wait(progress.this_run)
    ledger.finish_if_complete(engine, send_id)
    return progress


def _still_running(engine: Engine, send_id: int) -> bool:
    with reading(engine) as conn:
        current = sends.get_send(conn, send_id)
    return current is not None and current.status == "running"


def _one_batch(
    engine: Engine,
    maker: _Batchmaker,
    worker: Worker,
    backend: Backend,
    batch: list[ledger.Claimed],
    number: int,
) -> tuple[list[SendResult], int]:
    """Skip who may no longer be mailed, send to the rest, record; (results, skipped)."""
    send_id = maker.send.id
    members, suppressed = maker.members(engine, batch)
    skipped = {c.subscriber_id: "suppressed" for c in batch if c.subscriber_id in suppressed}
    skipped.update(
        {
            c.subscriber_id: "no longer subscribed to this list"
            for c in batch
            if c.subscriber_id not in members
        }
    )
    if skipped:
        ledger.skip(engine, send_id, worker, skipped)
    recipients = [
        maker.recipient(c, *members[c.subscriber_id])
        for c in batch
        if c.subscriber_id not in skipped
    ]
    results = _send_batch(engine, send_id, worker, backend, maker.template, recipients)
    _test_hook("sent", number)
    ledger.record(engine, send_id, worker, results)
    _test_hook("recorded", number)
    return results, len(skipped)


def _send_batch(
    engine: Engine,
    send_id: int,
    worker: Worker,
    backend: Backend,
    template: MessageTemplate,
    recipients: list[Recipient],
) -> list[SendResult]:
    if not recipients:
        return []
    try:
        results = backend.send(template, recipients)
    except BackendConfigError as exc:
        _stop_on_fatal(engine, send_id, worker, recipients, exc.results)
        raise
    except BaseException as exc:
        detail = f"interrupted while sending: {type(exc).__name__}"
        ledger.record(
            engine,
            send_id,
            worker,
            [SendResult(r.subscriber_id, UNKNOWN, detail) for r in recipients],
        )
        raise
    final = [
        r
        if r.status in (SENT, FAILED, UNKNOWN)
        else SendResult(r.subscriber_id, UNKNOWN, r.detail or f"backend said {r.status!r}")
        for r in results
    ]
    seen = {r.subscriber_id for r in final}
    final += [
        SendResult(r.subscriber_id, UNKNOWN, "backend returned no result")
        for r in recipients
        if r.subscriber_id not in seen
    ]
    return final


def _stop_on_fatal(
    engine: Engine,
    send_id: int,
    worker: Worker,
    recipients: list[Recipient],
    finished: list[SendResult],
) -> None:
    """Fatal (bad key, unreachable host): keep what the backend did report, give the recipients
    it never attempted back to the queue, and pause the send (or drop it if nothing happened)."""
    ledger.record(engine, send_id, worker, finished)
    done = {r.subscriber_id for r in finished}
    ledger.release(
        engine,
        send_id,
        worker,
        [r.subscriber_id for r in recipients if r.subscriber_id not in done],
    )
    if not ledger.discard_if_untouched(engine, send_id):
        with engine.begin() as conn:
            sends.set_status(conn, send_id, "paused")
