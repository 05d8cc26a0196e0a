"""Reading a members CSV: the header check, the rows one by one, and the cell quoting that
keeps spreadsheets from running a cell as a formula.

Formula quoting (the OWASP CSV-injection advice): export writes a cell that begins with `=`,
`+`, `-`, `@`, a tab or a carriage return with a leading `'`, which spreadsheets show as text;
import removes that one `'`. To make export -> import exact, a cell that already begins with
`'`s followed by one of those characters gets one more `'` on export, and import removes one.

A row costs only itself: a row with a NUL byte, a name over `NAME_MAX` characters, a bad
address, too many fields, or a field over Python's CSV field limit is rejected by line with the
reason, and reading goes on with the next line. The same rules on every database, so SQLite and
PostgreSQL import the same rows from the same file.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.csv_columns import (
    DELIMITERS,
    LEFT,
    Columns,
    find_email,
    normalise,
    plan,
    shown_delimiter,
    suspected_delimiter,
)
from newsletter.audience.import_chunk import ImportRow
from newsletter.audience.names import NAME_MAX
from newsletter.errors import ImportFileError
from newsletter.safe_text import one_line

FORMULA_START = frozenset("=+-@\t\r")

Reject = Callable[[int, str], None]  # (file line, reason)


def quote_cell(value: str) -> str:
    """`value` as a spreadsheet shows it as text: a `'` before a formula start (see above)."""
    first = value[:1]
    if first in FORMULA_START or (first == "'" and value.lstrip("'")[:1] in FORMULA_START):
        return "'" + value
    return value


_MAY_QUOTE = FORMULA_START | {"'"}


def quote_row(cells: list[str]) -> list[str]:
    """`quote_cell` on each cell; the common cell (no formula start, no quote) costs a lookup."""
    return [c if c[:1] not in _MAY_QUOTE else quote_cell(c) for c in cells]


def unquote_cell(value: str) -> str:
    """The inverse of `quote_cell`: one leading `'` fewer when `'`s precede a formula start."""
    if value[:1] == "'":
        rest = value.lstrip("'")
        if rest and rest[0] in FORMULA_START:
            return value[1:]
    return value


def check_file(path: Path, delimiter: str | None = None) -> Columns:
    """Refuse, before anything is written, a file that cannot be imported at all. Returns
    its layout (`csv_columns`), the delimiter sniffed unless one is given: of those that give
    the header an address column, the one that splits it into most columns (the first of
    them on a tie)."""
    try:
        _check_utf8(path)
        tried = [delimiter] if delimiter else list(DELIMITERS)
        fits = [(raw, each) for each in tried if _has_email(raw := _header(path, each))]
        if fits:  # the one that splits the header most: "email;x" is `email` only with ','
            raw, best = max(fits, key=lambda fit: len(fit[0] or ()))
            return plan(raw or [], best, sniffed=delimiter is None and best != ",")
        raw = _header(path, tried[0])
        if not raw:
            raise ImportFileError(
                f"{path}: empty file; the first row must name the columns (email, ...)"
            )
    except UnicodeDecodeError:
        raise ImportFileError(f"{path}: ends in the middle of a UTF-8 character") from None
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except csv.Error as exc:
        raise ImportFileError(f"{path}:1: unreadable header row: {exc}") from None
    except ValueError as exc:  # two columns with one name (csv_columns.plan)
        raise ImportFileError(f"{path}:1: {exc}") from None
    raise ImportFileError(f"{path}:1: {_no_email(raw, tried)}")


def _has_email(raw: list[str] | None) -> bool:
    return bool(raw) and find_email([normalise(c) for c in raw or ()]) is not None


def _header(path: Path, delimiter: str) -> list[str] | None:
    """The header row's cells read with `delimiter`, formula quotes removed (None: empty)."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f, delimiter=delimiter), None)
    if header and any("\x00" in c for c in header):
        raise ImportFileError(f"{path}:1: the header row holds a NUL byte; is this a CSV file?")
    return [unquote_cell(c.strip()) for c in header] if header else None


