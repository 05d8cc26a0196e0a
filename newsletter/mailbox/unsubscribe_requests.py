"""`newsletter unsubscribe-mailbox PATH`: act on the mails sent to the List-Unsubscribe mailto:.

The mailto: link carries ``subject=unsubscribe <token>``. Each message in the Maildir's ``new/``
is read (headers only), its token verified, the subscriber unsubscribed from that list, and the
message moved to ``cur/`` (flag S = seen when processed, F = flagged when it had no valid token,
so an operator can look at it). Safe to run from cron: a message is handled once.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from pathlib import Path

from sqlalchemy import Engine

from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.errors import ConfigError, TokenError
from newsletter.tokens import Signer

TOKEN_SUBJECT = re.compile(r"\bunsubscribe\s+([A-Za-z0-9_.\-]+)", re.I)


@dataclass
class MailboxReport:
    unsubscribed: int = 0
    invalid: int = 0
    problems: list[str] = field(default_factory=list)  # "file: why", for the operator


def _subject(path: Path) -> str:
    with path.open("rb") as handle:
        headers = BytesHeaderParser().parse(handle)
    raw = headers.get("Subject", "")
    try:
        return str(make_header(decode_header(str(raw))))
    except (HeaderParseError, UnicodeError, LookupError):
        return str(raw)


def _move(path: Path, cur: Path, flag: str) -> None:
    name = path.name.split(":2,", 1)[0]
    os.replace(path, cur / f"{name}:2,{flag}")


def process_maildir(engine: Engine, signer: Signer, path: str | os.PathLike[str]) -> MailboxReport:
    root = Path(path)
    new, cur = root / "new", root / "cur"
    if not new.is_dir():
        raise ConfigError(f"{root}: not a Maildir (no new/ folder); pass the Maildir's top folder")
    cur.mkdir(exist_ok=True)
    report = MailboxReport()
    for message in sorted(p for p in new.iterdir() if p.is_file() and not p.name.startswith(".")):
        try:
            match = TOKEN_SUBJECT.search(_subject(message))
            if not match:
                raise TokenError("no 'unsubscribe <token>' in the subject")
            subscriber_id, list_id = signer.read(match.group(1), "unsubscribe")
            if get_subscriber(engine, subscriber_id) is None:
                raise TokenError(f"subscriber {subscriber_id} no longer exists")
        except TokenError as exc:
            report.invalid += 1
            report.problems.append(f"{message.name}: {exc}")
            _move(message, cur, "F")
            continue
        except OSError as exc:
            report.problems.append(f"{message.name}: cannot read: {exc.strerror}")
            continue
        # A database failure propagates: the message stays in new/ for the next run.
        unsubscribe(engine, subscriber_id, list_id or None, reason="unsubscribed", source="mailto")
        report.unsubscribed += 1
        _move(message, cur, "S")
    return report
