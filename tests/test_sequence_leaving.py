"""Leaving a sequence of two lists: with `stop_on_unsubscribe` (the default) unsubscribing from
either ends it, though not an unsubscribe from before the reader joined; without it, a reader
still subscribed to one of the lists goes on getting the steps. `subscribers forget` takes a
reader out of every sequence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber
from newsletter.audience.suppressions import forget
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.db.clock import utcnow
from tests.support.sequences import at, send_due, sent_to, write_sequence

TIPS = "welcome/02-tips"


@pytest.mark.parametrize("stop", [True, False])
def test_leaving_one_of_two_lists(
    engine: Engine, database_url: str, workdir: Path, stop: bool
) -> None:
    (workdir / "issues").mkdir()
    write_sequence(workdir, lists='["weekly", "daily"]', stop=stop)
    weekly = create_list(engine, "weekly", "Weekly")["id"]
    daily = create_list(engine, "daily", "Daily")["id"]
    old = add_subscriber(engine, "old@example.com", "daily")["id"]
    unsubscribe(engine, old, daily, source="link")  # left daily before the sequence existed
    send_due(database_url, workdir)
    start = utcnow()
    ann = add_subscriber(engine, "ann@example.com", "weekly")["id"]
    add_subscriber(engine, "ann@example.com", "daily")
    add_subscriber(engine, "old@example.com", "weekly")
    send_due(database_url, workdir)
    unsubscribe(engine, ann, weekly, source="link")  # still on daily
    send_due(database_url, workdir, "--now", at(start, days=2, minutes=5))
    assert sent_to(engine, TIPS) == ({old} if stop else {ann, old})


def test_a_forgotten_reader_leaves_no_row_in_any_sequence(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)
    add_subscriber(engine, "ann@example.com", "weekly")
    send_due(database_url, seq_project)
    assert forget(engine, "ann@example.com")
    with engine.connect() as conn:
        assert conn.execute(select(tables.sequence_members)).all() == []
    send_due(database_url, seq_project)  # and nothing breaks for the step she had
