"""Growth per week (`lists --history`): joins from memberships (imports included), the rest from
the subscriber history, bucketed by Monday-to-Sunday UTC weeks, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from newsletter.audience.csv_import import import_csv
from newsletter.audience.growth import KINDS, week_start, weekly_history
from newsletter.audience.history import record_event
from newsletter.audience.lists import get_list
from newsletter.audience.subscribers import add_subscriber
from newsletter.audience.suppressions import suppress_address
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.cli import cli
from newsletter.db import tables

NOW = datetime.now(UTC)
THIS_WEEK = week_start(NOW.date())
LAST_WEEK = THIS_WEEK - timedelta(weeks=1)


def _history(store, weeks: int) -> dict[date, dict[str, int]]:
    with store.connect() as conn:
        return {r["week"]: {k: r[k] for k in KINDS} for r in weekly_history(conn, weeks)}


def _move_back(store, sub_id: int, days: int) -> None:
    """Everything that happened to this subscriber, `days` earlier."""
    m, e = tables.memberships, tables.subscriber_events
    with store.begin() as conn:
        for table, column in ((m, m.c.created_at), (e, e.c.at)):
            rows = conn.execute(table.select().where(table.c.subscriber_id == sub_id)).mappings()
            for row in list(rows):
                key = {"at": row["at"]} if table is e else {"list_id": row["list_id"]}
                moved = (row[column.name].replace(tzinfo=UTC) - timedelta(days=days)).astimezone(
                    UTC
                )
                conn.execute(
                    update(table)
                    .where(
                        table.c.subscriber_id == sub_id, *(table.c[k] == v for k, v in key.items())
                    )
                    .values({column.name: moved})
                )


def test_each_kind_is_counted_in_its_week(store):
    weekly = get_list(store, "weekly")["id"]
    ann = add_subscriber(store, "ann@example.com", "weekly")
    bo = add_subscriber(store, "bo@example.com", "weekly")
    add_subscriber(store, "bo@example.com", "daily")  # one person, two lists: two joins
    cy = add_subscriber(store, "cy@example.com", "weekly")
    with store.begin() as conn:
        record_event(conn, ann["id"], weekly, "confirmed", "web:confirm")
    unsubscribe(store, ann["id"], weekly)
    suppress_address(store, "bo@example.com", "bounced")  # every list: one event
    suppress_address(store, "cy@example.com", "complained")
    _move_back(store, cy["id"], 7)
    history = _history(store, 3)
    assert list(history) == [LAST_WEEK - timedelta(weeks=1), LAST_WEEK, THIS_WEEK]
    assert history[THIS_WEEK] == {
        "joins": 3, "confirmations": 1, "unsubscribes": 1, "bounces": 1, "complaints": 0,
    }  # fmt: skip
    assert history[LAST_WEEK] == {
        "joins": 1, "confirmations": 0, "unsubscribes": 0, "bounces": 0, "complaints": 1,
    }  # fmt: skip
    assert set(history[LAST_WEEK - timedelta(weeks=1)].values()) == {0}
    assert bo["id"] != cy["id"]


def test_imports_count_as_joins_and_another_providers_past_does_not(store, tmp_path: Path):
    people = tmp_path / "people.csv"
    people.write_text("email\n" + "".join(f"p{i}@example.com\n" for i in range(5)))
    import_csv(store, people, "weekly")
    gone = tmp_path / "gone.csv"
    gone.write_text("email\nold1@example.com\nold2@example.com\n")
    import_csv(store, gone, "weekly", as_reason="unsubscribed")
    assert _history(store, 1) == {
        THIS_WEEK: {"joins": 5, "confirmations": 0, "unsubscribes": 0, "bounces": 0,
                    "complaints": 0},
    }  # fmt: skip


def test_a_week_starts_on_monday():
    assert week_start(date(2026, 12, 6)) == date(2026, 11, 30)  # a Sunday
    assert week_start(date(2026, 12, 7)) == date(2026, 12, 7)  # a Monday


@pytest.fixture
def run(workdir: Path, database_url: str):
    def invoke(*args: str, code: int = 0):
        result = CliRunner().invoke(cli, list(args), env={"DATABASE_URL": database_url})
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    invoke("lists", "create", "weekly", "--name", "Weekly")
    invoke("subscribers", "add", "ann@example.com", "--list", "weekly")
    return invoke


def test_cli_lists_history_prints_a_table_and_json(run):
    lines = run("lists", "--history", "--weeks", "2").stdout.splitlines()
    assert lines[0] == "week of     joins  confirmations  unsubscribes  bounces  complaints"
    assert lines[1].startswith(f"{LAST_WEEK.isoformat()}      0")
    assert (
        lines[2] == f"{THIS_WEEK.isoformat()}      1              0             0        0"
        "           0"
    )
    assert lines[3].startswith("total           1")
    rows = json.loads(run("lists", "--history", "--json").stdout)
    assert len(rows) == 12 and rows[-1] == {
        "week": THIS_WEEK.isoformat(), "joins": 1, "confirmations": 0, "unsubscribes": 0,
        "bounces": 0, "complaints": 0,
    }  # fmt: skip
    alone = run("lists", "--weeks", "3", code=2)
    assert "--weeks goes with --history" in alone.stderr
