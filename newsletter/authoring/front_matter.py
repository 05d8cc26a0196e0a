"""The YAML front matter of an issue file, read with line numbers (file line 2 onwards).

Values are taken from the YAML node tree (not `safe_load`), so every key keeps its line and
dates stay under our control (a naive `send_at` is an error, not silently UTC).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING

from newsletter.authoring import ab_front
from newsletter.authoring.send_time import parse_send_at
from newsletter.errors import did_you_mean
from newsletter.safe_text import one_line

if TYPE_CHECKING:
    import yaml
    from yaml import MarkedYAMLError

FRONT_MATTER_KEYS = (
    "title",
    "subject",
    "preheader",
    "date",
    "lists",
    "send_at",
    "language",  # the issue's language (a code like fr or pt-BR), before its lists' (`i18n`)
    "segment",  # a segment expression applied to every list (audience.segments)
    "track_clicks",  # per-issue tracking switches (true/false): see newsletter/tracking
    "track_opens",
    "archive",  # false: never in the web archive (true by default)
    "subjects",  # a subject-line test: the variants, A first (`ab_front`)
    "preheaders",
    "ab_test",
)
SWITCHES = ("track_clicks", "track_opens", "archive")
_YES, _NO = ("true", "yes", "on"), ("false", "no", "off")

Report = Callable[[int, str], None]

_UNCLOSED_QUOTE = "while scanning a quoted scalar"  # PyYAML's context for a missing end quote


def parse_front_matter(
    lines: list[str], error: Report, extra_keys: tuple[str, ...] = ()
) -> dict[str, tuple[object, int]] | None:
    """{key: (value, line)} from the YAML between the '---' lines (file line 2 onwards).

    `extra_keys` are allowed besides FRONT_MATTER_KEYS (a sequence step's `after`); their
    value is the scalar as written (None for a list or mapping), for the caller to judge.
    """
    import yaml

    text = "\n".join(_named_segment_quoted(line) for line in lines)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        line, message = _yaml_error(exc)
        error(line, message)
        return None
    except yaml.reader.ReaderError as exc:  # a character YAML refuses (a control character)
        error(
            text[: exc.position].count("\n") + 2,
            f"front matter holds a control character (U+{exc.character:04X}) that YAML "
            "refuses: remove it",
        )
        return None
    except yaml.YAMLError as exc:
        error(2, f"front matter is not valid YAML ({one_line(str(exc))})")
        return None
    if root is None:
        error(1, "missing required key 'title': add 'title: ...' to the front matter")
        return None
    if not isinstance(root, yaml.MappingNode):
        error(root.start_mark.line + 2, "front matter must be 'key: value' lines")
        return None

    meta = _read_keys(root, FRONT_MATTER_KEYS + extra_keys, extra_keys, error)
    if "title" not in meta:
        error(1, "missing required key 'title': add 'title: ...' to the front matter")
    elif meta["title"][0] == "":
        error(meta["title"][1], "'title' is empty: write the issue's title after it")
    return meta


def _read_keys(
    root: yaml.MappingNode, allowed: tuple[str, ...], extra_keys: tuple[str, ...], error: Report
) -> dict[str, tuple[object, int]]:
    """{key: (value, line)} of the front matter's mapping; unknown and repeated keys are
    reported and left out."""
    import yaml

    meta: dict[str, tuple[object, int]] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 2
        key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
        if key not in allowed:
            error(
                line,
                f"unknown key '{key}'{did_you_mean(key, allowed)}; "
                f"valid keys: {', '.join(allowed)}",
            )
            continue
        if key in meta:
            error(line, f"duplicate key '{key}' (first on line {meta[key][1]}): keep one")
            continue
        if key in extra_keys:
            meta[key] = (_scalar(value_node), line)
            continue
        value = _front_value(key, value_node, line, error)
        meta[key] = (value, line)
    return meta


def _named_segment_quoted(line: str) -> str:
    """`segment: @engaged` as written in the issue (YAML reserves a leading `@`): quoted."""
    key, colon, value = line.partition(":")
    if key == "segment" and colon and value.strip().startswith("@"):
        return "segment: '" + value.strip().replace("'", "''") + "'"
    return line


def _yaml_error(exc: MarkedYAMLError) -> tuple[int, str]:
    """(file line, message) for a YAML syntax error, with a fix where we know one."""
    start = exc.context_mark
    if exc.context == _UNCLOSED_QUOTE and start is not None:
        # PyYAML only notices a missing closing quote at the end of the front matter (its
        # problem_mark); context_mark is where the quoted value starts, which is what to fix.
        quote = start.buffer[start.pointer] if start.buffer else '"'
        return start.line + 2, (
            f"front matter is not valid YAML (the {quote} that starts this value is never "
            f"closed): close the quote at the end of the value, or remove it"
        )
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 2 if mark else 2
    hint = ""
    if "mapping values are not allowed" in str(exc.problem):
        hint = ": put a value that contains ': ' in quotes"
    elif "found character '\\t'" in str(exc.problem):
        hint = ": indent with spaces, not tabs"
    elif mark is not None and mark.buffer and "{{" in mark.buffer.split("\n")[mark.line]:
        hint = ": put a value that holds {{ ... }} in quotes"
    return line, f"front matter is not valid YAML ({exc.problem}){hint}"


def _is_slug(name: str) -> bool:
    return bool(name) and name == name.lower() and name.replace("-", "").replace("_", "").isalnum()


def _scalar(node: object) -> str | None:
    import yaml

    if not isinstance(node, yaml.ScalarNode):
        return None
    return "" if node.tag.endswith(":null") and node.value in ("", "~", "null") else node.value


def _front_value(key: str, node: object, line: int, error: Report) -> object:
    import yaml

    if key in ("subjects", "preheaders"):
        return ab_front.variant_list(key, node, line, error)
    if key == "ab_test":
        return ab_front.ab_settings(node, line, error)
    if key == "lists":
        if isinstance(node, yaml.SequenceNode):
            items = [_scalar(item) for item in node.value]
        else:
            single = _scalar(node)
            items = [single] if single else [] if single == "" else [None]
        names: list[str] = []
        for item in items:
            if item is None or not _is_slug(item.strip()):
                error(
                    line,
                    f"'lists' takes list slugs (lower-case letters, digits, '-' "
                    f"or '_') like [newsletter, asia-weekly], got {item!r}",
                )
            else:
                names.append(item.strip())
        return names
    text = _scalar(node)
    if text is None:
        quote = ""
        if isinstance(node, yaml.MappingNode) and node.flow_style:  # `subject: {{ x }} ...`
            quote = f" (put a value that starts with '{{{{' in quotes: {key}: '{{{{ ... }}}} ...')"
        error(line, f"'{key}' must be a single value, not a list or mapping{quote}")
        return None
    text = text.strip()
    if key == "date" and text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            error(line, f"date '{text}' is not a date: write it as YYYY-MM-DD")
            return None
    if key == "send_at" and text:
        return _send_at(text, line, error)
    if key in SWITCHES:
        return _switch(key, text, line, error)
    if key == "language":
        return _language(text, line, error)
    if key in ("date", "send_at"):
        return None
    return one_line(text) if key in ("title", "subject", "preheader") else text


def _switch(key: str, text: str, line: int, error: Report) -> bool | None:
    if text.lower() in _YES or text.lower() in _NO:
        return text.lower() in _YES
    error(line, f"'{key}' is true or false, got {text!r}")
    return None


def _language(text: str, line: int, error: Report) -> str:
    from newsletter.i18n import normalise

    code = normalise(text)
    if code is None:
        error(line, f"'language' {one_line(text, 40)!r} is not a language: write a code like fr")
        return ""
    return code


def _send_at(text: str, line: int, error: Report) -> datetime | None:
    when = parse_send_at(text)
    if isinstance(when, str):
        error(line, when)
        return None
    return when
