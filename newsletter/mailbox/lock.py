"""One run per folder: `newsletter mailbox` holds an exclusive `flock` on a lock file while it
works, so two runs (a slow one and the next from cron) never read and file one folder at once.
A Maildir's lock file is `.newsletter-mailbox.lock` in its top folder; an IMAP folder's is
`.newsletter-mailbox-<hash of user, host, port and folder>.lock` in the working directory (the
project folder, where cron runs it). The lock goes with the process, even when it is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from newsletter.errors import ConfigError

LOCK_NAME = ".newsletter-mailbox.lock"


def imap_lock_path(user: str, host: str, port: int, folder: str) -> Path:
    digest = hashlib.sha256(f"{user}\n{host}\n{port}\n{folder}".encode()).hexdigest()[:16]
    return Path.cwd() / f".newsletter-mailbox-{digest}.lock"


@contextlib.contextmanager
def held(path: Path) -> Iterator[bool]:
    """True while this process holds the lock at `path`; False (held by another run) at once."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open the mailbox lock file: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
