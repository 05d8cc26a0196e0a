"""`newsletter check` for sequences: every rule of the sequence files (`files`), then, for each
step that reads without errors, what `check` finds in an issue once it is rendered (its size
against Gmail's clipping limit, text left from the `newsletter new` skeleton)."""

from __future__ import annotations

from pathlib import Path

from newsletter.authoring.lint import parsed_issue_problems
from newsletter.config import Settings
from newsletter.errors import Problem
from newsletter.sequences.files import SequenceRead, read_sequence, sequence_folders


def check_sequences(folder: str | Path, settings: Settings) -> list[Problem]:
    """Every problem with the sequences in `folder`, by sequence, then file, then line.

    A missing folder has no sequences, hence no problems. The templates are not checked here:
    `authoring.lint.check_files` checks them once for issues and steps alike."""
    folder = Path(folder)
    if not folder.exists():
        return []
    if not folder.is_dir():
        return [Problem(str(folder), 0, "is a file: sequences_dir must be a folder")]
    problems: list[Problem] = []
    for path in sequence_folders(folder):
        problems += sequence_problems(read_sequence(path), settings)
    return problems


def sequence_problems(read: SequenceRead, settings: Settings) -> list[Problem]:
    """The problems of one sequence folder already read, with its steps' rendering checks."""
    found = list(read.problems)
    for step in read.steps:
        found += parsed_issue_problems(step.issue.path, step.issue, settings)
    return sorted(found, key=lambda p: (p.path, p.line, p.severity != "error"))
