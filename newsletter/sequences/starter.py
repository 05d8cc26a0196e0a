"""`newsletter new --sequence NAME`: a complete welcome sequence to edit, from the files in
`starter/` (the README's example is the same text): `sequence.toml` for the configured default
list, `01-welcome.md` (`after: 0h`) and `02-tips.md` (`after: 2d`)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

from newsletter.errors import NewsletterError
from newsletter.sequences.files import MAX_NAME, NAME_PATTERN
from newsletter.sequences.sequence_toml import FILE_NAME

STARTER_FILES = (FILE_NAME, "01-welcome.md", "02-tips.md")
_LISTS_LINE = 'lists = ["newsletter"]'


def starter_text(name: str, default_list: str) -> str:
    """The text of one starter file, its `lists` set to `default_list`."""
    text = resources.files("newsletter.sequences").joinpath("starter", name).read_text("utf-8")
    if name == FILE_NAME:
        lists = "lists = " + json.dumps([default_list])
        text = text.replace(_LISTS_LINE, lists + " " * max(0, len(_LISTS_LINE) - len(lists)))
    return text


def write_starter(sequences_dir: str | Path, name: str, default_list: str) -> list[Path]:
    """Write the starter sequence `name` in `sequences_dir`; the paths written.

    Refuses a bad name, and writes nothing when any of its files exists already."""
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME:
        raise NewsletterError(
            f"--sequence {name!r}: a sequence's name is letters, digits, '-' and '_' "
            f"(at most {MAX_NAME}), e.g. welcome"
        )
    folder = Path(sequences_dir) / name
    paths = [folder / file for file in STARTER_FILES]
    existing = [p for p in paths if p.exists()]
    if existing:
        raise NewsletterError(
            f"{existing[0]} already exists: edit the sequence, or choose another name"
        )
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for path in paths:
            with path.open("x", encoding="utf-8", newline="\n") as handle:
                written.append(path)
                handle.write(starter_text(path.name, default_list))
    except OSError as exc:
        for path in written:  # no half-written sequence left behind
            path.unlink(missing_ok=True)
        raise NewsletterError(f"{folder}: cannot write the sequence: {exc.strerror}") from None
    return paths
