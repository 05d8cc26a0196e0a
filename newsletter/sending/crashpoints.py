"""Crash points for the crash tests: `NEWSLETTER_TEST_CRASH_AT=stage:batch` SIGKILLs the
process there (the send's stages: start, claimed, sent, recorded; `newsletter mailbox`'s:
mailbox-written), and `NEWSLETTER_TEST_BATCH_DELAY` slows the batch loop down. Unset, they
cost one lookup."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

CRASH_AT = "NEWSLETTER_TEST_CRASH_AT"


def test_hook(stage: str, batch: int) -> None:
    """Crash tests only: NEWSLETTER_TEST_CRASH_AT=stage:batch SIGKILLs this process there."""
    if os.environ.get(CRASH_AT) == f"{stage}:{batch}":
        os.kill(os.getpid(), signal.SIGKILL)
    if stage == "recorded" and os.environ.get("NEWSLETTER_TEST_BATCH_DELAY"):
        time.sleep(float(os.environ["NEWSLETTER_TEST_BATCH_DELAY"]))


def held_batch() -> int | None:
    """Crash tests: with CRASH_AT=sent:N, batch N's outcomes are held back until all of them
    are in, then the process dies before storing them (delivered, not recorded)."""
    stage, _, number = os.environ.get(CRASH_AT, "").partition(":")
    return int(number) if stage == "sent" and number.isdigit() else None


class HeldBatch:
    """Crash tests: with CRASH_AT=sent:N the recorder stores none of batch N's outcomes; once
    all of them are in, the process dies (delivered, not recorded)."""

    def __init__(self) -> None:
        self.number = held_batch()
        self.held: list[Any] = []

    def filter(self, items: list[Any], batches: dict[int, Any]) -> list[Any]:
        """`items` ((unit, results) pairs) without those of the held batch."""
        if self.number is None:
            return items
        self.held += [item for item in items if item[0].batch == self.number]
        batch = batches.get(self.number)
        if batch is not None and len(self.held) == batch.units:
            test_hook("sent", self.number)
        return [item for item in items if item[0].batch != self.number]
