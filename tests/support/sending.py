"""Fixtures for the send engine tests: a project folder with the sample issue, settings, a fast
audience loader and a way to run the real CLI as a process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def issue_path(workdir: Path) -> Path:
    (workdir / "issues").mkdir()
    return Path(shutil.copy(SAMPLE, workdir / "issues" / SAMPLE.name))


@pytest.fixture
def send_settings(workdir: Path, database_url: str) -> Settings:
    return Settings(
        outbox_dir=str(workdir / "outbox"),
        secret_key=SECRET,
        database_url=database_url,
        batch_size=50,
    )


def populate(engine: Engine, slug: str, n: int, *, start: int = 0) -> dict:
    """List `slug` (created if absent) with `n` subscribed members user<i>@example.com."""
    from newsletter.audience.lists import create_list, get_list

    try:
        lst = get_list(engine, slug)
    except Exception:
        lst = create_list(engine, slug, slug.title())
    now = utcnow()
    rows = [
        {
            "email": f"user{i}@example.com",
            "email_key": f"user{i}@example.com",
            "name": f"User {i}",
            "attributes": {},
            "created_at": now,
            "updated_at": now,
        }
        for i in range(start, start + n)
    ]
    with engine.begin() as conn:
        conn.execute(insert(tables.subscribers), rows)
        ids = (
            conn.execute(
                select(tables.subscribers.c.id).where(
                    tables.subscribers.c.email_key.in_([r["email_key"] for r in rows])
                )
            )
            .scalars()
            .all()
        )
        conn.execute(
            insert(tables.memberships),
            [
                {
                    "subscriber_id": i,
                    "list_id": lst["id"],
                    "status": "subscribed",
                    "source": "test",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
    return lst


def cli_environment(env: dict[str, str]) -> dict[str, str]:
    """This process's environment without the developer's settings, plus `env`."""
    full = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("NEWSLETTER_") and k not in ("DATABASE_URL", "SENDGRID_API_KEY")
    }
    return {**full, **env, "PYTHONPATH": str(ROOT)}


def run_cli(
    *args: str,
    env: dict[str, str],
    cwd: Path,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """`newsletter ARGS` as a separate process (stdin not a terminal)."""
    full = cli_environment(env)
    return subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        env=full,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def spawn_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen:
    full = cli_environment(env)
    return subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        env=full,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def sink_process(workdir: Path):
    record = workdir / "sink.jsonl"
    record.touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.smtp_sink", "--record", str(record)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    yield int(line.split()[-1]), record
    proc.terminate()
    proc.wait(timeout=10)


def delivered(record: Path) -> Counter:
    from tests.support.smtp_sink import read_records  # loaded as its own plugin first

    return Counter(r for m in read_records(str(record)) for r in m.rcpt_tos)


def env_for(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a CLI send over SMTP to the sink on `port`, in small batches."""
    return {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_PORT": str(port),
        "NEWSLETTER_SMTP_CONNECTIONS": "2",
        "NEWSLETTER_BATCH_SIZE": "20",
        **extra,
    }
