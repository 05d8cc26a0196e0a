"""`newsletter worker`: claim batches of any running send until stopped, on any machine."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db.connection import reading
from newsletter.sending import sends, workers
from newsletter.sending.batches import Callback, deliver
from newsletter.sending.delivery import make_backend
from newsletter.sending.delivery.base import Backend
from newsletter.sending.stopping import STOP


def run_worker(
    engine: Engine,
    settings: Settings,
    *,
    once: bool = False,
    poll: float = 2.0,
    on_progress: Callback | None = None,
    only_send: int | None = None,
    rate: float | None = None,
) -> int:
    """Claim batches of any running send (or only `only_send`) until stopped (or, with `once`,
    until none has queued rows). Returns how many recipients this worker processed."""
    worker = workers.Worker(engine, settings.db_outage_timeout)
    backends: dict[str, Backend] = {}
    done = 0
    try:
        while True:
            with reading(engine) as conn:
                running = [s for s in sends.running_sends(conn) if only_send in (None, s.id)]
            busy = False
            for send in running:
                if STOP.asked:
                    return done
                workers.recover(engine, send.id)
                with engine.begin() as conn:
                    workers.join(conn, send.id, worker)
                if send.backend not in backends:
                    backends[send.backend] = make_backend(send.backend, settings)
                progress = deliver(
                    engine,
                    settings,
                    send.id,
                    worker,
                    backends[send.backend],
                    rate=rate,
                    on_progress=on_progress,
                )
                done += progress.this_run
                busy = busy or progress.this_run > 0
            if (once and not busy) or STOP.asked:
                return done
            if not busy:
                STOP.wait(poll)
    finally:
        for backend in backends.values():
            backend.close()
        worker.close()
