"""How hard to push the relay, learned from what it answers: how many sessions, and how many
messages a second. Pure logic on a clock the engine passes in.

Sessions. A send opens a few at once (`START`), then one more at a time while work waits and no
greeting is refused, up to `smtp_connections`. A `421` at the greeting (Postfix's connection
limit) caps the sessions at those greeted, and one more is tried only after a wait that doubles
with each refusal (5 to 60 times the first pause). So a relay allowing N sees at most N greeted
sessions, plus one being refused.

Messages. A throttling reply (`Reply.throttling`: 421, 450/451 4.7.x, 454) begins an episode:
the rate drops to `DECREASE` times the rate the relay accepted over the last `WINDOW` seconds
(or the rate in force), the sessions to `DECREASE` times as many, and no message starts for a
pause; then one message goes alone, as a probe. Refused, the pause doubles (up to twice the
first: a window-based limit like Postfix's reopens without warning); accepted, sending resumes
at the new rate, which grows by `GROWTH` a second while the relay keeps accepting. So the send
converges on what the relay accepts instead of hammering it, and refused messages are retried,
never failed.

Time spent throttled (no message accepted since the first refusal), or with every connection
failing, counts toward `outage_timeout`; past it the send stops. Failed connections are retried
after a backoff that doubles (up to `backoff_cap`), so a relay back from an outage is used again
within one backoff step.
"""

from __future__ import annotations

import enum
import math
from collections import deque

from newsletter.sending.delivery.base import Pace

START = 2  # sessions opened at once at first
DECREASE = 0.7
GROWTH = 0.05  # of the rate, per second without throttling
WINDOW = 2.0  # seconds over which the accepted rate is measured
FLOOR = 0.2  # messages a second, at the least
PAUSE_MOST = 2  # times the first pause: a probe at least every 2 s while throttled
REGROW = (5, 60)  # pauses to wait before one more session after a refused greeting: first, most


class State(enum.Enum):
    OPEN = "open"
    PAUSED = "paused"
    PROBING = "probing"


