"""Text left over from the `newsletter new` skeleton: a warning in `check` (so `--strict` fails
on it), and a refusal at the pre-flight gate of a real send. The sample lines are read from the
skeleton itself, so a change to the skeleton changes what is recognised."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from newsletter.errors import Problem

SKELETON = "issue_skeleton.md"
_MIN_LENGTH = 12  # shorter lines ("---", "Speaker:") say nothing about an unedited file


@cache
def sample_lines() -> frozenset[str]:
    """The skeleton's own sample lines (stripped): title and date placeholders, the list line and
    comments left out."""
    text = resources.files("newsletter.authoring").joinpath(SKELETON).read_text(encoding="utf-8")
    found = set()
    for line in text.splitlines():
        line = line.strip()
        if len(line) < _MIN_LENGTH or "__TITLE__" in line or "__DATE__" in line:
            continue
        if line.startswith(("#", "lists:")):
            continue
        found.add(line)
    return frozenset(found)


def skeleton_problems(path: str | Path, text: str) -> list[Problem]:
    """One warning for a file that still holds sample lines of the skeleton, at the first one."""
    samples = sample_lines()
    hits = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    hits = [(n, line) for n, line in hits if line in samples]
    if not hits:
        return []
    first_line, first = hits[0]
    shown = first if len(first) <= 60 else first[:57] + "..."
    return [
        Problem(
            str(path),
            first_line,
            f"{len(hits)} line(s) are still the `newsletter new` skeleton's sample text "
            f"(first: {shown!r}): write your own",
            "warning",
        )
    ]


def is_skeleton_problem(problem: Problem) -> bool:
    """Whether `problem` is the warning `skeleton_problems` gives (the gate refuses it)."""
    return problem.severity == "warning" and "skeleton's sample text" in problem.message
