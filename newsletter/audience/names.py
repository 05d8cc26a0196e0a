"""Subscribers' names as stored: one clean line, whoever typed them (a form, a CSV file, an
operator), since a name goes into the To: header and the greeting of every issue."""

from __future__ import annotations

import re

NAME_MAX = 200  # characters (the column's size)
# Control characters (NUL, CR, LF...), line and paragraph separators, and the bidirectional
# overrides that make a name display as something else: none belongs in a name or a header.
_NOT_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")


def one_line(raw: str) -> str:
    """`raw` as one line: no controls, no bidirectional overrides, blanks collapsed."""
    return " ".join(_NOT_IN_NAMES.sub(" ", raw).split())


def clean_name(raw: str) -> str:
    """A name as stored: one line, cut at NAME_MAX characters (the form and the CLI; an import
    rejects a longer name by its line instead)."""
    return one_line(raw)[:NAME_MAX].strip()
