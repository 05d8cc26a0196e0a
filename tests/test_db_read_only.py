"""Commands that only read open the database through `db.engine.open_for_reading`: they never
create it and never upgrade it. An outdated schema is one error line that says `run newsletter
db upgrade`, a missing or empty database one that says there is none, and either way the
database is exactly as it was (revision, tables, and on SQLite the file's bytes and mtime)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from newsletter.db.connection import create
from newsletter.db.engine import make_engine, open_for_reading
from newsletter.db.migrate import HEAD, current_revision
from newsletter.errors import StoreError
from tests.support.sending import run_cli

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _revision_and_tables(url: str) -> tuple[str | None, list[str]]:
    """Read without changing anything (the open under test, used directly)."""
    engine = create(url, existing=True)
    try:
        return current_revision(engine), sorted(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _one_error_line(result) -> str:  # noqa: ANN001
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def _stamped(url: str, revision: str) -> None:
    """A database at the newest schema whose recorded revision says `revision`."""
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


def _release_010_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "release-0.1.0.sqlite3", path)
    return path


@pytest.mark.parametrize("old", ["release-0.1.0", "stamped-0003"])
def test_status_on_an_old_sqlite_schema_says_upgrade_and_leaves_the_file_untouched(
    workdir: Path, old: str
) -> None:
    path = workdir / "old.db"
    if old == "release-0.1.0":
        path = _release_010_sqlite(workdir)
    else:
        _stamped(f"sqlite:///{path}", "0003")
    url = f"sqlite:///{path}"
    revision, table_names = _revision_and_tables(url)
    assert revision in ("legacy-3", "0003")
    before = (path.read_bytes(), path.stat().st_mtime_ns, sorted(p.name for p in workdir.iterdir()))

    line = _one_error_line(run_cli("status", env={"DATABASE_URL": url}, cwd=workdir))

    assert line == (
        f"error: the database is at schema revision {revision}, older than this version's "
        f"{HEAD}: run newsletter db upgrade"
    )
    after = (path.read_bytes(), path.stat().st_mtime_ns, sorted(p.name for p in workdir.iterdir()))
    assert after == before
    assert _revision_and_tables(url) == (revision, table_names)


@pytest.mark.postgres
@pytest.mark.parametrize("old", ["release-0.1.0", "stamped-0003"])
def test_status_on_an_old_postgresql_schema_says_upgrade_and_changes_nothing(
    workdir: Path, postgres_url: str, old: str
) -> None:
    if old == "release-0.1.0":
        import psycopg

        sql = (FIXTURES / "release-0.1.0.postgresql.sql").read_text(encoding="utf-8")
        with psycopg.connect(postgres_url) as conn:
            conn.execute(sql)
    else:
        _stamped(postgres_url, "0003")
    before = _revision_and_tables(postgres_url)
    assert before[0] in ("legacy-3", "0003")

    line = _one_error_line(run_cli("status", env={"DATABASE_URL": postgres_url}, cwd=workdir))

    assert line.endswith(f"older than this version's {HEAD}: run newsletter db upgrade")
    assert _revision_and_tables(postgres_url) == before


@pytest.mark.parametrize(
    "command",
    [
        ("report",),
        ("lists",),
        ("subscribers", "show", "ann@example.com"),
        ("subscribers", "export", "--list", "weekly"),
    ],
)
def test_every_read_only_command_refuses_an_old_schema_alike(
    workdir: Path, command: tuple[str, ...]
) -> None:
    url = f"sqlite:///{workdir / 'news.db'}"
    _stamped(url, "0002")
    line = _one_error_line(run_cli(*command, env={"DATABASE_URL": url}, cwd=workdir))
    assert line.endswith("run newsletter db upgrade")
    assert _revision_and_tables(url)[0] == "0002"


def test_status_without_a_database_file_says_so_and_creates_nothing(workdir: Path) -> None:
    path = workdir / "data" / "news.db"
    for command in (("status",), ("db", "status")):
        line = _one_error_line(
            run_cli(*command, env={"DATABASE_URL": f"sqlite:///{path}"}, cwd=workdir)
        )
        assert line == (
            f"error: there is no database at {path} (DATABASE_URL) yet: run newsletter db "
            "upgrade, or any command that writes, to create it"
        )
    assert list(workdir.iterdir()) == []  # neither the file nor its folder


@pytest.mark.postgres
def test_status_on_an_empty_postgresql_schema_says_there_is_none_and_creates_nothing(
    workdir: Path, postgres_url: str
) -> None:
    line = _one_error_line(run_cli("status", env={"DATABASE_URL": postgres_url}, cwd=workdir))
    assert "is empty (no newsletter tables): there is no newsletter database there" in line
    assert _revision_and_tables(postgres_url) == (None, [])


def test_a_database_at_the_newest_revision_opens_for_reading_and_status_reads_it(
    workdir: Path,
) -> None:
    url = f"sqlite:///{workdir / 'news.db'}"
    make_engine(url).dispose()
    engine = open_for_reading(url)
    assert current_revision(engine) == HEAD
    engine.dispose()
    result = run_cli("status", env={"DATABASE_URL": url}, cwd=workdir)
    assert result.returncode == 0 and result.stdout.strip() == "no sends yet", result.stderr


def test_open_for_reading_refuses_an_in_memory_database_as_empty() -> None:
    with pytest.raises(StoreError, match="is empty"):
        open_for_reading("sqlite://")
