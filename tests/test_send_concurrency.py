"""Overlapping runs: two `send` processes at once, and two workers sharing one send."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from newsletter.db import tables
from newsletter.sending import ledger
from newsletter.sending.sends import all_sends
from tests.support.sending import delivered, env_for, populate, run_cli, spawn_cli, weekly_send
from tests.support.waiting import wait_until

N = 200


def test_two_send_processes_at_once_deliver_each_recipient_once(
    engine, database_url, issue_path, workdir, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    env = env_for(database_url, port, NEWSLETTER_TEST_BATCH_DELAY="0.05")
    procs = [spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    seen = delivered(record)
    assert len(seen) == N and max(seen.values()) == 1
    with engine.connect() as conn:
        sends = all_sends(conn)
        assert len(sends) == 1  # the second process joined the first's send
        assert ledger.counts(conn, sends[0].id)["sent"] == N


def test_two_workers_share_one_send_without_overlap(
    engine, database_url, issue_path, workdir, sink_process
):
    """On PostgreSQL this is the several-machines deployment (SKIP LOCKED claims, advisory-lock
    liveness); on SQLite the same holds for processes on one host."""
    port, record = sink_process
    populate(engine, "weekly", N)
    env = env_for(database_url, port, NEWSLETTER_BATCH_SIZE="10")
    # Start the send, then leave it to the workers.
    first = run_cli(*weekly_send(issue_path, "--limit", "1"), env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    # A pauses 2 s after each batch: alone it would need half a minute for the rest, so B
    # (whose start-up takes what the machine gives it) joins while A is under way.
    a = spawn_cli("worker", "--once", env={**env, "NEWSLETTER_TEST_BATCH_DELAY": "2"}, cwd=workdir)
    wait_until(lambda: sum(delivered(record).values()) >= 21, what="worker A under way")
    b = spawn_cli(
        "worker", "--once", env={**env, "NEWSLETTER_TEST_BATCH_DELAY": "0.3"}, cwd=workdir
    )
    outs = [p.communicate(timeout=120) for p in (a, b)]
    assert [a.returncode, b.returncode] == [0, 0], [err for _, err in outs]
    seen = delivered(record)
    assert len(seen) == N and max(seen.values()) == 1
    with engine.connect() as conn:
        by_worker = Counter(
            conn.execute(
                select(tables.deliveries.c.claimed_by).where(tables.deliveries.c.status == "sent")
            ).scalars()
        )
    assert len(by_worker) == 3  # the first `send` and both workers did part of it
    assert sum(by_worker.values()) == N


def test_send_with_helper_workers_delivers_each_recipient_once(
    engine, database_url, issue_path, workdir, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    env = env_for(database_url, port, NEWSLETTER_TEST_BATCH_DELAY="0.05")
    done = run_cli(*weekly_send(issue_path, "--workers", "3", "--json"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    seen = delivered(record)
    assert len(seen) == N and max(seen.values()) == 1
    with engine.connect() as conn:
        (send,) = all_sends(conn)
        assert send.status == "done"
        assert ledger.counts(conn, send.id)["sent"] == N
    assert '"sent": 200' in done.stdout
