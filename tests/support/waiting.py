"""Waiting for an event in a test: poll a condition until it holds, never sleep a fixed time.

A fixed sleep guesses how long the machine needs and fails (or passes for the wrong reason) on
a loaded one; `wait_until` waits for the event itself, however long it takes up to a generous
timeout, and then names what never happened. Where the code under test itself waits out a
period (a pause, an idle limit), `ManualClock` lets the test move its clock instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotInTime(AssertionError):
    """The awaited condition did not hold within the timeout."""


def wait_until(
    condition: Callable[[], T],
    timeout: float = 60,
    *,
    what: str = "",
    interval: float = 0.01,
    ignore: tuple[type[BaseException], ...] = (),
    detail: Callable[[], str] | None = None,
) -> T:
    """Call `condition` until it returns something truthy and return that. Exceptions of the
    `ignore` types count as "not yet". After `timeout` seconds raise NotInTime naming `what`
    (or the condition), with the last value or exception seen and `detail()` (a log's tail)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = condition()
        except ignore as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise NotInTime(_message(condition, timeout, what, last, detail))
        time.sleep(interval)


def _message(
    condition: Callable[[], object],
    timeout: float,
    what: str,
    last: object,
    detail: Callable[[], str] | None,
) -> str:
    awaited = what or getattr(condition, "__qualname__", repr(condition))
    text = f"timed out after {timeout:g} s waiting for {awaited} (last seen: {last!r})"
    return f"{text}\n{detail()}" if detail else text


class ManualClock:
    """A stand-in for the `time` module of the code under test: `monotonic()` moves only when
    the test calls `advance()`, and `sleep()` blocks until it has moved far enough. `sleeping`
    counts the threads blocked in it, so a test can wait until everyone is waiting."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeping = 0
        self._moved = threading.Condition()

    def monotonic(self) -> float:
        with self._moved:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._moved:
            until = self.now + seconds
            self.sleeping += 1
            try:
                self._moved.wait_for(lambda: self.now >= until, timeout=120)
            finally:
                self.sleeping -= 1

    def advance(self, seconds: float) -> None:
        with self._moved:
            self.now += seconds
            self._moved.notify_all()
