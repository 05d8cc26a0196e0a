"""The backend contract: send a batch of personalised messages, one result per recipient.

Transient trouble (SMTP 4xx, dropped connections, HTTP 429/5xx, timeouts before sending) is
retried inside the backend with exponential backoff and jitter, a bounded number of times; what
still fails becomes FAILED with the reason. Fatal trouble (bad credentials, unreachable server)
raises errors.BackendConfigError, which stops the whole send; its ``results`` list the
recipients of the batch already finished, the others were not attempted.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence

from newsletter.models import Recipient, SendResult
from newsletter.sending.mime.message import MessageTemplate


class Backend(ABC):
    name: str = ""

    def __init__(self, *, max_attempts: int = 5, backoff: float = 0.5, backoff_cap: float = 30.0):
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap

    def pause(self, attempt: int) -> None:
        """Sleep before retry number ``attempt`` (1-based): exponential with full jitter."""
        ceiling = min(self.backoff_cap, self.backoff * (2 ** (attempt - 1)))
        time.sleep(random.uniform(ceiling / 2, ceiling))

    @abstractmethod
    def send(self, template: MessageTemplate, recipients: Sequence[Recipient]) -> list[SendResult]:
        """One SendResult per recipient, in the same order."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; the backend may not be used afterwards."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
