"""What bounces, complaints and delays change: suppressions (hard at once, soft after a limit
across sends, complaints for good, blocked never), ledger statuses shared with the SendGrid
webhook, idempotence, and `forget` erasing the diagnostics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from newsletter.audience.suppressions import forget, insert_suppression
from newsletter.db import tables
from newsletter.errors import StoreError
from tests.support.mailroom import arf, dsn


def test_a_hard_bounce_suppresses_at_once_and_marks_the_ledger_row(mailroom):
    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1)))
    report = mailroom.run()
    assert (report.read, report.hard, report.suppressed) == (1, 1, 1)
    assert mailroom.suppression(1) == "bounced"
    status, detail = mailroom.ledger(send, 1)
    assert status == "bounced"
    assert detail == (
        "hard 5.1.1: smtp; 550 5.1.1 <reader@example.org>: Recipient address rejected"
    )
    assert mailroom.ledger(send, 2) == ("sent", "250 2.0.0 Ok")
    assert mailroom.files("cur") == ["1:2,S"] and mailroom.files("new") == []


def test_soft_bounces_suppress_only_after_the_limit_across_different_sends(mailroom):
    sends = [mailroom.add_send(f"issue-{i}") for i in range(3)]
    full = "smtp; 552 5.2.2 mailbox full"
    mailroom.drop("a", dsn(mailroom.tag(sends[0], 1), status="5.2.2", diagnostic=full))
    mailroom.drop("b", dsn(mailroom.tag(sends[0], 1), status="4.2.2", diagnostic=full))
    mailroom.drop("c", dsn(mailroom.tag(sends[1], 1), status="5.2.2", diagnostic=full))
    first = mailroom.run()
    assert (first.soft, first.already, first.suppressed) == (2, 1, 0)  # one send counts once
    assert mailroom.suppression(1) is None
    assert mailroom.ledger(sends[0], 1)[0] == "bounced"  # not delivered, whatever the class
    mailroom.drop("d", dsn(mailroom.tag(sends[2], 1), status="5.2.2", diagnostic=full))
    third = mailroom.run()
    assert (third.soft, third.suppressed) == (1, 1)
    assert mailroom.suppression(1) == "bounced"


def test_soft_bounces_older_than_the_window_do_not_count(mailroom):
    sends = [mailroom.add_send(f"issue-{i}") for i in range(3)]
    for i, send in enumerate(sends[:2]):
        mailroom.drop(f"old{i}", dsn(mailroom.tag(send, 1), status="4.4.7"))
    mailroom.run()
    b = tables.bounces
    with mailroom.engine.begin() as conn:  # those two happened 31 days ago
        conn.execute(update(b).values(at=b.c.at - timedelta(days=31)))
    mailroom.drop("new", dsn(mailroom.tag(sends[2], 1), status="4.4.7"))
    assert mailroom.run().suppressed == 0
    assert mailroom.suppression(1) is None


def test_a_blocked_bounce_never_suppresses_but_is_counted(mailroom):
    send = mailroom.add_send()
    text = "smtp; 550 5.7.1 Service unavailable; client host blocked using zen.spamhaus.org"
    mailroom.drop("1", dsn(mailroom.tag(send, 1), status="5.7.1", diagnostic=text))
    mailroom.drop("2", dsn(mailroom.tag(send, 2), status="5.1.1", diagnostic="smtp; 550 " + text))
    report = mailroom.run()
    assert (report.blocked, report.hard, report.suppressed) == (2, 0, 0)
    assert mailroom.suppression(1) is None and mailroom.suppression(2) is None
    assert mailroom.ledger(send, 1)[0] == "bounced"


def test_a_complaint_suppresses_for_good_and_outranks_a_bounce(mailroom):
    from newsletter.audience.subscribers import add_subscriber

    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1)))
    mailroom.drop("2", arf(mailroom.tag(send, 1)))
    report = mailroom.run()
    assert (report.hard, report.complaints) == (1, 1)
    assert mailroom.suppression(1) == "complained"
    assert mailroom.ledger(send, 1)[0] == "complained"
    with pytest.raises(StoreError, match="complained"):
        add_subscriber(
            mailroom.engine, "reader1@example.org", "news", resubscribe_reason="asked again"
        )


def test_a_delay_is_information_only(mailroom):
    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1), status="4.4.1", action="delayed"))
    report = mailroom.run()
    assert (report.delayed, report.bounced, report.suppressed) == (1, 0, 0)
    assert mailroom.ledger(send, 1) == ("sent", "250 2.0.0 Ok")
    assert mailroom.bounce_rows() == [(send, 1, "delayed", "", "4.4.1")]


def test_a_confirmation_mail_bounce_counts_too(mailroom):
    mailroom.drop("1", dsn(mailroom.tag(0, 3)))
    report = mailroom.run()
    assert (report.hard, report.suppressed) == (1, 1)
    assert mailroom.suppression(3) == "bounced"
    assert mailroom.bounce_rows() == [(0, 3, "bounce", "hard", "5.1.1")]


def test_reading_the_same_reports_again_changes_and_counts_nothing(mailroom):
    send = mailroom.add_send()
    data = [dsn(mailroom.tag(send, 1)), arf(mailroom.tag(send, 2))]
    for i, raw in enumerate(data):
        mailroom.drop(f"m{i}", raw)
    mailroom.run()
    state = (mailroom.bounce_rows(), mailroom.ledger(send, 1), mailroom.ledger(send, 2))
    for i, raw in enumerate(data):  # the same reports delivered a second time
        mailroom.drop(f"again{i}", raw)
    again = mailroom.run()
    assert (again.read, again.already, again.bounced, again.complaints) == (2, 2, 0, 0)
    assert (mailroom.bounce_rows(), mailroom.ledger(send, 1), mailroom.ledger(send, 2)) == state
    assert mailroom.run().read == 0  # and nothing is left to read


def test_the_webhook_and_the_mailbox_record_the_same_statuses(mailroom):
    from newsletter.audience.bounces import counts_by_category
    from newsletter.sending.ledger import counts
    from newsletter.sending.provider_events import apply_event, read_event

    send = mailroom.add_send()
    ref = f"send-{send}"
    apply_event(
        mailroom.engine,
        read_event({"event": "bounce", "type": "bounce", "email": "reader1@example.org",
                    "reason": "550 5.1.1 no such user", "send_ref": ref, "subscriber_id": "1"}),
    )  # fmt: skip
    apply_event(
        mailroom.engine,
        read_event({"event": "spamreport", "email": "reader2@example.org", "send_ref": ref,
                    "subscriber_id": "2"}),
    )  # fmt: skip
    mailroom.drop("3", dsn(mailroom.tag(send, 3)))
    mailroom.drop("4", arf(mailroom.tag(send, 4)))
    mailroom.run()
    with mailroom.engine.connect() as conn:
        assert counts(conn, send)["bounced"] == 2 and counts(conn, send)["complained"] == 2
        by_category = counts_by_category(conn, send)
    assert (by_category["hard"], by_category["complaint"]) == (2, 2)
    assert [mailroom.suppression(i) for i in (1, 2, 3, 4)] == [
        "bounced",
        "complained",
        "bounced",
        "complained",
    ]
    assert mailroom.ledger(send, 1)[0] == mailroom.ledger(send, 3)[0] == "bounced"


def test_forget_erases_the_diagnostics_that_name_the_address(mailroom):
    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1)))
    mailroom.run()
    assert forget(mailroom.engine, "reader1@example.org")
    b, d, x = tables.bounces, tables.deliveries, tables.suppressions
    with mailroom.engine.connect() as conn:
        texts = [
            *conn.execute(select(b.c.diagnostic)).scalars(),
            *conn.execute(select(d.c.detail).where(d.c.subscriber_id == 1)).scalars(),
            *conn.execute(select(x.c.source)).scalars(),
        ]
        assert conn.execute(select(b.c.category)).scalars().all() == ["hard"]  # still counted
    assert texts and not any("reader" in t for t in texts), texts


def test_insert_suppression_says_whether_it_added_one(engine):
    with engine.begin() as conn:
        assert insert_suppression(conn, "a" * 64, "x@example.org", 0, "bounced", "t") is True
        assert insert_suppression(conn, "a" * 64, "x@example.org", 0, "bounced", "t") is False
