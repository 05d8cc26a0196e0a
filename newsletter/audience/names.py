"""Subscribers' names as stored: one clean line, whoever typed them (a form, a CSV file, an
operator), since a name goes into the To: header and the greeting of every issue."""

from __future__ import annotations

from newsletter.safe_text import one_line

NAME_MAX = 200  # characters (the column's size)


def clean_name(raw: str) -> str:
    """A name as stored: `one_line`, cut at NAME_MAX characters (the form and the CLI; an import
    rejects a longer name by its line instead)."""
    return one_line(raw, NAME_MAX)
