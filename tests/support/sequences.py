"""Fixtures for the sequence tests: a project with a `welcome` sequence on the list `weekly`,
`send-due` as a real process (on the `--now` clock), and what each step's ledger holds."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from newsletter.db import tables
from tests.support.sending import SECRET, run_cli

STEPS = (("01-welcome", "0h", "Welcome aboard"), ("02-tips", "2d", "Three tips"))


def write_step(folder: Path, key: str, after: str, title: str, body: str = "") -> Path:
    path = folder / f"{key}.md"
    text = body or f"Hello __READER__, this is {title.lower()}."
    text = text.replace("__READER__", "{{ name }}")
    path.write_text(f"---\ntitle: {title}\nafter: {after}\n---\n{text}\n", encoding="utf-8")
    return path


def write_sequence(
    root: Path,
    name: str = "welcome",
    *,
    lists: str = '["weekly"]',
    join: str = "new",
    stop: bool = True,
    steps: tuple[tuple[str, str, str], ...] = STEPS,
) -> Path:
    folder = root / "sequences" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sequence.toml").write_text(
        f'lists = {lists}\njoin = "{join}"\nstop_on_unsubscribe = {str(stop).lower()}\n',
        encoding="utf-8",
    )
    for key, after, title in steps:
        write_step(folder, key, after, title)
    return folder


@pytest.fixture
def seq_project(workdir: Path) -> Path:
    """A project folder with an empty issues folder and the `welcome` sequence."""
    (workdir / "issues").mkdir()
    write_sequence(workdir)
    return workdir


def at(moment: datetime, **later: float) -> str:
    return (moment + timedelta(**later)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def send_due(database_url: str, cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    full = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET, **env}
    done = run_cli("send-due", *args, env=full, cwd=cwd)
    assert done.returncode == 0, done.stderr + done.stdout
    return done


def step_ledger(engine: Engine, step_id: str) -> dict[int, tuple[str, str, str | None]]:
    """{subscriber id: (status, detail, version)} of the step's one send."""
    d, s = tables.deliveries, tables.sends
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.c.subscriber_id, d.c.status, d.c.detail, d.c.version)
            .join(s, s.c.id == d.c.send_id)
            .where(s.c.issue_id == step_id)
        ).all()
    return {r.subscriber_id: (r.status, r.detail, r.version) for r in rows}


def sent_to(engine: Engine, step_id: str) -> set[int]:
    return {i for i, (status, _, _) in step_ledger(engine, step_id).items() if status == "sent"}


def outbox_messages(project: Path) -> list[Path]:
    return sorted((project / "outbox" / "new").glob("*"))
