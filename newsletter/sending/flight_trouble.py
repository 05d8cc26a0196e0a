"""What a `Flight` decides when things go wrong, apart from its threads and locks: the units a
failed lane held (`interrupted`), and the units that are no longer the worker's when the
database comes back after an outage (`lost`, `recheck`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from newsletter.errors import BackendConfigError
from newsletter.models import UNKNOWN, SendResult
from newsletter.sending import ledger
from newsletter.sending.delivery.base import Unit

if TYPE_CHECKING:
    from newsletter.sending.inflight import Flight


def interrupted(
    units: Iterable[Unit], exc: BaseException
) -> tuple[list[tuple[Unit, list[SendResult]]], list[Unit], list[int]]:
    """The units a lane held when `exc` stopped it: (units with results to record, units to
    give back whole, subscriber ids to put back in the queue). What the backend finished is
    kept; what it never put on the network goes back; an unexpected error leaves what it did
    hand out `unknown`."""
    finished = {r.subscriber_id: r for r in getattr(exc, "results", None) or []}
    done: list[tuple[Unit, list[SendResult]]] = []
    back: list[Unit] = []
    release: list[int] = []
    for unit in units:
        ours = [finished[r.subscriber_id] for r in unit.recipients if r.subscriber_id in finished]
        rest = [r for r in unit.recipients if r.subscriber_id not in finished]
        if unit.handed and not isinstance(exc, BackendConfigError):
            ours += [
                SendResult(r.subscriber_id, UNKNOWN, f"interrupted while sending: {exc!r}")
                for r in rest
            ]
        elif not ours:
            back.append(unit)  # none of it went out
            continue
        else:
            release += [r.subscriber_id for r in rest]
        unit.recipients = [r for r in unit.recipients if r.subscriber_id not in release]
        done.append((unit, ours))
    return done, back, release


def lost(units: Iterable[Unit], ours: set[int]) -> tuple[list[Unit], list[int]]:
    """Units not yet handed out whose rows are no longer all the worker's (another worker took
    it for dead while the database was away): (those units, their ids still ours, which go
    back to the queue)."""
    gone = [
        u for u in units if not u.handed and any(r.subscriber_id not in ours for r in u.recipients)
    ]
    return gone, [r.subscriber_id for u in gone for r in u.recipients if r.subscriber_id in ours]


def recheck(flight: Flight) -> None:
    """The database is back after an outage, the worker's lock taken again (a hook of its
    `Patience`): units whose rows are no longer ours are `lost` (never sent); what of them is
    still ours goes back to the queue at once."""
    with flight._cv:
        units = [*flight._units, *(u for t in flight._taken.values() for u in t)]
    ids = [r.subscriber_id for u in units if not u.handed for r in u.recipients]
    gone, back = lost(units, ledger.owned(flight.engine, flight.send_id, flight.worker, ids))
    if back:
        ledger.release(flight.engine, flight.send_id, flight.worker, back)
    with flight._cv:
        for unit in gone:
            unit.lost = True
            if unit in flight._units:  # not taken: finished here
                flight._units.remove(unit)
                flight._waiting -= len(unit.recipients)
                flight._finish_unsent(unit)
        flight._cv.notify_all()
