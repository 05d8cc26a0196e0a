"""The MIME skeleton: every personalised message is valid, parses the same in two parsers, and
carries its recipient's own values, escaped for each context."""

from __future__ import annotations

import json
import os
import quopri
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter import models
from newsletter.authoring import placeholders
from newsletter.models import Recipient
from newsletter.sending.mime.headers import MAX_DISPLAY_NAME
from newsletter.sending.mime.quoted_printable import qp_piece
from tests.support.messages import HTML, TAGS, TEXT, body, parse, recipient, sample_template

JUDGE = Path(__file__).resolve().parents[2] / "shared" / "judges" / "mime.py"


def check_wire_format(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    header, _, rest = data.partition(b"\r\n\r\n")
    assert header.isascii() and rest.isascii()
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_message_is_multipart_alternative_with_both_parts_and_all_headers() -> None:
    data = sample_template().render(recipient(7))
    check_wire_format(data)
    m = parse(data)
    assert m.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in m.iter_parts()] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in m.iter_parts())
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in m.iter_parts())
    assert m["To"].addresses[0].addr_spec == "reader7@example.org"
    assert m["To"].addresses[0].display_name == "Reader 7"
    assert m["From"].addresses[0].addr_spec == "news@example.com"
    assert m["Reply-To"].addresses[0].addr_spec == "editor@example.com"
    assert m["Subject"] == "Hanoi: five takeaways"
    assert m["Date"].datetime is not None
    assert re.fullmatch(r"<[^<>@\s]+@example\.com>", m["Message-ID"])
    tag = TAGS.recipient_tag(42, 7, purpose="message-id")
    assert m["Message-ID"].startswith(f"<{tag}.") and m["X-Newsletter-Tag"] == tag
    assert m["List-Id"] == '"Asia weekly" <asia-weekly.example.com>'
    assert m["List-Unsubscribe"] == (
        "<https://news.example.com/unsubscribe/tok-7.sig>, "
        "<mailto:unsubscribe@example.com?subject=unsubscribe%20tok-7.sig>"
    )
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert m["Feedback-ID"].startswith("send-42:")
    assert m["X-Newsletter-Send"] == "send-42"
    assert "X-Newsletter-Subscriber" not in m  # no database numbering in any header
    assert TAGS.read_recipient_tag(m["X-Newsletter-Tag"], purpose="message-id") == (42, 7)


def test_bodies_decode_to_the_substituted_text_exactly() -> None:
    r = recipient(3, name="Zoë O'Brien & <Co>")
    m = parse(sample_template().render(r))
    expected_html = (
        HTML.replace(placeholders.NAME, "Zoë O&#x27;Brien &amp; &lt;Co&gt;")
        .replace(placeholders.EMAIL, r.email)
        .replace(placeholders.UNSUBSCRIBE_URL, r.unsubscribe_url)
        .replace(placeholders.PREFERENCES_URL, r.preferences_url)
        .replace(placeholders.VIEW_URL, r.view_url)
    )
    assert body(m, "html") == expected_html
    assert body(m, "plain") == TEXT.replace(placeholders.NAME, r.name).replace(
        placeholders.UNSUBSCRIBE_URL, r.unsubscribe_url
    )


def test_values_are_escaped_for_html_and_urls_get_ampersands_escaped() -> None:
    r = Recipient(
        email="a@example.org",
        name='<script>alert("x")</script>',
        unsubscribe_url="https://x.example/u?a=1&b=2",
        subscriber_id=1,
    )
    html = body(parse(sample_template().render(r)), "html")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert 'href="https://x.example/u?a=1&amp;b=2"' in html


@pytest.mark.parametrize(
    "name",
    ["Evil\r\nBcc: victim@example.net", "Evil\nX-Injected: 1", "Zoë\r\n\r\nbody", "a\rb"],
)
def test_crlf_in_name_or_subject_never_makes_a_header(name: str) -> None:
    template = sample_template(subject="News for __NL_NAME__\r\nX-Bad: 1")
    m = parse(template.render(recipient(1, name=name)))
    for header in ("Bcc", "X-Injected", "X-Bad"):
        assert m[header] is None
    assert "\n" not in m["Subject"] and "\r" not in m["Subject"]
    assert len(m["To"].addresses) == 1 and m["To"].addresses[0].addr_spec == "reader1@example.org"
    assert m.get_content_type() == "multipart/alternative"


