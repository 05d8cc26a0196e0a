"""The batch loop, for any running send: claim -> re-check suppressions -> personalise
(per-recipient tokens and URLs) -> hand to the backend's lanes -> record each outcome as it is
confirmed (`inflight.Flight`). The next batches are claimed and prepared while earlier ones are
on the network. Used by `send` and by `newsletter worker` processes alike (on PostgreSQL, on
several machines)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from sqlalchemy import Engine

from newsletter import tokens
from newsletter.audience.lists import get_list_by_id
from newsletter.audience.recipients import attributes_of, blocked, live_memberships
from newsletter.authoring import placeholders, readers
from newsletter.config import Settings
from newsletter.db.connection import reading
from newsletter.errors import DatabaseUnavailable
from newsletter.models import Recipient
from newsletter.recipient_tags import TAG_LINK, TAG_MESSAGE_ID, TAG_RETURN_PATH
from newsletter.sending import ab_store, ledger, sends
from newsletter.sending.crashpoints import CRASH_AT, HeldBatch, held_batch, test_hook
from newsletter.sending.delivery.base import Backend
from newsletter.sending.flight_end import database_gone, stop_on_error
from newsletter.sending.inflight import Batch, Flight
from newsletter.sending.mime.message import MessageTemplate, list_message_template
from newsletter.sending.pace import Pace
from newsletter.sending.stopping import STOP
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


class Screen(Protocol):
    """What a sequence step's send adds to a batch (`sequences`): who is skipped when claimed
    (too late), and each reader's own "view in browser" link."""

    def skips(self, engine: Engine, batch: list[ledger.Claimed]) -> dict[int, str]: ...

    def view_url(self, subscriber_id: int) -> str: ...


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
    attribute_fields: frozenset[str]  # attributes the reader placeholders read (often none)
    screen: Screen | None = None

    @classmethod
    def for_send(
        cls, engine: Engine, settings: Settings, send: sends.SendRow, variant: int | None = None
    ) -> _Batchmaker:
        lists = [lst for i in send.list_ids if (lst := get_list_by_id(engine, i))]
        with reading(engine) as conn:  # click/open tracking: the HTML stored with its links
            tracked = html_to_send(conn, send.id)
            if variant is not None:  # a subject-line test's variant: its own content
                send, tracked = ab_store.variant_send(conn, send, variant)
        return cls(
            settings=settings,
            send=send,
            list_ids=[lst["id"] for lst in lists],
            template=build_template(settings, replace(send, html=tracked or send.html), lists),
            signer=tokens.signer_for(settings, allow_generated=send.backend == "outbox"),
            view_url=tokens.view_url(settings, send.issue_id),
            wants_preferences=placeholders.PREFERENCES_URL in send.html + send.text,
            attribute_fields=frozenset(
                readers.fields_in(send.subject, send.html, send.text) - set(readers.OWN_FIELDS)
            ),
        )

    def members(
        self, engine: Engine, batch: list[ledger.Claimed]
    ) -> tuple[dict[int, tuple[str, int, dict[str, object]]], set[int]]:
        """Current (name, first list id, attributes used) of the batch's still-subscribed
        members, and the suppressed ones: re-read for every batch so an unsubscribe mid-send
        is honoured. Attributes are read only when a reader placeholder uses one."""
        order = {lid: i for i, lid in enumerate(self.list_ids)}
        found: dict[int, tuple[str, int, dict[str, object]]] = {}
        with reading(engine) as conn:
            rows = live_memberships(conn, self.list_ids, [c.subscriber_id for c in batch])
            for sid, name, _key, lid in rows:
                if sid not in found or order[lid] < order[found[sid][1]]:
                    found[sid] = (name, lid, {})
            suppressed = blocked(conn, self.list_ids, rows)
            if self.attribute_fields and found:
                attributes = attributes_of(conn, list(found), self.attribute_fields)
                found = {i: (n, lid, attributes.get(i, {})) for i, (n, lid, _) in found.items()}
        return found, suppressed

    def recipient(
        self, claimed: ledger.Claimed, name: str, list_id: int, attributes: dict[str, object]
    ) -> Recipient:
        settings, signer, sid = self.settings, self.signer, claimed.subscriber_id
        # The send rides in the unsubscribe token: "unsubscribed through this issue" is counted.
        unsub = signer.make("unsubscribe", sid, list_id, self.send.id)
        prefs = signer.make("preferences", sid, list_id) if self.wants_preferences else ""
        return Recipient(
            email=claimed.email,
            name=name,
            subscriber_id=sid,
            view_url=self.screen.view_url(sid) if self.screen else self.view_url,
            unsubscribe_url=tokens.unsubscribe_url(settings, unsub),
            unsubscribe_mailto=tokens.unsubscribe_mailto(settings, unsub),
            preferences_url=tokens.preferences_url(settings, prefs) if prefs else "",
            tag=signer.recipient_tag(self.send.id, sid, purpose=TAG_MESSAGE_ID),
            return_tag=signer.recipient_tag(self.send.id, sid, purpose=TAG_RETURN_PATH),
            link_tag=signer.recipient_tag(self.send.id, sid, purpose=TAG_LINK),
            attributes=attributes,
        )

    def prepare(
        self, engine: Engine, worker: Worker, batch: list[ledger.Claimed]
    ) -> tuple[list[Recipient], int]:
        """Skip who may no longer be mailed (recorded at once); (recipients, skipped)."""
        members, suppressed = self.members(engine, batch)
        skipped = self.screen.skips(engine, batch) if self.screen else {}
        skipped.update(
            {c.subscriber_id: "suppressed" for c in batch if c.subscriber_id in suppressed}
        )
        skipped.update(
            {
                c.subscriber_id: "no longer subscribed to this list"
                for c in batch
                if c.subscriber_id not in members
            }
        )
        if skipped:
            ledger.skip(engine, self.send.id, worker, skipped)
        recipients = [
            self.recipient(c, *members[c.subscriber_id])
            for c in batch
            if c.subscriber_id not in skipped
        ]
        return recipients, len(skipped)


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
    screen: Screen | None = None,
) -> Progress:
    """Claim and send batches of one send until none is left (or `limit` is reached, or the
    send is cancelled elsewhere); returns this worker's progress. A subject-line test's
    variants go one after another, each with its own MIME skeleton (`ab_store`). `screen`: a
    sequence step's (`Screen`)."""
    with reading(engine) as conn:
        send = sends.get_send(conn, send_id)
        counts = ledger.counts(conn, send_id)
    assert send is not None
    progress = Progress(send_id, sum(counts.values()), counts)
    for variant in ab_store.pending_variants(engine, send_id):
        left = None if limit is None else limit - progress.this_run
        if left is not None and left <= 0:
            break
        maker = replace(_Batchmaker.for_send(engine, settings, send, variant), screen=screen)
        if not _run(engine, maker, worker, backend, progress, variant, rate, left, on_progress):
            break
    ledger.finish_if_complete(engine, send_id)
    return progress


