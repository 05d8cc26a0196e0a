"""What a segment's comparisons need that SQLite and PostgreSQL spell differently, so that both
give the same answers. Every value and every attribute name is a bound parameter here; the only
constants in the SQL text are this module's own.

- An attribute is read as text through a bound JSON path (SQLite: `json_extract` with `$."NAME"`;
  PostgreSQL: `->>` with the bound key). A missing attribute is NULL: it matches nothing.
- An attribute is a number when, trimmed of spaces, it matches `^-?[0-9]+(\\.[0-9]+)?$` (and is
  at most 300 characters): PostgreSQL tests the pattern before its CAST (which would raise),
  SQLite with GLOB patterns (its CAST would turn anything into 0). Both compare as doubles.
- Text order is binary: SQLite's default, `COLLATE "C"` on PostgreSQL.
- `contains`, `starts with`, `ends with` match literally: PostgreSQL with LIKE and `%`, `_`, `\\`
  escaped in the bound pattern; SQLite with instr/substr (its LIKE ignores ASCII case).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Float,
    Text,
    and_,
    bindparam,
    case,
    cast,
    exists,
    func,
    literal,
    literal_column,
    not_,
    null,
    or_,
    select,
    tuple_,
)
from sqlalchemy.sql.elements import ColumnElement

Expr = ColumnElement[Any]
_PG_NUMBER: Expr = literal_column("'^-?[0-9]+(\\.[0-9]+)?$'")
_MAX_NUMBER = 300  # characters: beyond, a double overflows (PostgreSQL raises)


def _text(value: object) -> Expr:
    return cast(literal(value, Text), Text)


def attribute_text(sqlite: bool, column: Expr, name: str) -> Expr:
    """The attribute `name` of a subscriber's JSON as text (NULL when missing)."""
    if sqlite:
        path = literal('$."' + name + '"', Text)  # NAME is letters, digits, _ and - only
        return cast(func.json_extract(column, path), Text)
    return column.op("->>", return_type=Text)(_text(name))


def attribute_number(sqlite: bool, column: Expr, name: str) -> Expr:
    """The attribute as a double, or NULL when it is missing or not a number."""
    if sqlite:  # the text read once a row (a derived table), not once per test of it
        read = (
            select(func.trim(attribute_text(True, column, name)).label("t"))
            .correlate(column.table)  # however deep the segment sits (the send's snapshot)
            .subquery("a")
        )
        is_number = _sqlite_number(read.c.t)
        return select(case((is_number, cast(read.c.t, Float)), else_=null())).scalar_subquery()
    text = func.trim(attribute_text(sqlite, column, name))
    is_number = and_(func.length(text) <= _MAX_NUMBER, text.op("~")(_PG_NUMBER))
    return case((is_number, cast(text, Float)), else_=null())


def _sqlite_number(text: Expr) -> Expr:
    """`^-?[0-9]+(\\.[0-9]+)?$` in GLOB patterns: a digit or `-` and a digit first, a digit
    last, nothing but digits and dots after the first character, at most one dot."""

    def glob(value: Expr, pattern: str) -> Expr:
        return value.op("GLOB")(literal_column(f"'{pattern}'"))

    return and_(
        func.length(text) <= _MAX_NUMBER,
        glob(text, "*[0-9]"),
        or_(glob(text, "[0-9]*"), glob(text, "-[0-9]*")),
        not_(glob(func.substr(text, 2), "*[^0-9.]*")),
        not_(glob(text, "*.*.*")),
    )


def ordered(sqlite: bool, expr: Expr) -> Expr:
    """`expr` compared in binary order."""
    return expr if sqlite else expr.collate("C")


def like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def text_match(sqlite: bool, op: str, expr: Expr, value: str) -> Expr:
    """`contains`, `starts with` or `ends with`, literally and case-sensitively."""
    if sqlite:
        v = bindparam(None, value, Text)
        if op == "contains":
            return func.instr(expr, v) > 0
        if op == "starts with":
            return func.substr(expr, 1, func.length(v)) == v
        return func.substr(expr, func.length(expr) - func.length(v) + 1) == v
    escaped = like_escaped(value)
    pattern = {"contains": f"%{escaped}%", "starts with": f"{escaped}%"}.get(op, f"%{escaped}")
    return ordered(False, expr).like(literal(pattern, Text), escape="\\")


def among(sqlite: bool, outer_id: Expr, column: Expr, *where: Expr) -> Expr:
    """`outer_id` is among the values of `column` in the rows matching `where`. SQLite: an
    uncorrelated IN, worked out once per statement into an index and probed once a row (a
    correlated EXISTS searches once per send a row). PostgreSQL: a correlated EXISTS, an index
    search a row: an IN over more ids than work_mem holds is no hashed subplan, and would be
    scanned again for every row."""
    if sqlite:
        return outer_id.in_(select(column).where(*where))
    return exists().where(column == outer_id, *where).correlate(outer_id.table)


def absent(sqlite: bool, pairs: list[tuple[Expr, Expr]], *where: Expr) -> Expr:
    """No row matching `where` has each pair's inner column equal to its outer one (a
    suppression for this address and list). SQLite: an uncorrelated NOT IN, its list built
    once into an index and probed once a row (a correlated NOT EXISTS searches the table's
    own index, a deeper tree, for each); PostgreSQL: NOT EXISTS, which it plans as a hashed
    anti-join."""
    outer, inner = [o for o, _ in pairs], [i for _, i in pairs]
    if sqlite:
        found = select(*inner).where(*where)
        return (outer[0] if len(outer) == 1 else tuple_(*outer)).not_in(found)
    first = inner[0].table
    return ~exists().where(*(i == o for o, i in pairs), *where).correlate_except(first)