def test_non_ascii_subject_and_names_use_rfc2047_and_decode_back() -> None:
    long_name = "Nguyễn Thị Minh Khai Đặng Ngọc " * 2
    template = sample_template(subject="Hà Nội: năm điều rút ra — " * 3, from_name="Bản tin Á")
    data = template.render(recipient(2, name=long_name))
    check_wire_format(data)
    m = parse(data)
    assert m["Subject"] == ("Hà Nội: năm điều rút ra — " * 3).strip()
    assert m["To"].addresses[0].display_name == long_name.strip()[:MAX_DISPLAY_NAME].strip()
    assert m["From"].addresses[0].display_name == "Bản tin Á"
    assert b"=?utf-8?b?" in data.partition(b"\r\n\r\n")[0]


def test_names_with_specials_are_quoted() -> None:
    m = parse(sample_template().render(recipient(5, name='Smith, John "JJ" \\o/')))
    assert m["To"].addresses[0].display_name == 'Smith, John "JJ" \\o/'
    assert m["To"].addresses[0].addr_spec == "reader5@example.org"


@pytest.mark.parametrize(
    ("name", "decoded"),
    [
        ('Weekly, "news" <b> \\o/', '"Weekly, \\"news\\" <b> \\\\o/"'),
        ("=?utf-8?b?U3Bvb2Y=?=", "=?utf-8?b?U3Bvb2Y=?="),  # never decoded into "Spoof"
        ("Bản tin Á", "Bản tin Á"),
        ("Weekly\r\nBcc: x@example.net", '"Weekly Bcc: x@example.net"'),
    ],
)
def test_list_id_name_is_a_quoted_or_encoded_phrase(name: str, decoded: str) -> None:
    data = sample_template(list_id_header=f"{name} <asia-weekly.example.com>").render(recipient(1))
    check_wire_format(data)
    m = parse(data)
    assert m["List-Id"] == f"{decoded} <asia-weekly.example.com>"
    assert m["Bcc"] is None


def test_a_long_list_name_is_folded_and_cut() -> None:
    words = "Asia weekly " * 100  # 1,200 characters: one line of it would pass 998 octets
    data = sample_template(list_id_header=f"{words} <asia-weekly.example.com>").render(recipient(1))
    check_wire_format(data)  # every line within 78
    value = parse(data)["List-Id"]
    assert value == f'"{words[:200].strip()}" <asia-weekly.example.com>'
    one_word = "x" * 1200
    data = sample_template(list_id_header=f"{one_word} <l.example.com>").render(recipient(1))
    check_wire_format(data)
    assert parse(data)["List-Id"] == f"{'x' * 200} <l.example.com>"


def test_each_recipient_gets_its_own_message_id_and_unsubscribe_url() -> None:
    template = sample_template()
    messages = [parse(template.render(recipient(i))) for i in range(50)]
    assert len({m["Message-ID"] for m in messages}) == 50
    for i, m in enumerate(messages):
        assert f"/unsubscribe/tok-{i}.sig" in body(m, "html")
        assert f"<https://news.example.com/unsubscribe/tok-{i}.sig>" in m["List-Unsubscribe"]
    twice = {parse(template.render(recipient(1)))["Message-ID"] for _ in range(2)}
    assert len(twice) == 2


def test_no_unsubscribe_url_means_no_one_click_headers() -> None:
    m = parse(sample_template().render(Recipient(email="test@example.org")))
    assert m["List-Unsubscribe"] is None and m["List-Unsubscribe-Post"] is None


def test_value_lines_longer_than_76_are_soft_broken() -> None:
    r = recipient(9, name="N" * 500)
    data = sample_template(subject="A long subject line " * 8 + "__NL_NAME__").render(r)
    check_wire_format(data)
    m = parse(data)
    assert "N" * 500 in body(m, "plain")
    assert m["Subject"] == "A long subject line " * 8 + "N" * 500
    assert m["To"].addresses[0].display_name == "N" * MAX_DISPLAY_NAME


