"""Property tests of the header handling that other providers' files go through: column names
normalised to lower_snake, the address column found under its other names, the delimiter
sniffed. Any header is either read or refused with one line (never another exception); a
file written with `;`, a tab or `|` imports exactly as the same table written with commas."""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from sqlalchemy import delete, select

from newsletter.audience.csv_columns import DELIMITERS, EMAIL_NAMES, normalise
from newsletter.audience.csv_import import import_csv
from newsletter.audience.csv_rows import check_file
from newsletter.audience.lists import create_list
from newsletter.db import tables
from newsletter.db.engine import make_engine
from newsletter.errors import ImportFileError
from tests.support.strategies import address_cells, cell_values

SNAKE = re.compile(r"(?:[^\W_]+(?:_[^\W_]+)*)?")


@given(st.text())
@example(" First Name ")
@example("__E-Mail--Address__")
def test_normalised_names_are_lower_snake_and_normalising_again_changes_nothing(raw: str):
    name = normalise(raw)
    assert SNAKE.fullmatch(name), name
    assert name == name.lower()
    assert normalise(name) == name


def _write(folder: str, data: bytes) -> Path:
    path = Path(folder) / "people.csv"
    path.write_bytes(data)
    return path


@given(st.text(max_size=200), st.sampled_from([None, *DELIMITERS]))
@example("email:name\nann@example.com:Ann\n", None)
@example('"Email\nAddress";x\n', None)
@example("E-mail\x00,x\n", None)
@example("email,Email\n", None)
def test_any_header_is_read_or_refused_with_one_line(text: str, delimiter: str | None):
    with tempfile.TemporaryDirectory() as folder:
        path = _write(folder, text.encode("utf-8", "surrogatepass"))
        try:
            columns = check_file(path, delimiter)
        except ImportFileError as exc:
            assert "\n" not in str(exc) and "\r" not in str(exc)
            assert str(exc).startswith(str(path))
            return
    assert columns.names[columns.email] in EMAIL_NAMES
    assert delimiter is None or columns.delimiter == delimiter
    assert all("\n" not in note and "\r" not in note for note in columns.notes)
    used = [n for _, n in columns.attrs]
    assert len(used) == len(set(used))  # no two columns write one attribute


# Column names as people type them, without the characters that could also separate columns
HEADER_WORDS = st.text(
    alphabet=st.characters(blacklist_characters=',;\t|"\r\n\x00', blacklist_categories=["Cs"]),
    min_size=1,
    max_size=12,
)


# A field over the CSV limit breaks a file's structure from there on, differently as quoting
# differs (a `,` is quoted in a comma file, not in a `;` one): test_fuzz_csv_rows covers those.
IN_LIMIT = cell_values().filter(lambda cell: len(cell) < 1000)


@st.composite
def tables_(draw: st.DrawFn) -> tuple[list[str], list[list[str]]]:
    """A header (an address column under one of its names, other columns) and rows."""
    others = draw(st.lists(HEADER_WORDS, max_size=4))
    header = [*others]
    header.insert(draw(st.integers(0, len(others))), draw(st.sampled_from(EMAIL_NAMES)))
    names = [normalise(h) for h in header]
    assume(len({n for n in names if n}) == len([n for n in names if n]))
    assume(sum(n in EMAIL_NAMES for n in names) == 1)
    width = len(header)
    at = names.index(next(n for n in names if n in EMAIL_NAMES))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        cells = [draw(IN_LIMIT) for _ in range(width)]
        cells[at] = draw(address_cells())
        rows.append(cells)
    return header, rows


def _csv(header: list[str], rows: list[list[str]], delimiter: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


@pytest.fixture
def engine(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    create_list(engine, "weekly", "Weekly")
    yield engine
    engine.dispose()


def _people_after_import(engine, data: bytes) -> tuple[dict, list, list]:  # noqa: ANN001
    with engine.begin() as conn:
        conn.execute(delete(tables.subscribers))
    with tempfile.TemporaryDirectory() as folder:
        report = import_csv(engine, _write(folder, data), "weekly", chunk_size=3)
    s = tables.subscribers
    with engine.connect() as conn:
        rows = conn.execute(select(s.c.email, s.c.name, s.c.attributes).order_by(s.c.email))
        people = [(e, n, sorted((a or {}).items())) for e, n, a in rows]
    return report.counts(), [(p.line, p.message) for p in report.problems], people


@given(tables_(), st.sampled_from(DELIMITERS[1:]))
def test_a_file_imports_the_same_with_any_delimiter(engine, table, delimiter: str):
    header, rows = table
    with_commas = _people_after_import(engine, _csv(header, rows, ","))
    sniffed = _people_after_import(engine, _csv(header, rows, delimiter))
    counts, problems, people = sniffed
    assert (counts, people) == (with_commas[0], with_commas[2])
    assert [line for line, _ in problems] == [line for line, _ in with_commas[1]]
