"""The pre-flight gate stands before sequence steps too: on smtp with the shipped placeholder
settings `send-due` sends no step and says why (exit 1); `--force-preflight` sends anyway."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber
from tests.support.sending import SECRET, delivered, run_cli
from tests.support.sequences import send_due, sent_to


def test_shipped_placeholders_stop_steps_on_smtp_until_forced(
    engine: Engine, database_url: str, seq_project: Path, sink_process: tuple[int, Path]
) -> None:
    port, record = sink_process
    create_list(engine, "weekly", "Weekly")
    send_due(database_url, seq_project)
    add_subscriber(engine, "ann@example.com", "weekly")
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_PORT": str(port),
    }
    refused = run_cli("send-due", env=env, cwd=seq_project)
    assert refused.returncode == 1 and "pre-flight" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and sum(delivered(record).values()) == 0
    forced = run_cli("send-due", "--force-preflight", env=env, cwd=seq_project)
    assert forced.returncode == 0, forced.stderr
    assert delivered(record) == {"ann@example.com": 1}
    assert len(sent_to(engine, "welcome/01-welcome")) == 1
