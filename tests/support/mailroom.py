"""Fixtures for the bounce mailbox tests: a database with a list, subscribers and sends whose
ledger rows are `sent`, a Maildir to drop messages in, builders for DSN and ARF reports, and
the signer whose tags the corpus in tests/fixtures/bounces carries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select

from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.tokens import Signer

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "bounces"
CORPUS_KEY = "bounce-corpus-key-0123456789abcdef"  # made the corpus's tags
LAB_KEY = "abcdefabcdefabcdefabcdef0123"  # the key of the captured Postfix lab run


@dataclass
class Mailroom:
    engine: Engine
    settings: Settings
    signer: Signer
    box: Path
    list_id: int
    subscribers: list[int]

    def tag(self, send_id: int, subscriber_id: int, purpose: str = "message-id") -> str:
        """A recipient tag (`dsn` and `arf` put it where a Message-ID tag is read too)."""
        return self.signer.recipient_tag(send_id, subscriber_id, purpose=purpose)

    def add_send(self, issue_id: str = "issue") -> int:
        """A finished send to every subscriber, each row `sent`."""
        now = utcnow()
        with self.engine.begin() as conn:
            send_id = conn.execute(
                insert(tables.sends)
                .values(
                    issue_id=issue_id,
                    list_slugs=["news"],
                    status="done",
                    backend="smtp",
                    subject="s",
                    html="h",
                    text="t",
                    source_hash="x",
                    options={},
                    created_at=now,
                )
                .returning(tables.sends.c.id)
            ).scalar_one()
            conn.execute(
                insert(tables.deliveries),
                [
                    {
                        "send_id": send_id,
                        "subscriber_id": sid,
                        "email": f"reader{sid}@example.org",
                        "status": "sent",
                        "attempts": 1,
                        "detail": "250 2.0.0 Ok",
                        "provider_id": "",
                        "updated_at": now,
                    }
                    for sid in self.subscribers
                ],
            )
        return int(send_id)

    def drop(self, name: str, data: bytes, folder: str = "new") -> Path:
        path = self.box / folder / name
        path.write_bytes(data)
        return path

    def run(self, **options: object):  # type: ignore[no-untyped-def]
        from newsletter.mailbox.maildir import Maildir
        from newsletter.mailbox.run import process

        delete = bool(options.pop("delete", False))
        return process(
            self.engine, self.settings, self.signer, Maildir(self.box, delete=delete), **options
        )  # type: ignore[arg-type]

    def ledger(self, send_id: int, subscriber_id: int) -> tuple[str, str]:
        d = tables.deliveries
        with self.engine.connect() as conn:
            row = conn.execute(
                select(d.c.status, d.c.detail).where(
                    d.c.send_id == send_id, d.c.subscriber_id == subscriber_id
                )
            ).one()
        return row.status, row.detail

    def suppression(self, subscriber_id: int) -> str | None:
        x = tables.suppressions
        with self.engine.connect() as conn:
            return conn.execute(
                select(x.c.reason).where(
                    x.c.email == f"reader{subscriber_id}@example.org", x.c.list_id == 0
                )
            ).scalar()

    def bounce_rows(self) -> list[tuple]:
        b = tables.bounces
        with self.engine.connect() as conn:
            q = select(b.c.send_id, b.c.subscriber_id, b.c.kind, b.c.category, b.c.status_code)
            return [tuple(r) for r in conn.execute(q.order_by(b.c.id))]

    def files(self, folder: str) -> list[str]:
        where = self.box / folder
        return sorted(os.listdir(where)) if where.is_dir() else []


def make_mailroom(database_url: str, root: Path, subscribers: int = 6) -> Mailroom:
    from newsletter.audience.lists import create_list
    from newsletter.audience.subscribers import add_subscriber
    from newsletter.db.engine import make_engine

    engine = make_engine(database_url)
    settings = Settings(
        database_url=database_url,
        secret_key=CORPUS_KEY,
        old_secret_keys=LAB_KEY,
        sender_address="news@example.com",
    )
    lst = create_list(engine, "news", "News")
    ids = [
        add_subscriber(engine, f"reader{i}@example.org", "news", source="test")["id"]
        for i in range(1, subscribers + 1)
    ]
    box = root / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    signer = Signer([CORPUS_KEY, LAB_KEY])
    return Mailroom(engine, settings, signer, box, lst["id"], ids)


@pytest.fixture
def mailroom(database_url: str, tmp_path: Path):
    room = make_mailroom(database_url, tmp_path)
    yield room
    room.engine.dispose()


def dsn(
    tag: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <reader@example.org>: Recipient address rejected",
    verp: bool = True,
) -> bytes:
    """A Postfix-shaped DSN for the message with this tag (VERP address and returned headers)."""
    to = f"bounces+{tag}@example.com" if verp else "bounces@example.com"
    return (
        "Return-Path: <>\r\n"
        f"Delivered-To: {to}\r\n"
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B1"\r\n'
        "\r\n--B1\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B1\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        "Final-Recipient: rfc822; reader@example.org\r\n"
        f"Action: {action}\r\nStatus: {status}\r\nDiagnostic-Code: {diagnostic}\r\n"
        "\r\n--B1\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: News <news@example.com>\r\nMessage-ID: <{tag}.0123abcd@example.com>\r\n"
        f"X-Newsletter-Tag: {tag}\r\nSubject: An issue\r\n"
        "\r\n--B1--\r\n"
    ).encode()


def arf(tag: str) -> bytes:
    """A feedback-loop complaint whose returned headers carry the tag (address redacted)."""
    return (
        "From: feedback@fbl.example.net\r\nTo: fbl@example.com\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="F1"\r\n'
        "\r\n--F1\r\nContent-Type: text/plain\r\n\r\nA user marked this as spam.\r\n"
        "--F1\r\nContent-Type: message/feedback-report\r\n\r\n"
        "Feedback-Type: abuse\r\nUser-Agent: ExampleFBL/1.0\r\nVersion: 1\r\n"
        "Original-Rcpt-To: redacted@example.org\r\n"
        "\r\n--F1\r\nContent-Type: message/rfc822\r\n\r\n"
        f"From: News <news@example.com>\r\nTo: redacted\r\nMessage-ID: <{tag}.99@example.com>\r\n"
        "Subject: An issue\r\n\r\nbody\r\n"
        "\r\n--F1--\r\n"
    ).encode()


# Hostile shapes for the limits of `mailbox.limits` (tests and bench/mailbox_limits.py).


def empty_parts(count: int) -> bytes:
    """A message of `count` empty MIME parts (the shape that took 19 s for 200,000)."""
    head = b"From: x@example.net\r\nSubject: hi\r\n"
    head += b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    return head + b"--b\r\n\r\n" * count + b"--b--\r\n"


def folded_header(size: int) -> bytes:
    """A message whose one header is folded over `size` bytes (cost grew with its square)."""
    folds = b"X-Long: a\r\n" + b" a\r\n" * (size // 4)
    return b"From: x@example.net\r\n" + folds + b"Subject: hi\r\n\r\nbody\r\n"


def nested(depth: int) -> bytes:
    """Multiparts nested `depth` deep."""
    body = b"--b0\r\n\r\nleaf\r\n--b0--\r\n"
    for level in range(1, depth):
        inner = f'Content-Type: multipart/mixed; boundary="b{level - 1}"\r\n\r\n'.encode() + body
        body = f"--b{level}\r\n".encode() + inner + f"\r\n--b{level}--\r\n".encode()
    top = f'From: x@example.net\r\nContent-Type: multipart/mixed; boundary="b{depth - 1}"\r\n\r\n'
    return top.encode() + body
