"""Revision 0011 (sequences): a database written at 0010 upgrades in place on SQLite and
PostgreSQL, its memberships joining sequences as before (`no_sequences` false) and its ledger
rows naming no step version; the new tables start empty and take rows."""

from __future__ import annotations

from sqlalchemy import select, text

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.engine import make_engine
from newsletter.db.migrate import HEAD, current_revision, upgrade


def _fill_at_0010(conn, now) -> None:  # type: ignore[no-untyped-def]
    conn.execute(
        text(
            "INSERT INTO subscribers (email, email_key, name, attributes, created_at, updated_at,"
            " address_hash, domain) VALUES ('a@x.org', 'a@x.org', '', '{}', :t, :t, 'h', 'x.org')"
        ),
        {"t": now},
    )
    conn.execute(
        text(
            "INSERT INTO lists (slug, name, description, from_name, from_address, reply_to, "
            "created_at) VALUES ('w', 'W', '', '', '', '', :t)"
        ),
        {"t": now},
    )
    conn.execute(
        text(
            "INSERT INTO memberships (subscriber_id, list_id, status, source, created_at, "
            "updated_at, subscribed_at) VALUES (1, 1, 'subscribed', 'cli', :t, :t, :t)"
        ),
        {"t": now},
    )
    conn.execute(
        text(
            "INSERT INTO sends (issue_id, list_slugs, list_ids, status, backend, subject, html, "
            "text, source_hash, options, created_at) VALUES ('i', '[\"w\"]', '[1]', 'done', "
            "'outbox', 's', 'h', 't', 'x', '{}', :t)"
        ),
        {"t": now},
    )
    conn.execute(
        text(
            "INSERT INTO deliveries (send_id, subscriber_id, email, status, attempts, detail, "
            "provider_id, updated_at) VALUES (1, 1, 'a@x.org', 'sent', 1, '', '', :t)"
        ),
        {"t": now},
    )


def test_a_0010_database_upgrades_to_sequences_in_place(database_url: str) -> None:
    raw = make_engine(database_url, upgrade=False)
    upgrade(raw, "0010")
    now = utcnow()
    with raw.begin() as conn:
        _fill_at_0010(conn, now)
    assert upgrade(raw, "head").after == HEAD
    m, d = tables.memberships, tables.deliveries
    with raw.begin() as conn:
        assert conn.execute(select(m.c.status, m.c.no_sequences)).all() == [("subscribed", False)]
        assert conn.execute(select(d.c.status, d.c.version)).all() == [("sent", None)]
        assert conn.execute(select(tables.sequences)).all() == []
        conn.execute(
            tables.sequences.insert().values(
                name="welcome",
                list_ids=[1],
                join="new",
                stop_on_unsubscribe=True,
                first_seen_at=now,
                updated_at=now,
            )
        )
        paused = conn.execute(select(tables.sequences.c.paused)).scalar_one()
    assert paused is False
    assert current_revision(raw) == HEAD
    raw.dispose()
