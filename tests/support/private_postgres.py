"""A throwaway PostgreSQL server of the test's own (initdb into a temporary folder, its own port
and socket folder), to stop and start under a running program. The machine's shared server
(TEST_DATABASE_URL) is never stopped: other tests use it at the same time.

As root (CI), the server runs as the `postgres` user, as PostgreSQL insists; otherwise as the
current user. Without the server binaries the tests skip with the reason, or fail when
NEWSLETTER_TEST_REQUIRE_POSTGRES is set.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port


def _bindir() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """One server in `root`: `start()`, `stop()`, `url(database)`, `create_database()`."""

    def __init__(self, bindir: Path, root: Path):
        self.bindir, self.root = bindir, root
        self.data, self.log = root / "data", root / "server.log"
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None  # the OS user that runs it

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}\n{log}")

    def init(self) -> None:
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        """Start the server and wait until it accepts connections (`pg_ctl -w`)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop it as a restart for an upgrade does (fast: sessions are ended, data is kept)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new, empty database on this server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of this test module's own, running; stopped and removed after."""
    bindir = _bindir()
    if bindir is None:
        reason = "no PostgreSQL server binaries (initdb) on this machine"
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    # Not under pytest's tmp_path: its folders are private to the user running the tests.
    root = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    server = PrivatePostgres(bindir, root)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(RuntimeError):  # already stopped by the test
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
