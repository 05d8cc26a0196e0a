"""Erasure that erases (issue 20, point 6): `forget` scrubs the address from other rows' bounce
diagnostics and ledger details (which `status` prints), and on SQLite no old copy lingers in
the database file's free pages or in the WAL."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import insert, select, update

from newsletter.audience.suppressions import forget
from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.clock import utcnow


def test_forget_scrubs_the_address_from_other_rows_that_quote_it(mailroom, monkeypatch):
    send = mailroom.add_send()
    with mailroom.engine.begin() as conn:
        conn.execute(
            insert(tables.bounces).values(
                send_id=send, subscriber_id=2, kind="bounce", category="hard",
                status_code="5.1.1", source="mailbox", at=utcnow(),
                diagnostic="550 5.1.1 forwarded from <Reader1@Example.org>: user unknown",
            )
        )  # fmt: skip
        conn.execute(
            update(tables.deliveries)
            .where(tables.deliveries.c.subscriber_id == 3)
            .values(status="failed", detail="550 alias of reader1@example.org refused")
        )
    assert forget(mailroom.engine, "reader1@example.org")
    with mailroom.engine.connect() as conn:
        texts = [
            *conn.execute(select(tables.bounces.c.diagnostic)).scalars(),
            *conn.execute(select(tables.deliveries.c.detail)).scalars(),
        ]
    assert not any("reader1@example.org" in t.lower() for t in texts), texts
    assert any("user unknown" in t for t in texts)  # the rest of the text stays
    monkeypatch.setenv("DATABASE_URL", mailroom.settings.database_url)
    shown = CliRunner().invoke(cli, ["status", "issue"])
    assert shown.exit_code == 0 and "reader1@" not in shown.output.lower(), shown.output


def test_no_copy_of_a_forgotten_address_lingers_in_the_sqlite_file_or_its_wal(tmp_path):
    from newsletter.audience.lists import create_list
    from newsletter.audience.subscribers import add_subscriber
    from newsletter.db.engine import make_engine

    database = tmp_path / "news.db"
    engine = make_engine(f"sqlite:///{database}")
    create_list(engine, "news", "News")
    address = "erase-me-4711@example.org"
    add_subscriber(engine, address, "news", name="Erase Me Quickly", source="test")
    for i in range(50):  # neighbours after it on the same pages: its cells become free space
        add_subscriber(engine, f"keep{i}@example.org", "news", name=f"Keep {i}", source="test")
    assert forget(engine, address)
    files = [database, database.with_name("news.db-wal")]
    found = [p.name for p in files if p.exists() and b"erase-me-4711" in Path(p).read_bytes()]
    engine.dispose()
    assert found == []
    found = [p.name for p in files if p.exists() and b"Erase Me Quickly" in Path(p).read_bytes()]
    assert found == []
