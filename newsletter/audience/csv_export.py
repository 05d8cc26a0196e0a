"""CSV export of list members, streamed: one pass learns the attribute names, one writes.

Every cell, header included, is written through `csv_rows.quote_cell` (a `'` before a cell
that a spreadsheet would run as a formula) unless `raw` is set, for machine use.

Progress: an optional `on_progress` callback gets an `ExportProgress` (rows written so far, and
the total from a COUNT taken first) once before the passes, every `REPORT_EVERY` rows and at the
end. The total is read before the rows, so a list changing meanwhile can make it a little off.
This module never prints.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Connection, Engine, Row, and_, func, select

from newsletter.audience.csv_columns import IGNORED
from newsletter.audience.csv_rows import quote_row
from newsletter.audience.lists import get_list
from newsletter.audience.member_status import RETURNED, returned_reasons, shown_status
from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.db.connection import reading

REPORT_EVERY = 5000  # rows between two progress reports


@dataclass(frozen=True)
class ExportProgress:
    written: int
    total: int


def export_csv(
    engine: Engine,
    list_slug: str,
    out: TextIO,
    status: str | None = "subscribed",
    *,
    raw: bool = False,
    on_progress: Callable[[ExportProgress], None] | None = None,
) -> int:
    """Write members (of `status`, one of `member_status.SHOWN_STATUSES`, or all when None) as
    CSV; attributes become columns. Two streaming passes: one to learn the attribute names, one
    to write. Returns rows written. Cells that start like a formula get a leading `'` unless
    `raw`. Bounced and complained members (their membership is `unsubscribed`) are written
    with that status."""
    s, m = tables.subscribers, tables.memberships
    list_id = get_list(engine, list_slug)["id"]
    where = m.c.list_id == list_id
    if status:
        stored = "unsubscribed" if status in RETURNED else status
        where = and_(where, m.c.status == stored)
    base = (
        select(s.c.email, s.c.email_key, s.c.name, s.c.attributes, m.c.status, m.c.created_at)
        .join(m, m.c.subscriber_id == s.c.id)
        .where(where)
        .order_by(s.c.id)
    )
    # CRLF line ends (RFC 4180): then the writer quotes a value holding a lone CR, too
    plain = csv.writer(out, lineterminator="\r\n")
    writerow = plain.writerow if raw else lambda row: plain.writerow(quote_row(row))
    written = 0
    with reading(engine) as conn:
        total = 0
        if on_progress is not None:  # every membership has its subscriber: the index counts
            total = conn.execute(select(func.count()).select_from(m).where(where)).scalar_one()
            on_progress(ExportProgress(0, total))
        extra = _attribute_columns(conn, where)
        reasons = returned_reasons(conn, [list_id])
        writerow(["email", "name", "status", "joined_at", *extra])
        for row in conn.execute(base.execution_options(yield_per=5000)):
            shown = shown_status(row.status, row.email_key, list_id, reasons)
            if status and shown != status:
                continue
            writerow(_cells(row, shown, extra))
            written += 1
            if on_progress is not None and written % REPORT_EVERY == 0:
                on_progress(ExportProgress(written, total))
    if on_progress is not None and written % REPORT_EVERY:
        on_progress(ExportProgress(written, total))
    return written


def _attribute_columns(conn: Connection, where: ColumnElement[bool]) -> list[str]:
    """The first pass: every attribute name of the selected members, in order of first use."""
    s, m = tables.subscribers, tables.memberships
    names: dict[str, None] = {}
    for attrs in conn.execute(
        select(s.c.attributes)
        .join(m, m.c.subscriber_id == s.c.id)
        .where(where)
        .execution_options(yield_per=5000)
    ).scalars():
        names.update(dict.fromkeys(attrs or {}))
    return [n for n in names if n not in ("email", "name") and n not in IGNORED]


def _cells(row: Row[*tuple[Any, ...]], status: str, extra: list[str]) -> list[str]:
    attrs = row.attributes or {}
    joined = as_utc(row.created_at)
    return [
        row.email,
        row.name,
        status,
        joined.isoformat(timespec="seconds") if joined else "",
        *(_text(attrs.get(n, "")) for n in extra),
    ]


def _text(value: object) -> str:
    """An attribute as a cell, as the csv module writes it (imports store text)."""
    if isinstance(value, str):
        return value
    return "" if value is None else str(value)
