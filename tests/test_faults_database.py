"""The database goes away in the middle of a send and comes back (issue 21, point 2).

A real PostgreSQL server of the test's own (`private_postgres`: initdb, its own port) is
stopped as an upgrade's restart stops it (`pg_ctl -m fast`: every session ends, so every
worker's liveness lock goes) and started again, under a running two-process send. The workers
keep what they delivered meanwhile in memory, take no new work, wait, take their locks again
and carry on: nobody lost, nobody sent twice, nobody `unknown`, and nobody ran `--resume`.
Past `db_outage_timeout` a worker stops and writes what it delivered to its journal, which the
next run on the host records before anything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.db import tables
from newsletter.db.engine import make_engine
from newsletter.sending import workers
from tests.support.private_postgres import PrivatePostgres
from tests.support.sending import (
    delivered,
    populate,
    run_cli,
    sink_running,
    smtp_env,
    spawn_cli,
    the_send,
    weekly_send,
)
from tests.support.waiting import wait_until

TWO_WORKERS = {"NEWSLETTER_SEND_WORKERS_FROM": "1000", "NEWSLETTER_SEND_WORKERS_MAX": "2"}


def _quiet(record: Path) -> object:
    """A predicate true once the sink has received nothing new since its previous call."""
    seen = [-1]

    def check() -> bool:
        now = sum(delivered(record).values())
        quiet, seen[0] = now == seen[0], now
        return quiet

    return check


def _audience(server: PrivatePostgres, n: int) -> tuple[str, Engine]:
    """A new database on the private server with `n` members of the list `weekly`."""
    url = server.create_database()
    engine = make_engine(url)
    populate(engine, "weekly", n)
    return url, engine


def _until_sent(engine: Engine, at_least: int) -> None:
    wait_until(
        lambda: the_send(engine)[1]["sent"] >= at_least,
        timeout=300,
        what="a part sent",
        ignore=(ValueError,),
    )


def test_postgres_restarted_mid_send_two_workers_finish_with_nobody_lost_doubled_or_unknown(
    private_postgres: PrivatePostgres, issue_path: Path, workdir: Path
):
    n = 20_000
    url, engine = _audience(private_postgres, n)
    record = workdir / "sink.jsonl"
    with sink_running(record, "--fast", "--latency-ms", "5") as port:
        env = smtp_env(url, port, **TWO_WORKERS)
        proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
        _until_sent(engine, 3000)
        engine.dispose()
        private_postgres.stop()  # every session ends: both workers' locks are gone
        wait_until(_quiet(record), timeout=120, interval=1.0, what="no new work taken")
        assert proc.poll() is None, "the send gave up while the database was away"
        private_postgres.start()
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    _, counts = the_send(engine)
    assert counts["sent"] == n
    assert counts["unknown"] == counts["failed"] == counts["queued"] == counts["claimed"] == 0
    got = delivered(record)
    assert len(got) == n  # nobody lost
    assert max(got.values()) == 1  # nobody twice
    engine.dispose()


def test_restart_drops_the_lock_but_recovery_waits_the_workers_grace(
    private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
):
    url = private_postgres.create_database()
    engine = make_engine(url)
    # Workers of another machine: only their locks (and the restart's grace) tell.
    monkeypatch.setattr(workers, "HOST", "another-machine")
    patient = workers.Worker(engine, grace=120)
    hasty = workers.Worker(engine, grace=0.001)
    monkeypatch.undo()
    with engine.begin() as conn:
        workers.join(conn, 1, patient)
        workers.join(conn, 1, hasty)
    assert workers.is_alive(engine, patient.id) and workers.is_alive(engine, hasty.id)
    engine.dispose()
    private_postgres.stop()
    private_postgres.start()
    # The restart dropped both locks: the patient worker is still given its grace.
    assert workers.is_alive(engine, patient.id)
    assert not workers.is_alive(engine, hasty.id)
    assert workers.dead_workers(engine, 1) == [hasty.id]
    patient.relock()  # what a worker does first when the database is back
    assert workers.is_alive(engine, patient.id)
    patient.close()
    engine.dispose()


def test_database_away_past_the_timeout_journal_then_the_next_run_records_it(
    private_postgres: PrivatePostgres, issue_path: Path, workdir: Path
):
    n = 3000
    url, engine = _audience(private_postgres, n)
    record = workdir / "sink.jsonl"
    # Slow answers: messages are still on the network when the database goes.
    with sink_running(record, "--fast", "--latency-ms", "400") as port:
        env = smtp_env(url, port, NEWSLETTER_DB_OUTAGE_TIMEOUT="3")
        proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
        _until_sent(engine, 300)
        engine.dispose()
        private_postgres.stop()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode != 0
        assert "out of reach" in err and "--resume" in err, err
        assert "Traceback" not in err
        journals = list(workdir.glob("journal-*.jsonl"))
        assert len(journals) == 1, err
        kept = [json.loads(line) for line in journals[0].read_text().splitlines()]
        assert kept and {k["status"] for k in kept} == {"sent"}
        assert f"{len(kept):,} delivered results are kept in" in err
        private_postgres.start()
        done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "from an earlier run's journal" in done.stderr
    assert not list(workdir.glob("journal-*.jsonl"))  # replayed, then removed
    _, counts = the_send(engine)
    assert counts["sent"] == n, (counts, done.stdout, done.stderr)
    assert counts["unknown"] == counts["queued"] == counts["claimed"] == 0
    got = delivered(record)
    assert len(got) == n and max(got.values()) == 1
    engine.dispose()


def _send_of(engine, n: int) -> int:  # noqa: ANN001
    from newsletter.sending.sends import create_send

    lst = populate(engine, "weekly", n)
    with engine.begin() as conn:
        return create_send(
            conn,
            issue_id="issue-1",
            list_slugs=["weekly"],
            list_ids=[lst["id"]],
            backend="outbox",
            subject="S",
            html="<p>h</p>",
            text_body="t",
            source_hash="x" * 64,
            options={},
        )


def test_a_claim_whose_answer_the_outage_cut_is_found_again_not_left_claimed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
):
    from sqlalchemy.exc import OperationalError

    from newsletter.sending import ledger

    engine = make_engine(postgres_url)
    send_id = _send_of(engine, 30)
    worker = workers.Worker(engine)
    real, calls = ledger.claim, []

    def committed_then_cut(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        rows = real(*args, **kwargs)
        if len(calls) == 1:  # the commit went through; its answer never came
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        return rows

    monkeypatch.setattr(ledger, "claim", committed_then_cut)
    got = ledger.claim_again(engine, send_id, worker, 10)
    assert len(got) == 10 and len(calls) == 1  # found by its stamp, not claimed again
    with engine.connect() as conn:
        counts = ledger.counts(conn, send_id)
    assert counts["claimed"] == 10 and counts["queued"] == 20
    worker.close()
    engine.dispose()


def test_recording_settles_a_workers_own_rows_that_recovery_marked_unknown(postgres_url: str):
    from newsletter.models import SENT, SendResult
    from newsletter.sending import ledger

    engine = make_engine(postgres_url)
    send_id = _send_of(engine, 5)
    mine, other = workers.Worker(engine), workers.Worker(engine)
    claimed = ledger.claim(engine, send_id, mine, 5)
    ids = [c.subscriber_id for c in claimed]
    with engine.begin() as conn:  # as recovery leaves them when it took `mine` for dead
        conn.execute(
            tables.deliveries.update()
            .where(tables.deliveries.c.subscriber_id.in_(ids[:3]))
            .values(status="unknown")
        )
    with engine.begin() as conn:
        ledger.record_in(conn, send_id, mine, [SendResult(i, SENT) for i in ids])
        ledger.record_in(conn, send_id, other, [SendResult(ids[0], "failed")])  # not its own
    with engine.connect() as conn:
        counts = ledger.counts(conn, send_id)
    assert counts["sent"] == 5 and counts["unknown"] == counts["failed"] == 0
    mine.close()
    other.close()
    engine.dispose()
