"""Steps that change under readers already in a sequence: a removed step is skipped for the
readers who had not had it, and a step added at the end reaches the readers still in it, due
no earlier than when `send-due` first saw it."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber
from newsletter.db.clock import utcnow
from tests.support.sequences import (
    at,
    outbox_messages,
    send_due,
    sent_to,
    step_ledger,
    write_sequence,
    write_step,
)

THREE = (
    ("01-welcome", "0h", "Welcome aboard"),
    ("02-tips", "1d", "Three tips"),
    ("03-more", "2d", "More to read"),
)


def test_a_removed_step_is_skipped_for_readers_who_had_not_had_it(
    engine: Engine, database_url: str, workdir: Path
) -> None:
    (workdir / "issues").mkdir()
    folder = write_sequence(workdir, steps=THREE)
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, workdir)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, workdir)
    (folder / "02-tips.md").unlink()
    send_due(database_url, workdir, "--now", at(start, days=1, minutes=5))
    assert step_ledger(engine, "welcome/02-tips") == {}
    send_due(database_url, workdir, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, "welcome/03-more") == {ann}
    assert len(outbox_messages(workdir)) == 2


def test_a_step_added_at_the_end_reaches_readers_still_in_the_sequence(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    send_due(database_url, seq_project)
    send_due(database_url, seq_project, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, "welcome/02-tips") == {ann}  # ann has had every step
    write_step(seq_project / "sequences" / "welcome", "03-more", "1w", "More to read")
    # First seen now (day 3): due at max(joined + 1w, day 3), so day 7, never late.
    send_due(database_url, seq_project, "--now", at(start, days=3))
    assert step_ledger(engine, "welcome/03-more") == {}
    send_due(database_url, seq_project, "--now", at(start, days=7, minutes=5))
    assert sent_to(engine, "welcome/03-more") == {ann}
