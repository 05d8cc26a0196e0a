"""The SMTP session without a server: bytes in, bytes and events out, every transition shown
with plain byte strings, often fed one byte at a time (`sessions.Session`, the h11 way)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.sending.delivery.base import Unit
from newsletter.sending.delivery.smtp.events import (
    Fatal,
    NoteWanted,
    Ready,
    Refused,
    Settled,
    StartTLS,
)
from newsletter.sending.delivery.smtp.handshake import Login, Phase
from newsletter.sending.delivery.smtp.outcomes import Verdict
from newsletter.sending.delivery.smtp.replies import (
    MAX_LINE,
    MAX_LINES,
    ProtocolError,
    Reply,
    ReplyReader,
)
from newsletter.sending.delivery.smtp.session import Session
from newsletter.sending.delivery.smtp.transaction import Transaction
from tests.support.messages import recipient

EHLO_PIPELINING = b"250-relay.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
EHLO_LOCKSTEP = b"250-relay.test\r\n250 8BITMIME\r\n"
EHLO_CHUNKING = b"250-relay.test\r\n250-PIPELINING\r\n250 CHUNKING\r\n"


def drip(session: Session, data: bytes) -> list:
    """Feed `data` one byte at a time; every event, in order."""
    events = []
    for i in range(len(data)):
        events += session.receive(data[i : i + 1])
    return events


def ready(ehlo: bytes = EHLO_PIPELINING, login: Login | None = None) -> Session:
    session = Session(login or Login(helo="sender.test"))
    assert drip(session, b"220 relay.test ESMTP\r\n") == []
    assert session.take() == b"EHLO sender.test\r\n"
    assert drip(session, ehlo) == [Ready()]
    return session


def txn(i: int = 1, data: bytes = b"Subject: hi\r\n\r\nbody\r\n") -> Transaction:
    return Transaction(Unit([recipient(i)]), "bounces@example.com", f"reader{i}@example.org", data)


def settled(events: list) -> list[tuple[Verdict, str]]:
    return [(e.outcome.verdict, e.outcome.detail) for e in events if isinstance(e, Settled)]


# --- replies -----------------------------------------------------------------------------------


def test_replies_split_anywhere_and_multiline_ones_arrive_whole() -> None:
    reader = ReplyReader()
    wire = b"250 2.1.0 Ok\r\n250-first\r\n250-second\r\n250 last\r\n354 End data\r\n"
    got = []
    for i in range(0, len(wire), 7):
        got += reader.feed(wire[i : i + 7])
    assert got == [
        Reply(250, "2.1.0 Ok"),
        Reply(250, "first\nsecond\nlast"),
        Reply(354, "End data"),
    ]


@pytest.mark.parametrize(
    "wire,why",
    [
        (b"HTTP/1.1 400 Bad Request\r\n", "not an SMTP reply"),
        (b"250 " + b"x" * MAX_LINE + b"\r\n", "over 8192 bytes"),
        (b"250 " + b"x" * MAX_LINE, "over 8192 bytes"),  # no line end: still bounded
        (b"250-more\r\n" * (MAX_LINES + 1), f"over {MAX_LINES} lines"),
    ],
)
def test_what_no_smtp_server_sends_breaks_the_connection_not_the_memory(
    wire: bytes, why: str
) -> None:
    with pytest.raises(ProtocolError, match=why):
        ReplyReader().feed(wire)


@given(st.lists(st.binary(max_size=200), max_size=12))
def test_any_bytes_give_replies_or_a_protocol_error_never_another_error(chunks) -> None:  # noqa: ANN001
    reader = ReplyReader()
    try:
        for chunk in chunks:
            for reply in reader.feed(chunk):
                assert 0 <= reply.code <= 999
            assert len(reader._buffer) < MAX_LINE  # bounded, whatever arrived
    except ProtocolError:
        pass


def test_throttling_replies_are_told_apart() -> None:
    assert Reply(450, "4.7.1 Error: too much mail from 127.0.0.1").throttling
    assert Reply(421, "4.7.0 too many connections").throttling
    assert Reply(454, "Throttling failure: Maximum sending rate exceeded.").throttling
    assert Reply(421, "4.7.28 unusual rate of unsolicited mail").throttling
    assert not Reply(451, "4.3.0 temporary trouble").throttling
    assert not Reply(450, "4.2.0 mailbox busy").throttling


# --- greeting, TLS, login ------------------------------------------------------------------------


def test_a_refused_greeting_is_the_relays_connection_limit() -> None:
    session = Session(Login(helo="sender.test"))
    (event,) = drip(session, b"421 4.7.0 relay.test Error: too many connections\r\n")
    assert isinstance(event, Refused) and event.reply.code == 421
    assert session.phase is Phase.CLOSING and session.take() == b""


def test_a_server_without_esmtp_gets_helo() -> None:
    session = Session(Login(helo="sender.test"))
    drip(session, b"220 old.test\r\n")
    session.take()
    assert drip(session, b"502 5.5.2 command not recognized\r\n") == []
    assert session.take() == b"HELO sender.test\r\n"
    assert drip(session, b"250 old.test\r\n") == [Ready()]
    assert not session.pipelining


def test_starttls_then_ehlo_again_then_login_plain() -> None:
    login = Login(helo="sender.test", starttls=True, username="editor", password="s3cret")
    session = Session(login)
    drip(session, b"220 relay.test ESMTP\r\n")
    session.take()
    drip(session, b"250-relay.test\r\n250 STARTTLS\r\n")
    assert session.take() == b"STARTTLS\r\n"
    assert drip(session, b"220 2.0.0 Ready to start TLS\r\n") == [StartTLS()]
    session.tls_started()
    assert session.take() == b"EHLO sender.test\r\n"
    drip(session, b"250-relay.test\r\n250 AUTH LOGIN PLAIN\r\n")
    assert session.take() == b"AUTH PLAIN AGVkaXRvcgBzM2NyZXQ=\r\n"  # \0editor\0s3cret
    assert drip(session, b"235 2.7.0 Authentication successful\r\n") == [Ready()]


def test_login_exchange_and_a_refused_login_is_fatal_without_the_password() -> None:
    login = Login(helo="sender.test", username="editor", password="s3cret")
    session = Session(login)
    drip(session, b"220 relay.test\r\n")
    session.take()
    drip(session, b"250-relay.test\r\n250 AUTH LOGIN\r\n")
    assert session.take() == b"AUTH LOGIN\r\n"
    drip(session, b"334 VXNlcm5hbWU6\r\n")
    assert session.take() == b"ZWRpdG9y\r\n"  # editor
    drip(session, b"334 UGFzc3dvcmQ6\r\n")
    assert session.take() == b"czNjcmV0\r\n"  # s3cret
    (event,) = drip(session, b"535 5.7.8 authentication failed\r\n")
    assert isinstance(event, Fatal) and "editor" in event.problem and "s3cret" not in event.problem


def test_starttls_required_but_not_offered_is_fatal() -> None:
    session = Session(Login(helo="sender.test", starttls=True))
    drip(session, b"220 relay.test\r\n")
    session.take()
    (event,) = drip(session, EHLO_PIPELINING)
    assert isinstance(event, Fatal) and "STARTTLS" in event.problem


# --- messages ----------------------------------------------------------------------------------


def test_pipelined_message_notes_at_354_then_sends_its_end() -> None:
    session = ready()
    t = txn()
    assert session.begin(t) is False  # noted at the 354, once the one before is settled
    assert session.take() == (
        b"MAIL FROM:<bounces@example.com>\r\nRCPT TO:<reader1@example.org>\r\nDATA\r\n"
    )
    assert drip(session, b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go ahead\r\n") == [NoteWanted(t)]
    assert session.take() == b""  # nothing of the content before the note
    assert session.noted(t, handed=True) == []
    assert session.take() == b"Subject: hi\r\n\r\nbody\r\n.\r\n"
    assert t.end == session.queued
    assert session.can_begin()  # the next envelope may go right behind
    assert settled(drip(session, b"250 2.0.0 Ok: queued as ABC\r\n")) == [
        (Verdict.SENT, "250 2.0.0 Ok: queued as ABC")
    ]


def test_postfix_throttling_450_on_mail_then_503s_is_one_retry_never_failed() -> None:
    """Postfix under PIPELINING: `450 4.7.1 too much mail` to MAIL, then 503 to the RCPT and
    DATA behind it. The message was not sent: throttled (retried), never failed or in doubt,
    and the 503s that follow are read and ignored."""
    session = ready()
    t = txn()
    session.begin(t)
    session.take()
    events = drip(
        session,
        b"450 4.7.1 Error: too much mail from 127.0.0.1\r\n"
        b"503 5.5.1 Error: need MAIL command\r\n503 5.5.1 Error: need RCPT command\r\n",
    )
    assert settled(events) == [(Verdict.THROTTLED, "450 4.7.1 Error: too much mail from 127.0.0.1")]
    assert session.take() == b""  # no RSET: MAIL was never taken
    assert not session.expect and session.can_begin()


def test_a_refused_recipient_fails_and_resets_the_transaction() -> None:
    session = ready()
    t = txn()
    session.begin(t)
    session.take()
    events = drip(session, b"250 Ok\r\n550 5.1.1 no such user\r\n554 5.5.1 no valid recipients\r\n")
    assert settled(events) == [(Verdict.REFUSED, "550 5.1.1 no such user")]
    assert session.take() == b"RSET\r\n"


def test_a_refused_sender_stops_the_send() -> None:
    session = ready(EHLO_LOCKSTEP)
    t = txn()
    assert session.begin(t) is True  # lockstep: noted now, while MAIL, RCPT, DATA go
    assert session.take() == b"MAIL FROM:<bounces@example.com>\r\n"
    assert settled(drip(session, b"553 5.7.1 sender rejected\r\n")) == [
        (Verdict.SENDER_REFUSED, "553 5.7.1 sender rejected")
    ]


def test_lockstep_one_command_at_a_time() -> None:
    session = ready(EHLO_LOCKSTEP)
    t = txn()
    session.begin(t)
    assert session.take() == b"MAIL FROM:<bounces@example.com>\r\n"
    assert not session.can_begin()
    drip(session, b"250 Ok\r\n")
    assert session.take() == b"RCPT TO:<reader1@example.org>\r\n"
    drip(session, b"250 Ok\r\n")
    assert session.take() == b"DATA\r\n"
    session.noted(t, handed=True)  # committed meanwhile
    assert drip(session, b"354 go\r\n") == []
    assert session.take().endswith(b"\r\n.\r\n")
    assert settled(drip(session, b"250 Ok\r\n"))[0][0] is Verdict.SENT
    assert session.can_begin()


def test_chunking_waits_for_the_note_then_writes_the_whole_message_at_once() -> None:
    session = ready(EHLO_CHUNKING)
    t = txn(data=b"Subject: hi\r\n\r\n.dot line\r\n")
    assert session.begin(t) is True
    assert session.take() == b""
    session.noted(t, handed=True)
    assert session.take() == (
        b"MAIL FROM:<bounces@example.com>\r\nRCPT TO:<reader1@example.org>\r\n"
        b"BDAT 26 LAST\r\nSubject: hi\r\n\r\n.dot line\r\n"  # no dot-stuffing
    )
    assert not session.can_begin()  # one message at a time under CHUNKING
    assert settled(drip(session, b"250 Ok\r\n250 Ok\r\n250 2.0.0 Ok: queued\r\n"))[0][0] is (
        Verdict.SENT
    )


def test_chunking_421_to_mail_is_throttled_and_the_session_closes() -> None:
    session = ready(EHLO_CHUNKING)
    t = txn()
    session.begin(t)
    session.noted(t, handed=True)
    session.take()
    events = drip(session, b"421 4.7.0 relay.test closing\r\n")
    assert settled(events) == [(Verdict.THROTTLED, "421 4.7.0 relay.test closing")]
    assert session.phase is Phase.CLOSING
    assert session.lost(session.queued, "closed") == []  # already settled: not in doubt


def test_lost_is_in_doubt_only_when_the_end_may_have_left() -> None:
    session = ready()
    t = txn()
    session.begin(t)
    session.take()
    drip(session, b"250 Ok\r\n250 Ok\r\n354 go\r\n")
    session.noted(t, handed=True)
    session.take()
    assert settled(session.lost(t.end - 1, "reset"))[0][0] is Verdict.RETRY
    session2 = ready()
    t2 = txn(2)
    session2.begin(t2)
    session2.take()
    drip(session2, b"250 Ok\r\n250 Ok\r\n354 go\r\n")
    session2.noted(t2, handed=True)
    session2.take()
    assert settled(session2.lost(t2.end, "reset"))[0][0] is Verdict.IN_DOUBT


def test_a_stopping_send_never_ends_a_data_it_cannot_send() -> None:
    session = ready()
    t = txn()
    session.begin(t)
    session.take()
    drip(session, b"250 Ok\r\n250 Ok\r\n354 go\r\n")
    assert settled(session.noted(t, handed=False))[0][0] is Verdict.RETRY
    assert session.take() == b"" and session.phase is Phase.CLOSING  # closing ends it unsent


def test_a_reply_nothing_asked_for_breaks_the_connection() -> None:
    session = ready()
    with pytest.raises(ProtocolError, match="nothing asked for"):
        session.receive(b"421 4.4.2 timeout, closing\r\n")
