"""Reading a segment expression: a recursive-descent parser over `segment_syntax`'s tokens.
`or` binds loosest, then `and`, then `not`; keywords and field names ignore case. Named
segments (`@engaged`, from segments.toml) are read in place. Each field's values are checked
here, where the error can point at them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from newsletter.audience.segment_syntax import (
    And,
    Comparison,
    Engagement,
    Field,
    Node,
    Not,
    Or,
    SegmentError,
    Token,
    Value,
    tokens,
)
from newsletter.errors import did_you_mean

FIELDS = ("email", "domain", "name", "source", "subscribed_at", "attributes")
TEXT_FIELDS = ("email", "domain", "name", "source")
PREDICATES = ("opened", "clicked", "bounced", "received")
UNITS = {"minute": "minutes", "hour": "hours", "day": "days", "week": "weeks"}
_ORDER = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("contains", "starts with", "ends with")
_EXAMPLE = {
    "email": '"ann@example.com"',
    "domain": '"example.com"',
    "name": '"Ann"',
    "source": '"import:people.csv"',
    "subscribed_at": "30 days ago",
}


def parse(source: str, *, where: str = "segment", named: Mapping[str, str] | None = None) -> Node:
    """The expression's tree; SegmentError (one line, with line and column) if it is not one."""
    return _Parser(source, where, dict(named or {}), ()).expression()


class _Parser:
    def __init__(self, source: str, where: str, named: dict[str, str], using: tuple[str, ...]):
        self.toks = tokens(source, where)
        self.i = 0
        self.where = where
        self.named = named
        self.using = using  # the named segments being read (a cycle is an error)

    # --- helpers -----------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def take(self) -> Token:
        tok = self.toks[self.i]
        self.i = min(self.i + 1, len(self.toks) - 1)
        return tok

    def error(self, message: str, tok: Token | None = None) -> SegmentError:
        tok = tok or self.tok
        return SegmentError(message, self.where, tok.line, tok.col)

    def accept(self, *words: str) -> bool:
        """Take the next tokens if they are these words (in order)."""
        for k, word in enumerate(words):
            tok = self.toks[min(self.i + k, len(self.toks) - 1)]
            if tok.word != word:
                return False
        self.i += len(words)
        return True

    def expect_word(self, word: str, after: str) -> None:
        if not self.accept(word):
            raise self.error(f"expected '{word}' after '{after}'")

    # --- expressions ---------------------------------------------------------------------
    def expression(self) -> Node:
        if self.tok.kind == "end":
            raise self.error('empty expression (example: attributes.city = "Oslo")')
        node = self.disjunction()
        if self.tok.kind != "end":
            shown = self.tok.text if self.tok.kind != "string" else '"' + self.tok.text + '"'
            raise self.error(f"unexpected '{shown}': expected 'and', 'or' or the end")
        return node

    def disjunction(self) -> Node:
        items = [self.conjunction()]
        while self.accept("or"):
            items.append(self.conjunction())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def conjunction(self) -> Node:
        items = [self.unary()]
        while self.accept("and"):
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self) -> Node:
        if self.accept("not"):
            return Not(self.unary())
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "punct" and tok.text == "(":
            self.take()
            node = self.disjunction()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.error("expected ')' to close the '(' at column " + str(tok.col))
            self.take()
            return node
        if tok.kind == "named":
            return self.named_segment(self.take())
        if tok.word in PREDICATES:
            return self.engagement(self.take())
        if tok.kind == "word":
            return self.comparison(self.field(self.take()), tok)
        if tok.kind == "end":
            raise self.error("expected a condition at the end (example: clicked in last 3 sends)")
        raise self.error(f"expected a field or a condition, not '{tok.text}'")

    def named_segment(self, tok: Token) -> Node:
        name = tok.text[1:]
        if name not in self.named:
            known = did_you_mean(name, self.named)
            raise self.error(f"unknown named segment '@{name}'{known} (see segments.toml)", tok)
        if name in self.using:
            raise self.error(f"segment '@{name}' refers to itself", tok)
        inner = _Parser(self.named[name], f"segments.toml: {name}", self.named, (*self.using, name))
        return inner.expression()

    def field(self, tok: Token) -> Field:
        head, dot, attribute = tok.text.partition(".")
        if head.lower() == "attributes" and dot:
            if not attribute:
                raise self.error("expected an attribute name after 'attributes.'", tok)
            return Field("attributes", attribute)
        if dot or head.lower() not in FIELDS or head.lower() == "attributes":
            hint = did_you_mean(tok.text, [*FIELDS[:-1], "attributes.NAME", *PREDICATES])
            raise self.error(f"unknown field '{tok.text}'{hint}", tok)
        return Field(head.lower())

    # --- comparisons ---------------------------------------------------------------------
    def comparison(self, fld: Field, start: Token) -> Comparison:
        at = (start.line, start.col)
        op = self.operator(fld)
        if op in ("is set", "is not set"):
            return Comparison(fld, op, (), at)
        if op in ("in", "not in"):
            return Comparison(fld, op, self.value_list(fld, op), at)
        value = self.value(fld, op)
        return Comparison(fld, op, (value,), at)

    def operator(self, fld: Field) -> str:
        tok = self.tok
        if tok.kind == "op":
            self.take()
            return tok.text
        for words in (("is", "not", "set"), ("is", "set"), ("not", "in"), ("in",), ("contains",),
                      ("starts", "with"), ("ends", "with")):  # fmt: skip
            if self.accept(*words):
                return " ".join(words)
        raise self.error(
            f"expected a comparison after '{fld}' (=, !=, <, >, in, contains, is set...; "
            f"example: {_example(fld, '=')})"
        )

    def value_list(self, fld: Field, op: str) -> tuple[Value, ...]:
        if not (self.tok.kind == "punct" and self.tok.text == "["):
            raise self.error(f"expected a list after '{op}' (example: {_example(fld, op)})")
        self.take()
        values: list[Value] = []
        while not (self.tok.kind == "punct" and self.tok.text == "]"):
            if values:
                if not (self.tok.kind == "punct" and self.tok.text == ","):
                    raise self.error("expected ',' or ']' in the list")
                self.take()
            values.append(self.value(fld, op))
        self.take()
        if len({v.kind for v in values}) > 1:
            raise self.error(f"the list after '{op}' mixes text and numbers: quote them all")
        return tuple(values)

    def value(self, fld: Field, op: str) -> Value:
        tok = self.tok
        example = f"(example: {_example(fld, op)})"
        if tok.kind == "string":
            value = Value("string", self.take().text)
        elif tok.kind == "date":
            value = Value("date", self.take().text)
        elif tok.kind == "number":
            value = self.number_or_ago(self.take())
        else:
            raise self.error(f"expected a value after '{op}' {example}")
        _check_type(self, fld, op, value, tok, example)
        return value

    def number_or_ago(self, tok: Token) -> Value:
        unit = self.tok.word
        plural = UNITS.get(unit) or (unit if unit in UNITS.values() else "")
        if not plural:
            return Value("number", tok.text, float(tok.text))
        self.take()
        self.expect_word("ago", f"{tok.text} {unit}")
        if "." in tok.text or tok.text.startswith("-"):
            raise self.error("a relative time counts whole units (example: 30 days ago)", tok)
        return Value("ago", f"{int(tok.text)} {plural} ago", float(int(tok.text)), plural)

    # --- engagement ----------------------------------------------------------------------
    def engagement(self, tok: Token) -> Engagement:
        verb, at = tok.word, (tok.line, tok.col)
        if verb == "received":
            if self.tok.kind != "string":
                raise self.error(
                    "expected an issue id after 'received' "
                    '(example: received "2019-03-01-hanoi-summit")'
                )
            return Engagement(verb, self.take().text, at=at)
        if verb == "bounced":
            return Engagement(verb, at=at)
        issue: str | None = None
        last: int | None = None
        since: Value | None = None
        while True:
            if self.accept("issue"):
                if issue is not None or self.tok.kind != "string":
                    raise self.error(
                        f"expected one issue id after 'issue' (example: {verb} issue \"ISSUE-ID\")"
                    )
                issue = self.take().text
            elif self.accept("in", "last"):
                if last is not None or self.tok.kind != "number" or not self.tok.text.isdigit():
                    raise self.error(
                        f"expected a count after 'in last' (example: {verb} in last 3 sends)"
                    )
                last = int(self.take().text)
                self.expect_word("sends", f"in last {last}")
                if last < 1:
                    raise self.error("'in last N sends' needs N of at least 1")
            elif self.accept("since"):
                if since is not None:
                    raise self.error(f"'since' given twice after '{verb}'")
                since = self.value(Field("subscribed_at"), "since")
            else:
                return Engagement(verb, issue, last, since, at)


