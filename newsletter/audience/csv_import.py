"""CSV import of list members, streamed in chunks with bounded memory.

`email` (required), `name`, every other column an attribute (`status`/`joined_at`, which
export writes, are ignored); other providers' column names and delimiters are recognised
(`csv_columns`). The whole file is checked first (readable, UTF-8, has an address column), so
a file that cannot be read writes nothing. With `as_reason` the rows become suppressions
instead (`import_suppressions`): past opt-outs and bounces, nobody subscribed or mailed.
Then rows go in chunks, each chunk one transaction of set-based statements (INSERT ... ON
CONFLICT), so two imports at once end with each address once, and an interrupted import is
finished by running it again. Suppression wins: an unsubscribed or suppressed address is
counted as skipped, never re-subscribed. A bad row costs only itself (rules in `csv_rows`):
it is reported by line, and every good row before and after it is imported.

Duplicates in the file are found by 64-bit fingerprints of the address keys in a flat array
(about 16 MB for a million distinct rows, a Python set would take 60; two different addresses
colliding is a ~1e-7 event for a million rows).

Progress: an optional `on_progress` callback gets an `ImportProgress` (bytes of the file read so
far, rows so far) at the start, after each chunk and at the end; the bytes are the position of
the binary file under the text decoder, so streaming and memory stay as they are. This module
never prints.
"""

from __future__ import annotations

import os
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DataError, DBAPIError, SQLAlchemyError

from newsletter.audience.csv_rows import check_file, read_rows
from newsletter.audience.import_chunk import ImportRow, apply_chunk
from newsletter.audience.import_suppressions import AS_REASONS, suppress_chunk
from newsletter.audience.lists import get_list
from newsletter.db.errors import store_error
from newsletter.errors import ImportFileError, Problem

CHUNK = 10000
MAX_PROBLEMS = 1000  # kept for the report; the count covers them all


@dataclass
class ImportReport:
    path: str
    dry_run: bool = False
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    suppressed: int = 0
    rejected: int = 0
    left: int = 0  # rows whose status column says they left: suppressions, not members
    problems: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)  # which column was taken for what
    as_reason: str | None = None  # rows imported as suppressions of this reason
    no_sequences: bool = False  # --no-sequences: new members join no sequence

    def counts(self) -> dict[str, int]:
        keys = ("added", "updated", "unchanged", "duplicates", "suppressed", "rejected", "left")
        return {k: getattr(self, k) for k in keys}


@dataclass(frozen=True)
class ImportProgress:
    """Where an import has got to. `rows` counts the data rows read (imported, duplicate or
    rejected; blank lines are not rows): at the end it is the sum of the report's counts."""

    bytes_read: int
    total_bytes: int
    rows: int


def import_csv(
    engine: Engine,
    path: str | Path,
    list_slug: str,
    *,
    dry_run: bool = False,
    status: str = "subscribed",
    chunk_size: int = CHUNK,
    on_progress: Callable[[ImportProgress], None] | None = None,
    delimiter: str | None = None,
    as_reason: str | None = None,
    no_sequences: bool = False,
) -> ImportReport:
    """Import the members in the CSV at `path` into a list (see the module's docstring), or
    with `as_reason` (unsubscribed, bounced, complained) suppress its addresses. The
    delimiter is sniffed unless given. `on_progress`, when given, is called at the start,
    after each chunk and at the end (with every byte read), never twice with the same
    figures. `no_sequences`: the memberships it makes `subscribed` join no sequence."""
    start = time.perf_counter()
    path = Path(path)
    if as_reason is not None and as_reason not in AS_REASONS:
        raise ImportFileError(f"import as '{as_reason}': use one of {', '.join(AS_REASONS)}")
    report = ImportReport(str(path), dry_run, as_reason=as_reason, no_sequences=no_sequences)
    columns = check_file(path, delimiter)
    report.notes = columns.notes
    if as_reason:  # nothing but the address is kept of people we will never mail
        kept = [n.split("; name from")[0] for n in report.notes]
        report.notes = [n for n in kept if n.startswith(("columns", "email"))]
        report.notes.append("only the addresses are kept (--as): no names, no attributes")
    list_id = get_list(engine, list_slug)["id"]
    source = f"import:{path.name}"[:200]  # memberships.source
    seen = _Seen()
    chunk: list[ImportRow] = []
    with path.open(encoding="utf-8-sig", newline="") as text:
        progress = _Progress(on_progress, text, report)
        progress.tell()
        for row in read_rows(text, columns, lambda line, why: _reject(report, line, why)):
            progress.read += 1
            if not seen.add(row.key):
                report.duplicates += 1
                continue
            chunk.append(row)
            if len(chunk) >= chunk_size:
                _apply(engine, list_id, chunk, source, status, report)
                chunk = []
                progress.tell()
        if chunk:
            _apply(engine, list_id, chunk, source, status, report)
        progress.tell()
    report.problems.sort(key=lambda p: p.line)  # a row the database refused comes late
    report.seconds = time.perf_counter() - start
    return report


