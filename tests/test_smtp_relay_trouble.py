"""The SMTP engine against a relay that throttles, refuses, closes and dribbles: each message
ends `sent`, `failed` for a reason that is the recipient's, or (only when its end may have
left unanswered) `unknown`; never lost, never doubled; connections and threads stay within
the cap whatever the relay answers.

The first tests are the code review's bugs 1-5 (issue 17): each failed on the engine before
this one (smtp_loop with helper threads)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from newsletter.models import FAILED, SENT
from tests.support.backends import smtp_backend
from tests.support.messages import parse, recipient, sample_template
from tests.support.relay import Relay

THROTTLED = "450 4.7.1 Error: too much mail from 127.0.0.1"


def send(relay: Relay, count: int, connections: int = 4, first: int = 1) -> list:
    people = [recipient(i) for i in range(first, first + count)]
    with smtp_backend(relay.port, connections=connections) as backend:
        results = backend.send(sample_template(), people)
    assert [r.subscriber_id for r in results] == [p.subscriber_id for p in people]
    return results


def delivered_once(relay: Relay, count: int, first: int = 1, failed: tuple[int, ...] = ()) -> None:
    """Everyone but `failed` got exactly one message, and the relay saw nobody else."""
    got = Counter(relay.recipients())
    wanted = {f"reader{i}@example.org" for i in range(first, first + count)} - {
        f"reader{i}@example.org" for i in failed
    }
    assert set(got) == wanted and max(got.values(), default=1) == 1, got


class ThreadWatch:
    """The most threads this process ran while the relay answered commands."""

    def __init__(self, relay: Relay):
        self.most = threading.active_count()
        original = relay.rule_for

        def watched(verb: str):  # noqa: ANN202
            self.most = max(self.most, threading.active_count())
            return original(verb)

        relay.rule_for = watched  # type: ignore[method-assign]


# --- the review's bugs (each failed before) ------------------------------------------------


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelining", "lockstep"])
def test_bug1_throttling_on_every_message_is_obeyed_within_the_connection_cap(
    relay: Relay, pipelining: bool
) -> None:
    """A relay answering `450 4.7.1` to MAIL (Postfix's `too much mail`, then 503 to the RCPT
    and DATA behind it) for a while: nothing fails, nothing is in doubt, and no more than
    `smtp_connections` sessions or a fixed number of threads are ever used."""
    relay.pipelining = pipelining
    relay.on("MAIL", THROTTLED, times=50)
    threads_before = threading.active_count()
    watch = ThreadWatch(relay)
    results = send(relay, 30, connections=4)
    assert relay.max_greeted <= 4
    assert watch.most <= threads_before + 1  # the engine's one thread, whatever the relay said
    assert [r.status for r in results] == [SENT] * 30, {r.detail for r in results}
    delivered_once(relay, 30)


def test_bug2_a_refusal_then_a_failed_write_still_retries_the_message(relay: Relay) -> None:
    """The relay refuses the third message's MAIL (450, then 503 to its RCPT and DATA) and
    resets the connection right after, so the client's next write (its RSET) fails: the
    refused message is still retried, on a new connection, and sent once."""
    relay.on("MAIL", THROTTLED, times=1, after=2)
    relay.on("DATA", "503 5.5.1 Error: need RCPT command", times=1, then="reset", after=2)
    results = send(relay, 6, connections=1)
    assert [r.status for r in results] == [SENT] * 6, [r.detail for r in results]
    delivered_once(relay, 6)


@pytest.mark.parametrize(
    "verb,reply,status",
    [("MAIL", "421 4.7.0 relay.test closing", SENT), ("RCPT", "550 5.1.1 no such user", FAILED)],
)
def test_bug3_chunking_refusal_then_close_is_judged_from_the_replies_not_unknown(
    relay: Relay, verb: str, reply: str, status: str
) -> None:
    """Under CHUNKING the content goes out with the envelope. A retried message whose MAIL
    gets a 421, or whose RCPT gets a 5xx, followed by a close, was not taken, and the replies
    say so: retried (421) or failed (5xx), never unknown."""
    relay.chunking = True
    relay.on("MAIL", "451 4.3.0 temporary trouble", times=1)  # first attempt: a retry
    relay.on(verb, reply, times=1, then="close", after=1 if verb == "RCPT" else 0)
    (result,) = send(relay, 1, connections=1)
    assert result.status == status, result.detail
    delivered_once(relay, 1, failed=(1,) if status == FAILED else ())


def test_bug4_a_refused_recipient_on_a_chunking_retry_sends_no_stray_dot(relay: Relay) -> None:
    """A message retried under CHUNKING whose recipient is then refused: it fails with the
    relay's words, and the client never sends a `.` command (there is no DATA to end)."""
    relay.chunking = True
    relay.on("MAIL", "451 4.3.0 temporary trouble", times=1)
    relay.on("RCPT", "550 5.1.1 no such user", times=1, after=1)
    (result,) = send(relay, 1, connections=1)
    assert result.status == FAILED and "550" in result.detail, result.detail
    assert "." not in relay.verbs and relay.messages == []


