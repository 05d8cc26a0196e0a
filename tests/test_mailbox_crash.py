"""A run killed between the database write of a batch and the filing of its messages loses
nothing and counts nothing twice: the next run reads those messages again, finds them known,
and files them."""

from __future__ import annotations

from sqlalchemy import func, select

from newsletter.db import tables
from tests.support.mailroom import arf, dsn
from tests.support.sending import run_cli

SENDS = 100  # x 6 readers = 600 reports: more than one batch of 500


def _reports(mailroom) -> int:  # type: ignore[no-untyped-def]
    n = 0
    for _ in range(SENDS):
        send = mailroom.add_send()
        for sid in mailroom.subscribers:
            tag = mailroom.tag(send, sid)
            raw = {
                1: dsn(tag, status="4.2.2", diagnostic="smtp; 452 4.2.2 mailbox full"),
                2: dsn(tag, status="5.7.1", diagnostic="smtp; 550 5.7.1 policy"),
                3: dsn(tag),
                4: arf(tag),
                5: dsn(tag, status="4.4.1", action="delayed"),
                6: dsn(tag, status="5.2.2"),
            }[sid]
            mailroom.drop(f"{send:03d}-{sid}.eml", raw)
            n += 1
    return n


def _state(mailroom) -> dict:  # type: ignore[no-untyped-def]
    b, d, x = tables.bounces, tables.deliveries, tables.suppressions
    with mailroom.engine.connect() as conn:
        return {
            "bounces": conn.execute(
                select(b.c.kind, b.c.category, func.count()).group_by(b.c.kind, b.c.category)
            ).all(),
            "ledger": conn.execute(
                select(d.c.status, func.count()).group_by(d.c.status).order_by(d.c.status)
            ).all(),
            "suppressions": conn.execute(select(x.c.email, x.c.reason).order_by(x.c.email)).all(),
        }


def test_killed_after_the_write_and_before_the_move_then_run_again(mailroom, workdir):
    total = _reports(mailroom)
    env = {
        "DATABASE_URL": mailroom.settings.database_url,
        "NEWSLETTER_SECRET_KEY": mailroom.settings.secret_key,
        "NEWSLETTER_TEST_CRASH_AT": "mailbox-written:1",
    }
    args = ("mailbox", str(mailroom.box), "--workers", "2", "--json")
    crashed = run_cli(*args, env=env, cwd=workdir)
    assert crashed.returncode == -9, crashed.stderr  # SIGKILL
    written = sum(n for _, _, n in _state(mailroom)["bounces"])
    assert written == 500  # the first batch is in the database ...
    assert len(mailroom.files("new")) == total and mailroom.files("cur") == []  # ... not filed

    del env["NEWSLETTER_TEST_CRASH_AT"]
    again = run_cli(*args, env=env, cwd=workdir)
    assert again.returncode == 0, again.stderr
    import json

    report = json.loads(again.stdout)
    assert report["read"] == total and report["already"] == 500
    assert mailroom.files("new") == [] and len(mailroom.files("cur")) == total
    state = _state(mailroom)
    assert sorted(state["bounces"]) == sorted(
        [
            ("bounce", "soft", 2 * SENDS),
            ("bounce", "blocked", SENDS),
            ("bounce", "hard", SENDS),
            ("complaint", "abuse", SENDS),
            ("delayed", "", SENDS),
        ]
    )
    assert dict(state["ledger"]) == {"bounced": 4 * SENDS, "complained": SENDS, "sent": SENDS}
    assert state["suppressions"] == [
        ("reader1@example.org", "bounced"),  # soft, in more than 3 sends
        ("reader3@example.org", "bounced"),
        ("reader4@example.org", "complained"),
        ("reader6@example.org", "bounced"),  # soft (5.2.2), in more than 3 sends
    ]
    third = run_cli(*args, env=env, cwd=workdir)
    assert json.loads(third.stdout)["read"] == 0
    assert _state(mailroom) == state
