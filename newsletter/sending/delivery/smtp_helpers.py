"""Helper threads of the SMTP loop (`smtp_loop`): each delivers one message at a time with
`SMTPBackend.deliver` (retries, backoff, reconnects) on its own connection.

The loop hands them what it cannot finish on its own connections (a 4xx, a 421, a lost
connection), and every message when the server cannot pipeline (`lockstep`: up to
`smtp_connections` of them, each in lockstep on its connection). Connections they leave open
are kept for the next batch.
"""

from __future__ import annotations

import smtplib
import threading
from queue import SimpleQueue
from typing import TYPE_CHECKING

from newsletter.sending.delivery.base import Feed, Unit

if TYPE_CHECKING:
    from newsletter.sending.delivery.smtp import SMTPBackend
    from newsletter.sending.mime.message import MessageTemplate

Job = tuple[Unit, bytes | None, int, str]  # unit, its bytes (None: render), attempt, why


class Trouble:
    """The first error that stops the send, wherever it happened (loop or helper)."""

    def __init__(self) -> None:
        self.error: BaseException | None = None

    def set(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc


class Helpers:
    def __init__(
        self, backend: SMTPBackend, template: MessageTemplate, feed: Feed, trouble: Trouble
    ):
        self.backend, self.template, self.feed, self.trouble = backend, template, feed, trouble
        self.cap = max(1, backend.settings.smtp_connections)
        self._jobs: SimpleQueue[Job | None] = SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._cv = threading.Condition()
        self._open: list[smtplib.SMTP] = []  # connections for the helpers to use

    def adopt(self, smtp: smtplib.SMTP) -> None:
        with self._cv:
            self._open.append(smtp)

    def deliver(self, unit: Unit, data: bytes | None, attempt: int, reason: str) -> None:
        """Deliver `unit` on a helper thread, from attempt number `attempt` (the earlier ones
        failed for `reason`)."""
        with self._cv:
            self._busy += 1
            spawn = self._busy > len(self._threads)
        if spawn:
            thread = threading.Thread(target=self._lane, name="smtp-helper", daemon=True)
            self._threads.append(thread)
            thread.start()
        self._jobs.put((unit, data, attempt, reason))

    def idle(self) -> bool:
        with self._cv:
            return self._busy == 0

    def lockstep(self) -> None:
        """Every unit of the feed through the helpers, at most `cap` at once."""
        while self.trouble.error is None:
            with self._cv:
                while self._busy >= self.cap and self.trouble.error is None:
                    self._cv.wait()
            if self.trouble.error is not None or (unit := self.feed.take()) is None:
                return
            self.deliver(unit, None, 1, "")

    def close(self) -> list[smtplib.SMTP]:
        """Let the helpers finish; the connections they leave open."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()
        return self._open

    def _lane(self) -> None:
        with self._cv:
            smtp = self._open.pop() if self._open else None
        try:
            while (job := self._jobs.get()) is not None:
                unit, data, attempt, reason = job
                try:
                    if self.trouble.error is None:
                        self.feed.handing(unit)
                        smtp, result = self.backend.deliver(
                            smtp,
                            self.template,
                            unit.recipients[0],
                            data=data,
                            first=attempt,
                            reason=reason,
                        )
                        self.feed.done(unit, [result])
                except BaseException as exc:  # noqa: BLE001 - stops the loop, raised there
                    self.trouble.set(exc)
                finally:
                    with self._cv:
                        self._busy -= 1
                        self._cv.notify_all()
        finally:
            if smtp is not None:
                self.adopt(smtp)  # kept for the next batch
