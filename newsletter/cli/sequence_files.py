"""The sequences' part of `new` and `check` (`issue_cmds`): which folders `check` reads as
sequences, their problems, the lists their `sequence.toml` names, and `new --sequence NAME`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from newsletter.errors import Problem

if TYPE_CHECKING:
    from newsletter.config import Settings

TOML = "sequence.toml"  # sequences.sequence_toml.FILE_NAME, without importing it for `new`


def default_sequences(settings: Settings) -> list[Path]:
    """Every sequence folder of `sequences_dir` (none when it is missing)."""
    from newsletter.sequences.files import sequence_folders

    folder = Path(settings.sequences_dir)
    return sequence_folders(folder) if folder.is_dir() else []


def split_names(files: tuple[str, ...], settings: Settings) -> tuple[tuple[str, ...], list[Path]]:
    """(the names that are issues, the sequence folders named): `sequences_dir` itself, a
    sequence folder, or a file inside one (its whole sequence is checked: the order of
    `after:` is a rule between its files)."""
    rest: list[str] = []
    found: list[Path] = []
    root = Path(settings.sequences_dir)
    for name in files:
        path = Path(name)
        if path.is_dir() and root.is_dir() and path.resolve() == root.resolve():
            found += default_sequences(settings)
        elif path.is_dir() and (path / TOML).is_file():
            found.append(path)
        elif path.is_file() and (path.parent / TOML).is_file():
            found.append(path.parent)
        else:
            rest.append(name)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return tuple(rest), [_shown(p) for p in unique]


def _shown(path: Path) -> Path:
    """`path` relative to the working directory when it is below it (as problems name it)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def sequence_problems(folders: list[Path], settings: Settings) -> tuple[list[Problem], int]:
    """(every problem of these sequence folders, the number of files read)."""
    from newsletter.sequences.files import read_sequence, step_files
    from newsletter.sequences.lint import sequence_problems as problems_of

    problems: list[Problem] = []
    files = 0
    for folder in folders:
        problems += problems_of(read_sequence(folder), settings)
        files += len(step_files(folder)) + (folder / TOML).is_file()
    return problems, files


def sequence_lists(folders: list[Path]) -> list[tuple[str, int, tuple[str, ...]]]:
    """(sequence.toml, line of `lists`, the slugs) of each folder whose settings read."""
    from newsletter.sequences.sequence_toml import key_line, read_sequence_toml

    out = []
    for folder in folders:
        path = folder / TOML
        config, _ = read_sequence_toml(path)
        if config is not None:
            text = path.read_text(encoding="utf-8-sig", errors="replace")
            out.append((str(path), key_line(text, "lists"), config.lists))
    return out


def new_sequence(settings: Settings, name: str) -> None:
    """`new --sequence NAME`: write the starter sequence and print its files."""
    from newsletter.sequences.starter import write_starter

    for path in write_starter(settings.sequences_dir, name, settings.default_list):
        click.echo(str(path))
