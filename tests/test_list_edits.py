"""Lists after creation (issue 23, point 2): `lists update`, `lists rename` (sends are matched
by list id, so a renamed list is never mailed the same issue again, also in a database that
was upgraded from revision 0007), and `lists delete` with its refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from newsletter.audience.list_edits import LINKS_LIVE, delete_list
from newsletter.audience.lists import create_list, get_list
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import migrate, tables
from newsletter.db.clock import utcnow
from newsletter.db.engine import make_engine
from newsletter.errors import StoreError
from tests.support.sending import SECRET, populate, run_cli


def _env(database_url: str, workdir: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "outbox",
        "NEWSLETTER_OUTBOX_DIR": str(workdir / "outbox"),
    }


def _mailed(workdir: Path) -> int:
    return sum(1 for p in (workdir / "outbox").rglob("*.eml") if "/new/" in str(p))


def _cli(database_url: str, workdir: Path, *args: str):  # noqa: ANN202
    return run_cli(*args, env=_env(database_url, workdir), cwd=workdir)


def test_a_renamed_list_is_not_mailed_the_same_issue_again(
    engine, database_url, workdir, issue_path
) -> None:
    populate(engine, "weekly", 3)
    first = _cli(database_url, workdir, "send", str(issue_path), "--list", "weekly", "--yes")
    assert first.returncode == 0, first.stderr
    assert _mailed(workdir) == 3
    renamed = _cli(database_url, workdir, "lists", "rename", "weekly", "digest")
    assert renamed.returncode == 0 and "renamed list 'weekly' to 'digest'" in renamed.stdout
    again = _cli(database_url, workdir, "send", str(issue_path), "--list", "digest", "--yes")
    assert again.returncode == 0, again.stderr
    assert "already sent" in again.stdout + again.stderr
    assert _mailed(workdir) == 3


def _send_at_0007(engine) -> int:  # noqa: ANN001
    """List `weekly` with two members and a finished send to it as revision 0007 stored it
    (slugs only), with its ledger; the list's id."""
    now = utcnow()
    with engine.begin() as conn:
        list_id = conn.execute(
            text(
                "INSERT INTO lists (slug, name, description, from_name, from_address, reply_to, "
                "created_at) VALUES ('weekly', 'Weekly', '', '', '', '', :now) RETURNING id"
            ),
            {"now": now},
        ).scalar_one()
        sub_ids = [
            conn.execute(
                text(
                    "INSERT INTO subscribers (email, email_key, name, attributes, created_at, "
                    "updated_at) VALUES (:e, :e, '', '{}', :now, :now) RETURNING id"
                ),
                {"e": f"user{i}@example.com", "now": now},
            ).scalar_one()
            for i in range(2)
        ]
        for sid in sub_ids:
            conn.execute(
                text(
                    "INSERT INTO memberships (subscriber_id, list_id, status, source, "
                    "created_at, updated_at) VALUES (:s, :l, 'subscribed', 't', :now, :now)"
                ),
                {"s": sid, "l": list_id, "now": now},
            )
        send_id = conn.execute(
            text(
                "INSERT INTO sends (issue_id, list_slugs, status, backend, subject, html, text, "
                "source_hash, options, created_at, started_at, finished_at) VALUES ("
                "'2019-03-01-hanoi-summit', :slugs, 'done', 'outbox', 's', '<p>x</p>', 'x', "
                "'h', '{}', :now, :now, :now) RETURNING id"
            ),
            {"slugs": json.dumps(["weekly"]), "now": now},
        ).scalar_one()
        for sid in sub_ids:
            conn.execute(
                text(
                    "INSERT INTO deliveries (send_id, subscriber_id, email, status, attempts, "
                    "detail, provider_id, updated_at, stage) "
                    "VALUES (:s, :i, :e, 'sent', 1, '', '', :now, '')"
                ),
                {"s": send_id, "i": sid, "e": f"user{sid}@example.com", "now": now},
            )
    return int(list_id)


def test_sends_of_a_0007_database_are_matched_by_list_id_after_the_upgrade(
    database_url, workdir, issue_path
) -> None:
    engine = make_engine(database_url, upgrade=False)
    migrate.upgrade(engine, "0007")
    list_id = _send_at_0007(engine)
    assert migrate.upgrade(engine).after == migrate.HEAD
    with engine.connect() as conn:
        (ids,) = conn.execute(select(tables.sends.c.list_ids)).scalars().all()
    assert ids == [list_id]
    engine.dispose()
    assert _cli(database_url, workdir, "lists", "rename", "weekly", "digest").returncode == 0
    again = _cli(database_url, workdir, "send", str(issue_path), "--list", "digest", "--yes")
    assert again.returncode == 0, again.stderr
    assert "already sent" in again.stdout and _mailed(workdir) == 0


