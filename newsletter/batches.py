"""One batch at a time, for any running send: claim -> re-check suppressions -> personalise
(per-recipient tokens and URLs) -> hand to the backend -> record. Used by `send` and by
`newsletter worker` processes alike (on PostgreSQL, on several machines)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from newsletter import db, ledger, mime, models, tokens
from newsletter.audience import blocked, live_memberships
from newsletter.config import Settings
from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult


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


class Pace:
    """`--rate`: after `done` messages, sleep until at least done / per_second seconds have
    passed since the start (0 = no limit). The clock and sleep are parameters for tests."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.per_second, self.clock, self.sleep = per_second, clock, sleep
        self.start = clock()

    def wait(self, done: int) -> None:
        if self.per_second > 0:
            ahead = done / self.per_second - (self.clock() - self.start)
            if ahead > 0:
                self.sleep(ahead)


def _test_hook(stage: str, batch: int) -> None:
    """Crash tests only: NEWSLETTER_TEST_CRASH_AT=stage:batch SIGKILLs this process there."""
    if os.environ.get("NEWSLETTER_TEST_CRASH_AT") == f"{stage}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)
    if stage == "recorded" and os.environ.get("NEWSLETTER_TEST_BATCH_DELAY"):
        time.sleep(float(os.environ["NEWSLETTER_TEST_BATCH_DELAY"]))


def build_template(
    settings: Settings, send: ledger.SendRow, lists: list[dict], subject_prefix: str = ""
) -> mime.MessageTemplate:
    return mime.list_message_template(
        settings,
        lists[0] if lists else {},
        subject=subject_prefix + send.subject,
        html=send.html,
        text=send.text,
        send_ref=f"send-{send.id}",
    )


def _members(
    engine: Engine,
    list_ids: list[int],
    batch: list[ledger.Claimed],
) -> tuple[dict[int, tuple[str, int]], set[int]]:
    """Current (name, first list id) of the batch's still-subscribed members, and the
    suppressed ones: re-read for every batch so an unsubscribe mid-send is honoured."""
    order = {lid: i for i, lid in enumerate(list_ids)}
    found: dict[int, tuple[str, int]] = {}
    with db.reading(engine) as conn:
        rows = live_memberships(conn, list_ids, [c.subscriber_id for c in batch])
        for sid, name, _key, lid in rows:
            if sid not in found or order[lid] < order[found[sid][1]]:
                found[sid] = (name, lid)
        suppressed = blocked(conn, list_ids, rows)
    return found, suppressed


