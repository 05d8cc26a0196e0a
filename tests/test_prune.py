"""`newsletter prune`: never-confirmed subscribers (addresses anyone may have typed into the
form) are erased once nothing has happened to them for `unconfirmed_days`; nobody else is."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import update

from newsletter.audience.consent import CONFIRMATION_SENT, prune_unconfirmed
from newsletter.audience.history import record_event
from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.clock import utcnow
from tests.support.subscriber_store import count, snapshot

ROOT = Path(__file__).resolve().parent.parent
NEWSLETTER_SCRIPT = Path(sys.executable).parent / "newsletter"  # installed beside this Python


def _age(engine, subscriber_id: int, days: int) -> None:  # type: ignore[no-untyped-def]
    """Make everything about this subscriber `days` old."""
    then = utcnow() - timedelta(days=days)
    s, m, e = tables.subscribers, tables.memberships, tables.subscriber_events
    with engine.begin() as conn:
        conn.execute(
            update(s).where(s.c.id == subscriber_id).values(created_at=then, updated_at=then)
        )
        conn.execute(
            update(m)
            .where(m.c.subscriber_id == subscriber_id)
            .values(created_at=then, updated_at=then)
        )
        conn.execute(update(e).where(e.c.subscriber_id == subscriber_id).values(at=then))


def _people(store) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """One subscriber of each kind, all 40 days old unless said otherwise."""

    def add(name: str, slug: str = "weekly", status: str = "unconfirmed") -> int:
        return int(add_subscriber(store, f"{name}@example.com", slug, status=status)["id"])

    ids = {
        "stale": add("stale"),
        "stale-two-lists": add("stale-two-lists"),
        "fresh": add("fresh"),
        "confirmed": add("confirmed", status="subscribed"),
        "left": add("left", status="subscribed"),
        "mixed": add("mixed"),
        "asked-again": add("asked-again"),
    }
    add("stale-two-lists", "daily")
    add("mixed", "daily", status="subscribed")
    unsubscribe(store, ids["left"], None)
    for name, sub_id in ids.items():
        if name != "fresh":
            _age(store, sub_id, 40)
    with store.begin() as conn:  # a confirmation mail two days ago: the clock starts again
        record_event(conn, ids["asked-again"], None, CONFIRMATION_SENT, "web:subscribe")
    return ids


def test_prune_erases_only_the_never_confirmed_and_forgotten(store):
    ids = _people(store)
    before = snapshot(store)
    assert prune_unconfirmed(store, timedelta(days=30), dry_run=True) == 2
    assert snapshot(store) == before
    assert prune_unconfirmed(store, timedelta(days=30)) == 2
    gone = {n for n, i in ids.items() if get_subscriber(store, i) is None}
    assert gone == {"stale", "stale-two-lists"}
    for table in ("memberships", "subscriber_events"):
        for name in gone:
            assert count(store, table, subscriber_id=ids[name]) == 0
    assert count(store, "suppressions") == 1  # only `left`'s own: no trace of the erased
    assert prune_unconfirmed(store, timedelta(days=30)) == 0  # twice is harmless
    assert prune_unconfirmed(store, timedelta(days=50)) == 0  # younger than 50 days: kept


def test_prune_goes_through_many_in_chunks(store):
    ids = [
        int(add_subscriber(store, f"p{i}@example.com", "weekly", status="unconfirmed")["id"])
        for i in range(1203)
    ]
    then = utcnow() - timedelta(days=31)
    with store.begin() as conn:
        conn.execute(update(tables.subscribers).values(created_at=then))
        conn.execute(update(tables.memberships).values(updated_at=then))
        conn.execute(update(tables.subscriber_events).values(at=then))
    assert prune_unconfirmed(store, timedelta(days=30)) == len(ids)
    assert count(store, "subscribers") == count(store, "memberships") == 0


def _cli(database_url: str, *args: str, **env: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["prune", *args], env={"DATABASE_URL": database_url, **env})


def test_prune_command_is_silent_when_idle_and_one_line_when_it_erases(store, database_url):
    assert _cli(database_url).output == ""
    sub = add_subscriber(store, "stale@example.com", "weekly", status="unconfirmed")
    _age(store, sub["id"], 12)
    assert _cli(database_url).output == ""  # 12 days: not yet (default 30)
    dry = _cli(database_url, "--dry-run", NEWSLETTER_UNCONFIRMED_DAYS="10")
    assert dry.exit_code == 0 and "would erase 1 never-confirmed subscriber " in dry.output
    done = _cli(database_url, NEWSLETTER_UNCONFIRMED_DAYS="10")
    assert done.exit_code == 0
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ prune: erased 1 never-confirmed subscriber "
        r"\(unconfirmed for over 10 days\)\n",
        done.output,
    )
    assert get_subscriber(store, sub["id"]) is None
    assert "erased 0" in _cli(database_url, "-v").output


def test_prune_refuses_a_nonsense_setting_in_one_line(store, database_url):
    result = _cli(database_url, NEWSLETTER_UNCONFIRMED_DAYS="0")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: env NEWSLETTER_UNCONFIRMED_DAYS: must be at least 1 (days), got 0"
    ]


def readme_prune_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- crontab: prune -->", 1)[1].split("<!-- /crontab: prune -->", 1)[0]
    (line,) = [x for x in block.splitlines() if re.match(r"^[\d*/,-]+( +[\d*/,-]+){4} +", x)]
    return line.split(None, 5)[5]


def test_readme_crontab_runs_prune_in_a_clean_environment(store, database_url, tmp_path):
    """The README's prune line, paths pointed at this test's folders, run as cron runs it."""
    sub = add_subscriber(store, "stale@example.com", "weekly", status="unconfirmed")
    _age(store, sub["id"], 31)
    command = readme_prune_command()
    assert "newsletter prune" in command
    project, logs = tmp_path / "project", tmp_path / "logs"
    project.mkdir()
    logs.mkdir()
    (project / "newsletter.env").write_text(f"export DATABASE_URL={shlex.quote(database_url)}\n")
    command = (
        command.replace("/srv/newsletter/.venv/bin/newsletter", str(NEWSLETTER_SCRIPT))
        .replace("/var/log/newsletter", str(logs))
        .replace("/srv/newsletter", str(project))
    )
    cron_env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "SHELL": "/bin/sh"}
    cron_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # the code under test
    result = subprocess.run(
        ["sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, (command, result.stderr)
    assert get_subscriber(store, sub["id"]) is None
    assert "prune: erased 1 never-confirmed subscriber" in (logs / "prune.log").read_text()
