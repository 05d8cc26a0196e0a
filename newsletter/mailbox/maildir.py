"""A Maildir as the mailbox: what Postfix, Exim or Dovecot deliver to locally.

Pending: every message in `new/`, and those in `cur/` not yet flagged seen (a mail client may
have moved them). Processed: moved to `cur/` with the S (seen) flag, or deleted with
`--delete`. Unrecognised: moved to the Maildir++ subfolder `.unrecognised/` (its own `new/`, so
a mail client shows it as unread), out of the way of the next run.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from newsletter.errors import ConfigError
from newsletter.mailbox.lock import LOCK_NAME

UNRECOGNISED = ".unrecognised"


def _flags(name: str) -> str:
    return name.split(":2,", 1)[1] if ":2," in name else ""


class Maildir:
    """One Maildir: lists pending messages and files them away once they are handled."""

    label = "mailbox"

    def __init__(self, path: str | os.PathLike[str], *, delete: bool = False):
        self.root = Path(path)
        self.delete = delete
        self.new, self.cur = self.root / "new", self.root / "cur"
        self._cur = str(self.cur)
        if not self.new.is_dir() or not self.cur.is_dir():
            raise ConfigError(
                f"{self.root}: not a Maildir (no new/ and cur/ folders); pass the Maildir's "
                "top folder, e.g. ~/Maildir"
            )
        if not os.access(self.new, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigError(f"{self.root}: cannot read and write new/ (check its owner)")

    def where(self) -> str:
        return str(self.root)

    def lock_path(self) -> Path:
        return self.root / LOCK_NAME

    def pending(self) -> Iterator[str]:
        """Paths of the messages to handle, streamed (a mailbox may hold 100,000)."""
        for folder, unseen_only in ((self.new, False), (self.cur, True)):
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if unseen_only and "S" in _flags(entry.name):
                        continue
                    yield entry.path

    @staticmethod
    def name_of(path: str) -> str:
        return os.path.basename(path).split(":2,", 1)[0]

    @staticmethod
    def read(path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def done(self, path: str) -> None:
        """Processed: to cur/ with the S flag added, or deleted."""
        with contextlib.suppress(FileNotFoundError):  # another run got there first
            if self.delete:
                os.unlink(path)
                return
            name = path.rpartition("/")[2]
            base, info, flags = name.partition(":2,")
            flags = "".join(sorted(set(flags) | {"S"})) if info else "S"
            os.rename(path, f"{self._cur}/{base}:2,{flags}")

    def set_aside(self, path: str) -> None:
        """Unrecognised: to .unrecognised/new/, keeping its name, for a person to look at."""
        folder = self.root / UNRECOGNISED
        for sub in ("new", "cur", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        (folder / "maildirfolder").touch()
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, folder / "new" / self.name_of(path))

    def close(self) -> None:
        pass
