"""The columns segments read (issue 24, point 3), kept right on every write path on SQLite and
PostgreSQL: `subscribers.address_hash` and `domain` (from the normalised address),
`memberships.subscribed_at` (moved only by a transition into `subscribed`), the attribute
names imports write; and revision 0009 fills them for the rows of an older database."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select, text, update

from newsletter.audience.addresses import hash_key
from newsletter.audience.csv_import import import_csv
from newsletter.audience.memberships import set_membership
from newsletter.audience.subscribers import add_subscriber
from newsletter.db import tables
from newsletter.db.clock import as_utc, utcnow
from newsletter.db.engine import make_engine
from newsletter.db.migrate import upgrade

M = tables.memberships


def _derived(engine: Engine, email_key: str) -> tuple[str, str]:
    s = tables.subscribers
    with engine.connect() as conn:
        row = conn.execute(select(s.c.address_hash, s.c.domain).where(s.c.email_key == email_key))
        return tuple(row.one())  # type: ignore[return-value]


def _since(engine: Engine, sub_id: int) -> object:
    with engine.connect() as conn:
        return as_utc(
            conn.execute(select(M.c.subscribed_at).where(M.c.subscriber_id == sub_id)).scalar()
        )


def test_add_and_import_keep_hash_and_domain(store: Engine, tmp_path: Path) -> None:
    add_subscriber(store, "Ann@Example.COM", "weekly")
    assert _derived(store, "ann@example.com") == (hash_key("ann@example.com"), "example.com")
    people = tmp_path / "people.csv"
    people.write_text("email,name,city,plan-2\nbob@Sample.ORG,Bob,Oslo,pro\n")
    import_csv(store, people, "weekly")
    assert _derived(store, "bob@sample.org") == (hash_key("bob@sample.org"), "sample.org")
    with store.connect() as conn:
        names = set(conn.execute(select(tables.attribute_names.c.name)).scalars())
    assert names == {"city", "plan_2"}  # import headers are lower_snake (issue 23)


def test_subscribed_at_moves_only_on_a_transition_into_subscribed(store: Engine) -> None:
    sub_id = add_subscriber(store, "cat@example.com", "weekly", status="unconfirmed")["id"]
    assert _since(store, sub_id) is None  # unconfirmed: not subscribed yet
    add_subscriber(store, "cat@example.com", "weekly")  # confirmed by the operator
    first = _since(store, sub_id)
    assert first is not None
    old = utcnow() - timedelta(days=9)
    with store.begin() as conn:
        conn.execute(update(M).where(M.c.subscriber_id == sub_id).values(subscribed_at=old))
        set_membership(conn, sub_id, 1, "subscribed", "again")  # still subscribed: kept
    assert _since(store, sub_id) == old
    with store.begin() as conn:
        set_membership(conn, sub_id, 1, "unsubscribed", "link")
    assert _since(store, sub_id) == old  # the last time it became subscribed
    with store.begin() as conn:
        set_membership(conn, sub_id, 1, "subscribed", "resubscribe")
    assert _since(store, sub_id) > old  # type: ignore[operator]


def test_import_members_are_subscribed_from_the_import(store: Engine, tmp_path: Path) -> None:
    people = tmp_path / "people.csv"
    people.write_text("email\ndan@example.com\n")
    before = utcnow()
    import_csv(store, people, "weekly")
    with store.connect() as conn:
        since = as_utc(conn.execute(select(M.c.subscribed_at)).scalar())
    assert since is not None and since >= before - timedelta(seconds=1)


def test_revision_0009_fills_the_rows_of_an_older_database(database_url: str) -> None:
    raw = make_engine(database_url, upgrade=False)
    upgrade(raw, "0007")
    now = utcnow()
    with raw.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_key, name, attributes, created_at, "
                "updated_at) VALUES ('Eve@X.org', 'eve@x.org', '', '{\"city\": \"Oslo\"}', :t, :t)"
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
            text("INSERT INTO memberships VALUES (1, 1, 'subscribed', 'cli', :t, :t)"), {"t": now}
        )
    upgrade(raw, "head")
    assert _derived(raw, "eve@x.org") == (hash_key("eve@x.org"), "x.org")
    assert _since(raw, 1) is not None
    with raw.connect() as conn:
        assert list(conn.execute(select(tables.attribute_names.c.name)).scalars()) == ["city"]
    raw.dispose()
