"""Crash and resume: a `send` process is SIGKILLed at several points, then `--resume` finishes.

The SMTP sink runs as its own process and records every accepted message to a file, so what
was delivered is known independently of the ledger.
"""

from __future__ import annotations

import signal

import pytest

from newsletter.sending import ledger
from newsletter.sending.sends import all_sends
from tests.support.sending import (
    delivered,
    env_for,
    populate,
    run_cli,
    sigkill,
    spawn_cli,
    until_seen_dead,
    weekly_send,
)
from tests.support.waiting import wait_until

N = 100


def the_send_id(engine) -> int:
    with engine.connect() as conn:
        (send,) = all_sends(conn)
        return send.id


def the_counts(engine) -> dict[str, int]:
    send_id = the_send_id(engine)
    with engine.connect() as conn:
        return ledger.counts(conn, send_id)


@pytest.mark.parametrize(
    "stage,retry_unknown,in_flight",
    [
        ("start:0", False, 0),  # send created and snapshotted, nothing claimed yet
        ("claimed:1", True, 20),  # first batch claimed, nothing handed to SMTP
        ("claimed:3", True, 20),  # between claim and delivery of a later batch
        ("sent:2", False, 20),  # batch delivered, outcome not recorded: stays unknown
        ("recorded:4", False, 0),  # between batches
    ],
)
def test_sigkill_then_resume_delivers_everyone_exactly_once(
    stage, retry_unknown, in_flight, engine, database_url, issue_path, workdir, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    env = env_for(database_url, port)
    crashed = run_cli(
        *weekly_send(issue_path), env={**env, "NEWSLETTER_TEST_CRASH_AT": stage}, cwd=workdir
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if in_flight:
        until_seen_dead(engine, the_send_id(engine))

    assert the_counts(engine)["claimed"] == in_flight
    status = run_cli("status", "2019-03-01-hanoi-summit", env=env, cwd=workdir)
    assert status.returncode == 0  # the in-flight batch is listed as in doubt at once ...
    assert status.stdout.count("in doubt user") == in_flight
    assert the_counts(engine)["claimed"] == in_flight  # ... and status changed nothing
    plain = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert plain.returncode == 1 and "--resume" in plain.stderr  # never continues silently

    resume = ["--resume"] + (["--retry-unknown"] if retry_unknown else [])
    done = run_cli(*weekly_send(issue_path, *resume), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    seen = delivered(record)
    everyone = {f"user{i}@example.com" for i in range(N)}
    assert set(seen) == everyone and max(seen.values()) == 1
    counts = the_counts(engine)
    assert counts["unknown"] == (0 if retry_unknown else in_flight)
    assert counts["queued"] == counts["claimed"] == 0
    assert counts["sent"] + counts["unknown"] == sum(seen.values()) == N


def test_sigkill_in_the_middle_of_a_batch(engine, database_url, issue_path, workdir, sink_process):
    """Killed while SMTP transactions are in flight: nobody is sent twice by the resume, and
    whoever the ledger cannot vouch for is `unknown`, not silently skipped or resent."""
    port, record = sink_process
    populate(engine, "weekly", N)
    env = env_for(database_url, port, NEWSLETTER_SMTP_CONNECTIONS="1")
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    wait_until(lambda: sum(delivered(record).values()) >= 30, what="30 messages delivered")
    sigkill(proc)
    until_seen_dead(engine, the_send_id(engine))
    done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    seen = delivered(record)
    assert max(seen.values()) == 1
    with engine.connect() as conn:
        (send,) = all_sends(conn)
        counts = ledger.counts(conn, send.id)
        unknown = {e for e, s, _ in ledger.problems(conn, send.id, limit=N) if s == "unknown"}
    assert counts["queued"] == counts["claimed"] == 0
    assert counts["sent"] + counts["unknown"] == N
    never_reached = {f"user{i}@example.com" for i in range(N)} - set(seen)
    assert never_reached <= unknown  # every possibly-missed person is listed as unknown