def big_send(relay: Relay) -> list:
    """One message of about 8 MB (larger than what the sockets can hold in flight)."""
    template = sample_template(html="<p>" + "Long read. " * 800_000 + "__NL_UNSUBSCRIBE_URL__</p>")
    with smtp_backend(relay.port, connections=1) as backend:
        return backend.send(template, [recipient(1)])


@pytest.mark.parametrize("chunking", [True, False], ids=["chunking", "data"])
def test_bug5_a_reset_before_the_end_left_is_retried_not_unknown(
    relay: Relay, chunking: bool
) -> None:
    """A retried 8 MB message whose connection is reset while its content is still being
    written: its end never left the client, so it was not delivered and goes again (once),
    never `unknown`."""
    relay.chunking = chunking
    relay.on("MAIL", "451 4.3.0 temporary trouble", times=1)  # content 1 (BDAT) or none
    relay.cut_content = (2 if chunking else 1, 100_000)  # within the retry's content
    (result,) = big_send(relay)
    assert result.status == SENT, result.detail
    delivered_once(relay, 1)


# --- more of what relays do ------------------------------------------------------------------


def test_a_421_in_the_middle_of_a_pipelined_batch(relay: Relay) -> None:
    relay.on("MAIL", "421 4.7.0 relay.test Service not available, closing", then="close", after=7)
    results = send(relay, 20, connections=2)
    assert [r.status for r in results] == [SENT] * 20, [r.detail for r in results]
    delivered_once(relay, 20)


def test_replies_arriving_one_byte_at_a_time(relay: Relay) -> None:
    relay.drip = True
    results = send(relay, 6, connections=2)
    assert [r.status for r in results] == [SENT] * 6
    delivered_once(relay, 6)
    for message in relay.messages:
        assert parse(message.data)["To"].addresses[0].addr_spec == message.rcpt_tos[0]


def test_greeting_refusals_teach_the_relays_connection_limit(relay: Relay) -> None:
    """A relay that takes 3 sessions (Postfix: 421 at the greeting beyond its limit): the send
    uses at most 3 greeted sessions, plus at most one being refused at a time, and every
    message arrives once."""
    relay.max_sessions = 3
    results = send(relay, 300, connections=8)
    assert [r.status for r in results] == [SENT] * 300
    delivered_once(relay, 300)
    assert relay.max_greeted <= 3 and relay.refused_greetings >= 1
    assert relay.max_refusing <= 1


def test_a_reply_line_over_8_kib_loses_the_connection_not_the_message(relay: Relay) -> None:
    relay.on("MAIL", "250 " + "x" * 9000, times=1)
    results = send(relay, 3, connections=1)
    assert [r.status for r in results] == [SENT] * 3
    delivered_once(relay, 3)
    assert relay.sessions >= 2  # the connection that sent it was dropped
