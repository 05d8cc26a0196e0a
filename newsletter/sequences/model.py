"""A sequence and its steps, as read from `sequences/<name>/` (no database)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from newsletter.models import Issue


@dataclass(frozen=True)
class Step:
    """One Markdown file of a sequence: sent `after` the reader joined."""

    sequence: str  # the folder name, e.g. "welcome"
    key: str  # the file stem, e.g. "02-tips"; steps go out in file-name order
    after: timedelta  # front matter `after:` (`0h`, `2d`, `1w`)
    issue: Issue  # the file parsed in the issue format; issue.id is `step_id`

    @property
    def step_id(self) -> str:
        """`welcome/02-tips`: never collides with an issue id (those have no `/`)."""
        return f"{self.sequence}/{self.key}"


@dataclass(frozen=True)
class Sequence:
    name: str
    path: Path  # the folder
    lists: tuple[str, ...]  # list slugs from sequence.toml
    join: str  # "new" (default) or "everyone"
    stop_on_unsubscribe: bool  # default True
    steps: tuple[Step, ...]  # in file-name order
