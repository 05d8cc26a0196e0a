"""A subject-line test through `send-due` on the `--now` clock: the test phase at send_at,
silence during the wait, the winner phase after it (with its own max_late), then `report`
(text, --json, --html) and `status` showing the variants and the verdict."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlalchemy import select

from newsletter.db import tables
from tests.support.sending import SAMPLE, SECRET, populate, run_cli

N = 50
B = "Why the Hanoi summit ended early"


def _issue(folder: Path) -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^send_at:.*$", "send_at: 2030-01-01T09:00:00+00:00", text)
    text = re.sub(r"(?m)^lists:.*$", "lists: [weekly]", text)
    text = re.sub(
        r"(?m)^subject: (.*)$",
        lambda m: f"subjects:\n  - {m.group(1)}\n  - {B}\nab_test:\n  share: 20%\n  wait: 4h",
        text,
    )
    folder.mkdir(exist_ok=True)
    path = folder / "2030-01-01-ab.md"
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(engine) -> dict[str, int]:
    d = tables.deliveries
    with engine.connect() as conn:
        rows = conn.execute(select(d.c.status)).scalars().all()
    return {s: rows.count(s) for s in set(rows)}


def _due(env, workdir, now: str, *extra: str):  # type: ignore[no-untyped-def]
    return run_cli("send-due", "--now", now, *extra, env=env, cwd=workdir)


def test_send_due_runs_the_test_waits_on_its_clock_then_sends_the_winner(
    engine, database_url, workdir
):
    populate(engine, "weekly", N)
    _issue(workdir / "issues")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    first = _due(env, workdir, "2030-01-01T09:00:00Z")
    assert first.returncode == 0, first.stderr
    assert _statuses(engine) == {"sent": 10, "held": 40}
    quiet = _due(env, workdir, "2030-01-01T12:59:00Z")
    assert quiet.returncode == 0 and "2030-01-01-ab" not in quiet.stdout + quiet.stderr
    said = _due(env, workdir, "2030-01-01T12:59:00Z", "-v")
    assert "winner due in 1m" in said.stdout, said.stdout
    status = run_cli("status", "2030-01-01-ab", env=env, cwd=workdir)
    assert "test phase sent; winner due at 2030-01-01 13:00 UTC" in status.stdout, status.stdout
    winner = _due(env, workdir, "2030-01-01T13:01:00Z")
    assert winner.returncode == 0, winner.stderr
    assert _statuses(engine) == {"sent": N}

    report = run_cli("report", "2030-01-01-ab", "--json", env=env, cwd=workdir)
    data = json.loads(report.stdout)
    assert [v["variant"] for v in data["variants"]] == ["A", "B"]
    assert data["variants"][1]["subject"] == B
    assert sum(v["recipients"] for v in data["variants"]) == N
    assert data["variants"][0]["opens"] == {"human": 0, "machine": 0}
    test = data["ab_test"]
    assert (test["winner"], test["conclusive"], test["p_value"]) == ("A", False, 1.0)
    assert [v["recipients"] for v in test["at_decision"]] == [5, 5]  # as it was then
    text = run_cli("report", "2030-01-01-ab", env=env, cwd=workdir).stdout
    assert "winner A on people's opens (not conclusive, p = 1)" in text, text
    assert re.search(r"B +5 recipients", text), text
    page = workdir / "report.html"
    run_cli("report", "2030-01-01-ab", "--html", str(page), env=env, cwd=workdir)
    html = page.read_text(encoding="utf-8")
    assert "Subject-line test" in html and B in html


def test_the_winner_phase_has_its_own_max_late(engine, database_url, workdir):
    populate(engine, "weekly", N)
    path = _issue(workdir / "issues")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    assert _due(env, workdir, "2030-01-01T09:00:00Z").returncode == 0
    late = _due(env, workdir, "2030-01-03T13:00:01Z")  # 2 days past the winner's due time
    assert "winner due 2d" in late.stdout and "not sent automatically" in late.stdout
    assert _statuses(engine) == {"sent": 10, "held": 40}
    by_hand = run_cli("send", str(path), "--yes", "--winner", "a", env=env, cwd=workdir)
    assert by_hand.returncode == 0, by_hand.stderr
    assert _statuses(engine) == {"sent": N}
