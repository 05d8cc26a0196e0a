"""Property tests: names, subjects and list names of any kind become header lines that never
gain a header, stay within the line limits, and parse back (Python's email parser) to the
value as given (controls made spaces)."""

from __future__ import annotations

import email
import re
from email import policy

from hypothesis import example, given
from hypothesis import strategies as st

from newsletter.safe_text import one_line
from newsletter.sending.mime.headers import MAX_DISPLAY_NAME
from newsletter.sending.mime.message import MessageTemplate
from tests.support.messages import recipient
from tests.support.strategies import header_values

FIXED = [
    "MIME-Version",
    "From",
    "Reply-To",
    "List-Id",
    "Feedback-ID",
    "X-Newsletter-Send",
    "Content-Type",
]
PERSONAL = [
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "X-Newsletter-Tag",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
]


def _template(subject: str, from_name: str, list_name: str) -> MessageTemplate:
    return MessageTemplate(
        subject=subject,
        html="<p>Hello __NL_NAME__</p>",
        text="Hello __NL_NAME__",
        from_name=from_name,
        from_address="news@example.com",
        reply_to="editor@example.com",
        list_id_header=f"{list_name} <weekly.example.com>",
        send_ref="send-42",
        sender_domain="example.com",
    )


def _words(value: str) -> str:
    return " ".join(value.split())


def _header_block(data: bytes) -> list[bytes]:
    head, sep, _ = data.partition(b"\r\n\r\n")
    assert sep
    return head.split(b"\r\n")


def _raw_value(lines: list[bytes], name: bytes) -> str:
    """The header's value as sent, unfolded (CRLF removed), not decoded."""
    at = next(i for i, line in enumerate(lines) if line.startswith(name + b":"))
    value = lines[at][len(name) + 1 :]
    for line in lines[at + 1 :]:
        if not line[:1].isspace():
            break
        value += line
    return value.decode("ascii").strip()


@given(subject=header_values(), from_name=header_values(), list_name=header_values())
@example(subject="a" * 75 + "  b", from_name="x", list_name="y")  # two spaces at a fold
@example(subject="x", from_name="x", list_name='We"ek, <ly> ' + "l" * 300)
@example(subject="=?utf-8?q?hi?=", from_name="=?utf-8?q?x?=", list_name="=?utf-8?q?y?=")
def test_a_header_never_gains_a_line_and_parses_back(
    subject: str, from_name: str, list_name: str
) -> None:
    subject = subject.replace("__NL", "")  # placeholders: the next test
    template = _template(subject, from_name, list_name)
    name = from_name  # the recipient's name: the same hostile text
    data = template.render(recipient(7, name=name))
    lines = _header_block(data)
    assert all(len(line) <= 998 for line in lines)  # RFC 5322 (78 where a space allows)
    assert all(line.strip() for line in lines)  # no line of only white space
    starts = [line.split(b":", 1)[0].decode() for line in lines if not line[:1].isspace()]
    assert sorted(starts) == sorted(PERSONAL + FIXED)

    message = email.message_from_bytes(data, policy=policy.default)
    assert sorted(message.keys()) == sorted(PERSONAL + FIXED)
    assert str(message["Subject"]) == one_line(subject)
    to = message["To"].addresses
    assert len(to) == 1 and to[0].addr_spec == "reader7@example.org"
    assert _words(to[0].display_name) == _words(one_line(name, MAX_DISPLAY_NAME))
    sender = message["From"].addresses
    assert len(sender) == 1 and sender[0].addr_spec == "news@example.com"
    list_id = str(message["List-Id"])
    assert list_id.endswith(" <weekly.example.com>") or list_id == "<weekly.example.com>"
    shown = list_id.removesuffix("<weekly.example.com>").strip()
    raw = _raw_value(lines, b"List-Id")
    if raw.startswith('"'):  # a quoted-string: unquote it
        shown = re.sub(r"\\(.)", r"\1", shown[1:-1])
    else:  # nothing or encoded-words
        assert raw.startswith(("<", "=?utf-8?b?"))
    assert shown == one_line(list_name, 200)


@given(name=header_values(), rest=header_values())
def test_a_personal_subject_is_one_header_whatever_the_name(name: str, rest: str) -> None:
    """The name is substituted once, literally (a name of __NL_EMAIL__ stays that text)."""
    rest = rest.replace("__NL", "")  # the author's own text: no placeholder of its own
    from newsletter.authoring.readers import VALUE_MAX, reader

    # The name with the templates' fallback, as the default templates greet.
    template = _template(f"Hi {reader('name', 'there')}: " + rest, "Weekly", "Weekly")
    data = template.render(recipient(3, name=name))
    message = email.message_from_bytes(data, policy=policy.default)
    assert sorted(message.keys()) == sorted(PERSONAL + FIXED)
    person = one_line(name.strip()[:VALUE_MAX] or "there")  # reader values are capped
    assert str(message["Subject"]) == one_line(f"Hi {person}: {rest}")


@given(st.data())
def test_headers_for_provider_apis_are_single_lines(data: st.DataObject) -> None:
    """SendGrid gets the list's headers as JSON values: no CR or LF in any of them."""
    template = _template("s", "f", data.draw(header_values()))
    for value in template.common.values():
        assert "\r" not in value and "\n" not in value
