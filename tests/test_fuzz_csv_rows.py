"""Property tests: any members CSV (a real header, rows of hostile cells: formula starts, NUL,
line breaks, quotes, fields over the CSV limit, broken quoting) gives a report whose problems
are one line each, never an exception (with a good header not even the project's own
ImportFileError: bad rows are reported, not fatal); every row is accounted for; SQLite and
PostgreSQL give the same report; and export -> import gives back exactly what was stored."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from sqlalchemy import delete, select

from newsletter.audience import csv_export, csv_import, csv_rows, import_chunk
from newsletter.audience.csv_export import export_csv
from newsletter.audience.csv_import import import_csv
from newsletter.audience.lists import create_list
from newsletter.db import tables
from newsletter.db.engine import make_engine
from tests.support.strategies import catch_all_handlers, csv_files

EXAMPLES = [
    ("email,name\n=ann@example.com,'=x\n", True),
    ('email,name,city\nann@example.com,"a\x00b",Oslo\nbo@example.com,Bo,\n', True),
    ("email,name\nann@example.com," + "x" * 131_073 + "\nbo@example.com,Bo\n", True),
    ('email,name\nann@example.com,"open\nbo@example.com,Bo\n', False),
]


def _import(engine, text: str, slug: str = "weekly") -> csv_import.ImportReport:  # noqa: ANN001
    """The report of importing `text`. Every generated file has a good header, so the only
    error that may stop an import (ImportFileError, for a file that cannot be read at all)
    must not happen: any exception fails the test."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "people.csv"
        path.write_text(text, encoding="utf-8", newline="")
        report = import_csv(engine, path, slug, chunk_size=3)
        for problem in report.problems:
            problem.__dict__["path"] = "people.csv"  # frozen; compare the rest across runs
        return report


def _check_report(report: csv_import.ImportReport, text: str, structured: bool) -> None:
    lines = text.count("\n") + text.count("\r") + 1
    assert all(2 <= p.line <= lines for p in report.problems)
    assert [p.line for p in report.problems] == sorted(p.line for p in report.problems)
    assert all("\n" not in p.message and "\r" not in p.message for p in report.problems)
    if structured:  # every record is accounted for, once (unless one is over the limit)
        limit = csv.field_size_limit(10**8)
        try:
            records = list(csv.reader(io.StringIO(text, newline="")))[1:]
        finally:
            csv.field_size_limit(limit)
        if all(len(cell) <= limit for r in records for cell in r):
            real = [r for r in records if "".join(r).strip()]
            assert sum(report.counts().values()) == len(real)


def _people(engine) -> list[tuple]:  # noqa: ANN001
    s = tables.subscribers
    with engine.connect() as conn:
        rows = conn.execute(select(s.c.email, s.c.name, s.c.attributes).order_by(s.c.email))
        return [(e, n, sorted((a or {}).items())) for e, n, a in rows]


@pytest.fixture
def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    create_list(engine, "weekly", "Weekly")
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(postgres_url: str):
    engine = make_engine(postgres_url)
    create_list(engine, "weekly", "Weekly")
    yield engine
    engine.dispose()


@pytest.mark.postgres
@given(csv_files())
def test_sqlite_and_postgresql_give_the_same_report(
    sqlite_engine, pg_engine, file: tuple[str, bool]
) -> None:
    """Both databases see the same files in the same order (fixtures live for every example),
    so their states stay equal."""
    text, structured = file
    lite, pg = _import(sqlite_engine, text), _import(pg_engine, text)
    _check_report(lite, text, structured)
    assert (lite.counts(), lite.problems) == (pg.counts(), pg.problems)
    assert _people(sqlite_engine) == _people(pg_engine)


@given(csv_files())
def test_any_file_imports_and_round_trips_through_export(
    sqlite_engine, file: tuple[str, bool]
) -> None:
    text, structured = file
    with sqlite_engine.begin() as conn:
        conn.execute(delete(tables.subscribers))
    report = _import(sqlite_engine, text)
    _check_report(report, text, structured)
    before = _people(sqlite_engine)
    out = io.StringIO(newline="")
    export_csv(sqlite_engine, "weekly", out)
    with sqlite_engine.begin() as conn:
        conn.execute(delete(tables.subscribers))
    again = _import(sqlite_engine, out.getvalue())
    assert again.rejected == 0, again.problems
    assert _people(sqlite_engine) == before


for _text, _structured in EXAMPLES:
    test_any_file_imports_and_round_trips_through_export = example((_text, _structured))(
        test_any_file_imports_and_round_trips_through_export
    )


@pytest.mark.parametrize("module", [csv_rows, csv_import, import_chunk, csv_export])
def test_the_csv_code_has_no_catch_all_handler(module: object) -> None:
    assert catch_all_handlers(module) == []
