"""Fixtures for the send engine tests: a project folder with the sample issue, settings, a fast
audience loader, a way to run the real CLI as a process (and the send of the sample issue it
runs), the SMTP sink as a process, and the environments of a CLI send."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow
from tests.support.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
SECRET = "test-secret-key-0123456789abcdef"
# What an operator sets before a real send (the pre-flight gate refuses the shipped
# placeholders on smtp and sendgrid); example.org only draws a warning.
REAL_SETTINGS = {
    "NEWSLETTER_SITE_URL": "https://news.example.org",
    "NEWSLETTER_SENDER_ADDRESS": "news@example.org",
    "NEWSLETTER_POSTAL_ADDRESS": "Example News, 2 Test Road, 12345 Testville",
}


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


def weekly_send(issue_path: Path, *extra: str) -> tuple[str, ...]:
    """The arguments of `newsletter send ISSUE --list weekly --yes EXTRA`: the CLI send the
    send tests run, killed, resume and race."""
    return ("send", str(issue_path), "--list", "weekly", "--yes", *extra)


def sigkill(proc: subprocess.Popen) -> None:
    """Kill `proc` at once (no clean-up of its own) and reap it."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate()


def until_seen_dead(engine: Engine, send_id: int) -> list[str]:
    """Wait until a killed worker of the send is seen dead (on PostgreSQL its session, and so
    its advisory lock, ends a moment after the process); the dead workers' ids."""
    from newsletter.sending import workers

    return wait_until(
        lambda: workers.dead_workers(engine, send_id), what="the killed worker seen dead"
    )


@contextlib.contextmanager
def sink_running(record: Path, *options: str) -> Iterator[int]:
    """The SMTP sink (`tests.support.smtp_sink OPTIONS`) as its own process, recording what it
    accepts to `record`; yields its port."""
    record.touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.smtp_sink", *options, "--record", str(record)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("listening on "), line
        yield int(line.split()[-1])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def sink_process(workdir: Path) -> Iterator[tuple[int, Path]]:
    """The aiosmtpd sink as a process: (port, the file of what it accepted)."""
    record = workdir / "sink.jsonl"
    with sink_running(record) as port:
        yield port, record


def delivered(record: Path) -> Counter:
    from tests.support.smtp_sink import read_records  # loaded as its own plugin first

    return Counter(r for m in read_records(str(record)) for r in m.rcpt_tos)


def smtp_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a CLI send over SMTP to the sink on `port`, on default settings but
    the site, sender and postal address an operator sets first."""
    return {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_PORT": str(port),
        **REAL_SETTINGS,
        **extra,
    }


def env_for(database_url: str, port: int, **extra: str) -> dict[str, str]:
    """The environment of a CLI send over SMTP to the sink on `port`, in small batches."""
    small = {"NEWSLETTER_SMTP_CONNECTIONS": "2", "NEWSLETTER_BATCH_SIZE": "20"}
    return smtp_env(database_url, port, **{**small, **extra})


def sendgrid_env(database_url: str, url: str, **extra: str) -> dict[str, str]:
    """The environment of a CLI send through the SendGrid stand-in at `url`, 100 a request."""
    return {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "SG.test-key",
        "NEWSLETTER_SENDGRID_API_HOST": url,
        "NEWSLETTER_BATCH_SIZE": "100",
        **REAL_SETTINGS,
        **extra,
    }


def the_send(engine: Engine) -> tuple[int, dict[str, int]]:
    """(id, ledger counts) of the one send in the database (ValueError while there is none)."""
    from newsletter.sending import ledger
    from newsletter.sending.sends import all_sends

    with engine.connect() as conn:
        (send,) = all_sends(conn)
        return send.id, ledger.counts(conn, send.id)
