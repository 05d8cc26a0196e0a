"""Units in flight for one worker: several SendGrid requests or SMTP messages under way at
once, the next batches claimed and prepared while they wait, each outcome recorded as soon as
the server confirms it. A `Flight` is the feed (`delivery.base.Feed`) its backend's lanes take
units from.

Threads of a `Flight`:
- the caller (the batch loop) claims batches, prepares their recipients and `add`s them;
- `backend.lanes` lane threads deliver them (`Backend.lane`): SendGrid one request per lane,
  SMTP one engine thread for every connection;
- one recorder thread stores what was confirmed, in one transaction (`recording.Store`) for
  everything pending (a group commit), so a confirmation waits at most for the commit before
  it; a batch is reported complete to the caller once all its units are stored or given back.

Before a unit's end goes out its span of subscriber ids is noted durably (`note`: the
recorder writes the notes of every lane asking, in its next commit) and the note goes in the
commit that records the unit's outcome, or when the unit was refused before it could be
delivered (`unnote`). After a crash, `workers.recover` turns the claimed rows inside a note into
`unknown` and puts the rest back in the queue. So only what was truly on the network, plus the
last commit's worth of confirmations, can be in doubt.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from newsletter.errors import BackendConfigError
from newsletter.models import UNKNOWN, Recipient, SendResult
from newsletter.sending import ledger
from newsletter.sending.crashpoints import HeldBatch
from newsletter.sending.delivery.base import Backend, Stopped, Unit, normalised
from newsletter.sending.mime.message import MessageTemplate
from newsletter.sending.recording import PACE_EVERY, Store
from newsletter.sending.workers import Worker

GROUP_COMMIT_S = 0.002  # the recorder commits at most this often: "the last few ms"
# What one commit stores: outcomes, units to note (with who waits), notes to drop.
Gathered = tuple[
    list[tuple[Unit, list[SendResult]]], list[tuple[Unit, threading.Event]], list[Unit]
]


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
    ):
        self.engine, self.send_id, self.worker = engine, send_id, worker
        self.backend, self.template = backend, template
        self.store = Store(engine, send_id, worker, backend)
        self.error: BaseException | None = None
        self._hold = hold  # crash tests only: a batch whose outcomes are never stored
        self._lock = threading.Lock()  # one lock; three conditions on it:
        self._cv = threading.Condition(self._lock)  # the caller waits for room
        self._work = threading.Condition(self._lock)  # lanes wait for units
        self._news = threading.Condition(self._lock)  # the recorder waits for results
        self._to_hand: list[tuple[Unit, threading.Event]] = []  # units waiting for a note
        self._unhand: list[Unit] = []  # notes to drop: refused before delivery
        self._wake: Callable[[], None] | None = None
        self._idle_recorder = False
        self._room_at = -1  # the caller waits until fewer recipients than this wait
        self._units: deque[Unit] = deque()
        self._waiting = 0  # recipients in _units
        self._taken: dict[int, set[Unit]] = {}  # lane thread id -> units taken, not done
        self._given_back: list[Unit] = []
        self._confirmed: list[tuple[Unit, list[SendResult]]] = []
        self._batches: dict[int, Batch] = {}
        self._finished: list[Batch] = []
        self._closed = self._stopping = False
        self._lanes = [
            threading.Thread(target=self._lane, name=f"lane-{i}", daemon=True)
            for i in range(max(1, backend.lanes))
        ]
        self._lanes_left = len(self._lanes)
        self._recorder = threading.Thread(target=self._record_loop, name="recorder", daemon=True)
        for thread in [*self._lanes, self._recorder]:
            thread.start()

    # --- the caller's side -------------------------------------------------------------------

    def add(self, number: int, claimed: int, skipped: int, recipients: list[Recipient]) -> None:
        size = self.backend.unit_size or len(recipients) or 1
        units = [Unit(recipients[i : i + size], number) for i in range(0, len(recipients), size)]
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

    def abort(self) -> list[Batch]:
        """Stop: lanes take nothing more and give back what they hold unsent; units no lane
        took go back to the queue; returns once the lanes and the recorder are done."""
        with self._cv:
            self._stopping = True
            self._work.notify_all()
            self._wake_noted()
        self._wake_lanes()
        return self._join()

    def _join(self) -> list[Batch]:
        for thread in [*self._lanes, self._recorder]:
            thread.join()
        with self._cv:
            left, self._units = [*self._units, *self._given_back], deque()
            self._given_back, self._waiting = [], 0
        ids = [r.subscriber_id for unit in left for r in unit.recipients]
        if ids:
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
        """Return once `unit`'s span is noted as handed out (by the recorder's next commit);
        raises Stopped when the send stops first."""
        self.note([unit]).wait()
        if not unit.handed:
            raise Stopped("the send is stopping")

    def note(self, units: Sequence[Unit]) -> threading.Event:
        """Ask the recorder to note `units` as handed out in its next commit; the event is set
        once it has (each then has `handed`), or when the send stops (they have not)."""
        ready = threading.Event()
        units = [u for u in units if not u.handed]  # a retry of a unit already noted
        with self._lock:
            if units and not self._stopping:
                self._to_hand += [(u, ready) for u in units]
                self._news.notify()
            else:
                ready.set()
        return ready

    def unnote(self, units: Sequence[Unit]) -> None:
        """Drop the notes of units the server refused before they could be delivered: they go
        again, and until then a crash must not count them in doubt."""
        with self._lock:
            for unit in units:
                if unit.handed:
                    unit.handed = False
                    self._unhand.append(unit)
            self._news.notify()

    def give_back(self, unit: Unit) -> None:
        """A unit the lane will not send (the send stops): back to the queue at the end."""
        with self._cv:
            for taken in self._taken.values():
                taken.discard(unit)
            if unit.handed:
                unit.handed = False
                self._unhand.append(unit)
                self._news.notify()
            self._given_back.append(unit)
            batch = self._batches.get(unit.batch)
            if batch is not None:
                batch.given_back += len(unit.recipients)
                self._unit_finished(batch)
            self._cv.notify_all()

    def done(self, unit: Unit, results: Sequence[SendResult]) -> None:
        final = normalised(unit, results)
        with self._cv:
            for taken in self._taken.values():  # a lane's helper thread may report it
                taken.discard(unit)
            self._confirmed.append((unit, final))
            if self._idle_recorder:
                self._news.notify()

    def _unit_finished(self, batch: Batch) -> None:
        """Holds the lock."""
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
                self._news.notify()
                self._cv.notify_all()

    def _lane_failed(self, exc: BaseException) -> None:
        """Fatal trouble stops the flight: what the backend finished is kept, units it never
        put on the network go back to the queue, and an unexpected error leaves the ones it
        did hand out `unknown`."""
        finished = {r.subscriber_id: r for r in getattr(exc, "results", None) or []}
        with self._cv:
            units = self._taken.pop(threading.get_ident(), set())
            if self.error is None and not isinstance(exc, Stopped):
                self.error = exc
            self._stopping = True
            self._cv.notify_all()
            self._work.notify_all()
            self._wake_noted()
        release: list[int] = []
        for unit in units:
            ours = [
                finished[r.subscriber_id] for r in unit.recipients if r.subscriber_id in finished
            ]
            rest = [r for r in unit.recipients if r.subscriber_id not in finished]
            if unit.handed and not isinstance(exc, BackendConfigError):
                ours += [
                    SendResult(r.subscriber_id, UNKNOWN, f"interrupted while sending: {exc!r}")
                    for r in rest
                ]
            elif not ours:
                self.give_back(unit)  # none of it went out
                continue
            else:
                release += [r.subscriber_id for r in rest]
            unit.recipients = [r for r in unit.recipients if r.subscriber_id not in release]
            self.done(unit, ours)
        if release:
            ledger.release(self.engine, self.send_id, self.worker, release)

    # --- the recorder ------------------------------------------------------------------------

    def _record_loop(self) -> None:
        while (gathered := self._gather()) is not None:
            items, handing, unhanding = gathered
            if self._hold is not None:
                items = self._hold.filter(items, self._batches)
            try:
                self.store.commit(items, [u for u, _ in handing], unhanding)
            except BaseException as exc:  # noqa: BLE001 - the database went away
                with self._lock:
                    self.error = self.error or exc
                    self._stopping = True
                    self._cv.notify_all()
                    self._work.notify_all()
                    self._wake_noted()
                for _, ready in handing:
                    ready.set()  # not handed: the lane stops
                self._wake_lanes()
                return
            for unit, _ in handing:
                unit.handed = True
            for _, ready in handing:
                ready.set()
            if handing:
                self._wake_lanes()
            with self._lock:
                for unit, results in items:
                    if self._hold is not None and unit.batch == self._hold.number:
                        continue
                    batch = self._batches[unit.batch]
                    batch.results += results
                    self._unit_finished(batch)
                self._cv.notify_all()

    def _wake_noted(self) -> None:
        """When stopping, wake the lanes waiting for a note: they stop. Holds the lock."""
        if self._stopping:
            waiting, self._to_hand = self._to_hand, []
            for _, ready in waiting:
                ready.set()

    def _gather(self) -> Gathered | None:
        """What the next commit stores: confirmations, the units lanes want noted and the notes
        to drop (None: the lanes are done and all is stored). It waits for a first one, then
        a few ms more for others, unless a lane waits for a note; and at least once a second
        when the backend shares its pace."""
        with self._lock:
            self._idle_recorder = True
            while not (self._confirmed or self._to_hand or self._unhand) and self._lanes_left:
                if not self._news.wait(PACE_EVERY):
                    self._lock.release()
                    try:
                        with contextlib.suppress(Exception):  # the next commit will tell
                            self.store.share_pace_if_due()
                    finally:
                        self._lock.acquire()
            self._idle_recorder = False
            deadline = time.monotonic() + GROUP_COMMIT_S
            while not self._to_hand and self._lanes_left and not self._stopping:
                if (left := deadline - time.monotonic()) <= 0:
                    break
                self._news.wait(left)
            if not (self._confirmed or self._to_hand or self._unhand):
                return None
            items, self._confirmed = self._confirmed, []
            handing, self._to_hand = self._to_hand, []
            unhanding, self._unhand = self._unhand, []
            return items, handing, unhanding
