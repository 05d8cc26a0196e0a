"""Units in flight for one worker: several SendGrid requests or SMTP messages under way at
once, the next batches claimed and prepared while they wait, each outcome recorded as soon as
the server confirms it.

Threads of a `Flight`:
- the caller (the batch loop) claims batches, prepares their recipients and `add`s them;
- `backend.lanes` lane threads take units in subscriber-id order and deliver them
  (`Backend.lane`), each on its own connection;
- one recorder thread stores what was confirmed: everything pending in one transaction (a group
  commit), so a confirmation waits at most for the commit before it, and a batch is reported
  complete to the caller once all its units are stored.

Before a unit's bytes go out (`handing`) its span of subscriber ids is noted durably (the
recorder writes the notes of every lane asking, in its next commit) and the note goes in the
commit that records the unit's outcome: after a crash, `workers.recover` turns the claimed rows
inside a note into `unknown` and puts the rest back in the queue. So only what was truly on the
network, plus the last commit's worth of confirmations, can be in doubt.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine

from newsletter.errors import BackendConfigError
from newsletter.models import UNKNOWN, Recipient, SendResult
from newsletter.sending import ledger
from newsletter.sending.crashpoints import HeldBatch
from newsletter.sending.delivery.base import Backend, Stopped, Unit, normalised
from newsletter.sending.mime.message import MessageTemplate
from newsletter.sending.workers import HandedMark, Worker

GROUP_COMMIT_S = 0.002  # the recorder commits at most this often: "the last few ms"


@dataclass
class Batch:
    number: int
    claimed: int
    skipped: int
    units: int
    results: list[SendResult] = field(default_factory=list)


class Flight:
    def __init__(
        self,
        engine: Engine,
        send_id: int,
        worker: Worker,
        backend: Backend,
        template: MessageTemplate,
    ):
        self.engine, self.send_id, self.worker = engine, send_id, worker
        self.backend, self.template = backend, template
        self.mark = HandedMark(engine, send_id, worker)
        self.error: BaseException | None = None
        self._lock = threading.Lock()  # one lock; three conditions on it:
        self._cv = threading.Condition(self._lock)  # the caller waits for room
        self._work = threading.Condition(self._lock)  # lanes wait for units
        self._news = threading.Condition(self._lock)  # the recorder waits for results
        self._to_hand: list[tuple[Unit, threading.Event]] = []  # lanes waiting for a note
        self._idle_recorder = False
        self._room_at = -1  # the caller waits until fewer recipients than this wait
        self._units: deque[Unit] = deque()
        self._waiting = 0  # recipients in _units
        self._taken: dict[int, set[Unit]] = {}  # lane thread id -> units taken, not done
        self._confirmed: list[tuple[Unit, list[SendResult]]] = []
        self._batches: dict[int, Batch] = {}
        self._finished: list[Batch] = []
        self._closed = self._stopping = False
        self._hold = HeldBatch()
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
            return self.completed_locked()

    def completed_locked(self) -> list[Batch]:
        done, self._finished = self._finished, []
        return done

    def close(self) -> list[Batch]:
        """No more batches: wait for the lanes and the recorder; batches completed meanwhile."""
        with self._cv:
            self._closed = True
            self._work.notify_all()
        self._join()
        with self._cv:
            return self.completed_locked()

    def abort(self) -> list[Batch]:
        """Stop handing out units; give back the ones no lane took; wait for the lanes; the
        batches completed meanwhile."""
        with self._cv:
            self._stopping = True
            self._work.notify_all()
            self._wake_marked()
        self._join()
        with self._cv:
            return self.completed_locked()

    def _join(self) -> None:
        for thread in [*self._lanes, self._recorder]:
            thread.join()
        with self._cv:
            left, self._units = list(self._units), deque()
            self._waiting = 0
        ids = [r.subscriber_id for unit in left for r in unit.recipients]
        if ids:
            ledger.release(self.engine, self.send_id, self.worker, ids)

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

    def done(self, unit: Unit, results: Sequence[SendResult]) -> None:
        final = normalised(unit, results)
        with self._cv:
            for taken in self._taken.values():  # a lane's helper thread may report it
                taken.discard(unit)
            self._confirmed.append((unit, final))
            if self._idle_recorder:
                self._news.notify()

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
            self._wake_marked()
        release = []
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
            else:
                release += [r.subscriber_id for r in rest]
            unit.recipients = [r for r in unit.recipients if r.subscriber_id not in release]
            if unit.recipients:
                self.done(unit, ours)
        if release:
            ledger.release(self.engine, self.send_id, self.worker, release)

    # --- the recorder ------------------------------------------------------------------------

    def _record_loop(self) -> None:
        while (gathered := self._gather()) is not None:
            items, handing = gathered
            try:
                self._store(self._hold.filter(items, self._batches), [u for u, _ in handing])
            except BaseException as exc:  # noqa: BLE001 - the database went away
                with self._lock:
                    self.error = self.error or exc
                    self._stopping = True
                    self._cv.notify_all()
                    self._work.notify_all()
                    self._wake_marked()
                for _, ready in handing:
                    ready.set()  # not handed: the lane stops
                return
            for unit, _ in handing:
                unit.handed = True
            for _, ready in handing:
                ready.set()
            with self._lock:
                for unit, results in items:
                    if unit.batch == self._hold.number:
                        continue
                    batch = self._batches[unit.batch]
                    batch.results += results
                    batch.units -= 1
                    if batch.units == 0:
                        self._finished.append(self._batches.pop(unit.batch))
                self._cv.notify_all()

    def _wake_marked(self) -> None:
        """When stopping, wake the lanes waiting for a note: they stop. Holds the lock."""
        if self._stopping:
            waiting, self._to_hand = self._to_hand, []
            for _, ready in waiting:
                ready.set()

    def _gather(
        self,
    ) -> tuple[list[tuple[Unit, list[SendResult]]], list[tuple[Unit, threading.Event]]] | None:
        """What the next commit stores: confirmations, and the units lanes want noted (None:
        the lanes are done and all is stored). It waits for a first confirmation, then a few
        ms more for others, unless a lane waits for a note."""
        with self._lock:
            self._idle_recorder = True
            while not self._confirmed and not self._to_hand and self._lanes_left:
                self._news.wait()
            self._idle_recorder = False
            deadline = time.monotonic() + GROUP_COMMIT_S
            while not self._to_hand and self._lanes_left and not self._stopping:
                if (left := deadline - time.monotonic()) <= 0:
                    break
                self._news.wait(left)
            if not self._confirmed and not self._to_hand:
                return None
            items, self._confirmed = self._confirmed, []
            handing, self._to_hand = self._to_hand, []
            return items, handing

    def _store(self, items: list[tuple[Unit, list[SendResult]]], handing: list[Unit]) -> None:
        """One transaction: the outcomes (their notes dropped) and the new notes."""
        with self.engine.begin() as conn:
            if items:
                results = [r for _, rs in items for r in rs]
                ledger.record_in(conn, self.send_id, self.worker, results)
                self.mark.settle(conn, [u.span for u, _ in items if u.handed])
            if handing:
                self.mark.hand(conn, [u.span for u in handing])
