"""Per-reader values: what a template or an issue's Markdown says about each reader, kept as a
placeholder until the message is made for that reader.

Jinja renders an issue once per send, so a reader's first name cannot be a Jinja value. A
template writes `{{ reader("first_name", "there") }}`, which emits a placeholder; issue
Markdown (and the subject) may write `{{ first_name | default("there") }}`, which is parsed
into the same placeholder. Per recipient, `placeholders.values_for` fills each one, in the
single substitution pass, escaped for where it lands.

A placeholder carries everything it needs, so a stored send can be resumed anywhere:
`__NL_R_<field>__<fallback as UTF-8 hex>__`. Only ASCII letters, digits and `_`: MJML,
premailer and URL quoting leave it alone. `name` and `email` are the subscriber's own; any
other field is one of the subscriber's attributes (CSV columns kept on import).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache

from newsletter.errors import RenderError

FIELD_MAX = 64
FALLBACK_MAX = 100  # characters of a fallback ("there")
VALUE_MAX = 200  # characters of a reader's value: SendGrid takes 10,000 bytes per reader
_FIELD = r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*"
FIELD_RE = re.compile(_FIELD + r"\Z")
PATTERN = rf"__NL_R_{_FIELD}__(?:[0-9a-f][0-9a-f])*__"  # no capture groups: used in re.split
_PARTS = re.compile(rf"__NL_R_({_FIELD})__((?:[0-9a-f][0-9a-f])*)__\Z")
OWN_FIELDS = ("name", "email")  # the subscriber's own columns; any other is an attribute

# `{{ first_name }}` or `{{ first_name | default("there") }}` in issue Markdown and subjects.
EXPRESSION = re.compile(r"\{\{(.*?)\}\}")
_EXPRESSION_BODY = re.compile(
    r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*"""
    r"""(?:\|\s*default\s*\(\s*(?:"([^"\\{}]*)"|'([^'\\{}]*)')\s*\)\s*)?\Z"""
)
_SHAPE = 'write {{ first_name }} or {{ first_name | default("there") }}'


def reader(field: str, fallback: str = "") -> str:
    """The placeholder of one reader's `field` (`fallback` when they have none): the Jinja
    function `reader` of the email templates."""
    if not isinstance(field, str) or not FIELD_RE.match(field) or len(field) > FIELD_MAX:
        raise RenderError(
            f"reader({field!r}): a field is lower-case letters, digits and single '_' "
            "(like first_name), at most 64 characters"
        )
    fallback = str(fallback)
    if len(fallback) > FALLBACK_MAX:
        raise RenderError(f"reader({field!r}, ...): the fallback is over {FALLBACK_MAX} characters")
    return f"__NL_R_{field}__{fallback.encode().hex()}__"


@lru_cache(maxsize=256)
def parts(placeholder: str) -> tuple[str, str]:
    """(field, fallback) of a reader placeholder."""
    match = _PARTS.match(placeholder)
    if match is None:
        raise ValueError(f"not a reader placeholder: {placeholder!r}")
    return match[1], bytes.fromhex(match[2]).decode("utf-8", "replace")


def fields_in(*texts: str) -> set[str]:
    """The fields that the reader placeholders of `texts` read."""
    return {parts(p)[0] for text in texts for p in re.findall(PATTERN, text)}


def value(placeholder: str, name: str, email: str, attributes: Mapping[str, object]) -> str:
    """One reader's raw value for `placeholder` (escape it for its context before use): their
    field stripped and capped at VALUE_MAX characters, or the fallback when it is empty."""
    field, fallback = parts(placeholder)
    if field == "name":
        found: object = name
    elif field == "email":
        found = email
    else:
        found = attributes.get(field)
    text = "" if found is None or isinstance(found, (dict, list)) else str(found).strip()
    return text[:VALUE_MAX] or fallback


def with_fallbacks(text: str, escape: Callable[[str], str]) -> str:
    """`text` with each reader placeholder replaced by its escaped fallback: the web page and
    the archive, read by everyone, show no one's values."""
    if "__NL_R_" not in text:
        return text
    return re.sub(PATTERN, lambda m: escape(parts(m[0])[1]), text)


def expression_problem(body: str) -> str | None:
    """Why `{{ body }}` is not a reader value (None when it is one)."""
    match = _EXPRESSION_BODY.match(body)
    if match is None:
        return f"'{{{{{body}}}}}' is not a reader value: {_SHAPE}"
    field, fallback = match[1], match[2] if match[2] is not None else match[3] or ""
    if not FIELD_RE.match(field) or len(field) > FIELD_MAX:
        return (
            f"'{field}' is not a field name: use lower-case letters, digits and single '_' "
            f"(like first_name); {_SHAPE}"
        )
    if len(fallback) > FALLBACK_MAX:
        return f"the fallback of '{field}' is over {FALLBACK_MAX} characters: shorten it"
    return None


def _placeholder_of(body: str) -> str:
    match = _EXPRESSION_BODY.match(body)
    assert match is not None
    fallback = match[2] if match[2] is not None else match[3] or ""
    return reader(match[1], fallback)


def to_placeholders(text: str) -> str:
    """Every valid `{{ field | default("...") }}` of `text` as its placeholder (others are
    left as written: `check` reports them)."""
    if "{{" not in text:
        return text
    return EXPRESSION.sub(
        lambda m: m[0] if expression_problem(m[1]) else _placeholder_of(m[1]), text
    )


_MARK_OPEN, _MARK_CLOSE = "\ue000", "\ue001"  # private-use characters: Markdown leaves them


def mark(markdown: str) -> tuple[str, list[str]]:
    """Markdown with each valid expression swapped for a short private-use mark, and the
    placeholders in mark order (a placeholder's `__` would read as Markdown emphasis)."""
    found: list[str] = []

    def swap(m: re.Match[str]) -> str:
        if expression_problem(m[1]):
            return m[0]
        found.append(_placeholder_of(m[1]))
        return f"{_MARK_OPEN}{len(found) - 1}{_MARK_CLOSE}"

    return (EXPRESSION.sub(swap, markdown) if "{{" in markdown else markdown), found


def unmark(rendered: str, found: list[str]) -> str:
    """The output of Markdown with its marks turned into their placeholders."""
    if not found:
        return rendered
    return re.sub(f"{_MARK_OPEN}([0-9]+){_MARK_CLOSE}", lambda m: found[int(m[1])], rendered)


def check_expressions(text: str, first_line: int, error: Callable[[int, str], None]) -> None:
    """Report every `{{ ... }}` of `text` (starting at file line `first_line`) that is not a
    reader value."""
    if "{{" not in text:
        return
    for match in EXPRESSION.finditer(text):
        problem = expression_problem(match[1])
        if problem:
            error(first_line + text.count("\n", 0, match.start()), problem)