class _Progress:
    """Tells `on_progress` how far an import reading `text` is, when the figures have changed.
    The bytes read are the position of the binary file under the decoder: a few KB ahead of
    the parsed rows, the whole file once they are all parsed."""

    def __init__(
        self,
        on_progress: Callable[[ImportProgress], None] | None,
        text: TextIO,
        report: ImportReport,
    ):
        self.on_progress, self.binary, self.report = on_progress, text.buffer, report
        self.size = os.fstat(text.fileno()).st_size
        self.read = 0  # rows that parsed, duplicates included (the rejected are in the report)
        self.last: ImportProgress | None = None

    def tell(self) -> None:
        if self.on_progress is None:
            return
        now = ImportProgress(self.binary.tell(), self.size, self.read + self.report.rejected)
        if now != self.last:
            self.last = now
            self.on_progress(now)


class _Seen:
    """A set of 64-bit fingerprints: open addressing in an array, at most 3/4 full."""

    def __init__(self) -> None:
        self.slots, self.mask, self.n = array("Q", bytes(8 * 4096)), 4095, 0

    def add(self, key: str) -> bool:
        """Record `key`; False if it was already there."""
        fp = hash(key) & 0xFFFF_FFFF_FFFF_FFFF or 1
        slots, mask = self.slots, self.mask
        i = fp & mask
        while (v := slots[i]) != 0:
            if v == fp:
                return False
            i = (i + 1) & mask
        slots[i] = fp
        self.n += 1
        if self.n * 4 > mask * 3:
            self._grow()
        return True

    def _grow(self) -> None:
        old = self.slots
        self.slots, self.mask, self.n = array("Q", bytes(16 * len(old))), 2 * len(old) - 1, 0
        for fp in old:
            if fp:
                i = fp & self.mask
                while self.slots[i]:
                    i = (i + 1) & self.mask
                self.slots[i] = fp
                self.n += 1


def _reject(report: ImportReport, line: int, message: str) -> None:
    report.rejected += 1
    if len(report.problems) < MAX_PROBLEMS:
        report.problems.append(Problem(report.path, line, message))


def _apply(
    engine: Engine,
    list_id: int,
    rows: list[ImportRow],
    source: str,
    status: str,
    report: ImportReport,
) -> None:
    """One chunk in one transaction; retried whole on a deadlock (it is idempotent). A value the
    database refuses (rows are checked before, so this is a rule we do not know about) is found
    by halving the chunk: its row is rejected by line, every other row is imported."""
    for attempt in range(5):
        try:
            with engine.begin() as conn:
                counts = _chunk(conn, list_id, rows, source, status, report)
            break
        except DataError as exc:
            if len(rows) == 1:
                _reject(report, rows[0].line, f"the database refused this row: {_first(exc)}")
                return
            half = len(rows) // 2
            _apply(engine, list_id, rows[:half], source, status, report)
            _apply(engine, list_id, rows[half:], source, status, report)
            return
        except DBAPIError as exc:
            if attempt == 4 or "deadlock" not in str(exc).lower():
                raise store_error("import failed", exc) from None
            time.sleep(0.05 * (attempt + 1))
        except SQLAlchemyError as exc:
            raise store_error("import failed", exc) from None
    for k, v in counts.items():
        setattr(report, k, getattr(report, k) + v)


def _chunk(
    conn: Connection,
    list_id: int,
    rows: list[ImportRow],
    source: str,
    status: str,
    report: ImportReport,
) -> dict[str, int]:
    """One chunk's writes: all suppressions with `--as`; else members, and suppressions for
    the rows whose status column says they left (counted as `left`)."""
    dry_run = report.dry_run
    if report.as_reason:
        return suppress_chunk(conn, list_id, rows, source, report.as_reason, dry_run)
    members = [r for r in rows if r.left is None]
    counts = (
        apply_chunk(conn, list_id, members, source, status, dry_run, report.no_sequences)
        if members
        else {}
    )
    for reason in AS_REASONS:
        gone = [r for r in rows if r.left == reason]
        if gone:
            suppress_chunk(conn, list_id, gone, source, reason, dry_run)
            counts["left"] = counts.get("left", 0) + len(gone)
    return counts


def _first(exc: DataError) -> str:
    """The driver's own words, first line only."""
    return (str(exc.orig).strip().splitlines() or ["invalid value"])[0]
