"""Units in flight for one worker: several SendGrid requests or SMTP messages under way at
once, the next batches claimed and prepared while they wait, each outcome recorded as soon as
the server confirms it. A `Flight` is the feed (`delivery.base.Feed`) its backend's lanes take
units from. Its threads: the caller (the batch loop) claims, prepares and `add`s batches;
`backend.lanes` lane threads deliver them (SendGrid one request per lane, SMTP one engine
thread for every connection); one recorder thread (`recorder.Recorder`) stores what was
confirmed, in group commits. A batch is complete once all its units are stored or given back.
A unit's span of subscriber ids is noted durably (`note`) before its end goes out, and the note
goes with its outcome, or when refused before delivery (`unnote`): after a crash only rows
inside a note can be in doubt (`workers.recover`).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from newsletter.models import Recipient, SendResult
from newsletter.sending import ledger
from newsletter.sending.crashpoints import HeldBatch
from newsletter.sending.delivery.base import Backend, Done, Lost, Stopped, Unit, normalised
from newsletter.sending.flight_trouble import interrupted, recheck
from newsletter.sending.journal import Journal
from newsletter.sending.mime.message import MessageTemplate
from newsletter.sending.recorder import Recorder
from newsletter.sending.recording import Store
from newsletter.sending.workers import Worker


@dataclass
class Batch:
    number: int
    claimed: int
    skipped: int
    units: int
    results: list[SendResult] = field(default_factory=list)
    given_back: int = 0  # recipients back in the queue, unsent (the send stopped)


class Flight:
    def __init__(
        self,
        engine: Engine,
        send_id: int,
        worker: Worker,
        backend: Backend,
        template: MessageTemplate,
        hold: HeldBatch | None = None,
        journal_dir: str = ".",
    ):
        self.engine, self.send_id, self.worker = engine, send_id, worker
        self.backend, self.template = backend, template
        self.error: BaseException | None = None
        self._lock = threading.Lock()  # one lock; two conditions on it:
        self._cv = threading.Condition(self._lock)  # the caller waits for room
        self._work = threading.Condition(self._lock)  # lanes wait for units
        self._wake: Callable[[], None] | None = None
        self._room_at = -1  # the caller waits until fewer recipients than this wait
        self._units: deque[Unit] = deque()
        self._waiting = 0  # recipients in _units
        self._taken: dict[int, set[Unit]] = {}  # lane thread id -> units taken, not done
        self._given_back: list[Unit] = []
        self._batches: dict[int, Batch] = {}
        self._finished: list[Batch] = []
        self._closed = self._stopping = False
        self._halt_timer: threading.Timer | None = None
        backend.stopping.clear()  # a worker's backend serves one flight after another
        self.recorder = Recorder(
            Store(engine, send_id, worker, backend),
            stored=self._stored,
            failed=self._record_failed,
            noted=self._wake_lanes,
            journal=Journal(journal_dir, send_id, worker.id),
            hold=None if hold is None else (lambda items: hold.filter(items, self._batches)),
        )
        worker.patience.hooks.append(self._recheck)
        self._lanes = [
            threading.Thread(target=self._lane, name=f"lane-{i}", daemon=True)
            for i in range(max(1, backend.lanes))
        ]
        self._lanes_left = len(self._lanes)
        for thread in self._lanes:
            thread.start()

    # --- the caller's side -------------------------------------------------------------------

    def add(self, number: int, claimed: int, skipped: int, recipients: list[Recipient]) -> None:
        size = self.backend.unit_size or len(recipients) or 1
        units = [Unit(recipients[i : i + size], number) for i in range(0, len(recipients), size)]
        self.backend.prepare(self.template, units)  # SMTP with DKIM: signed here, ahead
        with self._cv:
            batch = Batch(number, claimed, skipped, len(units))
            if units:
                self._batches[number] = batch
                self._units.extend(units)
                self._waiting += len(recipients)
            else:
                self._finished.append(batch)
            self._work.notify(len(units))
        self._wake_lanes()

    def wait_for_room(self, ahead: int) -> list[Batch]:
        """Block until fewer than `ahead` recipients wait for a lane (0: until every batch is
        complete), then return the batches completed since the last call."""
        with self._cv:
            self._room_at = ahead
            while not (self.error or self._stopping) and (
                self._waiting >= ahead if ahead else self._batches
            ):
                self._cv.wait()
            self._room_at = -1
            return self._completed_locked()

    def _completed_locked(self) -> list[Batch]:
        done, self._finished = self._finished, []
        return done

    def close(self) -> list[Batch]:
        """No more batches: wait for the lanes and the recorder; batches completed meanwhile."""
        with self._cv:
            self._closed = True
            self._work.notify_all()
        self._wake_lanes()
        return self._join()

    def stop(self, timeout: float | None = None) -> None:
        """A graceful stop (any thread): lanes take nothing, start no retry, finish the rest;
        after `timeout` seconds, answers still due are not waited for (`unknown`)."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
            self._work.notify_all()
            if timeout is not None and self._halt_timer is None:
                self._halt_timer = threading.Timer(timeout, self._halt)
                self._halt_timer.daemon = True
                self._halt_timer.start()
        self.backend.stopping.set()
        self.recorder.refuse_notes()
        self._wake_lanes()

    def _halt(self) -> None:  # the stop's time is up (the timer is cancelled once lanes end)
        self.recorder.give_up.set()  # and for the database, if it is away
        self.worker.patience.woken.set()
        self.backend.halt()
        self._wake_lanes()

    def abort(self) -> list[Batch]:
        """`stop`, wait for lanes and recorder; what no lane took goes back to the queue."""
        self.stop()
        return self._join()

    def _join(self) -> list[Batch]:
        for thread in self._lanes:
            thread.join()
        if self._halt_timer is not None:
            self._halt_timer.cancel()
        self.recorder.finish()
        self.worker.patience.hooks.remove(self._recheck)
        with self._cv:
            for unit in self._units:  # never taken: given back now (their batch completes)
                self._finish_unsent(unit)
            left, self._units = [*self._units, *self._given_back], deque()
            self._given_back, self._waiting = [], 0
        ids = [r.subscriber_id for unit in left if not unit.lost for r in unit.recipients]
        if ids and not self.recorder.journal.gave_up:  # else recovery puts them back
            ledger.release(self.engine, self.send_id, self.worker, ids)
        with self._cv:
            return self._completed_locked()

    def _wake_lanes(self) -> None:
        if (wake := self._wake) is not None:
            wake()

    # --- the lanes' side (Feed) --------------------------------------------------------------

    def take(self, block: bool = True) -> Unit | None:
        with self._cv:
            while block and not self._units and not self._closed and not self._stopping:
                self._work.wait()
            if self._stopping or not self._units:
                return None
            unit = self._units.popleft()
            self._waiting -= len(unit.recipients)
            self._taken.setdefault(threading.get_ident(), set()).add(unit)
            if self._waiting < self._room_at:
                self._cv.notify()
        return unit

    def ended(self) -> bool:
        with self._lock:
            return (self._closed or self._stopping) and not self._units

    def stopping(self) -> bool:
        return self._stopping

    def watch(self, wake: Callable[[], None] | None) -> None:
        self._wake = wake

    def handing(self, unit: Unit) -> None:
        """Return once `unit`'s span is noted as handed out; Stopped if the send stops first."""
        self.note([unit]).wait()
        if not unit.handed:
            raise Lost("taken for dead") if unit.lost else Stopped("the send is stopping")

    def note(self, units: Sequence[Unit]) -> threading.Event:
        return self.recorder.note(units)

    def unnote(self, units: Sequence[Unit]) -> None:
        """Drop the notes of units refused before delivery (a crash must not count them)."""
        self.recorder.unnote(units)

    def give_back(self, unit: Unit) -> None:
        """A unit the lane will not send (the send stops): back to the queue at the end."""
        self.recorder.unnote([unit])
        with self._cv:
            for taken in self._taken.values():
                taken.discard(unit)
            self._given_back.append(unit)
            self._finish_unsent(unit)
            self._cv.notify_all()

    def done(self, unit: Unit, results: Sequence[SendResult]) -> None:
        self.report([(unit, results)], [])

    def report(self, done: Sequence[Done], noting: Sequence[Unit]) -> threading.Event:
        """Results and notes in one commit (an SMTP message's outcome and its next's note)."""
        with self._cv:
            for taken in self._taken.values():
                for unit, _ in done:
                    taken.discard(unit)
        items = [(u, normalised(u, r)) for u, r in done]
        if noting and self.backend.records_inline:
            return self.recorder.now(items, noting)
        return self.recorder.post(items, noting)

    def _finish_unsent(self, unit: Unit) -> None:  # holds the lock: `unit` went back unsent
        if (batch := self._batches.get(unit.batch)) is not None:
            batch.given_back += len(unit.recipients)
            self._unit_finished(batch)

    def _unit_finished(self, batch: Batch) -> None:  # holds the lock
        batch.units -= 1
        if batch.units == 0:
            self._finished.append(self._batches.pop(batch.number))

    def _lane(self) -> None:
        try:
            self.backend.lane(self.template, self)
        except BaseException as exc:  # noqa: BLE001 - kept and raised by the caller
            self._lane_failed(exc)
        finally:
            with self._cv:
                self._lanes_left -= 1
                self._cv.notify_all()

    def _lane_failed(self, exc: BaseException) -> None:
        """Fatal trouble stops the flight (`flight_trouble.interrupted` says what becomes of
        the units the lane held)."""
        with self._cv:
            units = self._taken.pop(threading.get_ident(), set())
            if self.error is None and not isinstance(exc, Stopped):
                self.error = exc
        self.stop()
        done, back, release = interrupted(units, exc)
        for unit in back:
            self.give_back(unit)
        for unit, results in done:
            self.done(unit, results)
        if release:
            ledger.release(self.engine, self.send_id, self.worker, release)

    # --- what the recorder tells ----------------------------------------------------------

    def _stored(self, items: list[tuple[Unit, list[SendResult]]]) -> None:
        with self._cv:
            finished = len(self._finished)
            for unit, results in items:
                batch = self._batches[unit.batch]
                batch.results += results
                self._unit_finished(batch)
            if len(self._finished) > finished:  # what the caller waits for
                self._cv.notify_all()

    def _recheck(self) -> None:
        """The database is back after an outage (`flight_trouble.recheck`)."""
        recheck(self)

    def _record_failed(self, exc: BaseException) -> None:
        """The database went away: the flight stops."""
        with self._cv:
            self.error = self.error or exc
        self.stop()
