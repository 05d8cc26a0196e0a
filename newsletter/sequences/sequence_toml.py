"""`sequences/<name>/sequence.toml`: which lists a sequence follows and who joins it.

Keys: `lists` (required: a non-empty list of list slugs), `join` (`"new"`, the default, or
`"everyone"`) and `stop_on_unsubscribe` (default true). Anything else, and a value of the wrong
type, is a problem naming the file and, where the key is found, its line.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import Problem, did_you_mean

FILE_NAME = "sequence.toml"
KEYS = ("lists", "join", "stop_on_unsubscribe")
JOIN_CHOICES = ("new", "everyone")
MAX_BYTES = 100_000  # a few lines of settings; anything bigger is not one

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


@dataclass(frozen=True)
class SequenceSettings:
    lists: tuple[str, ...]
    join: str = "new"
    stop_on_unsubscribe: bool = True


def read_sequence_toml(path: Path) -> tuple[SequenceSettings | None, list[Problem]]:
    """(settings, problems) of one `sequence.toml`; the settings are None on any error."""
    text, problem = _text(path)
    if problem is not None:
        return None, [problem]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        message = _TOML_LINE.sub("", str(exc)).strip()
        line = int(found.group(1)) if found else 0
        return None, [Problem(str(path), line, f"not valid TOML ({message})")]
    problems = [
        Problem(
            str(path),
            key_line(text, key),
            f"unknown key '{key}'{did_you_mean(key, KEYS)}; valid keys: {', '.join(KEYS)}",
        )
        for key in data
        if key not in KEYS
    ]
    lists = _lists(data, text, path, problems)
    join = data.get("join", "new")
    if join not in JOIN_CHOICES:
        problems.append(
            Problem(
                str(path),
                key_line(text, "join"),
                f'\'join\' is "new" (readers who subscribe from now on) or "everyone" '
                f"(current members too), got {join!r}",
            )
        )
    stop = data.get("stop_on_unsubscribe", True)
    if not isinstance(stop, bool):
        problems.append(
            Problem(
                str(path),
                key_line(text, "stop_on_unsubscribe"),
                f"'stop_on_unsubscribe' is true or false (no quotes), got {stop!r}",
            )
        )
    if problems:
        return None, problems
    return SequenceSettings(tuple(lists), str(join), bool(stop)), []


def _text(path: Path) -> tuple[str, Problem | None]:
    """The file's text, or the one problem that stops it being read."""
    where = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return "", Problem(
            where, 0, f"missing: every sequence folder needs a {FILE_NAME} (lists = [...])"
        )
    except OSError as exc:
        return "", Problem(where, 0, f"cannot read the file: {exc.strerror}")
    if len(data) > MAX_BYTES:
        return "", Problem(where, 0, f"over {MAX_BYTES:,} bytes: this is not a {FILE_NAME}")
    try:
        return data.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return "", Problem(where, line, "not valid UTF-8: save the file as UTF-8")


def _lists(data: dict[str, object], text: str, path: Path, problems: list[Problem]) -> list[str]:
    """The `lists` value, checked: a non-empty array of distinct list slugs."""
    line = key_line(text, "lists")
    if "lists" not in data:
        problems.append(
            Problem(str(path), 0, "missing 'lists': add lists = [\"newsletter\"] (list slugs)")
        )
        return []
    value = data["lists"]
    fix = 'write it as lists = ["newsletter"]: list slugs (lower-case letters, digits, - or _)'
    if not isinstance(value, list) or not value:
        problems.append(Problem(str(path), line, f"'lists' must be a non-empty array: {fix}"))
        return []
    bad = [item for item in value if not isinstance(item, str) or not _SLUG.match(item)]
    if bad:
        problems.append(Problem(str(path), line, f"'lists' holds {bad[0]!r}: {fix}"))
        return []
    if len(set(value)) != len(value):
        problems.append(Problem(str(path), line, "'lists' names a list twice: keep one"))
    return list(value)


def key_line(text: str, key: str) -> int:
    """The line where `key = ...` (or a `[key]` table) is written; 0 when not found."""
    name = re.escape(key)
    pattern = re.compile(rf"^\s*(?:{name}|\"{name}\"|\[{name}\])\s*(?:=|$)")
    for number, line in enumerate(text.splitlines(), 1):
        if pattern.match(line):
            return number
    return 0
