"""A whole `newsletter send` through a real relay that throttles: the Postfix lab's second
listener allows 10 connections per client (more get `421 4.7.0 too many connections`) and 500
messages per 10 s (more get `450 4.7.1 too much mail`), loopback included. On default settings
(40 connections) the send learns both limits: every message arrives exactly once, none fails,
none is in doubt, no more than 10 sessions are ever greeted at once (counted by a proxy in front
of Postfix, outside the client), and the sender's threads stay few whatever the relay says.
How long it takes is a benchmark figure (bench/throttle.py), not asserted here."""

from __future__ import annotations

import pwd
import re
import secrets
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from newsletter.sending import ledger
from newsletter.sending.sends import all_sends
from tests.support.sending import REAL_SETTINGS, SAMPLE, run_cli, spawn_cli
from tests.support.tcp_proxy import Proxy

MESSAGES = 2000


def _threads(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return int(re.search(r"^Threads:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]


class ThreadSampler(threading.Thread):
    """The most threads the process had, read from /proc while it runs."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.most, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.02):
            self.most = max(self.most, _threads(self.pid))


def _delivered(run: str) -> tuple[Counter, list[Path]]:
    """How many copies of each of this run's messages reached the readers' Maildirs."""
    mark = re.compile(rb"\+t" + run.encode() + rb"n(\d+)@")
    seen: Counter = Counter()
    files = []
    for n in range(1, 6):
        folder = Path(pwd.getpwnam(f"reader{n}").pw_dir) / "Maildir" / "new"
        for path in folder.iterdir():
            try:
                head = path.read_bytes()[:4096]
            except FileNotFoundError:
                continue
            if found := mark.search(head):
                seen[int(found.group(1))] += 1
                files.append(path)
    return seen, files


def test_a_throttling_postfix_is_obeyed_and_everyone_gets_one_copy(lab, workdir, tmp_path):
    run = secrets.token_hex(4)
    domain = lab["LAB_RCPT_DOMAIN"]
    proxy = Proxy(("127.0.0.1", int(lab["LAB_THROTTLED_PORT"]))).start()
    env = {
        **REAL_SETTINGS,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'throttle.db'}",
        "NEWSLETTER_SECRET_KEY": secrets.token_urlsafe(24),
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": "127.0.0.1",
        "NEWSLETTER_SMTP_PORT": str(proxy.port),
        "NEWSLETTER_SENDER_ADDRESS": f"news@{domain}",
    }
    readers = tmp_path / "readers.csv"
    readers.write_text(
        "email\n" + "".join(f"reader{1 + i % 5}+t{run}n{i}@{domain}\n" for i in range(MESSAGES))
    )
    created = run_cli("lists", "create", "newsletter", "--name", "News", env=env, cwd=workdir)
    assert created.returncode == 0, created.stderr
    imported = run_cli(
        "subscribers", "import", str(readers), "--list", "newsletter", env=env, cwd=workdir
    )
    assert imported.returncode == 0, imported.stderr
    (workdir / "issues").mkdir()
    issue = Path(shutil.copy(SAMPLE, workdir / "issues" / SAMPLE.name))
    files: list[Path] = []
    try:
        sending = spawn_cli("send", str(issue), "--yes", env=env, cwd=workdir)
        sampler = ThreadSampler(sending.pid)
        sampler.start()
        out, err = sending.communicate(timeout=600)
        sampler.done.set()
        assert sending.returncode == 0, err[-3000:]

        engine = create_engine(env["DATABASE_URL"])
        with engine.connect() as conn:
            (send,) = all_sends(conn)
            counts = ledger.counts(conn, send.id)
        assert counts["sent"] == MESSAGES and counts["failed"] == counts["unknown"] == 0, counts
        assert proxy.watch.max_greeted <= int(lab["LAB_THROTTLE_CONNECTIONS"])
        assert 0 < sampler.most <= 4  # main, the engine's one thread, the recorder (+1 spare)

        deadline = time.monotonic() + 120  # Postfix delivers from its queue after the 250
        seen, files = _delivered(run)
        while len(seen) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.5)
            seen, files = _delivered(run)
        assert sorted(seen) == list(range(MESSAGES)), f"{len(seen)} of {MESSAGES} arrived"
        assert max(seen.values()) == 1
    finally:
        proxy.stop()
        for path in files:
            path.unlink(missing_ok=True)


pytestmark = pytest.mark.slow
