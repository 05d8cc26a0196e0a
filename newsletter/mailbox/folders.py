"""Which IMAP folders have had a run that marks processed mail with the keyword (see `imap`):
before a folder's first such run, `\\Seen` meant processed, so that run counts `\\Seen` mail
without the keyword as processed, once."""

from __future__ import annotations

from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from newsletter.db import tables
from newsletter.db.clock import utcnow

F = tables.mailbox_folders


def keyword_in_use(engine: Engine, name: str) -> bool:
    """Whether a run has already marked processed mail in this folder with the keyword."""
    with engine.connect() as conn:
        return conn.execute(select(F.c.name).where(F.c.name == name)).first() is not None


def remember(engine: Engine, name: str) -> None:
    """From now on, only the keyword means processed in this folder."""
    try:
        with engine.begin() as conn:
            conn.execute(insert(F).values(name=name, keyword_since=utcnow()))
    except IntegrityError:  # another run got there first
        pass
