"""The shipped catalogues, read for the tests: every message the sources hold (as
`pybabel extract -F babel.cfg` finds them), what is wrong with one catalogue, and the English
words of the catalogue left in a rendered page or mail."""

from __future__ import annotations

import html
import re
from functools import lru_cache
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]

# The allow-list: words of a message that are the same in a language (not left untranslated).
SAME_WORDS = {"de": {"Name", "HTTP"}, "es": {"HTTP"}, "fr": {"HTTP"}, "vi": {"HTTP"}}


@lru_cache(maxsize=1)
def wanted_messages() -> frozenset[str | tuple[str, str]]:
    """Every message `pybabel extract -F babel.cfg` finds: templates and Python views."""
    method_map = [("newsletter/**.py", "python"), ("templates/**.j2", "jinja2")]
    options = {"templates/**.j2": {"trimmed": "true", "encoding": "utf-8"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords={"_": None, "N_": None, "ngettext": (1, 2)}
    ):
        found.add(message if isinstance(message, str) else tuple(message[:2]))
    return frozenset(found)


def catalogue_problems(po: Path, wanted: frozenset) -> list[str]:
    """What is wrong with one catalogue: missing, fuzzy, empty, or placeholders changed."""
    catalog = read_po(po.open("rb"))
    have = {m.id if isinstance(m.id, str) else tuple(m.id[:2]): m for m in catalog if m.id}
    problems = [f"missing: {w!r}" for w in sorted(wanted - set(have), key=str)]
    for key, m in have.items():
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        if m.fuzzy:
            problems.append(f"fuzzy: {key!r}")
        if not all(s.strip() for s in strings):
            problems.append(f"empty: {key!r}")
        problems += [f"{key!r}: {error}" for error in m.check(catalog)]  # placeholders kept
    return problems


def _fragments(message: str | tuple[str, str]) -> list[str]:
    """The English words of a message between its placeholders and tags."""
    texts = [message] if isinstance(message, str) else list(message)
    out = []
    for text in texts:
        for part in re.split(r"%\(\w+\)s|<[^>]+>", text):
            part = part.strip(" ,.:;()?!-")
            if re.search(r"[A-Za-z]{2}", part):
                out.append(part)
    return out


def english_left(lang: str, output: str, own_text: str = "") -> list[str]:
    """Catalogue fragments found in `output` as whole words, but for the allow-list and what
    the page quotes from its own content (`own_text`: the issue, the list's name)."""
    text = html.unescape(re.sub(r"<[^>]+>", " ", output))
    text = re.sub(r"\s+", " ", text)
    left = set()
    for message in wanted_messages():
        for fragment in _fragments(message):
            if fragment in SAME_WORDS.get(lang, ()) or fragment in own_text:
                continue
            if re.search(rf"(?<!\w){re.escape(fragment)}(?!\w)", text):
                left.add(fragment)
    return sorted(left)