def test_update_changes_the_sender_and_visibility_and_refuses_a_bad_address(
    engine, database_url, workdir
) -> None:
    populate(engine, "weekly", 1)
    done = _cli(
        database_url,
        workdir,
        "lists",
        "update",
        "weekly",
        "--from-address",
        "editor@example.org",
        "--from-name",
        "The Editor",
        "--private",
    )
    assert done.returncode == 0, done.stderr
    row = get_list(engine, "weekly")
    assert (row["from_address"], row["from_name"], row["private"]) == (
        "editor@example.org",
        "The Editor",
        True,
    )
    bad = _cli(database_url, workdir, "lists", "update", "weekly", "--reply-to", "not mail")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr
    assert "reply-to address 'not mail' is not an email address" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    assert get_list(engine, "weekly")["reply_to"] == ""  # nothing half-written
    public = _cli(database_url, workdir, "lists", "update", "weekly", "--public")
    assert public.returncode == 0 and get_list(engine, "weekly")["private"] is False


def test_rename_refuses_a_taken_or_bad_slug(engine) -> None:
    from newsletter.audience.list_edits import rename_list

    populate(engine, "weekly", 1)
    populate(engine, "daily", 1, start=1)
    with pytest.raises(StoreError, match="list 'daily' already exists"):
        rename_list(engine, "weekly", "daily")
    with pytest.raises(StoreError, match="use lower-case letters"):
        rename_list(engine, "weekly", "Week ly")
    assert get_list(engine, "weekly")["slug"] == "weekly"


def _sent_to(engine, list_id: int, days_ago: float) -> None:  # noqa: ANN001
    at = utcnow() - timedelta(days=days_ago)
    with engine.begin() as conn:
        conn.execute(
            tables.sends.insert().values(
                issue_id="x",
                list_slugs=["weekly"],
                list_ids=[list_id],
                status="done",
                backend="outbox",
                subject="s",
                html="h",
                text="t",
                source_hash="h",
                options={},
                created_at=at,
                started_at=at,
            )
        )


def test_delete_is_refused_while_members_remain(engine) -> None:
    populate(engine, "weekly", 2)
    with pytest.raises(StoreError, match="still has 2 member.*--with-members"):
        delete_list(engine, "weekly")
    done = delete_list(engine, "weekly", with_members=True)
    assert done.members_removed == 2
    with pytest.raises(StoreError, match="unknown list 'weekly'"):
        get_list(engine, "weekly")


def test_delete_within_60_days_of_a_send_needs_a_tombstone_that_keeps_links_working(
    engine,
) -> None:
    the_list = populate(engine, "weekly", 1)
    with engine.connect() as conn:
        (sub_id,) = conn.execute(select(tables.subscribers.c.id)).scalars().all()
    unsubscribe(engine, sub_id, the_list["id"], source="test")  # a suppression for the list
    _sent_to(engine, the_list["id"], days_ago=10)
    with pytest.raises(StoreError, match="last sent to on .*--tombstone"):
        delete_list(engine, "weekly", with_members=True)
    done = delete_list(engine, "weekly", with_members=True, tombstone=True)
    assert done.tombstone
    with pytest.raises(StoreError, match="unknown list 'weekly'"):
        get_list(engine, "weekly")
    create_list(engine, "weekly", "Weekly")  # the slug is free again: a new list, a new id
    assert get_list(engine, "weekly")["id"] != the_list["id"]
    # A link mailed before still unsubscribes (the tombstone answers its list id) ...
    unsubscribe(engine, sub_id, the_list["id"], source="web:link")
    with engine.connect() as conn:
        kept = conn.execute(select(tables.suppressions.c.list_id)).scalars().all()
    assert kept == [the_list["id"]]  # ... and the suppression was kept


def test_delete_after_60_days_removes_the_list_and_keeps_its_suppressions(engine) -> None:
    the_list = populate(engine, "weekly", 1)
    with engine.connect() as conn:
        (sub_id,) = conn.execute(select(tables.subscribers.c.id)).scalars().all()
    unsubscribe(engine, sub_id, the_list["id"], source="test")
    _sent_to(engine, the_list["id"], days_ago=LINKS_LIVE.days + 1)
    delete_list(engine, "weekly", with_members=True)
    with engine.connect() as conn:
        assert conn.execute(select(tables.lists.c.id)).first() is None
        kept = conn.execute(select(tables.suppressions.c.list_id)).scalars().all()
    assert kept == [the_list["id"]]


def test_the_cli_refusals_are_one_line_and_change_nothing(engine, database_url, workdir) -> None:
    populate(engine, "weekly", 2)
    refused = _cli(database_url, workdir, "lists", "delete", "weekly")
    assert refused.returncode != 0 and "Traceback" not in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "--with-members" in refused.stderr
    assert get_list(engine, "weekly")["slug"] == "weekly"
    done = _cli(database_url, workdir, "lists", "delete", "weekly", "--with-members")
    assert done.returncode == 0 and "2 membership(s) removed; suppressions kept" in done.stdout
    listed = _cli(database_url, workdir, "lists")
    assert "weekly" not in listed.stdout
