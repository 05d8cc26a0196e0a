"""A graceful stop of this process's sends (Ctrl-C, SIGTERM from systemd or a deploy).

Once asked (`STOP.ask`, by the CLI's signal handling), the batch loop claims nothing more, the
lanes take no new unit and start no retry or backoff, and what is already on the network
finishes for up to `stop_timeout` seconds and is recorded; units claimed ahead go back to the
queue. It is `send --cancel`'s path (`inflight.Flight.abort`), asked from inside the process.

The request is process-wide because a signal is: every send loop of the process listens
(`listening`), and one that starts after the request stops at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# What a `send` sends its helper processes when it stops: only ever a graceful stop for them.
FORWARDED = signal.SIGUSR1


class StopRequest:
    def __init__(self) -> None:
        self.signal = 0  # the signal that asked (0: none yet)
        self.at = 0.0  # when (monotonic)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._event = threading.Event()

    @property
    def asked(self) -> bool:
        return self.signal != 0

    def ask(self, signal: int) -> None:
        """Stop gracefully (the first request counts; later ones change nothing). Never call
        this from a signal handler: listeners take locks the interrupted thread may hold."""
        with self._lock:
            if self.signal:
                return
            self.signal, self.at = signal, time.monotonic()
            listeners = list(self._listeners)
        self._event.set()
        for listener in listeners:
            listener()

    def wait(self, seconds: float) -> None:
        """Sleep, cut short by a stop."""
        self._event.wait(seconds)

    def left(self, stop_timeout: float) -> float:
        """Seconds left to wait for what is on the network (0 once `stop_timeout` is up)."""
        return max(0.0, self.at + stop_timeout - time.monotonic())

    @contextmanager
    def listening(self, listener: Callable[[], None]) -> Iterator[None]:
        """Call `listener` (from another thread) when a stop is asked while inside."""
        with self._lock:
            self._listeners.append(listener)
            asked = bool(self.signal)
        if asked:
            listener()
        try:
            yield
        finally:
            with self._lock:
                self._listeners.remove(listener)

    def reset(self) -> None:
        """Forget a request (tests that run several stops in one process)."""
        with self._lock:
            self.signal, self.at = 0, 0.0
            self._event.clear()


STOP = StopRequest()
