"""What the recorder of a `Flight` writes, one transaction at a time: the outcomes the server
confirmed, the notes of units about to be handed to the network (and the notes dropped, with
the outcome or when a unit was refused before it could be delivered), and, about once a second,
what the backend learned about its server, shared with the send's other processes."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine

from newsletter.models import SendResult
from newsletter.sending import ledger, pacing
from newsletter.sending.delivery.base import Backend, Unit
from newsletter.sending.handed import HandedMark
from newsletter.sending.workers import Worker

PACE_EVERY = 1.0  # seconds between two writes of this worker's pace


class Store:
    def __init__(self, engine: Engine, send_id: int, worker: Worker, backend: Backend):
        self.engine, self.send_id, self.worker, self.backend = engine, send_id, worker, backend
        self.mark = HandedMark(engine, send_id, worker)
        self.pace_due = 0.0 if backend.pace() is not None else float("inf")
        self._conn: Connection | None = None  # kept between commits: a checkout costs more
        self._lock = threading.Lock()  # its connection, one thread at a time

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A transaction on this store's own connection (a new one after a failure)."""
        if self._conn is None:
            self._conn = self.engine.connect()
        try:
            with self._conn.begin():
                yield self._conn
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # it may be the broken one
                self._conn.close()
            self._conn = None

    def commit(
        self,
        items: Sequence[tuple[Unit, list[SendResult]]],
        handing: Sequence[Unit],
        unhanding: Sequence[Unit],
    ) -> None:
        """One transaction: the outcomes (their notes dropped), the notes of units refused
        before delivery dropped, and the new notes."""
        with self._lock, self._transaction() as conn:
            if items:
                results = [r for _, rs in items for r in rs]
                ledger.record_in(conn, self.send_id, self.worker, results)
                self.mark.settle(conn, [u.span for u, _ in items if u.handed])
            if unhanding:
                self.mark.settle(conn, [u.span for u in unhanding])
            if handing:
                self.mark.hand(conn, list({u.span for u in handing}))
            if time.monotonic() >= self.pace_due:
                self._share_pace(conn)

    def share_pace_if_due(self) -> None:
        if time.monotonic() >= self.pace_due:
            with self._lock, self._transaction() as conn:
                self._share_pace(conn)

    def _share_pace(self, conn: Connection) -> None:
        pace = self.backend.pace()
        if pace is None:
            return
        pacing.write(conn, self.send_id, self.worker.id, pace)
        self.backend.heed(pacing.peers(conn, self.send_id, self.worker.id))
        self.pace_due = time.monotonic() + PACE_EVERY