def _run(
    engine: Engine,
    maker: _Batchmaker,
    worker: Worker,
    backend: Backend,
    progress: Progress,
    variant: int | None,
    rate: float | None,
    limit: int | None,
    on_progress: Callback | None,
) -> bool:
    """One flight: claim, prepare and send batches (of one variant); False when stopped."""
    settings, send_id = maker.settings, maker.send.id
    per_second = settings.rate if rate is None else rate
    size = _batch_size(settings.batch_size, per_second)
    pace = Pace(per_second, sleep=STOP.wait)  # a stop cuts a --rate pause short
    # Claim the next batch while fewer than two wait for a lane; one batch at a time with one
    # unit at a time (the outbox), or while a crash test is armed (its crash point is exact).
    ahead = 0 if os.environ.get(CRASH_AT) or backend.units_at_once < 2 else 2 * size
    test_hook("start", 0)
    flight = _flight(engine, settings, send_id, worker, backend, maker.template)
    wait_db = worker.patience.run  # the database away: wait for it (up to db_outage_timeout)
    claimed, number, stopped = 0, 0, False
    with STOP.listening(lambda: flight.stop(STOP.left(settings.stop_timeout))):
        try:  # Ctrl-C, SIGTERM: a graceful stop, heard until the flight is done
            while limit is None or claimed < limit:
                _report(progress, flight.wait_for_room(ahead), on_progress)
                if flight.error:
                    break  # a lane failed
                if STOP.asked or not wait_db(lambda: _still_running(engine, send_id)):
                    stopped = True  # stopped here, or cancelled (paused) elsewhere: what is
                    break  # claimed ahead goes back to the queue, what is out finishes
                want = size if limit is None else min(size, limit - claimed)
                batch = ledger.claim_again(engine, send_id, worker, want, variant)
                if not batch:
                    break
                number += 1
                test_hook("claimed", number)
                recipients, skipped = wait_db(partial(maker.prepare, engine, worker, batch))
                flight.add(number, len(batch), skipped, recipients)
                claimed += len(batch)
                pace.wait(claimed)
        except BaseException:
            flight.abort()
            raise
        last = flight.abort() if stopped else flight.close()
    _report(progress, last, on_progress)
    if isinstance(flight.error, DatabaseUnavailable):
        raise database_gone(flight, maker.send.issue_id) from flight.error
    if flight.error is not None:
        stop_on_error(engine, send_id, flight.error)
    return not stopped


def _flight(
    engine: Engine,
    settings: Settings,
    send_id: int,
    worker: Worker,
    backend: Backend,
    template: MessageTemplate,
) -> Flight:
    hold = HeldBatch() if held_batch() is not None else None  # crash tests only
    journals = settings.effective_state_dir
    return Flight(engine, send_id, worker, backend, template, hold, journals)


def _batch_size(batch_size: int, per_second: float) -> int:
    """With a rate, small batches, so the pace is even."""
    return min(batch_size, max(1, int(per_second))) if per_second > 0 else batch_size


def _report(progress: Progress, batches: list[Batch], on_progress: Callback | None) -> None:
    for batch in batches:
        for r in batch.results:
            progress.counts[r.status] = progress.counts.get(r.status, 0) + 1
        progress.counts["skipped"] += batch.skipped
        progress.counts["queued"] -= batch.claimed - batch.given_back
        progress.this_run += batch.claimed - batch.given_back
        if on_progress and batch.claimed > batch.given_back:  # not for one wholly given back
            on_progress(progress)
        test_hook("recorded", batch.number)


def _still_running(engine: Engine, send_id: int) -> bool:
    with reading(engine) as conn:
        current = sends.get_send(conn, send_id)
    return current is not None and current.status == "running"
