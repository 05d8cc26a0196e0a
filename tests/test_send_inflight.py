"""Crashes with units in flight: a worker SIGKILLed while SendGrid requests wait for their
answers, and an SMTP send SIGKILLed several times while messages are outstanding.

Only what was handed to the network may become `unknown`; rows claimed ahead go back to the
queue; nobody is sent twice; the number in doubt stays within the bounds the README gives.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.sending import ledger, workers
from tests.support.sending import (
    delivered,
    populate,
    run_cli,
    sendgrid_env,
    sigkill,
    sink_running,
    smtp_env,
    spawn_cli,
    the_send,
    until_seen_dead,
    weekly_send,
)
from tests.support.waiting import wait_until

SMTP_BOUND = 50  # unknown per crash on default SMTP settings (README, Sending)


def recover_the_killed(engine: Engine, send_id: int) -> int:
    """`workers.recover` once the killed process is seen dead; how many became unknown."""
    until_seen_dead(engine, send_id)
    return workers.recover(engine, send_id)


def test_killed_with_requests_in_flight_only_those_become_unknown(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """Four requests of 100 wait for their answer (the stand-in holds them back); two more
    batches are claimed ahead. SIGKILL: the 400 on the network become unknown, the 200 claimed
    ahead go back to the queue, and the resume sends everyone else exactly once."""
    n = 1000
    populate(engine, "weekly", n)
    sendgrid_standin.hold()
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="4")
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    wait_until(lambda: sendgrid_standin.requests >= 4, what="four requests on the network")
    wait_until(lambda: the_send(engine)[1]["claimed"] >= 600, what="two batches claimed ahead")
    sigkill(proc)
    sendgrid_standin.release()  # the answers go to a dead process
    assert sendgrid_standin.requests == 4  # every lane was waiting: nothing else went out
    send_id, counts = the_send(engine)
    assert counts["claimed"] == 600 and counts["sent"] == 0

    assert recover_the_killed(engine, send_id) == 400
    _, counts = the_send(engine)
    assert counts["unknown"] == 400 and counts["queued"] == 600 and counts["claimed"] == 0
    with engine.connect() as conn:
        unknown = {e for e, s, _ in ledger.problems(conn, send_id, limit=n) if s == "unknown"}
    on_the_wire = {p["to"][0]["email"] for p in sendgrid_standin.accepted}
    assert unknown == on_the_wire  # exactly what had been handed to the network

    done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert len(sendgrid_standin.accepted_ids) == n
    assert max(sendgrid_standin.accepted_ids.values()) == 1  # nobody sent twice
    _, counts = the_send(engine)
    assert counts["sent"] == 600 and counts["unknown"] == 400


@pytest.fixture
def late_sink(workdir: Path) -> Iterator[tuple[int, Path]]:
    """The fast sink as a process, every reply 20 ms late (a relay across a network),
    recording envelopes."""
    record = workdir / "sink.jsonl"
    with sink_running(record, "--fast", "--latency-ms", "20", "--envelopes-only") as port:
        yield port, record


def test_smtp_killed_at_several_points_leaves_few_in_doubt(
    engine, database_url, issue_path, workdir, late_sink
):
    """Default SMTP settings, 20 ms replies: the send is SIGKILLed three times while messages
    are outstanding, resumed each time. Each crash leaves at most SMTP_BOUND rows unknown;
    nobody is sent twice; everyone else gets the issue."""
    n = 1500
    port, record = late_sink
    populate(engine, "weekly", n)
    env = smtp_env(database_url, port)
    args = weekly_send(issue_path)
    in_doubt = []
    for i, at in enumerate((150, 600, 1000)):
        proc = spawn_cli(*args, *(["--resume"] if i else []), env=env, cwd=workdir)
        wait_until(
            lambda at=at: sum(delivered(record).values()) >= at, what=f"{at} messages delivered"
        )
        sigkill(proc)
        send_id, counts = the_send(engine)
        assert counts["claimed"] > 0  # messages were outstanding at the kill
        in_doubt.append(recover_the_killed(engine, send_id))
    print(f"unknown per crash: {in_doubt}")
    assert all(0 < d <= SMTP_BOUND for d in in_doubt), in_doubt
    done = run_cli(*args, "--resume", env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    seen = delivered(record)
    assert max(seen.values()) == 1  # nobody sent twice
    _, counts = the_send(engine)
    assert counts["unknown"] == sum(in_doubt) and counts["sent"] + counts["unknown"] == n, counts
    with engine.connect() as conn:
        unknown = {e for e, s, _ in ledger.problems(conn, send_id, limit=n) if s == "unknown"}
    assert {f"user{i}@example.com" for i in range(n)} - set(seen) <= unknown


def test_cancel_with_requests_in_flight_leaves_nothing_in_doubt_and_resume_sends_the_rest(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """The cancel comes while two requests wait for their answer (held back by the stand-in):
    the send stops after them, whatever the machine's speed."""
    n = 1000
    populate(engine, "weekly", n)
    sendgrid_standin.hold()
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="2")
    args = weekly_send(issue_path)
    proc = spawn_cli(*args, env=env, cwd=workdir)
    wait_until(lambda: sendgrid_standin.requests >= 2, what="two requests on the network")
    cancel = run_cli(*args[:2], "--list", "weekly", "--cancel", env=env, cwd=workdir)
    assert cancel.returncode == 0, cancel.stderr
    sendgrid_standin.release()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    _, counts = the_send(engine)
    accepted = len(sendgrid_standin.accepted_ids)
    assert counts["claimed"] == counts["unknown"] == 0  # nothing left in doubt
    assert counts["sent"] == accepted and counts["queued"] == n - accepted
    assert accepted < n  # it did stop
    done = run_cli(*args, "--resume", env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert len(sendgrid_standin.accepted_ids) == n
    assert max(sendgrid_standin.accepted_ids.values()) == 1
