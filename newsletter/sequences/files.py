"""The sequences folder (`sequences_dir`): one folder per sequence, read into `Sequence`s.

    sequences/
      welcome/
        sequence.toml      lists = ["newsletter"], join, stop_on_unsubscribe (`sequence_toml`)
        01-welcome.md      after: 0h    (`step_file`)
        02-tips.md         after: 2d

A sequence's name is its folder's (letters, digits, `-`, `_`); its steps are its `*.md` files in
file-name order, whose `after:` never goes backwards. Folders starting with `.` are left out.
A missing sequences folder means no sequences.

`read_sequences` gives the sequences that hold and every problem; `load_sequences` gives them
all or raises `IssueFileError` with every problem (what `send-due` needs: all or nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from newsletter.errors import IssueFileError, Problem
from newsletter.sequences.model import Sequence, Step
from newsletter.sequences.sequence_toml import FILE_NAME, read_sequence_toml
from newsletter.sequences.step_file import delay_text, read_step

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_NAME = 90  # with a step key, a step id fits a send's issue id column (200)


def load_sequences(folder: str | Path) -> list[Sequence]:
    """Every sequence in `folder`, by name; raises IssueFileError when any has an error."""
    sequences, problems = read_sequences(folder)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise IssueFileError(errors)
    return sequences


def read_sequences(folder: str | Path) -> tuple[list[Sequence], list[Problem]]:
    """(the sequences without errors, by name; every problem, warnings included)."""
    folder = Path(folder)
    if not folder.is_dir():
        if folder.exists():
            return [], [Problem(str(folder), 0, "is a file: sequences_dir must be a folder")]
        return [], []
    sequences: list[Sequence] = []
    problems: list[Problem] = []
    for path in sequence_folders(folder):
        read = read_sequence(path)
        problems += read.problems
        if read.sequence is not None:
            sequences.append(read.sequence)
    return sequences, problems


def sequence_folders(folder: Path) -> list[Path]:
    """The folders of `folder` that are sequences (hidden ones left out), by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def step_files(path: Path) -> list[Path]:
    """A sequence folder's step files, in the order they are sent (file-name order)."""
    return sorted((p for p in path.glob("*.md") if p.is_file()), key=lambda p: p.name)


@dataclass(frozen=True)
class SequenceRead:
    """One sequence folder, read: the Sequence (None on any error), the steps that hold on
    their own (for `check` to render), and every problem."""

    sequence: Sequence | None
    steps: tuple[Step, ...]
    problems: list[Problem]


def read_sequence(path: Path) -> SequenceRead:
    """One sequence folder, read (see SequenceRead)."""
    problems: list[Problem] = []
    name = path.name
    if not NAME_PATTERN.match(name) or len(name) > MAX_NAME:
        problems.append(
            Problem(
                str(path),
                0,
                f"a sequence's folder name is letters, digits, '-' and '_' (at most {MAX_NAME}),"
                " e.g. welcome: rename the folder",
            )
        )
    config, found = read_sequence_toml(path / FILE_NAME)
    problems += found
    lists = config.lists if config is not None else ()
    files = step_files(path)
    if not files:
        problems.append(
            Problem(str(path), 0, "no steps: add the first one as 01-welcome.md (after: 0h)")
        )
    steps: list[Step] = []
    for file in files:
        step, found = read_step(file, name, lists)
        problems += found
        if step is not None:
            steps.append(step)
    problems += _order_problems(steps)
    if config is None or any(p.severity == "error" for p in problems):
        return SequenceRead(None, tuple(steps), problems)
    sequence = Sequence(
        name, path, config.lists, config.join, config.stop_on_unsubscribe, tuple(steps)
    )
    return SequenceRead(sequence, tuple(steps), problems)


def _order_problems(steps: list[Step]) -> list[Problem]:
    """An error for each step whose `after:` is shorter than an earlier step's."""
    problems = []
    latest: Step | None = None
    for step in steps:
        if latest is not None and step.after < latest.after:
            problems.append(
                Problem(
                    str(step.issue.path),
                    after_line_of(step),
                    f"'after: {delay_text(step.after)}' is earlier than "
                    f"{latest.issue.path.name}'s 'after: {delay_text(latest.after)}': steps go out "
                    "in file-name order, so a later file needs an equal or longer delay "
                    "(rename the files or change 'after:')",
                )
            )
        if latest is None or step.after >= latest.after:
            latest = step
    return problems


def after_line_of(step: Step) -> int:
    """The line of a step's `after:` in its file (1 when not found)."""
    text = step.issue.path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("after:"):
            return number
    return 1