def test_personal_headers_for_provider_apis() -> None:
    headers = sample_template().personal_headers(recipient(4))
    assert headers["List-Unsubscribe"] == (
        "<https://news.example.com/unsubscribe/tok-4.sig>, "
        "<mailto:unsubscribe@example.com?subject=unsubscribe%20tok-4.sig>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["X-Newsletter-Tag"] == TAGS.recipient_tag(42, 4, purpose="message-id")
    assert "X-Newsletter-Subscriber" not in headers


def _mailparser_available() -> bool:
    home = Path(os.environ.get("JUDGES_HOME", Path.home() / ".cache" / "email-judges"))
    return (home / "node_modules" / "mailparser").is_dir()


@pytest.mark.parametrize("i,name", [(1, "Reader One"), (2, "Zoë «Ünïcode» Smith"), (3, "")])
def test_independent_parser_agrees(tmp_path: Path, i: int, name: str) -> None:
    """The shared judge parses with Python's email AND npm mailparser and compares them."""
    if not (_mailparser_available() and JUDGE.is_file()):
        reason = (
            "npm mailparser or ../shared/judges is missing: run `bash ../shared/judges/setup.sh`"
        )
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_JUDGES"):
            pytest.fail(reason)
        pytest.skip(reason)
    path = tmp_path / "m.eml"
    path.write_bytes(sample_template(subject="Café: __NL_NAME__").render(recipient(i, name=name)))
    out = subprocess.run(
        [sys.executable, str(JUDGE), str(path)], capture_output=True, text=True, timeout=120
    )
    verdict = json.loads(out.stdout.strip().splitlines()[-1])
    assert verdict["pass"], verdict["errors"]
    assert verdict["mailparser"]["ok"], verdict["mailparser"]
    assert all(verdict["parsers_agree"].values()), verdict["parsers_agree"]
    assert verdict["warnings"] == []


@pytest.mark.parametrize("name", ["Reader", "", "Zoë <O'Brien> & Co", "Line\r\nBreak"])
def test_same_values_as_render_personalise(name: str, tmp_path: Path) -> None:
    """The skeleton's per-recipient values match render.personalise for every part."""
    from newsletter.authoring.issue_file import read_issue
    from newsletter.authoring.placeholders import personalise
    from newsletter.authoring.render import render_issue
    from newsletter.config import load_settings

    root = Path(__file__).resolve().parents[1]
    rendered = render_issue(
        read_issue(root / "issues" / "2019-03-01-hanoi-summit.md"),
        load_settings(cwd=tmp_path, env={}),
    )
    from newsletter.authoring.readers import reader

    template = sample_template(
        subject=rendered.subject + " " + reader("name", "there"),
        html=rendered.html,
        text=rendered.text,
    )
    person = recipient(8, name=name)
    expected = personalise(
        models.RenderedIssue(
            issue_id="x",
            subject=template.subject,
            preheader="",
            html=rendered.html,
            text=rendered.text,
            web_html="",
        ),
        person,
    )
    data = template.render(person)
    check_wire_format(data)
    m = parse(data)
    # MIME text has one newline convention: a CR LF inside a value arrives as LF
    assert body(m, "html") == expected.html.replace("\r\n", "\n")
    assert body(m, "plain") == expected.text.replace("\r\n", "\n")
    assert m["Subject"] == expected.subject


def _lines_start_with_a_dot(message: bytes) -> bool:
    return message.startswith(b".") or b"\n." in message


def test_no_line_of_a_message_begins_with_a_dot_so_data_needs_no_stuffing() -> None:
    """Quoted-printable writes a leading dot as `=2E` (a text line that starts with one, or a
    long value soft-broken right before one), so SMTP's DATA never scans a message for dots;
    the message still says so (`render_checked`), and it decodes to the same text."""
    for template, who in (
        (sample_template(), recipient(1)),  # the text has a ".dot line"
        (sample_template(html="<p>__NL_NAME__</p>"), recipient(3, name="n" * 75 + ".net")),
    ):
        message, flagged = template.render_checked(who)
        assert not flagged and not _lines_start_with_a_dot(message)
        assert max(len(line) for line in message.split(b"\r\n")) <= 998
    decoded = body(parse(sample_template().render(recipient(1))), "plain")
    assert "\n.dot line\n" in decoded


@given(st.text(alphabet=".ab é\n=", max_size=400))
def test_quoted_printable_has_no_leading_dot_and_decodes_back(text: str) -> None:
    encoded = qp_piece(text)
    assert not _lines_start_with_a_dot(encoded)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    decoded = quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode()
    assert decoded == text.replace("\r\n", "\n").replace("\r", "\n")
