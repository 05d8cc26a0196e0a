"""The segment language's words and tree: tokens (with their line and column, for errors that
point at the problem), the nodes an expression parses into, and their one normal spelling
(`str(node)`), which is what a send stores and what identifies a follow-up.

The grammar is in the README ("Segments"); `segment_parse` reads it, `segment_sql` compiles it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Union

from newsletter.errors import NewsletterError


class SegmentError(NewsletterError):
    """An expression that cannot be used: one line, `segment:LINE:COL: error: what to do`."""

    def __init__(self, message: str, where: str = "segment", line: int = 0, col: int = 0):
        self.message = message
        self.at = (line, col)
        self.line = f"{where}:{line}:{col}: error: {message}" if line else f"{where}: {message}"
        super().__init__(self.line)


@dataclass(frozen=True)
class Token:
    kind: str  # string | date | number | word | named | op | punct | end
    text: str  # as written (for a string: its value, escapes undone)
    line: int
    col: int

    @property
    def word(self) -> str:
        """A word in lower case (keywords and field names are case-insensitive)."""
        return self.text.lower() if self.kind == "word" else ""


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      |(?P<string>"(?:[^"\\]|\\.)*")
      |(?P<date>\d{4}-\d{2}-\d{2})(?![\w.-])
      |(?P<number>-?\d+(?:\.\d+)?)(?![\w.])
      |(?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]*)?)
      |(?P<named>@[A-Za-z0-9_-]+)
      |(?P<op><=|>=|!=|=|<|>)
      |(?P<punct>[()\[\],])""",
    re.X,
)
_ESCAPE = re.compile(r"\\(.)", re.S)


_SURROGATE = re.compile("[\ud800-\udfff]")


def tokens(source: str, where: str = "segment") -> list[Token]:
    """The expression's tokens, ending with an `end` token; SegmentError at the first character
    that starts none."""
    out: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        col = pos - line_start + 1
        if m is None or "\x00" in m.group():
            char = source[pos] if m is None else "\x00"
            why = 'unterminated string (close it with ")' if char == '"' else f"unexpected {char!r}"
            raise SegmentError(why, where, line, col)
        bad = _SURROGATE.search(m.group())
        if bad:  # a byte that was not UTF-8 (the shell's argument, decoded with surrogateescape)
            raise SegmentError("not UTF-8 text: write the expression in UTF-8", where, line, col)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "string":
            text = _unescape(text[1:-1], where, line, col)
        if kind != "space":
            out.append(Token(kind, text, line, col))
        newlines = m.group().count("\n")
        if newlines:
            line += newlines
            line_start = pos + m.group().rindex("\n") + 1
        pos = m.end()
    out.append(Token("end", "", line, pos - line_start + 1))
    return out


def _unescape(body: str, where: str, line: int, col: int) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1) not in ('"', "\\"):
            raise SegmentError(
                f"unknown escape '\\{m.group(1)}' in a string (only \\\" and \\\\)",
                where,
                line,
                col,
            )
        return m.group(1)

    return _ESCAPE.sub(one, body)


def quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Value:
    kind: str  # string | number | date | ago
    text: str  # a string's value; a number, date or "30 days ago" as normalised
    number: float = 0.0  # a number; the count of units ago
    unit: str = ""  # hours | days | weeks | minutes, for `ago`

    def __str__(self) -> str:
        return quoted(self.text) if self.kind == "string" else self.text


@dataclass(frozen=True)
class Field:
    name: str  # email | domain | name | source | subscribed_at | attributes
    attribute: str = ""  # for attributes.NAME

    def __str__(self) -> str:
        return f"attributes.{self.attribute}" if self.name == "attributes" else self.name


@dataclass(frozen=True)
class Comparison:
    field: Field
    op: str  # = != < <= > >= in, not in, contains, starts with, ends with, is set, is not set
    values: tuple[Value, ...] = ()
    at: tuple[int, int] = dataclass_field(default=(0, 0), compare=False)

    def __str__(self) -> str:
        if self.op in ("is set", "is not set"):
            return f"{self.field} {self.op}"
        if self.op in ("in", "not in"):
            return f"{self.field} {self.op} [{', '.join(map(str, self.values))}]"
        return f"{self.field} {self.op} {self.values[0]}"


@dataclass(frozen=True)
class Engagement:
    verb: str  # opened | clicked | bounced | received
    issue: str | None = None
    last: int | None = None  # in last N sends
    since: Value | None = None
    at: tuple[int, int] = dataclass_field(default=(0, 0), compare=False)

    def __str__(self) -> str:
        parts = [self.verb]
        if self.issue is not None:
            parts.append(
                quoted(self.issue) if self.verb == "received" else "issue " + quoted(self.issue)
            )
        if self.last is not None:
            parts.append(f"in last {self.last} sends")
        if self.since is not None:
            parts.append(f"since {self.since}")
        return " ".join(parts)


@dataclass(frozen=True)
class Not:
    inner: Node

    def __str__(self) -> str:
        return f"not {_wrapped(self.inner, (And, Or))}"


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " and ".join(_wrapped(i, (Or,)) for i in self.items)


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]

    def __str__(self) -> str:
        return " or ".join(str(i) for i in self.items)


Node = Union[Comparison, Engagement, Not, And, Or]  # noqa: UP007 (a runtime alias)


def _wrapped(node: Node, loose: tuple[type, ...]) -> str:
    return f"({node})" if isinstance(node, loose) else str(node)


def walk(node: Node) -> list[Node]:
    """The node and every node under it."""
    if isinstance(node, Not):
        return [node, *walk(node.inner)]
    if isinstance(node, And | Or):
        return [node, *(n for item in node.items for n in walk(item))]
    return [node]
