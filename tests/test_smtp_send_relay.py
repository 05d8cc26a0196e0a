"""Whole `newsletter send` runs (real processes) against a scriptable relay in this process: the
processes of one send together never hold more sessions than `smtp_connections`, retries
included; what they learn about the relay is shared through the database and shown by
`status`, which only reads; a relay that refuses everything stops the send gracefully after
`outage_timeout`, with one line that says why and how to go on."""

from __future__ import annotations

import json
import time

from newsletter.db.migrate import current_revision
from newsletter.sending import ledger
from newsletter.sending.send import connection_shares
from newsletter.sending.sends import all_sends
from tests.support.relay import Relay
from tests.support.sending import env_for, populate, run_cli, spawn_cli

THROTTLED = "450 4.7.1 Error: too much mail from 127.0.0.1"


def test_connections_are_split_between_processes_adding_up_exactly() -> None:
    assert connection_shares(40, 2) == [20, 20]
    assert connection_shares(7, 3) == [3, 2, 2]
    assert sum(connection_shares(40, 3)) == 40
    assert connection_shares(2, 2) == [1, 1]


def test_three_processes_never_hold_more_sessions_than_smtp_connections(
    relay: Relay, engine, database_url, issue_path, workdir
) -> None:
    """7 connections for 3 processes (3 + 2 + 2), against a relay that throttles for a while:
    the relay never sees more than 7 sessions greeted at once, and everyone gets one copy."""
    relay.on("MAIL", THROTTLED, times=40)
    populate(engine, "weekly", 300)
    env = env_for(
        database_url,
        relay.port,
        NEWSLETTER_SMTP_CONNECTIONS="7",
        NEWSLETTER_SMTP_HOST="127.0.0.1",
        NEWSLETTER_BATCH_SIZE="50",
    )
    done = run_cli(
        "send", str(issue_path), "--list", "weekly", "--yes", "--workers", "3",
        env=env, cwd=workdir, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rcpts = relay.recipients()
    assert len(rcpts) == len(set(rcpts)) == 300
    assert relay.max_greeted <= 7


def _status(env: dict[str, str], workdir) -> dict:  # noqa: ANN001
    shown = run_cli("status", "2019-03-01-hanoi-summit", "--json", env=env, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    return rows[0] if rows else {}  # the send may not be created yet


def test_a_relay_refusing_everything_pauses_the_send_after_outage_timeout(
    relay: Relay, engine, database_url, issue_path, workdir
) -> None:
    relay.on("MAIL", THROTTLED, times=10**9)
    populate(engine, "weekly", 30)
    env = env_for(
        database_url, relay.port, NEWSLETTER_SMTP_HOST="127.0.0.1", NEWSLETTER_OUTAGE_TIMEOUT="6"
    )
    sending = spawn_cli("send", str(issue_path), "--list", "weekly", "--yes", env=env, cwd=workdir)
    seen = {}
    deadline = time.monotonic() + 60
    while not (seen.get("relay") or {}).get("throttled"):  # learned, then shared
        assert time.monotonic() < deadline, f"status never showed the throttled relay: {seen}"
        assert sending.poll() is None, sending.communicate()
        revision = current_revision(engine)
        seen = _status(env, workdir)
        assert current_revision(engine) == revision  # status only reads
    assert seen["relay"]["refusals"] >= 1 and seen["relay"]["sessions"] <= 2
    _, err = sending.communicate(timeout=120)
    assert sending.returncode == 1
    *before, line = err.strip().splitlines()  # the pre-flight's warnings come first
    assert all(w.startswith("warning: ") for w in before), before
    assert "Traceback" not in err
    assert "refused every message (or connection) for 6 s (outage_timeout" in line
    assert THROTTLED in line
    assert "newsletter send 2019-03-01-hanoi-summit --resume" in line
    with engine.connect() as conn:
        (send,) = all_sends(conn)
        counts = ledger.counts(conn, send.id)
    assert send.status == "paused"
    assert counts["queued"] == 30 and counts["failed"] == counts["unknown"] == 0, counts
    assert _status(env, workdir).get("relay") is None  # the worker left: no stale pace
    relay.rules.clear()  # the relay takes mail again
    resumed = run_cli(
        "send", str(issue_path), "--list", "weekly", "--yes", "--resume", env=env, cwd=workdir
    )
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(relay.recipients()) == sorted(f"user{i}@example.com" for i in range(30))
