"""The governor (how many sessions, how many messages a second) on a clock of the test's own:
each rule by itself, then whole sends against simulated relays that throttle the way Postfix
and SES do, to show the send converges on what the relay accepts instead of hammering it."""

from __future__ import annotations

import heapq
import math

from newsletter.sending.delivery.base import Pace
from newsletter.sending.delivery.smtp.governor import START, Governor, State


def test_sessions_start_a_few_at_once_then_one_at_a_time() -> None:
    g = Governor(10)
    assert g.may_open(0, 0, 0.0) and g.may_open(1, 1, 0.0)  # the first few together
    assert not g.may_open(START, START, 0.0)  # then one at a time ...
    assert g.may_open(START, 0, 0.0)  # ... once the last one is greeted
    assert not g.may_open(10, 0, 0.0)  # never past smtp_connections


def test_a_refused_greeting_caps_the_sessions_and_one_more_is_tried_later() -> None:
    g = Governor(10, pause=1.0)
    g.refused(greeted=4, now=100.0)
    assert g.limit == 4 and not g.may_open(4, 0, 101.0)
    assert g.may_open(4, 0, 105.0)  # after the wait (5 x pause): one more ...
    assert not g.may_open(5, 1, 105.0)  # ... alone
    g.refused(greeted=4, now=105.1)  # refused again: the next try waits twice as long
    assert not g.may_open(4, 0, 114.0) and g.may_open(4, 0, 115.2)


def test_no_session_at_all_after_a_refusal_with_none_up() -> None:
    g = Governor(10, pause=1.0)
    g.refused(greeted=0, now=0.0)
    assert not g.may_open(0, 0, 1.0) and g.may_open(0, 0, 5.0)


def test_throttling_pauses_then_probes_alone_and_doubles_the_pause_while_refused() -> None:
    g = Governor(10, pause=1.0)
    for t in range(10):
        g.started(t / 100)
        g.accepted(t / 100 + 0.01, probe=False)
    g.throttled(0.2, probe=False)
    assert g.state is State.PAUSED and g.start_at(0.5) == 1.2
    assert g.rate is not None and 0 < g.rate < 10 / 0.1  # 0.7 x what was accepted
    assert g.start_at(1.2) == 1.2 and g.started(1.2) is True  # the probe
    assert g.start_at(1.3) == math.inf  # nothing else while the probe is out
    g.throttled(1.3, probe=False)  # one started before the pause: no new decrease
    g.throttled(1.4, probe=True)
    assert g.start_at(1.5) == 1.4 + 2.0  # refused probe: twice the pause (at most)
    assert g.start_at(3.4) == 3.4 and g.started(3.4) is True
    g.accepted(3.5, probe=True)
    assert g.state is State.OPEN and g.start_at(3.5) <= 3.5


def test_outage_counts_throttled_time_without_an_accepted_message() -> None:
    g = Governor(10, pause=1.0, outage=600.0)
    g.throttled(0.0, probe=False)
    assert not g.outage_over(599.0) and g.outage_over(600.0)
    g.accepted(300.0, probe=False)
    assert not g.outage_over(700.0)


def test_peers_share_what_they_learn() -> None:
    g = Governor(10, pause=1.0)
    g.heed([Pace(4, 10, 25.0, False, 0.0, 3)], now=0.0)
    assert g.rate == 25.0  # a process joining a throttled send starts at its peers' pace
    g.heed([Pace(4, 10, 25.0, True, 2.0, 5)], now=1.0)  # a peer met a new refusal
    assert g.state is State.PAUSED
    snapshot = g.snapshot(sessions=3, now=2.0)
    assert snapshot.throttled and snapshot.limit <= 10 and snapshot.rate < 25.0


# --- whole sends against simulated relays --------------------------------------------------


def simulate(relay, messages: int, sessions: int = 10, service: float = 0.025) -> tuple[float, int]:  # noqa: ANN001
    """A send of `messages` through `sessions` sessions that each take `service` seconds a
    message, paced by a governor, against `relay(now) -> accepted?`. Returns (seconds, refusals)."""
    g = Governor(40, pause=1.0)
    now, left, refusals = 0.0, messages, 0
    busy: list[tuple[float, bool, bool]] = []  # (ends at, probe, accepted)
    waiting = messages
    while left:
        free = sessions - len(busy)
        while free and waiting and g.start_at(now) <= now:
            probe = g.started(now)
            heapq.heappush(busy, (now + service, probe, relay(now)))
            free, waiting = free - 1, waiting - 1
        next_start = g.start_at(now) if waiting and free else math.inf
        now = min(busy[0][0] if busy else math.inf, max(next_start, now + 1e-6))
        while busy and busy[0][0] <= now:
            _, probe, accepted = heapq.heappop(busy)
            if accepted:
                g.accepted(now, probe)
                left -= 1
            else:
                g.throttled(now, probe)
                refusals += 1
                waiting += 1
    return now, refusals


class FixedWindow:
    """Postfix's anvil: at most `limit` MAIL commands per client in a window of `unit` seconds
    that opens at the first command after the last one closed; refused ones count too."""

    def __init__(self, limit: int = 500, unit: float = 10.0):
        self.limit, self.unit, self.start, self.count = limit, unit, -math.inf, 0

    def __call__(self, now: float) -> bool:
        if now > self.start + self.unit:
            self.start, self.count = now, 0
        self.count += 1
        return self.count <= self.limit


class TokenBucket:
    """SES: `rate` messages a second, a burst of one second's worth."""

    def __init__(self, rate: float = 14.0):
        self.rate, self.tokens, self.at = rate, rate, 0.0

    def __call__(self, now: float) -> bool:
        self.tokens = min(self.rate, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def test_a_postfix_message_rate_limit_is_met_within_its_own_time_and_not_hammered() -> None:
    """2,000 messages against 500 per 10 s (the Postfix lab's throttled listener): the limit's
    own time is 40 s; the send takes at most 1.3 times that and meets few refusals (a client
    that hammered would meet thousands)."""
    seconds, refusals = simulate(FixedWindow(), 2000)
    assert seconds <= 1.3 * 40
    assert refusals <= 100


def test_an_ses_sending_rate_is_converged_on() -> None:
    seconds, refusals = simulate(TokenBucket(14.0), 600)
    assert seconds <= 1.3 * 600 / 14
    assert refusals <= 60


def test_connections_tried_together_that_fail_count_as_one_try() -> None:
    """Two connections opened at once to a relay that is down fail together: one failed try,
    so the backoff grows once a round, not once a connection."""
    governor = Governor(40, pause=1.0)
    governor.connect_failed(10.0, 0.5, greeted=0)
    governor.connect_failed(10.001, 1.0, greeted=0)  # its partner, same round
    assert governor.failures == 1
    assert governor.may_open(0, 0, 10.4) is False and governor.may_open(0, 0, 10.6) is True
    governor.connect_failed(10.6, 1.0, greeted=0)  # the next round
    assert governor.failures == 2