def _example(fld: Field, op: str) -> str:
    if op in ("in", "not in"):
        value = '["Oslo", "Bergen"]' if fld.name == "attributes" else f"[{_EXAMPLE[fld.name]}]"
    elif fld.name == "attributes":
        value = "30" if op in _ORDER[2:] else '"Oslo"'
    elif op == "since":
        value = "30 days ago"
    else:
        value = _EXAMPLE[fld.name]
    return f"{fld} {op} {value}"


def _check_type(
    parser: _Parser, fld: Field, op: str, value: Value, tok: Token, example: str
) -> None:
    """Each field takes the values it can be compared with."""
    kinds = {value.kind}
    if fld.name == "subscribed_at":
        if not kinds <= {"date", "ago"} or op in _TEXT_OPS:
            raise parser.error(f"'{fld}' compares with a date or a relative time {example}", tok)
        if op in ("in", "not in"):
            raise parser.error(f"compare '{fld}' with =, !=, <, <=, > or >= {example}", tok)
        if value.kind == "date":
            _check_date(parser, value, tok)
        if value.kind == "ago" and op in ("=", "!="):
            raise parser.error(f"use <, <=, > or >= with a relative time {example}", tok)
    elif fld.name in TEXT_FIELDS and value.kind != "string":
        raise parser.error(f"'{fld}' compares with quoted text {example}", tok)
    elif fld.name == "attributes":
        if value.kind == "ago":
            raise parser.error(f"an attribute compares with text or a number {example}", tok)
        if op in _TEXT_OPS and value.kind != "string":
            raise parser.error(f"'{op}' takes quoted text {example}", tok)


def _check_date(parser: _Parser, value: Value, tok: Token) -> None:
    try:
        date.fromisoformat(value.text)
    except ValueError:
        raise parser.error(f"'{value.text}' is not a date (YYYY-MM-DD)", tok) from None
