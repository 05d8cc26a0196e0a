"""A bounce mailbox that one message cannot stall (issue 20, points 2 and 3): every message is
settled on its own (an unsubscribe request for a list that is gone is set aside, the reports
behind it are applied), a message over the limits of parts, header length or nesting is set
aside with the reason without being parsed, and two runs never process one folder at once."""

from __future__ import annotations

import fcntl
import os

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.mailbox.limits import MAX_DEPTH, MAX_HEADER_BYTES, MAX_PARTS, over_limits
from tests.support.mailroom import dsn, empty_parts, folded_header, nested

LOCK_NAME = ".newsletter-mailbox.lock"  # the README's name for a Maildir's lock file


def _invoke(mailroom, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", mailroom.settings.database_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", mailroom.settings.secret_key)
    return CliRunner().invoke(cli, list(args))


def _request(token: str) -> bytes:
    return (
        "From: reader@example.org\r\nTo: unsubscribe@example.com\r\n"
        f"Subject: unsubscribe {token}\r\n\r\nplease\r\n"
    ).encode()


def test_an_unsubscribe_for_a_list_that_is_gone_is_set_aside_and_the_run_goes_on(
    mailroom, monkeypatch
):
    send = mailroom.add_send()
    mailroom.drop("1.eml", _request(mailroom.signer.make("unsubscribe", 1, 9999)))
    mailroom.drop("2.eml", dsn(mailroom.tag(send, 2)))
    first = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert first.exit_code == 0, first.output
    assert mailroom.suppression(2) == "bounced"
    assert mailroom.files(".unrecognised/new") == ["1.eml"]
    assert "unrecognised 1.eml: an unsubscribe request for a list that no longer exists" in (
        first.output
    )
    again = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert again.exit_code == 0 and "read 0 messages" in again.output, again.output


def test_messages_over_the_limits_are_set_aside_with_the_reason(mailroom, monkeypatch):
    send = mailroom.add_send()
    mailroom.drop("parts.eml", empty_parts(MAX_PARTS * 20))
    mailroom.drop("header.eml", folded_header(MAX_HEADER_BYTES * 4))
    mailroom.drop("deep.eml", nested(MAX_DEPTH + 4))
    mailroom.drop("ok.eml", dsn(mailroom.tag(send, 1)))
    result = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert result.exit_code == 0, result.output
    assert mailroom.files(".unrecognised/new") == ["deep.eml", "header.eml", "parts.eml"]
    assert f"unrecognised parts.eml: over the limit of {MAX_PARTS} MIME parts" in result.output
    assert (
        f"unrecognised header.eml: a header field or line over the limit of {MAX_HEADER_BYTES} "
        "bytes" in result.output
    )
    assert f"unrecognised deep.eml: MIME nested over the limit of {MAX_DEPTH} levels" in (
        result.output
    )
    assert mailroom.suppression(1) == "bounced"


def test_the_limits_leave_real_reports_alone():
    from tests.support.mailroom import CORPUS

    for path in sorted(CORPUS.glob("*.eml")):
        assert over_limits(path.read_bytes()) is None, path.name


def test_a_second_run_on_a_locked_maildir_says_so_and_exits_0(mailroom, monkeypatch):
    send = mailroom.add_send()
    mailroom.drop("1.eml", dsn(mailroom.tag(send, 1)))
    fd = os.open(mailroom.box / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a first run, still at work
        busy = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
        as_json = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box), "--json")
    finally:
        os.close(fd)
    assert busy.exit_code == 0, busy.output
    assert "another newsletter mailbox run is processing this folder" in busy.output
    assert as_json.exit_code == 0 and '"busy": true' in as_json.output, as_json.output
    assert mailroom.files("new") == ["1.eml"] and mailroom.suppression(1) is None
    done = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert "read 1 messages" in done.output and mailroom.suppression(1) == "bounced"


def test_a_message_over_the_size_limit_is_set_aside_without_being_read(mailroom, monkeypatch):
    from newsletter.mailbox import limits

    monkeypatch.setattr(limits, "MAX_MESSAGE_BYTES", 4096)
    import newsletter.mailbox.run as run

    monkeypatch.setattr(run, "MAX_MESSAGE_BYTES", 4096)
    send = mailroom.add_send()
    mailroom.drop("big.eml", dsn(mailroom.tag(send, 1)) + b"x" * 5000)
    report = mailroom.run()
    assert report.unrecognised == [
        {"message": "big.eml", "reason": "a message over the limit of 4096 bytes"}
    ]
    assert mailroom.files(".unrecognised/new") == ["big.eml"]