class Governor:
    def __init__(self, cap: int, *, pause: float = 1.0, outage: float = 600.0):
        self.cap = self.limit = max(1, cap)
        self.pause_first, self.outage = pause, outage
        self.state = State.OPEN
        self.rate: float | None = None
        self.refusals = 0
        self._pause = pause
        self._until = 0.0  # end of the pause
        self._probe = False  # the probe is on its way
        self._next_start = 0.0  # pacing: when the next message may start
        self._grown_at = 0.0
        self._accepted: deque[float] = deque()
        self._throttled_since: float | None = None
        self._regrow = REGROW[0] * pause
        self._regrow_at = 0.0  # after a refused greeting, no more sessions before this
        self._peer_refusals = 0
        self.failures = 0  # connections that could not be made, in a row
        self._open_after = 0.0

    # --- sessions ------------------------------------------------------------------------------

    def may_open(self, sessions: int, opening: int, now: float) -> bool:
        """One more connection now? (`sessions` open or being opened, `opening` of them not
        welcomed with a 220 yet.)"""
        if now < self._open_after:
            return False
        if self.limit < self.cap and now >= self._regrow_at and not opening:
            self.limit += 1  # after the wait, try one more
            self._regrow_at = math.inf  # until it is greeted or refused
        return sessions < self.limit and (opening == 0 or sessions < START)

    def greeted(self, now: float) -> None:
        self.failures = 0
        if self._regrow_at == math.inf:
            self._regrow_at = now  # that one was taken: the next may follow at once

    def connect_failed(self, now: float, wait: float, greeted: int) -> None:
        """A connection could not be made (refused, timed out): no other is tried for `wait`
        seconds. With no session up (`greeted`), the relay is down: an outage begins."""
        if now >= self._open_after:  # connections tried together fail as one try
            self.failures += 1
            self._open_after = now + wait
        if greeted == 0 and self._throttled_since is None:
            self._throttled_since = now

    def refused(self, greeted: int, now: float) -> None:
        """A greeting was refused while `greeted` other sessions were up."""
        self.refusals += 1
        self.limit = greeted  # none at all, until the wait is over
        self._regrow_at = now + self._regrow
        self._regrow = min(self._regrow * 2, REGROW[1] * self.pause_first)
        if greeted == 0 and self._throttled_since is None:
            self._throttled_since = now

    # --- messages ------------------------------------------------------------------------------

    def start_at(self, now: float) -> float:
        """When the next message may start (<= now: at once)."""
        if self.state is State.PAUSED:
            if now < self._until:
                return self._until
            self.state, self._probe = State.PROBING, False
        if self.state is State.PROBING:
            return math.inf if self._probe else now
        return self._next_start if self.rate else now

    def started(self, now: float) -> bool:
        """A message starts now; True when it is the probe."""
        if self.state is State.PROBING:
            self._probe = True
            return True
        if self.rate:
            self._next_start = max(now, self._next_start) + 1 / self.rate
        return False

    def accepted(self, now: float, probe: bool) -> None:
        self._throttled_since = None
        self._accepted.append(now)
        while self._accepted[0] < now - WINDOW:
            self._accepted.popleft()
        if probe and self.state is State.PROBING:
            self.state, self._pause = State.OPEN, self.pause_first
            self._next_start = self._grown_at = now
        elif self.state is State.OPEN and self.rate:
            self.rate *= (1 + GROWTH) ** max(0.0, now - self._grown_at)
            self._grown_at = now

    def throttled(self, now: float, probe: bool) -> None:
        """A throttling reply to a message (`probe`: the one sent alone after a pause)."""
        self.refusals += 1
        if self._throttled_since is None:
            self._throttled_since = now
        if self.state is State.OPEN:
            self._decrease(now)
        elif probe and self.state is State.PROBING:
            self._pause = min(self._pause * 2, PAUSE_MOST * self.pause_first)
        else:
            return  # started before the pause: the episode already counts it
        self.state, self._until = State.PAUSED, now + self._pause

    def other(self, probe: bool) -> None:
        """The probe ended some other way (a 5xx, a lost connection): not throttled."""
        if probe and self.state is State.PROBING:
            self.state = State.OPEN

    def _decrease(self, now: float) -> None:
        while self._accepted and self._accepted[0] < now - WINDOW:
            self._accepted.popleft()
        span = max(now - self._accepted[0], 0.05) if self._accepted else WINDOW
        measured = len(self._accepted) / span if len(self._accepted) >= 4 else None
        base = min(r for r in (self.rate, measured, math.inf) if r is not None)
        if base != math.inf:
            self.rate = max(FLOOR, DECREASE * base)
        self.limit = max(1, math.ceil(self.limit * DECREASE))

    # --- outage and sharing --------------------------------------------------------------------

    def outage_over(self, now: float) -> bool:
        since = self._throttled_since
        return since is not None and now - since >= self.outage

    def snapshot(self, sessions: int, now: float) -> Pace:
        since = self._throttled_since
        return Pace(
            sessions=sessions,
            limit=self.limit,
            rate=self.rate or 0.0,
            throttled=self.state is not State.OPEN,
            throttled_s=0.0 if since is None else now - since,
            refusals=self.refusals,
        )

    def heed(self, peers: list[Pace], now: float) -> None:
        """Learn from the send's other processes: a fresh process starts at their rate, and one
        sending at full speed pauses when a peer meets a new throttling reply."""
        rates = [p.rate for p in peers if p.rate]
        if self.rate is None and rates:
            self.rate = min(rates)
            self._grown_at = now
        seen, self._peer_refusals = self._peer_refusals, sum(p.refusals for p in peers)
        fresh = self._peer_refusals > seen and any(p.throttled for p in peers)
        if fresh and self.state is State.OPEN:
            self._decrease(now)
            self.state, self._until = State.PAUSED, now + self._pause
