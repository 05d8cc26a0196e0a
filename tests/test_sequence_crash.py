"""Sequence steps under the send engine's guarantees, with real processes and the SMTP sink:
two `send-due` at once send each step to each reader once, and a `send-due` SIGKILLed in the
middle of a step is finished by the next run without sending anyone the step twice."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine

from newsletter.audience.lists import create_list
from newsletter.db.clock import utcnow
from tests.support.sending import delivered, populate, run_cli, smtp_env, spawn_cli
from tests.support.sequences import at, send_due, sent_to, step_ledger

N = 40
WELCOME, TIPS = "welcome/01-welcome", "welcome/02-tips"
EVERYONE = {f"user{i}@example.com" for i in range(N)}


def test_two_send_due_at_once_send_each_step_once(
    engine: Engine, database_url: str, seq_project: Path, sink_process: tuple[int, Path]
) -> None:
    port, record = sink_process
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)  # the sequence first seen: the readers join after
    start = utcnow()
    populate(engine, "weekly", N)
    env = smtp_env(
        database_url, port, NEWSLETTER_BATCH_SIZE="5", NEWSLETTER_TEST_BATCH_DELAY="0.02"
    )
    for moment in (at(start, minutes=1), at(start, days=2, minutes=5)):
        procs = [spawn_cli("send-due", "--now", moment, env=env, cwd=seq_project) for _ in range(2)]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
    seen = delivered(record)
    assert set(seen) == EVERYONE and set(seen.values()) == {2}  # two steps, each once
    assert len(sent_to(engine, WELCOME)) == len(sent_to(engine, TIPS)) == N


def test_a_send_due_killed_mid_step_is_finished_without_duplicates(
    engine: Engine, database_url: str, seq_project: Path, sink_process: tuple[int, Path]
) -> None:
    port, record = sink_process
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)
    start = utcnow()
    populate(engine, "weekly", N)
    env = smtp_env(database_url, port, NEWSLETTER_BATCH_SIZE="10")
    moment = at(start, minutes=1)
    killed = run_cli(
        "send-due",
        "--now",
        moment,
        env={**env, "NEWSLETTER_TEST_CRASH_AT": "recorded:2"},
        cwd=seq_project,
    )
    assert killed.returncode == -signal.SIGKILL
    assert 0 < sum(delivered(record).values()) < N
    rerun = run_cli("send-due", "--now", at(start, minutes=2), env=env, cwd=seq_project)
    assert rerun.returncode == 0, rerun.stderr
    assert delivered(record) == Counter(dict.fromkeys(EVERYONE, 1))
    assert len(sent_to(engine, WELCOME)) == N


def test_a_batch_delivered_but_not_recorded_is_unknown_never_resent(
    engine: Engine, database_url: str, seq_project: Path, sink_process: tuple[int, Path]
) -> None:
    port, record = sink_process
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)
    start = utcnow()
    populate(engine, "weekly", N)
    env = smtp_env(database_url, port, NEWSLETTER_BATCH_SIZE="10")
    killed = run_cli(
        "send-due",
        "--now",
        at(start, minutes=1),
        env={**env, "NEWSLETTER_TEST_CRASH_AT": "sent:2"},
        cwd=seq_project,
    )
    assert killed.returncode == -signal.SIGKILL
    rerun = run_cli("send-due", "--now", at(start, minutes=2), env=env, cwd=seq_project)
    statuses = Counter(s for s, _, _ in step_ledger(engine, WELCOME).values())
    assert statuses == Counter(sent=N - 10, unknown=10), rerun.stdout + rerun.stderr
    assert delivered(record) == Counter(dict.fromkeys(EVERYONE, 1))  # nobody got it twice
    assert rerun.returncode == 1 and "10 unknown" in rerun.stderr  # said once, by this run
    populate(engine, "weekly", 1, start=N)  # a new reader: the step's old doubt is no failure
    later = run_cli("send-due", "--now", at(start, minutes=3), env=env, cwd=seq_project)
    assert later.returncode == 0 and "1 sent" in later.stdout, later.stderr
    assert delivered(record)["user40@example.com"] == 1