def deliver(
    engine: Engine,
    settings: Settings,
    send_id: int,
    worker: ledger.Worker,
    backend,
    rate: float | None = None,
    limit: int | None = None,
    on_progress: Callback | None = None,
) -> Progress:  # type: ignore[no-untyped-def]
    from newsletter.subscribers import get_list

    with engine.connect() as conn:
        send = ledger.get_send(conn, send_id)
        counts = ledger.counts(conn, send_id)
    assert send is not None
    lists = [get_list(engine, slug) for slug in send.list_slugs]
    list_ids = [lst["id"] for lst in lists]
    template = build_template(settings, send, lists)
    signer = tokens.signer_for(settings, allow_generated=send.backend == "outbox")
    view = tokens.view_url(settings, send.issue_id)
    wants_prefs = models.PREFERENCES_URL in send.html + send.text
    per_second = settings.rate if rate is None else rate
    size = settings.batch_size
    if per_second > 0:  # small batches, so the pace is even
        size = min(size, max(1, int(per_second)))
    progress = Progress(send_id, sum(counts.values()), counts)
    pace = Pace(per_second)
    number = 0
    _test_hook("start", 0)
    while limit is None or progress.this_run < limit:
        with db.reading(engine) as conn:
            current = ledger.get_send(conn, send_id)
        if current is None or current.status != "running":
            break  # cancelled (or paused) elsewhere: stop claiming
        want = size if limit is None else min(size, limit - progress.this_run)
        batch = ledger.claim(engine, send_id, worker, want)
        if not batch:
            break
        number += 1
        _test_hook("claimed", number)
        members, suppressed = _members(engine, list_ids, batch)
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
        recipients = []
        for c in batch:
            if c.subscriber_id in skipped:
                continue
            name, list_id = members[c.subscriber_id]
            unsub = signer.make("unsubscribe", c.subscriber_id, list_id)
            recipients.append(
                Recipient(
                    email=c.email,
                    name=name,
                    subscriber_id=c.subscriber_id,
                    view_url=view,
                    unsubscribe_url=tokens.unsubscribe_url(settings, unsub),
                    unsubscribe_mailto=tokens.unsubscribe_mailto(settings, unsub),
                    preferences_url=tokens.preferences_url(
                        settings, signer.make("preferences", c.subscriber_id, list_id)
                    )
                    if wants_prefs
                    else "",
                )
            )
        results = _send_batch(engine, send_id, worker, backend, template, recipients)
        _test_hook("sent", number)
        ledger.record(engine, send_id, worker, results)
        _test_hook("recorded", number)
        for r in results:
            counts[r.status] = counts.get(r.status, 0) + 1
        counts["skipped"] += len(skipped)
        counts["queued"] -= len(batch)
        progress.this_run += len(batch)
        if on_progress:
            on_progress(progress)
        pace.wait(progress.this_run)
    ledger.finish_if_complete(engine, send_id)
    return progress


def _send_batch(
    engine: Engine,
    send_id: int,
    worker: ledger.Worker,
    backend,
    template,
    recipients: list[Recipient],
) -> list[SendResult]:  # type: ignore[no-untyped-def]
    if not recipients:
        return []
    try:
        results = backend.send(template, recipients)
    except BackendConfigError as exc:
        # Fatal (bad key, unreachable host): keep what the backend did report, and give the
        # recipients it never attempted back to the queue.
        partial: list[SendResult] = list(getattr(exc, "results", []) or [])
        ledger.record(engine, send_id, worker, partial)
        done = {r.subscriber_id for r in partial}
        ledger.release(
            engine,
            send_id,
            worker,
            [r.subscriber_id for r in recipients if r.subscriber_id not in done],
        )
        if not ledger.discard_if_untouched(engine, send_id):
            with engine.begin() as conn:
                ledger.set_status(conn, send_id, "paused")
        raise
    except BaseException as exc:
        ledger.record(
            engine,
            send_id,
            worker,
            [
                SendResult(
                    r.subscriber_id, UNKNOWN, f"interrupted while sending: {type(exc).__name__}"
                )
                for r in recipients
            ],
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


def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    once: bool = False,
    poll: float = 2.0,
    on_progress: Callback | None = None,
    only_send: int | None = None,
) -> int:
    """Claim batches of any running send (or only `only_send`) until stopped (or, with `once`,
    until none has queued rows). Returns how many recipients this worker processed."""
    from newsletter.delivery import make_backend

    worker = ledger.Worker(engine)
    backends: dict = {}
    done = 0
    try:
        while True:
            with db.reading(engine) as conn:
                sends = [s for s in ledger.running_sends(conn) if only_send in (None, s.id)]
            busy = False
            for send in sends:
                ledger.recover(engine, send.id)
                with engine.begin() as conn:
                    ledger.join(conn, send.id, worker)
                if send.backend not in backends:
                    backends[send.backend] = make_backend(send.backend, settings)
                progress = deliver(
                    engine,
                    settings,
                    send.id,
                    worker,
                    backends[send.backend],
                                        on_progress,
                )
                done += progress.this_run
                busy = busy or progress.this_run > 0
            if once and not busy:
                return done
            if not busy:
                time.sleep(poll)
    finally:
        for backend in backends.values():
            backend.close()
        worker.close()


