"""`newsletter send-due` and `newsletter schedule`: the clock, overlap, crashes, broken files,
and the README's crontab line."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from newsletter.sending import ledger
from newsletter.sending.sends import all_sends
from tests.support.sending import (
    ROOT,
    SAMPLE,
    SECRET,
    delivered,
    populate,
    run_cli,
    smtp_env,
    spawn_cli,
)

N = 60


def write_issue(folder: Path, stem: str, send_at: str, *, lists: str = "weekly") -> Path:
    text = SAMPLE.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^send_at:.*$", f"send_at: {send_at}", text)
    text = re.sub(r"(?m)^lists:.*$", f"lists: [{lists}]", text)
    path = folder / f"{stem}.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def project(workdir: Path) -> Path:
    (workdir / "issues").mkdir()
    write_issue(workdir / "issues", "2030-01-01-first", "2030-01-01T09:00:00+00:00")
    write_issue(workdir / "issues", "2030-01-02-second", "2030-01-02T09:00:00+01:00")
    return workdir


def outbox_env(database_url: str) -> dict[str, str]:
    return {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}


def sent_issues(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {s.issue_id: ledger.counts(conn, s.id)["sent"] for s in all_sends(conn)}


def test_clock_decides_what_goes_out(engine, database_url, project):
    populate(engine, "weekly", 3)
    env = outbox_env(database_url)

    before = run_cli("send-due", "--now", "2030-01-01T08:59:59Z", env=env, cwd=project)
    assert before.returncode == 0 and before.stdout == "" and before.stderr == ""
    assert sent_issues(engine) == {}

    at = run_cli("send-due", "--now", "2030-01-01T09:00:00Z", env=env, cwd=project)
    assert at.returncode == 0, at.stderr
    assert sent_issues(engine) == {"2030-01-01-first": 3}
    assert re.search(
        r"^\d{4}-\d\d-\d\dT[\d:]+Z send-due: sending 2030-01-01-first", at.stdout, re.M
    )

    # The second issue is due at 08:00 UTC on the 2nd (09:00+01:00); the first is not resent.
    after = run_cli("send-due", "--now", "2030-01-02T08:30:00Z", env=env, cwd=project)
    assert after.returncode == 0, after.stderr
    assert sent_issues(engine) == {"2030-01-01-first": 3, "2030-01-02-second": 3}
    assert "first" not in after.stdout

    again = run_cli("send-due", "--now", "2030-01-03T00:00:00Z", env=env, cwd=project)
    assert again.returncode == 0 and again.stdout == ""  # nothing to do: silent for cron
    assert len(list((project / "outbox" / "new").iterdir())) == 6

    verbose = run_cli("send-due", "-v", "--now", "2030-01-03T00:00:00Z", env=env, cwd=project)
    assert "2030-01-01-first: done" in verbose.stdout


def test_past_max_late_nothing_is_sent_and_it_is_reported(engine, database_url, project):
    populate(engine, "weekly", 3)
    env = outbox_env(database_url)
    late = run_cli("send-due", "--now", "2030-01-03T09:00:01Z", env=env, cwd=project)
    assert late.returncode == 0
    assert sent_issues(engine) == {}
    assert "not sending 2030-01-01-first" in late.stdout
    assert "not sending 2030-01-02-second" in late.stdout
    assert "newsletter send" in late.stdout  # says how to send it by hand

    wider = run_cli(
        "send-due", "--now", "2030-01-03T09:00:01Z", "--max-late", "3d", env=env, cwd=project
    )
    assert wider.returncode == 0, wider.stderr
    assert sent_issues(engine) == {"2030-01-01-first": 3, "2030-01-02-second": 3}

    listing = run_cli("schedule", "--now", "2030-01-01T12:00:00Z", env=env, cwd=project)
    assert "2030-01-01 09:00 UTC" in listing.stdout and "2030-01-02 08:00 UTC" in listing.stdout


def test_broken_issue_is_reported_and_the_good_one_still_goes(engine, database_url, project):
    populate(engine, "weekly", 3)
    broken = project / "issues" / "2030-01-01-broken.md"
    broken.write_text("---\ntitle: Broken\nsend_at: 2030-01-01T09:00:00\n---\nIntro.\n")
    result = run_cli(
        "send-due", "--now", "2030-01-01T10:00:00Z", env=outbox_env(database_url), cwd=project
    )
    assert result.returncode == 1
    assert sent_issues(engine) == {"2030-01-01-first": 3}
    (line,) = [x for x in result.stderr.splitlines() if "broken" in x]
    assert "2030-01-01-broken.md:3" in line and "Traceback" not in result.stderr


def test_two_send_due_runs_at_once_deliver_each_recipient_once(
    engine, database_url, project, sink_process
):
    port, record = sink_process
    populate(engine, "weekly", N)
    env = smtp_env(
        database_url, port, NEWSLETTER_BATCH_SIZE="10", NEWSLETTER_TEST_BATCH_DELAY="0.05"
    )
    procs = [
        spawn_cli("send-due", "--now", "2030-01-01T09:30:00Z", env=env, cwd=project)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    seen = delivered(record)
    assert set(seen) == {f"user{i}@example.com" for i in range(N)}
    assert max(seen.values()) == 1
    assert sent_issues(engine) == {"2030-01-01-first": N}


def test_killed_send_due_is_finished_by_the_next_run(engine, database_url, project, sink_process):
    port, record = sink_process
    populate(engine, "weekly", N)
    env = smtp_env(database_url, port, NEWSLETTER_BATCH_SIZE="10")
    killed = run_cli(
        "send-due",
        "--now",
        "2030-01-01T09:30:00Z",
        env={**env, "NEWSLETTER_TEST_CRASH_AT": "recorded:2"},
        cwd=project,
    )
    assert killed.returncode == -signal.SIGKILL
    assert 0 < sum(delivered(record).values()) < N

    rerun = run_cli("send-due", "--now", "2030-01-01T09:31:00Z", env=env, cwd=project)
    assert rerun.returncode == 0, rerun.stderr
    assert "resuming 2030-01-01-first" in rerun.stdout
    seen = delivered(record)
    assert seen == Counter({f"user{i}@example.com": 1 for i in range(N)})
    assert sent_issues(engine) == {"2030-01-01-first": N}


def readme_crontab_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- crontab -->", 1)[1].split("<!-- /crontab -->", 1)[0]
    (line,) = [x for x in block.splitlines() if re.match(r"^[\d*/,-]+( +[\d*/,-]+){4} +", x)]
    return line.split(None, 5)[5]


def test_readme_crontab_line_works_in_a_clean_environment(engine, database_url, project):
    """The README's crontab command, with only its paths pointed at this test's folders, run
    the way cron runs it: `sh -c` with cron's bare environment."""
    populate(engine, "weekly", 3)
    write_issue(project / "issues", "2020-01-01-now", "2020-01-01T00:00:00+00:00")
    command = readme_crontab_command()
    assert "send-due" in command
    logs = project / "logs"
    logs.mkdir()
    (project / "newsletter.env").write_text(
        f"export DATABASE_URL={shlex.quote(database_url)}\n"
        f"export NEWSLETTER_SECRET_KEY={SECRET}\n"
        "export NEWSLETTER_MAX_LATE=100000d\n"
    )
    command = (
        command.replace("/srv/newsletter/.venv/bin/newsletter", shutil.which("newsletter"))
        .replace("/var/log/newsletter", str(logs))
        .replace("/srv/newsletter", str(project))
    )
    cron_env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(project),
        "SHELL": "/bin/sh",
        "LOGNAME": "root",
        "PYTHONPATH": str(ROOT),  # the code under test, not whatever is installed
    }
    result = subprocess.run(
        ["sh", "-c", command], env=cron_env, capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, (command, result.stderr)
    assert sent_issues(engine) == {"2020-01-01-now": 3}
    log = (logs / "send-due.log").read_text()
    assert "send-due: sending 2020-01-01-now" in log
    assert not os.environ.get("NEWSLETTER_SECRET_KEY")  # nothing leaked from this process
