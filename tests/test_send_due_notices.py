"""`send-due` gives its "too late to send automatically" notice once per issue, and none for an
issue that already has a send (the demo's sample issue, sent to the demo list): cron mails
every line, and a notice repeated forever teaches operators to ignore the log."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.sending import SAMPLE, SECRET, populate, run_cli


def test_a_stale_notice_is_given_once(engine, database_url, workdir) -> None:
    populate(engine, "newsletter", 2)
    (workdir / "issues").mkdir()
    shutil.copy(SAMPLE, workdir / "issues")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    first = run_cli("send-due", env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert f"not sending {SAMPLE.stem}" in first.stdout
    again = run_cli("send-due", env=env, cwd=workdir)
    assert again.returncode == 0 and again.stdout == again.stderr == "", again.stdout
    verbose = run_cli("send-due", "-v", env=env, cwd=workdir)  # -v still says it
    assert f"not sending {SAMPLE.stem}" in verbose.stdout, verbose.stdout


def test_no_notice_for_an_issue_the_demo_already_sent(database_url, workdir) -> None:
    env = {"DATABASE_URL": database_url}
    demo = run_cli("demo", env=env, cwd=workdir)
    assert demo.returncode == 0, demo.stderr
    (workdir / "issues").mkdir(exist_ok=True)
    if not (workdir / "issues" / SAMPLE.name).exists():
        shutil.copy(SAMPLE, workdir / "issues")
    due = run_cli("send-due", env=env, cwd=workdir)
    assert due.returncode == 0, due.stderr
    assert due.stdout == due.stderr == "", due.stdout
    assert Path(workdir / "outbox").is_dir()
