"""Shared by the send benchmarks: a project folder with N subscribers, the real `newsletter send`
command run on DEFAULT settings, and what it cost.

Only what a send cannot run without is set: the backend and the server's address go in a
`newsletter.toml` (no `NEWSLETTER_*` variable overrides a setting), the secrets in the
environment. `effective_settings` prints what `newsletter config` says the send ran with.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.audience.lists import create_list  # noqa: E402
from newsletter.db import tables  # noqa: E402
from newsletter.db.clock import utcnow  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402

ISSUE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
SECRET = "b" * 32


def user(i: int) -> str:
    return f"user{i}@example.com"


def populate(engine, n: int, slug: str = "bench", address=user) -> int:  # type: ignore[no-untyped-def]
    list_id = create_list(engine, slug, slug.title())["id"]
    now = utcnow()
    chunk = 50_000
    for start in range(0, n, chunk):
        ids = range(start + 1, min(n, start + chunk) + 1)
        with engine.begin() as conn:
            conn.execute(
                insert(tables.subscribers),
                [
                    {
                        "id": i,
                        "email": address(i),
                        "email_key": address(i).lower(),
                        "name": f"User {i}",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(tables.memberships),
                [
                    {
                        "subscriber_id": i,
                        "list_id": list_id,
                        "status": "subscribed",
                        "source": "b",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    return list_id


# What an operator sets before a real send: the pre-flight gate of `send` refuses the shipped
# placeholders on smtp and sendgrid (example.org only draws a warning).
REAL_SETTINGS = {
    "site_url": "https://news.example.org",
    "sender_address": "news@example.org",
    "postal_address": "Example News, 2 Test Road, 12345 Testville",
}


def with_real_settings(toml: str) -> str:
    """`toml` with the site, sender and postal address added where it does not set them."""
    keys = {line.split("=")[0].strip() for line in toml.splitlines() if "=" in line}
    added = "".join(f'{k} = "{v}"\n' for k, v in REAL_SETTINGS.items() if k not in keys)
    return added + toml


@dataclass
class Project:
    folder: Path
    url: str
    env: dict[str, str]

    @classmethod
    def create(
        cls,
        folder: Path,
        n: int,
        toml: str,
        extra_env: dict[str, str],
        address=user,
        url: str = "",
    ) -> Project:  # type: ignore[no-untyped-def]
        """A project folder with `n` subscribers, on `url` (default: a SQLite file in it)."""
        folder.mkdir(parents=True)
        (folder / "issues").mkdir()
        shutil.copy(ISSUE, folder / "issues")
        (folder / "newsletter.toml").write_text(with_real_settings(toml))
        url = url or f"sqlite:///{folder / 'bench.db'}"
        engine = make_engine(url)
        populate(engine, n, address=address)
        engine.dispose()
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(DATABASE_URL=url, NEWSLETTER_SECRET_KEY=SECRET, PYTHONPATH=str(ROOT))
        env.update(extra_env)
        return cls(folder, url, env)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "newsletter", *args],
            cwd=self.folder,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )

    def effective_settings(self, keys: tuple[str, ...]) -> str:
        rows = self.cli("config").stdout.splitlines()
        return "; ".join(
            " ".join(r.split()) for r in rows if r.split() and r.split()[0].strip(":") in keys
        )


@dataclass
class Run:
    seconds: float
    peak_mb: float  # the largest peak resident memory of the send and its helper processes
    processes: int
    stdout: str


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out += [int(c) for c in children]
        todo += [int(c) for c in children]
    return out


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed_send(project: Project, *args: str) -> Run:
    """`newsletter send` from start to exit, with the peak memory of each of its processes."""
    command = [sys.executable, "-m", "newsletter", "send", ISSUE.stem, "--yes", "--json", *args]
    peaks: dict[int, int] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=project.folder,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            for pid in [proc.pid, *_descendants(proc.pid)]:
                peaks[pid] = max(peaks.get(pid, 0), _peak_kb(pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - start
    done.set()
    watcher.join()
    if proc.returncode != 0:
        raise SystemExit(f"send failed ({proc.returncode}): {err[-2000:]}")
    return Run(seconds, max(peaks.values(), default=0) / 1024, len(peaks), out)
