"""`--rate`: keep a send at or under N messages per second."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pace:
    """After `done` messages, sleep until at least done / per_second seconds have passed since
    the start (0 = no limit). The clock and sleep are parameters for tests."""

    def __init__(
        self,
        per_second: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.per_second, self.clock, self.sleep = per_second, clock, sleep
        self.start = clock()

    def wait(self, done: int) -> None:
        if self.per_second > 0:
            ahead = done / self.per_second - (self.clock() - self.start)
            if ahead > 0:
                self.sleep(ahead)
