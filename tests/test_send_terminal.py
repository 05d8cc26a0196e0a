"""`newsletter send` on a real terminal (a pseudo-terminal): the confirmation prompt shows the
count and waits for an answer; a rich progress bar reports sent/failed, rate and ETA."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from newsletter.db import tables
from tests.support.sending import SECRET, cli_environment, populate

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _on_terminal(
    args: list[str], env: dict[str, str], cwd: Path, answers: dict[str, bytes], timeout: float = 60
) -> tuple[int, str]:
    """Run `newsletter ARGS` with stdin/stdout/stderr on a pty; type answers[prompt] when the
    output shows prompt. Returns (exit code, everything printed, ANSI codes removed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env={**cli_environment(env), "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    out, pending = b"", dict(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            for prompt in list(pending):
                if prompt in out.decode(errors="replace"):
                    os.write(leader, pending.pop(prompt))
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=10)
    os.close(leader)
    return code, ANSI.sub("", out.decode(errors="replace"))


def _sent(engine) -> int:
    from sqlalchemy import func, select

    d = tables.deliveries
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).select_from(d).where(d.c.status == "sent")
        ).scalar_one()


def test_prompt_names_the_count_and_no_sends_nothing(engine, database_url, issue_path, workdir):
    populate(engine, "weekly", 30)
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_OUTBOX_DIR": str(workdir / "outbox"),
    }
    code, out = _on_terminal(
        ["send", str(issue_path), "--list", "weekly"], env, workdir, {"[y/N]": b"n\r"}
    )
    assert "to 30 recipient(s) of weekly via outbox" in out
    assert code == 1 and "Aborted" in out
    assert _sent(engine) == 0


def test_terminal_gets_a_progress_bar_and_the_summary(engine, database_url, issue_path, workdir):
    populate(engine, "weekly", 120)
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_OUTBOX_DIR": str(workdir / "outbox"),
        "NEWSLETTER_BATCH_SIZE": "20",
    }
    code, out = _on_terminal(
        ["send", str(issue_path), "--list", "weekly"], env, workdir, {"[y/N]": b"y\r"}
    )
    assert code == 0, out
    # The bar: label, done/total, our counters and rate, and rich's ETA column.
    assert re.search(r"sending .*120/120 sent 120 failed 0 \d+/s", out), out
    assert re.search(r"\d+:\d\d:\d\d", out), out
    assert "120 sent, 0 failed, 0 skipped, 0 unknown, 0 still queued" in out
    assert "processed," not in out  # the plain log lines are for non-terminals only
    assert _sent(engine) == 120
