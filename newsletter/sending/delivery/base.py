"""The backend contract: send a batch of personalised messages, one result per recipient.

Transient trouble (SMTP 4xx, dropped connections, HTTP 429/5xx, timeouts before sending) is
retried inside the backend with exponential backoff and jitter, a bounded number of times; what
still fails becomes FAILED with the reason. Fatal trouble (bad credentials, unreachable server)
raises errors.BackendConfigError, which stops the whole send; its ``results`` list the
recipients of the batch already finished, the others were not attempted.
"""

from __future__ import annotations

import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, Recipient, SendResult
from newsletter.sending.mime.message import MessageTemplate


class Stopped(Exception):
    """A lane was stopped before it could hand its unit out."""


class Lost(Stopped):
    """The unit is no longer this worker's: while the database was away another worker took
    this one for dead and put its rows back in the queue. It must not go (`Feed.give_back`)."""


class Unsent(Exception):
    """The send is stopping and this unit's retry will not start: none of it was delivered,
    so it goes back to the queue (`Feed.give_back`)."""


@dataclass(eq=False)
class Unit:
    """What goes on the network in one piece: one SendGrid request, one SMTP message."""

    recipients: list[Recipient]
    batch: int = 0
    handed: bool = False  # its bytes may have gone out
    lost: bool = False  # no longer this worker's (`Lost`): never noted, never sent
    message: tuple[str, bytes, bool] | None = None  # SMTP: (sender, bytes, dotted) made ahead

    @property
    def span(self) -> tuple[int, int]:
        """Its lowest and highest subscriber id: what a handed note covers."""
        ids = [r.subscriber_id for r in self.recipients]
        return min(ids), max(ids)


def normalised(unit: Unit, results: Sequence[SendResult]) -> list[SendResult]:
    """One final result (sent | failed | unknown) per recipient of the unit."""
    ids = {r.subscriber_id for r in unit.recipients}
    final = [
        r
        if r.status in (SENT, FAILED, UNKNOWN)
        else SendResult(r.subscriber_id, UNKNOWN, r.detail or f"backend said {r.status!r}")
        for r in results
        if r.subscriber_id in ids
    ]
    seen = {r.subscriber_id for r in final}
    final += [
        SendResult(r.subscriber_id, UNKNOWN, "backend returned no result")
        for r in unit.recipients
        if r.subscriber_id not in seen
    ]
    return final


@dataclass(frozen=True)
class Pace:
    """What a backend has learned about its server, shared by the processes of one send."""

    sessions: int  # connections open now
    limit: int  # connections it allows itself now
    rate: float  # messages a second it allows itself; 0: not limited
    throttled: bool  # the server asked it to slow down, and it waits or probes
    throttled_s: float  # seconds since the server last accepted a message, while throttled
    refusals: int  # throttling replies and refused greetings so far


Done = tuple[Unit, Sequence[SendResult]]  # a unit and its results


class Feed(Protocol):
    """Where a lane gets its units and leaves their results (threads: any).

    `take` the next unit (None: no more; with block=False, None also when none is ready right
    now: `ended` tells the two apart); `handing` returns once the unit is noted as handed to
    the network (raises Stopped when the send stops first); `note` asks that for several units
    without waiting: its event is set once they are noted (each then has `handed`), or the send
    stopped (they have not); `report` hands over results and asks for notes at once, so that
    one commit stores both. `unnote` drops the notes of units refused before they could be
    delivered (they will go again); `give_back` returns a unit that this lane will not send
    (the send stops) to the queue. `done` records a unit's results. `stopping` says the send is
    stopping; `watch` names a function to call (from any thread) when `take`, `note` or
    `stopping` may have news."""

    def take(self, block: bool = True) -> Unit | None: ...

    def ended(self) -> bool: ...

    def stopping(self) -> bool: ...

    def handing(self, unit: Unit) -> None: ...

    def note(self, units: Sequence[Unit]) -> threading.Event: ...

    def report(self, done: Sequence[Done], noting: Sequence[Unit]) -> threading.Event: ...

    def unnote(self, units: Sequence[Unit]) -> None: ...

    def give_back(self, unit: Unit) -> None: ...

    def done(self, unit: Unit, results: Sequence[SendResult]) -> None: ...

    def watch(self, wake: Callable[[], None] | None) -> None: ...