def _no_email(raw: list[str] | None, tried: list[str]) -> str:
    """Why a header cannot be used: empty, or no address column under any delimiter tried."""
    found = ", ".join(c for c in raw or [] if c) or "nothing"
    fix = "name the address column 'email' (or 'Email Address')"
    if len(tried) == 1:
        how = f"read with {shown_delimiter(tried[0])} as the delimiter"
        fix += ", or give the right --delimiter"
    else:
        others = ", ".join(map(shown_delimiter, tried[1:]))
        how = f"read with {shown_delimiter(tried[0])}; {others} give none either"
        guess = suspected_delimiter(raw[0]) if raw and len(raw) == 1 else None
        if guess is not None:
            fix = f"are the columns separated by {shown_delimiter(guess)}? "
            fix += f"import with --delimiter '{guess}'"
    return f"no 'email' column (header has: {_show(found)}; {how}); {fix}"


def _check_utf8(path: Path) -> None:
    with path.open("rb") as raw:
        decoder = codecs.getincrementaldecoder("utf-8")()
        line = 1
        while block := raw.read(1 << 20):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line += block.count(b"\n", 0, exc.start)
                raise ImportFileError(
                    f"{path}:{line}: not UTF-8 text (byte 0x{block[exc.start]:02x}); save the "
                    "file as UTF-8 (CSV UTF-8 in spreadsheets) and import again"
                ) from None
            line += block.count(b"\n")
        decoder.decode(b"", final=True)


def read_rows(f: TextIO, layout: Columns, reject: Reject) -> Iterator[ImportRow]:
    """Valid rows of `f` (header included, as checked by `check_file`) in file order; each bad
    one goes to `reject` with its line and reason, and reading goes on after it."""
    reader = csv.reader(f, delimiter=layout.delimiter)
    next(reader)
    line = reader.line_num + 1
    while True:
        try:
            for cells in reader:
                start, line = line, reader.line_num + 1
                row = _row(cells, layout, start, reject)
                if row is not None:
                    yield row
            return
        except csv.Error as exc:
            start, line = line, reader.line_num + 1
            reject(start, _broken(exc, start, reader.line_num))


def _broken(exc: csv.Error, start: int, end: int) -> str:
    """Why a CSV record could not be read (the reader goes on with the line after `end`)."""
    if "field limit" in str(exc):
        where = f"lines {start}-{end}" if end > start else "this line"
        return (
            f"a field longer than {csv.field_size_limit():,} characters (an unclosed quote?): "
            f"{where} not imported; fix the file and import it again"
        )
    return f"broken CSV ({exc}); fix the line and import the file again"


_SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}


def _name(cells: list[str], at: Columns) -> str:
    """The name column's value; without one, first and last name joined."""
    if at.name is not None:
        return cells[at.name]
    return " ".join(cells[i].strip() for i in (at.first, at.last) if i is not None).strip()


def _show(value: str) -> str:
    """A cell as one short line for a message."""
    value = one_line(value)
    return value if len(value) <= 60 else value[:57] + "..."


def _row(cells: list[str], at: Columns, line: int, reject: Reject) -> ImportRow | None:
    """The row on `line`, or None when it is blank or bad (bad ones go to `reject`)."""
    joined = "".join(cells)
    if not joined.strip():  # empty line, or only commas
        return None
    width = len(at.names)
    if len(cells) > width:
        reject(
            line,
            f"{len(cells)} fields but the header has {width} (quote values that contain "
            f"{_SEPARATORS.get(at.delimiter, shown_delimiter(at.delimiter) + 's')})",
        )
        return None
    if "\x00" in joined:
        column = at.names[next(i for i, c in enumerate(cells) if "\x00" in c)]
        reject(line, f"column '{column}' holds a NUL byte (binary data, not text)")
        return None
    cells += [""] * (width - len(cells))
    if "'" in joined:
        cells = [unquote_cell(c) for c in cells]
    try:
        addr = parse(cells[at.email])
    except InvalidAddress as exc:
        shown = _show(cells[at.email])
        reject(line, f"'{shown}': {exc}" if shown else "no email address")
        return None
    name = one_line(_name(cells, at))
    if len(name) > NAME_MAX:
        reject(line, f"the name is {len(name):,} characters; at most {NAME_MAX} fit")
        return None
    attrs = {c: cells[i] for i, c in at.attrs if cells[i] != ""}
    left = LEFT.get(normalise(cells[at.status])) if at.status is not None else None
    return ImportRow(line, addr.email, addr.key, addr.hash, name, attrs, left)
