"""Progress of a long command: a rich bar on a terminal, a plain line every few seconds otherwise
(so a log file or cron mail shows the command is alive without filling up with bars)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

PLAIN_EVERY_S = 2.0


class Reporter:
    """Use as a context manager; call `update` as work gets done.

    `total` is in the unit of `completed` (items, or bytes when `in_bytes`); `info` is shown
    beside the bar, `line` is the plain text logged when not on a terminal."""

    def __init__(self, label: str, total: int, *, in_bytes: bool = False):
        self.label, self.total, self.in_bytes = label, total, in_bytes
        self.bar: Any = None
        self.last = 0.0

    def __enter__(self) -> Reporter:
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            amount = DownloadColumn() if self.in_bytes else MofNCompleteColumn()
            self.bar = Progress(
                TextColumn(self.label),
                BarColumn(),
                amount,
                TextColumn("{task.fields[info]}"),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task(self.label, total=self.total, info="")
        return self

    def update(self, completed: int, *, info: str, line: str, final: bool = False) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=completed, info=info)
        elif final or time.monotonic() - self.last > PLAIN_EVERY_S:
            self.last = time.monotonic()
            click.echo(line, err=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
