"""The recorder of a `Flight`: one thread that stores what the lanes confirm, in group commits
(`recording.Store`), waiting out the database gone (`patience`), past that into the `journal`.
A confirmation waits at most for the commit before it; a lane that asks for a note (`note`)
gets it in the very next commit; the notes of units refused before they
could be delivered are dropped (`unnote`). About once a second, even when idle, it shares what
the backend learned about its server."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence

from newsletter.models import SendResult
from newsletter.sending.delivery.base import Unit
from newsletter.sending.journal import Journal
from newsletter.sending.recording import PACE_EVERY, Store

GROUP_COMMIT_S = 0.002  # the recorder commits at most this often: "the last few ms"
Confirmed = list[tuple[Unit, list[SendResult]]]


class Recorder:
    def __init__(
        self,
        store: Store,
        stored: Callable[[Confirmed], None],
        failed: Callable[[BaseException], None],
        noted: Callable[[], None],
        journal: Journal,
        hold: Callable[[Confirmed], Confirmed] | None = None,
    ):
        self.store, self._stored, self._failed, self._noted = store, stored, failed, noted
        self.journal = journal  # outcomes the database could not take in time
        self.give_up = threading.Event()  # the stop's time is up: stop waiting for the database
        self.hold = hold  # crash tests only: drops a batch whose outcomes are never stored
        self._lock = threading.Lock()  # the queues below
        self._news = threading.Condition(self._lock)
        self._committing = threading.Lock()  # one commit at a time, queue order kept
        self._confirmed: Confirmed = []
        self._to_hand: list[tuple[Unit, threading.Event]] = []
        self._unhand: list[Unit] = []
        self._idle = False
        self._open = True  # lanes may still add work
        self._refusing = False  # the send stops: no more notes
        self._thread = threading.Thread(target=self._loop, name="recorder", daemon=True)
        self._thread.start()

    def confirm(self, unit: Unit, results: list[SendResult]) -> None:
        with self._lock:
            self._confirmed.append((unit, results))
            if self._idle:
                self._news.notify()

    def note(self, units: Sequence[Unit]) -> threading.Event:
        return self.post([], units)

    def post(self, done: Confirmed, units: Sequence[Unit]) -> threading.Event:
        """Store `done` and note `units` as handed out, in the same next commit; the event is
        set once they are noted (each then has `handed`), or when the send stops (not)."""
        ready = threading.Event()
        units = [u for u in units if not u.handed]  # a retry of a unit already noted
        units = [u for u in units if not u.lost]  # no longer ours: never noted, never sent
        with self._lock:
            self._confirmed += done
            if units and not self._refusing:
                self._to_hand += [(u, ready) for u in units]
                self._news.notify()
            else:
                ready.set()
                if done and self._idle:
                    self._news.notify()
        return ready

    def unnote(self, units: Sequence[Unit]) -> None:
        with self._lock:
            for unit in units:
                if unit.handed:
                    unit.handed = False
                    self._unhand.append(unit)
            self._news.notify()

    def refuse_notes(self) -> None:
        """The send stops: lanes waiting for a note are woken, unnoted."""
        with self._lock:
            self._refusing = True
            waiting, self._to_hand = self._to_hand, []
        for _, ready in waiting:
            ready.set()

    def finish(self) -> None:
        """The lanes are done: store what is left, then end."""
        with self._lock:
            self._open = False
            self._news.notify()
        self._thread.join()
        self.store.close()

    def now(self, done: Confirmed, units: Sequence[Unit]) -> threading.Event:
        """`post`, committed at once in the caller's thread (with everything queued before it,
        in order): for a backend whose one thread drives every connection and waits for its
        notes anyway (SMTP), a note then costs the commit alone, no hand-over between threads."""
        ready = threading.Event()
        self._flush(done, [(u, ready) for u in units if not u.handed])
        ready.set()
        return ready

    def _loop(self) -> None:
        while self._wait():
            self._flush([], [])

    def _flush(self, done: Confirmed, handing: list[tuple[Unit, threading.Event]]) -> bool:
        """Take what is queued, with `done` and `handing`, and store it in one commit; commits
        happen one at a time, in the order their items came (a unit's note dropped, then given
        again, stays). While the database is away the commit is tried again (the worker's
        `Patience`); past that, outcomes go to the journal. False once the database failed."""
        with self._committing:
            with self._lock:
                items, self._confirmed = self._confirmed + done, []
                if self._refusing:
                    handing = []
                handing, self._to_hand = self._to_hand + handing, []
                unhanding, self._unhand = self._unhand, []
            if self.hold is not None:
                items = self.hold(items)
            try:
                if self.journal.gave_up:
                    raise self.journal.gave_up
                self.store.worker.patience.run(
                    lambda: self.store.commit(
                        items, [u for u, _ in handing if not u.lost], unhanding
                    ),
                    give_up=self.give_up.is_set,
                )
            except BaseException as exc:  # noqa: BLE001 - the database went away
                self.journal.keep(items, exc)
                self._failed(exc)
                self.refuse_notes()
                for _, ready in handing:
                    ready.set()  # not handed: the lane stops
                self._noted()
                return True  # what comes later goes to the journal too
            for unit, _ in handing:
                unit.handed = not unit.lost
        for _, ready in handing:
            ready.set()
        if handing:
            self._noted()
        self._stored(items)
        return True

    def _wait(self) -> bool:
        """Until there is something to store (False: the lanes are done and all is stored):
        a first item, then a few ms more for others, unless a lane waits for a note. An
        inline commit may take the queue meanwhile: then it waits again."""
        with self._lock:
            while True:
                self._idle = True
                while not self._queued() and self._open:
                    if not self._news.wait(PACE_EVERY):
                        self._lock.release()
                        try:
                            with contextlib.suppress(Exception):  # the next commit will tell
                                self.store.share_pace_if_due()
                        finally:
                            self._lock.acquire()
                self._idle = False
                if not self._queued():
                    return False  # closed, and nothing left
                deadline = time.monotonic() + GROUP_COMMIT_S
                while not self._to_hand and self._open and not self._refusing:
                    if (left := deadline - time.monotonic()) <= 0:
                        break
                    self._news.wait(left)
                if self._queued():
                    return True

    def _queued(self) -> bool:
        return bool(self._confirmed or self._to_hand or self._unhand)
