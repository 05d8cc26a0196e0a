"""What became of one message: a closed set of verdicts, and the one rule for "in doubt"."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from newsletter.sending.delivery.smtp.replies import Reply


class Verdict(enum.Enum):
    SENT = "sent"  # 2xx to the end of the message
    REFUSED = "refused"  # 5xx to RCPT, DATA or the end: this recipient fails, with the words
    RETRY = "retry"  # not delivered (a 4xx, or the connection lost before the end left)
    THROTTLED = "throttled"  # not delivered: the relay asks us to slow down (Reply.throttling)
    SENDER_REFUSED = "sender_refused"  # 5xx to MAIL FROM: a setting is wrong, the send stops
    IN_DOUBT = "in_doubt"  # its end may have left and no answer settles it (`lost`)


@dataclass(frozen=True, slots=True)
class Outcome:
    verdict: Verdict
    detail: str  # the server's reply, or what happened to the connection

    @property
    def delivered_maybe(self) -> bool:
        return self.verdict in (Verdict.SENT, Verdict.IN_DOUBT)


def judged(reply: Reply, *, sender: bool = False) -> Outcome:
    """A refusal of MAIL (`sender`), RCPT, DATA or the end of the message."""
    if reply.throttling:
        return Outcome(Verdict.THROTTLED, str(reply))
    if reply.transient:
        return Outcome(Verdict.RETRY, str(reply))
    if sender:
        return Outcome(Verdict.SENDER_REFUSED, str(reply))
    return Outcome(Verdict.REFUSED, str(reply))


def lost(end: int, left: int, why: str) -> Outcome:
    """The connection broke before any reply settled the message. It is in doubt only when its
    end may have left: `end` (the offset in the connection's byte stream just past the end of
    the message; -1 while it is not written) is at or below `left` (how far the stream may
    have reached the server). Otherwise it was not delivered, and goes again."""
    if 0 <= end <= left:
        return Outcome(Verdict.IN_DOUBT, f"connection lost after the message was sent: {why}")
    return Outcome(Verdict.RETRY, f"connection lost before the message was complete: {why}")
