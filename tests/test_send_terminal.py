"""`newsletter send` on a real terminal (a pseudo-terminal): the confirmation prompt shows the
count and waits for an answer; a rich progress bar reports sent/failed, rate and ETA."""

from __future__ import annotations

import re

from newsletter.db import tables
from tests.support.sending import SECRET, populate
from tests.support.terminal import on_terminal


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
    code, out = on_terminal(
        ["send", str(issue_path), "--list", "weekly"], env, workdir, answers={"[y/N]": b"n\r"}
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
    code, out = on_terminal(
        ["send", str(issue_path), "--list", "weekly"], env, workdir, answers={"[y/N]": b"y\r"}
    )
    assert code == 0, out
    # The bar: label, done/total, our counters and rate, and rich's ETA column.
    assert re.search(r"sending .*120/120 sent 120 failed 0 \d+/s", out), out
    assert re.search(r"\d+:\d\d:\d\d", out), out
    assert "120 sent, 0 failed, 0 skipped, 0 unknown, 0 still queued" in out
    assert "processed," not in out  # the plain log lines are for non-terminals only
    assert _sent(engine) == 120
