"""Files readable by nobody else (issue 20, point 9): the SQLite database and its -wal and -shm
files are created 0600 and a folder the tool creates for it 0700, as `.newsletter-secret` is;
a command warns when an existing database file is readable by other users."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests.support.sending import run_cli


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_database_its_wal_files_and_its_new_folders_are_private(workdir):
    old = os.umask(0o022)  # the usual umask: world-readable unless the tool says otherwise
    try:
        (workdir / "there").mkdir()
        (workdir / "there").chmod(0o755)  # a folder that was there is left as it was
        database = workdir / "there" / "data" / "deeper" / "news.db"
        env = {"DATABASE_URL": f"sqlite:///{database}"}
        added = run_cli("lists", "create", "news", "--name", "News", env=env, cwd=workdir)
        assert added.returncode == 0, added.stderr
        assert _mode(database) == 0o600
        for side in ("-wal", "-shm"):
            extra = database.with_name(database.name + side)
            if extra.exists():
                assert _mode(extra) == 0o600, side
        assert _mode(database.parent) == 0o700 and _mode(database.parent.parent) == 0o700
        assert _mode(workdir / "there") == 0o755
        assert "readable" not in added.stderr
    finally:
        os.umask(old)


def test_an_existing_database_readable_by_others_is_warned_about(workdir):
    database = workdir / "news.db"
    env = {"DATABASE_URL": f"sqlite:///{database}"}
    created = run_cli("lists", "create", "news", "--name", "News", env=env, cwd=workdir)
    assert created.returncode == 0, created.stderr
    database.chmod(0o644)
    shown = run_cli("lists", env=env, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    assert (
        f"warning: the database {database} is readable by other users of this machine "
        f"(mode 0644): run chmod 600 {database}"
    ) in shown.stderr
    database.chmod(0o600)
    quiet = run_cli("lists", env=env, cwd=workdir)
    assert "readable" not in quiet.stderr


def test_the_wal_and_shm_files_of_an_open_database_are_private(tmp_path):
    from sqlalchemy import text

    from newsletter.db.engine import make_engine

    old = os.umask(0o022)
    try:
        database = tmp_path / "news.db"
        engine = make_engine(f"sqlite:///{database}")
        with engine.connect() as conn:  # open: the -wal and -shm files are there
            conn.execute(text("SELECT count(*) FROM lists")).all()
            sides = [database.with_name(database.name + s) for s in ("-wal", "-shm")]
            assert [_mode(p) for p in [database, *sides]] == [0o600, 0o600, 0o600]
        engine.dispose()
    finally:
        os.umask(old)
