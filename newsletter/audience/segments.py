"""Segments: who of a send's lists gets it, as one SQL query run in the database.

The audience is the `subscribed` members of the lists, less suppressions (an anti-join on the
indexed `subscribers.address_hash`: global ones, and those of the membership's own list), and,
with a segment, only those for whom the expression holds on that membership. A segment only
narrows a list, never widens it: it is one more condition on the same rows. Named segments come
from `segments.toml` beside the configuration (`[segments] engaged = "..."`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Text, bindparam, func, literal, select

from newsletter.audience.segment_parse import parse
from newsletter.audience.segment_scope import Scope
from newsletter.audience.segment_sql import compile_segment, undecided
from newsletter.audience.segment_syntax import Comparison, Node, walk
from newsletter.db import tables
from newsletter.db.segment_dialect import absent
from newsletter.errors import ConfigError

S, M, X = tables.subscribers, tables.memberships, tables.suppressions
SEGMENTS_FILE = "segments.toml"


@dataclass(frozen=True)
class Segment:
    given: str  # as written (front matter, --where, both joined with `and`)
    node: Node

    @property
    def normal(self) -> str:
        """The one spelling of the expression: stored with the send, part of a follow-up's
        identity (named segments written out)."""
        return str(self.node)


def read_segment(
    text: str, named: Mapping[str, str] | None = None, where: str = "segment"
) -> Segment:
    return Segment(text, parse(text, where=where, named=named))


def combine(*parts: str) -> str:
    """Expressions that must all hold (front matter's `segment:` and `--where`)."""
    given = [p.strip() for p in parts if p and p.strip()]
    return given[0] if len(given) == 1 else " and ".join(f"({p})" for p in given)


def load_named(folder: Path) -> dict[str, str]:
    """The named segments of `segments.toml` in `folder` (none when there is no such file)."""
    path = folder / SEGMENTS_FILE
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    table = data.get("segments", {})
    if set(data) - {"segments"} or not isinstance(table, dict):
        raise ConfigError(f'{path}: put the named segments under [segments] (name = "expression")')
    for name, text in table.items():
        if not isinstance(text, str):
            raise ConfigError(f"{path}: segment '{name}' must be a quoted expression")
    for name, text in table.items():
        parse(text, where=f"{path}: {name}", named=table)  # every one checked, used or not
    return dict(table)


def unknown_attributes(conn: Connection, node: Node) -> list[str]:
    """Attribute names the segment uses that no import ever wrote (a warning, not an error):
    read from the small `attribute_names` table, never from subscribers' attributes."""
    used = sorted(
        {
            c.field.attribute
            for c in walk(node)
            if isinstance(c, Comparison) and c.field.name == "attributes"
        }
    )
    if not used:
        return []
    a = tables.attribute_names
    known = {
        n
        for (n,) in conn.execute(
            select(a.c.name).where(a.c.name.in_(bindparam(None, used, Text, expanding=True)))
        )
    }
    return [n for n in used if n not in known]


def _not_suppressed(scope: Scope) -> list[Any]:
    """Neither suppressed for every list nor for the membership's own."""
    lists = bindparam(None, list(scope.list_ids), X.c.list_id.type, expanding=True)
    everywhere = X.c.list_id == literal(0, X.c.list_id.type)
    return [
        absent(scope.sqlite, [(S.c.address_hash, X.c.address_hash)], everywhere),
        absent(
            scope.sqlite,
            [(S.c.address_hash, X.c.address_hash), (M.c.list_id, X.c.list_id)],
            X.c.list_id.in_(lists),
        ),
    ]


def members(scope: Scope, segment: Segment | None) -> Any:
    """The conditions on (subscriber, membership) rows that make the audience."""
    where = [
        M.c.subscriber_id == S.c.id,
        M.c.list_id.in_(bindparam(None, list(scope.list_ids), M.c.list_id.type, expanding=True)),
        M.c.status == literal("subscribed", Text),
        *_not_suppressed(scope),
    ]
    if segment is not None:
        where.append(compile_segment(segment.node, scope))
    return where


def audience_query(scope: Scope, segment: Segment | None) -> Any:
    """(id, email, name) of each subscriber in the audience, once, in id order."""
    q = select(S.c.id, S.c.email, S.c.name).select_from(S).join(M, M.c.subscriber_id == S.c.id)
    q = q.where(*members(scope, segment))
    if len(scope.list_ids) > 1:
        q = q.distinct()
    return q.order_by(S.c.id)


def audience_rows(scope: Scope, segment: Segment | None) -> Iterator[tuple[int, str, str]]:
    """The audience, streamed (bounded memory whatever its size)."""
    result = scope.conn.execution_options(yield_per=5000).execute(audience_query(scope, segment))
    for row in result:
        yield int(row.id), row.email, row.name or ""


def audience_count(scope: Scope, segment: Segment | None) -> int:
    inner = audience_query(scope, segment).order_by(None).subquery()
    return int(scope.conn.execute(select(func.count()).select_from(inner)).scalar_one())


def left_out_untracked(scope: Scope, segment: Segment | None) -> int:
    """Members left out because they opted out of tracking and the segment asks about their
    opens or clicks (for them such a condition is unknown, so the segment does not hold)."""
    if segment is None:
        return 0
    condition = undecided(segment.node, scope)
    if not scope.uses_tracking:
        return 0
    o = tables.tracking_optouts
    base = members(Scope(scope.conn, scope.list_ids, scope.now, scope.bounce_days), None)
    q = (  # driven by the (few) opt-outs, not by the list
        select(func.count(func.distinct(S.c.id)))
        .select_from(o)
        .join(S, S.c.id == o.c.subscriber_id)
        .join(M, M.c.subscriber_id == S.c.id)
        .where(*base, condition)
    )
    return int(scope.conn.execute(q).scalar_one())


def scope_for(
    conn: Connection, list_ids: Sequence[int], now: datetime, bounce_days: int = 30
) -> Scope:
    return Scope(conn, tuple(list_ids), now, bounce_days)
