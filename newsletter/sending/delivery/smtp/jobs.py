"""The units the engine holds, and what each outcome makes of them: a result for the feed, a
retry later (a timer in the retry heap), or the unit given back when the send stops. Throttling
replies tell the governor and do not count as attempts; other 4xx replies and lost connections
count, up to the backend's attempt limit, then the message fails with the last reason."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from newsletter.errors import BackendConfigError
from newsletter.models import FAILED, SENT, UNKNOWN, SendResult
from newsletter.sending.delivery.base import Done, Feed, Unit
from newsletter.sending.delivery.smtp.outcomes import Outcome, Verdict

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp.backend import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate


@dataclass(eq=False, slots=True)
class Job:
    unit: Unit
    sender: str
    data: bytes  # rendered once, kept for its retries
    dotted: bool = True  # a line of it may begin with a dot
    attempts: int = 0  # failed attempts (throttling replies do not count)
    probe: bool = False  # sent alone after a pause (the governor's probe)

    @property
    def rcpt(self) -> str:
        return self.unit.recipients[0].email


class Jobs:
    def __init__(
        self,
        backend: SMTPBackend,
        template: MessageTemplate,
        feed: Feed,
        fail: Callable[[BaseException], None],
    ):
        self.backend, self.template, self.feed, self.fail = backend, template, feed, fail
        self.governor = backend.governor
        self.waiting: deque[Job] = deque()  # taken or due, not started
        self.retries: list[tuple[float, int, Job]] = []  # (due, tie, job)
        self.flying: dict[Unit, Job] = {}  # on a connection
        self.finished: list[Done] = []  # results not handed to the feed yet
        self.stopping = False  # give back instead of retrying
        self.last_refusal = ""  # the relay's last throttling reply, for the outage line
        self._tie = itertools.count()

    @property
    def idle(self) -> bool:
        return not (self.waiting or self.retries)

    def next_due(self) -> float:
        return self.retries[0][0] if self.retries else float("inf")

    def next(self, now: float, peek: bool = False) -> Job | None:
        """The next job to start: a retry that is due, else a new unit from the feed (its
        message rendered now, unless the backend's `prepare` rendered it ahead)."""
        while self.retries and self.retries[0][0] <= now:
            self.waiting.append(heapq.heappop(self.retries)[2])
        if not self.waiting:
            unit = self.feed.take(block=False)
            if unit is None:
                return None
            made, unit.message = unit.message, None  # the Job keeps it from now on
            if made is None:
                recipient = unit.recipients[0]
                data, dotted = self.template.render_checked(recipient)
                made = (self.template.envelope_sender(recipient), data, dotted)
            self.waiting.append(Job(unit, made[0], made[1], dotted=made[2]))
        return self.waiting[0] if peek else self.waiting.popleft()

    def start(self, job: Job, now: float) -> None:
        job.probe = self.governor.started(now)
        self.flying[job.unit] = job

    def done(self, job: Job, status: str, detail: str) -> None:
        """Its result, handed to the feed with this turn's notes (`Notes.ask`)."""
        result = SendResult(job.unit.recipients[0].subscriber_id, status, detail)
        self.finished.append((job.unit, [result]))

    def settled(self, unit: Unit, outcome: Outcome, now: float) -> None:
        job = self.flying.pop(unit)
        verdict, detail, governor = outcome.verdict, outcome.detail, self.governor
        if verdict is Verdict.SENT:
            governor.accepted(now, job.probe)
            self.done(job, SENT, detail)
            return
        if verdict is Verdict.THROTTLED:
            governor.throttled(now, job.probe)
            self.last_refusal = detail
            self.again(job, now)
            return
        governor.other(job.probe)
        if verdict is Verdict.REFUSED:
            self.done(job, FAILED, detail)
        elif verdict is Verdict.IN_DOUBT:
            self.done(job, UNKNOWN, detail)
        elif verdict is Verdict.SENDER_REFUSED:
            self.fail(BackendConfigError(self.backend.refused_sender(job.sender, detail)))
            self.again(job, now)
        else:
            job.attempts += 1
            if job.attempts >= self.backend.max_attempts:
                self.done(job, FAILED, f"gave up after {job.attempts} attempts: {detail}")
            else:
                self.again(job, now + self.backend.backoff_for(job.attempts))

    def again(self, job: Job, due: float) -> None:
        """Not delivered: its note (if any) is dropped; it goes again at `due`, or back to the
        feed when the send stops."""
        if job.unit.handed:
            self.feed.unnote([job.unit])
        if self.stopping or job.unit.lost:  # a lost unit is another worker's now
            self.feed.give_back(job.unit)
        else:
            heapq.heappush(self.retries, (due, next(self._tie), job))

    def noted_late(self, unit: Unit) -> None:
        """A note committed after its message was settled: drop it unless the unit is on a
        connection again (a crash must not count a unit waiting for its retry in doubt)."""
        if unit.handed and unit not in self.flying and not self.stopping:
            self.feed.unnote([unit])

    def give_back_all(self) -> None:
        self.stopping = True
        for job in [*self.waiting, *(job for _, _, job in self.retries)]:
            self.feed.give_back(job.unit)
        self.waiting.clear()
        self.retries.clear()
