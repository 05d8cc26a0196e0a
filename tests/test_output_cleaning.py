"""Terminal escapes never reach the operator's screen (issue 20, point 7): C1 controls (U+009B
CSI, U+009D OSC), C0 controls and bidirectional overrides in stored text from outside (a relay's
reply, a bounce diagnostic, a name, an attribute, a history detail) or in a message in the bounce
mailbox are cleaned by `safe_text.one_line` in everything `mailbox`, `status` and
`subscribers show` print."""

from __future__ import annotations

import re

from click.testing import CliRunner
from sqlalchemy import insert, update

from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.clock import utcnow
from tests.support.mailroom import dsn

HOSTILE = "A\x9b31mB\x9d0;title\x07C\x1b[2J\u202egnp.exe\u2066D"
UNSAFE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _invoke(mailroom, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", mailroom.settings.database_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", mailroom.settings.secret_key)
    monkeypatch.chdir(mailroom.box.parent)  # not the checkout: the demo may have left a key there
    return CliRunner().invoke(cli, list(args))


def test_status_and_subscribers_show_print_stored_outside_text_cleaned(mailroom, monkeypatch):
    send = mailroom.add_send()
    now = utcnow()
    with mailroom.engine.begin() as conn:
        conn.execute(
            update(tables.subscribers)
            .where(tables.subscribers.c.id == 1)
            .values(name=HOSTILE, attributes={HOSTILE: HOSTILE})
        )
        conn.execute(
            update(tables.deliveries)
            .where(tables.deliveries.c.subscriber_id == 1)
            .values(status="failed", detail=f"550 {HOSTILE}")
        )
        conn.execute(
            insert(tables.bounces).values(
                send_id=send, subscriber_id=1, kind="bounce", category="hard",
                status_code="5.1.1", diagnostic=HOSTILE, source=HOSTILE, at=now,
            )
        )  # fmt: skip
        conn.execute(
            insert(tables.subscriber_events).values(
                subscriber_id=1, list_id=mailroom.list_id, kind="note", detail=HOSTILE, at=now
            )
        )
    status = _invoke(mailroom, monkeypatch, "status", "issue")
    shown = _invoke(mailroom, monkeypatch, "subscribers", "show", "reader1@example.org")
    for result in (status, shown):
        assert result.exit_code == 0, result.output
        assert "gnp.exe" in result.output  # the text is shown, cleaned
        assert not UNSAFE.search(result.output), ascii(result.output)


def test_mailbox_prints_what_a_stranger_mailed_cleaned(mailroom, monkeypatch):
    send = mailroom.add_send()
    mailroom.drop("1.eml", dsn(mailroom.tag(send, 1), action=f"x{HOSTILE}".replace("\x07", "")))
    mailroom.drop(
        "2.eml",
        f"From: a@example.net\r\nSubject: unsubscribe {HOSTILE}\r\n\r\nhi\r\n".encode(),
    )
    result = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert result.exit_code == 0, result.output
    assert not UNSAFE.search(result.output), ascii(result.output)


def test_json_output_writes_those_characters_escaped(mailroom, monkeypatch):
    import json

    with mailroom.engine.begin() as conn:
        conn.execute(
            update(tables.subscribers).where(tables.subscribers.c.id == 1).values(name=HOSTILE)
        )
    result = _invoke(mailroom, monkeypatch, "subscribers", "show", "reader1@example.org", "--json")
    assert result.exit_code == 0, result.output
    assert not UNSAFE.search(result.output.replace("\n", "")), ascii(result.output)
    assert json.loads(result.output)["subscriber"]["name"] == HOSTILE  # escaped, not lost
