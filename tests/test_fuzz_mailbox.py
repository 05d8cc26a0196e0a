"""Properties of the mailbox parser (`mailbox.classify` on `mime_scan` and `limits`): any bytes
give a verdict without raising, a message over a limit of `mailbox.limits` is set aside with
that reason and never names anyone, and a genuine report under the limits keeps its recipient
whatever hostile parts ride along."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from newsletter.mailbox.classify import classify
from newsletter.mailbox.limits import MAX_DEPTH, MAX_HEADER_BYTES, MAX_PARTS, over_limits
from newsletter.mailbox.mime_scan import fields
from newsletter.tokens import Signer
from tests.support.mailroom import arf, dsn, empty_parts, folded_header, nested
from tests.support.strategies import hostile_text

SIGNER = Signer(["fuzz-mailbox-key-0123456789abcdef"])
KINDS = {"unsubscribe", "bounce", "complaint", "delayed", "info", "unrecognised"}
PIECES = [
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"--b\r\n",
    b"--b--\r\n",
    b'Content-Type: multipart/mixed; boundary="b"\r\n',
    b"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n",
    b"Content-Type: message/delivery-status\r\n",
    b"Content-Type: message/rfc822\r\n",
    b"Content-Type: message/feedback-report\r\n",
    b"Content-Transfer-Encoding: base64\r\n",
    b"Action: failed\r\nStatus: 5.1.1\r\n",
    b"Feedback-Type: abuse\r\n",
    b"Subject: unsubscribe abc.def\r\n",
    b"Message-ID: <0123456789abcdef0123456789abcdef.1@x>\r\n",
    b" folded\r\n",
    b"\t",
    b"\x00\xff\xfe",
    b"=?utf-8?b?",
]


def messages() -> st.SearchStrategy[bytes]:
    """Bytes shaped like mail: MIME pieces, hostile text, and runs that cross the limits."""
    piece = st.one_of(
        st.sampled_from(PIECES),
        hostile_text(4).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.binary(max_size=40),
        st.integers(0, MAX_PARTS * 2).map(lambda n: b"--b\r\n\r\n" * n),
        st.integers(0, MAX_HEADER_BYTES // 2).map(lambda n: b" a\r\n" * n),
        st.integers(1, MAX_DEPTH * 2).map(nested),
    )
    return st.lists(piece, max_size=12).map(b"".join)


@given(messages())
def test_any_message_gets_a_verdict_and_one_over_a_limit_is_set_aside_for_that_reason(data):
    verdict = classify(data, SIGNER)
    assert verdict.kind in KINDS
    assert "\n" not in verdict.reason and "\r" not in verdict.reason
    reason = over_limits(data)
    if reason is not None:
        assert (verdict.kind, verdict.reason) == ("unrecognised", reason)
        assert verdict.subscriber_id == 0 and verdict.send_id == 0


@given(st.integers(0, MAX_PARTS * 3))
def test_the_parts_limit_holds_at_its_edge(count):
    verdict = classify(empty_parts(count), SIGNER)
    over = count + 1 > MAX_PARTS  # the closing delimiter is a delimiter line too
    assert (verdict.reason == f"over the limit of {MAX_PARTS} MIME parts") == over


@given(st.integers(0, MAX_HEADER_BYTES // 2))
def test_the_header_limit_holds_at_its_edge(size):
    data = folded_header(size)
    verdict = classify(data, SIGNER)
    longest = len(b"X-Long: a\r\n") + 4 * (size // 4)
    limited = verdict.reason.startswith("a header field or line over the limit")
    assert limited == (longest > MAX_HEADER_BYTES)


@given(st.integers(1, MAX_DEPTH * 3))
def test_the_depth_limit_holds_at_its_edge(depth):
    verdict = classify(nested(depth), SIGNER)
    assert (verdict.reason == f"MIME nested over the limit of {MAX_DEPTH} levels") == (
        depth > MAX_DEPTH
    )


@given(
    st.integers(1, 2**40 - 1),
    st.integers(1, 2**48 - 1),
    st.sampled_from(["dsn", "arf"]),
    st.lists(st.sampled_from(PIECES[:6] + PIECES[15:]), max_size=20),
)
def test_a_genuine_report_under_the_limits_keeps_its_recipient(send_id, subscriber_id, kind, junk):
    tag = SIGNER.recipient_tag(send_id, subscriber_id, purpose="message-id")
    report = dsn(tag) if kind == "dsn" else arf(tag)
    data = report + b"".join(junk)  # trailing junk after the closing delimiter
    assert over_limits(data) is None
    verdict = classify(data, SIGNER)
    assert verdict.kind == ("bounce" if kind == "dsn" else "complaint")
    assert (verdict.send_id, verdict.subscriber_id) == (send_id, subscriber_id)


@given(st.binary(max_size=2000))
def test_header_fields_read_any_bytes(raw):
    found = fields(raw)
    assert all(name == name.lower() and ":" not in name for name in found)
    assert all(isinstance(v, str) for values in found.values() for v in values)
