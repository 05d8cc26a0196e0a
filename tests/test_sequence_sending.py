"""Sequences sent by `send-due` (issue 26): readers join from their membership's
`subscribed_at`, get step 1 first and each step once, on their own clock (`--now`); readers who
leave get nothing more; lateness, pause, an edited step and `import --no-sequences`."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, update

from newsletter.audience.consent import confirm_from_link
from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.sequences.registry import set_paused
from tests.support.sending import SECRET, run_cli
from tests.support.sequences import (
    at,
    outbox_messages,
    send_due,
    sent_to,
    step_ledger,
    write_step,
)

WELCOME, TIPS = "welcome/01-welcome", "welcome/02-tips"
M = tables.sequence_members


def _weekly(engine: Engine) -> int:
    return int(create_list(engine, "weekly", "Weekly")["id"])


def test_a_confirmed_subscriber_gets_the_welcome_then_step_two_after_its_delay(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    list_id = _weekly(engine)
    send_due(database_url, seq_project)  # first seen now: nobody has joined yet
    sub = add_subscriber(engine, "ann@example.com", "weekly", status="unconfirmed")["id"]
    assert send_due(database_url, seq_project).stdout == ""  # unconfirmed: not a member yet
    assert step_ledger(engine, WELCOME) == {}
    assert confirm_from_link(engine, sub, list_id, utcnow()) == "confirmed"
    start = utcnow()
    send_due(database_url, seq_project)
    assert sent_to(engine, WELCOME) == {sub} and sent_to(engine, TIPS) == set()
    assert len(outbox_messages(seq_project)) == 1
    send_due(database_url, seq_project, "--now", at(start, days=1, hours=23))
    assert sent_to(engine, TIPS) == set()  # two days have not passed
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, TIPS) == {sub}
    send_due(database_url, seq_project, "--now", at(start, days=2, hours=3))
    assert len(outbox_messages(seq_project)) == 2  # each step once
    raw = outbox_messages(seq_project)[1].read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Newsletter-Tag"]  # what a bounce or complaint is matched by
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "/o/" in html and "/steps/" in html  # tracked like an issue; its own web copy link


def test_an_unsubscribed_reader_gets_nothing_more(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    list_id = _weekly(engine)
    send_due(database_url, seq_project)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    bob = add_subscriber(engine, "bob@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    assert sent_to(engine, WELCOME) == {ann, bob}
    unsubscribe(engine, ann, list_id, source="link")
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, TIPS) == {bob}
    with engine.connect() as conn:
        left = conn.execute(select(M.c.left_at, M.c.left_reason).where(M.c.subscriber_id == ann))
        when, reason = left.one()
    assert when is not None and reason == "unsubscribed"
    add_subscriber(engine, "ann@example.com", "weekly", resubscribe_reason="asked again")
    send_due(database_url, seq_project, "--now", at(start, days=9))
    assert sent_to(engine, TIPS) == {bob}  # rejoining does not restart the sequence


def test_a_reader_who_joins_late_gets_step_one_first(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, TIPS) == {ann}
    bob = add_subscriber(engine, "bob@example.com", "weekly")["id"]
    m = tables.memberships
    with engine.begin() as conn:  # bob subscribed two days after ann
        conn.execute(
            update(m)
            .where(m.c.subscriber_id == bob)
            .values(subscribed_at=utcnow() + timedelta(days=2))
        )
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=10))
    assert sent_to(engine, WELCOME) == {ann, bob} and sent_to(engine, TIPS) == {ann}
    send_due(database_url, seq_project, "--now", at(start, days=4, minutes=15))
    assert sent_to(engine, TIPS) == {ann, bob}


def test_a_step_more_than_max_late_past_due_is_skipped_with_the_reason(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    # No run for two days and an hour: the welcome is 2d1h late, step 2 one hour.
    send_due(database_url, seq_project, "--now", at(start, days=2, hours=1), "--max-late", "24h")
    status, detail, _ = step_ledger(engine, WELCOME)[ann]
    assert status == "skipped" and detail.startswith("late: due ") and "max_late" in detail
    assert sent_to(engine, TIPS) == {ann}
    assert len(outbox_messages(seq_project)) == 1


def test_a_paused_sequence_sends_nothing_until_resumed(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    set_paused(engine, "welcome", True)
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    send_due(database_url, seq_project)  # registering again keeps `paused`
    assert step_ledger(engine, WELCOME) == {}
    set_paused(engine, "welcome", False)
    send_due(database_url, seq_project)
    assert sent_to(engine, WELCOME) == {ann}


def test_an_edited_step_goes_to_the_rest_in_its_new_version_and_is_never_resent(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    folder = seq_project / "sequences" / "welcome"
    write_step(folder, "01-welcome", "0h", "Welcome aboard", "A better welcome, edited.")
    bob = add_subscriber(engine, "bob@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    ledger = step_ledger(engine, WELCOME)
    assert {i: s for i, (s, _, _) in ledger.items()} == {ann: "sent", bob: "sent"}
    assert ledger[ann][2] != ledger[bob][2]  # each row records the version its reader got
    messages = [p.read_text(encoding="utf-8") for p in outbox_messages(seq_project)]
    assert len(messages) == 2 and sum("A better welcome" in m for m in messages) == 1
    with engine.connect() as conn:
        sends = conn.execute(
            select(tables.sends.c.source_hash).where(tables.sends.c.issue_id == WELCOME)
        ).all()
    assert sends == [(ledger[bob][2],)]  # one send for ever, holding the new version
    write_step(folder, "01-welcome", "0h", "Welcome aboard", "Edited once more.")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    check = run_cli("check", env=env, cwd=seq_project)
    assert "warning: the text changed after 2 reader(s) got this step" in check.stdout


def test_a_reader_imported_with_no_sequences_never_joins(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    people = seq_project / "people.csv"
    people.write_text("email\nbulk@example.com\n", encoding="utf-8")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    imported = run_cli(
        "subscribers",
        "import",
        str(people),
        "--list",
        "weekly",
        "--no-sequences",
        env=env,
        cwd=seq_project,
    )
    assert imported.returncode == 0, imported.stderr
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    send_due(database_url, seq_project, "--now", at(utcnow(), days=3))
    assert set(step_ledger(engine, WELCOME)) == {ann}
    with engine.connect() as conn:
        assert conn.execute(select(M.c.subscriber_id)).scalars().all() == [ann]


def test_restart_sequence_starts_the_clock_again_without_resending(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    list_id = _weekly(engine)
    send_due(database_url, seq_project)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    unsubscribe(engine, ann, list_id, source="link")
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, TIPS) == set()  # left before step 2
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    args = ("subscribers", "add", "ann@example.com", "--list", "weekly")
    again = run_cli(
        *args, "--resubscribe", "asked", "--restart-sequence", "welcome", env=env, cwd=seq_project
    )
    assert again.returncode == 0 and "starts again" in again.stdout, again.stderr
    restarted = utcnow()
    send_due(database_url, seq_project, "--now", at(restarted, minutes=1))
    assert len(outbox_messages(seq_project)) == 1  # the welcome she had is not sent again
    send_due(database_url, seq_project, "--now", at(restarted, days=2, minutes=1))
    assert sent_to(engine, TIPS) == {ann} and len(outbox_messages(seq_project)) == 2
    unknown = run_cli(*args, "--restart-sequence", "nosuch", env=env, cwd=seq_project)
    assert unknown.returncode != 0 and "Traceback" not in unknown.stderr
    assert "not registered" in unknown.stderr


def test_a_step_speaks_its_lists_language(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    """Rendered once, like an issue: in the step's `language:`, else its lists' language."""
    create_list(engine, "weekly", "Weekly", language="fr")
    send_due(database_url, seq_project)
    add_subscriber(engine, "ann@example.com", "weekly")
    send_due(database_url, seq_project)
    raw = outbox_messages(seq_project)[0].read_bytes()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert 'lang="fr"' in html and "Se désabonner" in html
    with engine.connect() as conn:
        options = conn.execute(
            select(tables.sends.c.options).where(tables.sends.c.issue_id == WELCOME)
        ).scalar_one()
    assert options["language"] == "fr"  # its readers' unsubscribe pages speak it too


def test_a_project_of_sequences_only_needs_no_issues_folder(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    """cron's send-due in a project that only welcomes: no issues folder is no scheduled issue."""
    _weekly(engine)
    (seq_project / "issues").rmdir()
    assert send_due(database_url, seq_project).returncode == 0
    sub = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    assert send_due(database_url, seq_project).returncode == 0
    assert sent_to(engine, WELCOME) == {sub}
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    missing = run_cli("send-due", "--issues", "nowhere", env=env,
                      cwd=seq_project)  # fmt: skip
    assert missing.returncode != 0 and "issues folder not found" in missing.stderr