@dataclass
class ListFeed:
    """A feed over a fixed list of units, for `send` calls outside the batch loop."""

    units: list[Unit]
    results: dict[int, list[SendResult]] = field(default_factory=dict)
    _next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, block: bool = True) -> Unit | None:
        with self._lock:
            if self._next >= len(self.units):
                return None
            self._next += 1
            return self.units[self._next - 1]

    def ended(self) -> bool:
        with self._lock:
            return self._next >= len(self.units)

    def stopping(self) -> bool:
        return False

    def handing(self, unit: Unit) -> None:
        unit.handed = True

    def note(self, units: Sequence[Unit]) -> threading.Event:
        for unit in units:
            unit.handed = True
        ready = threading.Event()
        ready.set()
        return ready

    def report(self, done: Sequence[Done], noting: Sequence[Unit]) -> threading.Event:
        for unit, results in done:
            self.done(unit, results)
        return self.note(noting)

    def unnote(self, units: Sequence[Unit]) -> None:
        for unit in units:
            unit.handed = False

    def give_back(self, unit: Unit) -> None:
        unit.handed = False

    def done(self, unit: Unit, results: Sequence[SendResult]) -> None:
        with self._lock:
            self.results[id(unit)] = list(results)

    def watch(self, wake: Callable[[], None] | None) -> None:
        pass

    def stop(self) -> None:
        with self._lock:
            self._next = len(self.units)

    def in_order(self) -> list[SendResult]:
        with self._lock:
            return [r for u in self.units for r in self.results.get(id(u), [])]


class Backend(ABC):
    name: str = ""
    lanes: int = 1  # threads running `lane`
    units_at_once: int = 1  # units a worker's lanes keep in flight together
    unit_size: int = 0  # recipients per unit (0: a whole batch)
    # Its notes are best committed in its lane's own thread (`Feed.report`): one thread drives
    # every connection and waits for them anyway, so a hand-over to the recorder only adds wait.
    records_inline: bool = False

    def __init__(self, *, max_attempts: int = 5, backoff: float = 0.5, backoff_cap: float = 30.0):
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        # Set while the send stops (`inflight.Flight.stop`): no retry or backoff starts.
        self.stopping = threading.Event()

    def pause(self, attempt: int) -> None:
        """Sleep before retry number ``attempt`` (1-based): exponential with full jitter; a
        stop cuts it short (and the caller then starts no retry)."""
        ceiling = min(self.backoff_cap, self.backoff * (2 ** (attempt - 1)))
        self.stopping.wait(random.uniform(ceiling / 2, ceiling))

    def halt(self) -> None:  # noqa: B027 - optional hook
        """The stop's time is up: stop waiting for answers now (from another thread). What is
        still on the network becomes in doubt."""

    @abstractmethod
    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        """One SendResult per recipient, in the same order."""

    def lane(self, template: MessageTemplate, feed: Feed) -> None:
        """Deliver units from `feed` until it runs dry. Several lanes run at once (threads),
        each on its own connection. This default sends one unit at a time with `send`."""
        while (unit := feed.take()) is not None:
            try:
                feed.handing(unit)
            except Lost:
                feed.give_back(unit)
                continue
            try:
                results = self.send(template, unit.recipients)
            except Unsent:
                feed.give_back(unit)
                continue
            feed.done(unit, results)

    def send_in_lanes(self, template: MessageTemplate, units: list[Unit]) -> list[SendResult]:
        """`send` through `lanes` threads, outside the batch loop (test sends, tests); results
        in the units' order. A fatal error stops the lanes and is raised with what finished."""
        feed, errors = ListFeed(units), list[BaseException]()

        def lane() -> None:
            try:
                self.lane(template, feed)
            except BaseException as exc:  # noqa: BLE001 - raised below, in the caller
                feed.stop()
                errors.append(exc)

        threads = [threading.Thread(target=lane) for _ in range(min(self.lanes, len(units)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results = feed.in_order()
        if errors and isinstance(errors[0], BackendConfigError):  # RelayOutage too
            raise type(errors[0])(str(errors[0]), results)
        if errors:
            raise errors[0]
        return results

    def prepare(self, template: MessageTemplate, units: Sequence[Unit]) -> None:  # noqa: B027
        """Work done on a batch's units before any lane takes them, in the thread that claims
        and prepares batches (optional hook)."""

    def pace(self) -> Pace | None:
        """What this backend has learned about its server (None: nothing to share)."""
        return None

    def heed(self, peers: list[Pace]) -> None:  # noqa: B027 - optional hook
        """What the send's other processes learned (from another thread)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend may not be used afterwards."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
