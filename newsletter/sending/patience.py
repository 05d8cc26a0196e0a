"""A worker's patience with its database (PostgreSQL restarted, a network blip): what it
does against the database is tried again with backoff, for up to `db_outage_timeout`
seconds from the moment the database went away, then gives up with `DatabaseUnavailable`.

When the database answers again, before anything else runs against it, the worker takes its
liveness lock again (a restart dropped it) and the hooks run (a flight re-checks its claims);
only then does the waiting call go on. Outcomes confirmed meanwhile wait in memory (the
flight's recorder); no new work is claimed, since claiming is itself a call that waits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Engine

from newsletter.db.errors import gone
from newsletter.errors import DatabaseUnavailable

T = TypeVar("T")
FIRST_PAUSE, PAUSE_CAP = 0.2, 1.0  # seconds: back within a second of the server's return


class Patience:
    def __init__(self, engine: Engine, timeout: float, relock: Callable[[], None]):
        self.engine, self.timeout, self._relock = engine, timeout, relock
        self.hooks: list[Callable[[], None]] = []  # run once the database is back
        self._mutex = threading.Lock()
        self._away_since: float | None = None  # when the database went away (this outage)
        self.woken = threading.Event()  # set to cut the current pause short (a stop)
        self.outages = 0

    @property
    def away(self) -> bool:
        return self._away_since is not None

    def run(self, fn: Callable[[], T], give_up: Callable[[], bool] = lambda: False) -> T:
        """`fn()`, tried again while the database is away; DatabaseUnavailable once it has
        been away for `timeout` seconds, or at once when `give_up()` says so."""
        pause = FIRST_PAUSE
        while True:
            try:
                if self._away_since is not None:
                    self._back()
                return fn()
            except Exception as exc:
                if not gone(exc, self.engine.dialect.name):
                    raise
                since = self._went_away()
                if time.monotonic() - since >= self.timeout or give_up():
                    raise DatabaseUnavailable(
                        f"the database was out of reach for {time.monotonic() - since:.0f} s "
                        f"({type(exc).__name__})"
                    ) from exc
                self.woken.wait(pause)
                pause = min(PAUSE_CAP, pause * 2)

    def _went_away(self) -> float:
        with self._mutex:
            if self._away_since is None:
                self._away_since = time.monotonic()
                self.outages += 1
            return self._away_since

    def _back(self) -> None:
        """The first call after an outage: the lock again, then the hooks (once, whichever
        thread gets here first); raises while the database is still away."""
        with self._mutex:
            if self._away_since is None:
                return
            self._relock()
            for hook in list(self.hooks):
                hook()
            self._away_since = None
