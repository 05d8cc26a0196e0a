"""A subject-line test survives SIGKILL in either phase: the CLI send is killed mid-batch in
the test phase, resumed; then killed in the winner phase, resumed. Everyone gets exactly one
message, of one variant, and the held readers only the winner's. The SMTP sink is its own
process and records what it accepted, so what was delivered is known apart from the ledger."""

from __future__ import annotations

import email
import email.policy
import signal
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.db import tables
from tests.support.sending import env_for, populate, run_cli, until_seen_dead, weekly_send
from tests.support.smtp_sink import read_records

N = 60
SUBJECTS = ("Hanoi: five experts on a summit that ended early", "Why the Hanoi summit ended early")


def _ab_issue(issue_path: Path) -> Path:
    text = issue_path.read_text(encoding="utf-8")
    text = text.replace(
        f'subject: "{SUBJECTS[0]}"\n',
        f'subjects:\n  - "{SUBJECTS[0]}"\n  - "{SUBJECTS[1]}"\n'
        "ab_test:\n  share: 50%\n  wait: 1h\n",
    )
    issue_path.write_text(text, encoding="utf-8")
    return issue_path


def _subjects(record: Path) -> dict[str, list[str]]:
    got: dict[str, list[str]] = defaultdict(list)
    for m in read_records(str(record)):
        subject = str(email.message_from_bytes(m.data, policy=email.policy.default)["Subject"])
        for rcpt in m.rcpt_tos:
            got[rcpt].append(subject)
    return got


def _ledger(engine) -> dict[str, tuple[str, int | None]]:
    d = tables.deliveries
    with engine.connect() as conn:
        return {
            r[0]: (r[1], r[2]) for r in conn.execute(select(d.c.email, d.c.status, d.c.variant))
        }


def _send_id(engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(tables.sends.c.id)).scalar_one())


@pytest.mark.parametrize(
    ("test_stage", "winner_stage"), [("claimed:2", "claimed:2"), ("recorded:1", "start:0")]
)
def test_sigkill_in_both_phases_then_resume_sends_one_variant_each_exactly_once(
    test_stage, winner_stage, engine, database_url, issue_path, workdir, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    path = _ab_issue(issue_path)
    env = env_for(database_url, port, NEWSLETTER_BATCH_SIZE="10")

    crashed = run_cli(
        *weekly_send(path), env={**env, "NEWSLETTER_TEST_CRASH_AT": test_stage}, cwd=workdir
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if test_stage.startswith("claimed"):
        until_seen_dead(engine, _send_id(engine))
    assert sum(1 for s, _ in _ledger(engine).values() if s == "held") == N // 2
    resumed = run_cli(*weekly_send(path, "--resume"), env=env, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert "held for the winner" in resumed.stdout
    early = run_cli(*weekly_send(path, "--resume"), env=env, cwd=workdir)
    assert early.returncode == 1 and "winner due at" in early.stderr

    crashed = run_cli(
        *weekly_send(path, "--winner", "B"),
        env={**env, "NEWSLETTER_TEST_CRASH_AT": winner_stage},
        cwd=workdir,
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    if winner_stage.startswith("claimed"):
        until_seen_dead(engine, _send_id(engine))
    assert "queued" in {s for s, _ in _ledger(engine).values()}  # the decision was committed
    done = run_cli(*weekly_send(path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr

    got = _subjects(record)
    rows = _ledger(engine)
    assert set(got) == {f"user{i}@example.com" for i in range(N)}
    assert all(len(subjects) == 1 for subjects in got.values())  # nobody got two variants
    for address, (status, variant) in rows.items():
        assert status == "sent" and got[address] == [SUBJECTS[variant]]
    tested = {a for a, (_, v) in rows.items() if v == 0}
    assert len(tested) == N // 4  # A was in the test only; everyone else got B
    status = run_cli("status", path.stem, env=env, cwd=workdir)
    assert "sent the winner B (chosen by hand)" in status.stdout, status.stdout


def test_two_worker_processes_share_both_phases_and_nobody_gets_two_variants(
    engine, database_url, issue_path, workdir, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    path = _ab_issue(issue_path)
    env = env_for(database_url, port, NEWSLETTER_BATCH_SIZE="5")
    first = run_cli(*weekly_send(path, "--workers", "2"), env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    second = run_cli(*weekly_send(path, "--winner", "A", "--workers", "2"), env=env, cwd=workdir)
    assert second.returncode == 0, second.stderr
    got = _subjects(record)
    assert len(got) == N and all(len(s) == 1 for s in got.values())
    for address, (status, variant) in _ledger(engine).items():
        assert status == "sent" and got[address] == [SUBJECTS[variant]]
    assert sum(1 for _, v in _ledger(engine).values() if v == 1) == N // 4
