"""Compiling a segment to SQLAlchemy Core: one boolean expression over a subscriber
(`tables.subscribers`) and one of its memberships (`tables.memberships`), every value a bound
parameter. What the databases spell differently is in `db.segment_dialect`; the engagement
predicates are in `segment_engagement`.

A condition that cannot be decided for a subscriber (a missing or non-numeric attribute, the
opens of someone who opted out of tracking) is SQL's NULL, and SQL's three-valued logic does
the rest: neither the condition nor its `not` matches them.

`not` is pushed down to the leaves (`holds`: the condition that a node is true, or that it is
false), so `and`/`or` only ever join two-valued pieces and the engagement predicates stay plain
`EXISTS`/`NOT EXISTS` conjuncts, which PostgreSQL turns into (hashed) semi- and anti-joins
rather than a search a row. Whether a combination is true depends only on which of its pieces
are true, so this gives the same subscribers as three-valued logic over the whole expression.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, Float, Text, and_, bindparam, literal, not_, or_, true

from newsletter.audience.segment_engagement import engagement
from newsletter.audience.segment_scope import Scope, instant
from newsletter.audience.segment_syntax import (
    And,
    Comparison,
    Engagement,
    Node,
    Not,
    Or,
)
from newsletter.db import segment_dialect as dialect
from newsletter.db import tables

S, M = tables.subscribers, tables.memberships
_ORDER = {"=", "!=", "<", "<=", ">", ">="}


def compile_segment(node: Node, scope: Scope) -> Any:
    """The segment as a Core condition: true for exactly the subscribers it matches."""
    return holds(node, scope, True)


def undecided(node: Node, scope: Scope) -> Any:
    """True where the segment is neither true nor false (SQL's NULL for the whole)."""
    return and_(holds(node, scope, True).is_not(True), holds(node, scope, False).is_not(True))


def holds(node: Node, scope: Scope, truth: bool) -> Any:
    """The condition that `node` is `truth` (true, or false): `not` goes down to the leaves."""
    if isinstance(node, And | Or):
        parts = [holds(i, scope, truth) for i in node.items]
        return and_(*parts) if isinstance(node, And) == truth else or_(*parts)
    if isinstance(node, Not):
        return holds(node.inner, scope, not truth)
    if isinstance(node, Engagement):
        return engagement(node, scope, truth)
    condition = comparison(node, scope)
    return condition if truth else not_(condition)


def comparison(c: Comparison, scope: Scope) -> Any:
    f = c.field
    if f.name == "subscribed_at":
        return _time(c, M.c.subscribed_at, scope.now)
    if c.op in ("is set", "is not set"):
        present = _present(c, scope)
        return present if c.op == "is set" else not_(present)
    if f.name == "attributes" and c.values and c.values[0].kind == "number":
        number = dialect.attribute_number(scope.sqlite, S.c.attributes, f.attribute)
        return _compare(c.op, number, [float(v.number) for v in c.values], Float)
    column, values = _text_column(c, scope)
    if c.op in ("contains", "starts with", "ends with"):
        return dialect.text_match(scope.sqlite, c.op, column, values[0])
    return _compare(c.op, dialect.ordered(scope.sqlite, column), values, Text)


def _text_column(c: Comparison, scope: Scope) -> tuple[Any, list[str]]:
    """The text a comparison reads, and its values: email and domain in lower case (both are
    stored so), the rest as written."""
    f, texts = c.field, [v.text for v in c.values]
    if f.name == "email":
        return S.c.email_key, [t.lower() for t in texts]
    if f.name == "domain":
        return S.c.domain, [t.lower() for t in texts]
    if f.name == "name":
        return S.c.name, texts
    if f.name == "source":
        return M.c.source, texts
    return dialect.attribute_text(scope.sqlite, S.c.attributes, f.attribute), texts


def _present(c: Comparison, scope: Scope) -> Any:
    f = c.field
    if f.name == "attributes":
        return dialect.attribute_text(scope.sqlite, S.c.attributes, f.attribute).is_not(None)
    if f.name in ("email", "domain"):
        return true()
    column = S.c.name if f.name == "name" else M.c.source
    return column != literal("", Text)


def _compare(op: str, column: Any, values: list[Any], kind: Any) -> Any:
    if op in ("in", "not in"):
        listed = column.in_(bindparam(None, values, kind, expanding=True))
        return and_(column.is_not(None), listed if op == "in" else not_(listed))
    bound = literal(values[0], kind)
    return {
        "=": column == bound,
        "!=": column != bound,
        "<": column < bound,
        "<=": column <= bound,
        ">": column > bound,
        ">=": column >= bound,
    }[op]


def _time(c: Comparison, column: Any, now: datetime) -> Any:
    """subscribed_at against a date (the whole day) or an instant; NULL (never subscribed,
    an old row) matches nothing."""
    if c.op in ("is set", "is not set"):
        return column.is_not(None) if c.op == "is set" else column.is_(None)
    typed = DateTime(timezone=True)
    value = c.values[0]
    start = instant(value, now)
    if value.kind == "ago":
        return _compare(c.op, column, [start], typed)
    end = start + timedelta(days=1)
    bounds = {"<": start, "<=": end, ">": end, ">=": start}
    if c.op == "=":
        return _day(start, column, typed)
    if c.op == "!=":
        return not_(_day(start, column, typed))
    op = {"<=": "<", ">": ">="}.get(c.op, c.op)  # a day's end is the next day's start
    return _compare(op, column, [bounds[c.op]], typed)


def _day(start: datetime, column: Any, typed: Any) -> Any:
    return and_(column >= literal(start, typed), column < literal(start + timedelta(days=1), typed))
