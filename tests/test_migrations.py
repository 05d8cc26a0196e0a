"""Alembic migrations: fresh installs, the upgrade of a database written by release 0.1.0,
the migrated schema against the metadata, concurrent upgrades, and SQLite batch rebuilds."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import Integer, inspect, select, text

from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.db.engine import make_engine
from newsletter.db.migrate import HEAD, MIGRATIONS, current_revision, upgrade

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_fresh_database_is_at_the_newest_revision(engine):
    assert current_revision(engine) == HEAD
    with reading(engine) as conn:
        names = set(inspect(conn).get_table_names())
    assert set(tables.metadata.tables) | {"alembic_version"} == names


def test_head_constant_is_the_head_of_the_revision_scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD]


def test_revisions_spell_out_their_tables_never_create_all():
    for script in (MIGRATIONS / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        assert "create_all" not in source and "metadata" not in source, script.name


def _autogenerate_diff(engine, metadata):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with reading(engine) as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)


def test_migrated_schema_equals_the_metadata(engine):
    """Autogenerate compares every table (no filter): a missing revision or a revision that
    differs from tables.py shows up here."""
    assert _autogenerate_diff(engine, tables.metadata) == []


def test_the_schema_comparison_fails_on_a_deliberate_change(engine):
    from sqlalchemy import Column, MetaData

    changed = MetaData()
    for table in tables.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["subscribers"].append_column(Column("nickname", Integer))
    diff = _autogenerate_diff(engine, changed)
    assert [d[0] for d in diff] == ["add_column"] and diff[0][3].name == "nickname"


def _release_010_sqlite(tmp_path: Path) -> str:
    path = tmp_path / "old.db"
    shutil.copy(FIXTURES / "release-0.1.0.sqlite3", path)
    return f"sqlite:///{path}"


def _release_010_postgresql(database_url: str) -> None:
    import psycopg

    sql = (FIXTURES / "release-0.1.0.postgresql.sql").read_text(encoding="utf-8")
    with psycopg.connect(database_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute(sql)


def _assert_release_010_data(engine) -> None:
    with reading(engine) as conn:
        ada = conn.execute(
            select(tables.subscribers).where(tables.subscribers.c.email_key == "ada@example.com")
        ).one()
        assert ada.name == "Ada Lovelace"
        assert ada.attributes == {"company": "Analytical Engines", "city": "London"}
        unsubscribed = conn.execute(
            select(
                tables.suppressions.c.email, tables.suppressions.c.reason, tables.lists.c.slug
            ).join(tables.lists, tables.lists.c.id == tables.suppressions.c.list_id)
        ).all()
        assert [tuple(r) for r in unsubscribed] == [("alan@example.com", "unsubscribed", "weekly")]
        forgotten = conn.execute(
            select(tables.suppressions.c.email).where(tables.suppressions.c.list_id == 0)
        ).scalar_one()
        assert forgotten is None  # the forgotten address stays erased, only its hash is kept
        send = conn.execute(select(tables.sends)).one()
        assert (send.issue_id, send.status, send.list_slugs) == (
            "2019-03-01-hanoi-summit",
            "done",
            ["weekly"],
        )
        d = tables.deliveries
        statuses = conn.execute(
            select(d.c.email, d.c.status).where(d.c.send_id == send.id).order_by(d.c.email)
        ).all()
        assert [tuple(r) for r in statuses] == [
            ("ada@example.com", "sent"),
            ("grace@example.com", "sent"),
        ]
        grace_lists = (
            conn.execute(
                select(tables.lists.c.slug)
                .join(tables.memberships, tables.memberships.c.list_id == tables.lists.c.id)
                .join(
                    tables.subscribers,
                    tables.subscribers.c.id == tables.memberships.c.subscriber_id,
                )
                .where(tables.subscribers.c.email == "grace@example.com")
                .order_by(tables.lists.c.slug)
            )
            .scalars()
            .all()
        )
        assert grace_lists == ["alerts", "weekly"]


def test_a_release_010_sqlite_database_upgrades_in_place(tmp_path):
    engine = make_engine(_release_010_sqlite(tmp_path), upgrade=False)
    assert current_revision(engine) == "legacy-3"
    result = upgrade(engine)
    assert (result.before, result.after) == ("legacy-3", HEAD)
    with reading(engine) as conn:
        assert not inspect(conn).has_table("schema_version")  # the old version table goes
    _assert_release_010_data(engine)
    assert _autogenerate_diff(engine, tables.metadata) == []
    assert upgrade(engine).changed is False
    engine.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_release_010_postgresql_database_upgrades_in_place(database_url):
    _release_010_postgresql(database_url)
    engine = make_engine(database_url, upgrade=False)
    assert current_revision(engine) == "legacy-3"
    assert upgrade(engine).after == HEAD
    _assert_release_010_data(engine)
    assert _autogenerate_diff(engine, tables.metadata) == []
    engine.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_postgresql_keeps_attributes_as_jsonb_and_compiles_no_statement(database_url):
    """Revision 0013 turns the attributes into jsonb, keeping them; sessions run without JIT."""
    engine = make_engine(database_url, upgrade=False)
    upgrade(engine, "0010")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO subscribers (email, email_key, name, attributes, created_at, updated_at,"
            " address_hash, domain) VALUES ('a@x.org', 'a@x.org', '', '{\"city\": \"Oslo\"}',"
            " now(), now(), 'h', 'x.org')"
        )
    upgrade(engine)
    with reading(engine) as conn:
        kind, city = conn.exec_driver_sql(
            "SELECT pg_typeof(attributes)::text, attributes->>'city' FROM subscribers"
        ).one()
        assert (kind, city) == ("jsonb", "Oslo")
        assert conn.exec_driver_sql("SHOW jit").scalar_one() == "off"
    engine.dispose()


def _autoincrement_tables(engine) -> set[str]:
    with reading(engine) as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
        return {name for name, sql in rows if "AUTOINCREMENT" in sql}


ID_TABLES = {"lists", "subscribers", "sends"}  # ids in signed links, tags and the ledger


def test_fresh_sqlite_ids_are_never_reused(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert _autoincrement_tables(engine) == ID_TABLES
    engine.dispose()


def test_an_upgraded_sqlite_database_never_reuses_ids_even_those_deleted_before(tmp_path):
    """Release 0.1.0 had no AUTOINCREMENT. Subscriber 3 (grace) was sent an issue; delete her
    before the upgrade (the ledger keeps her id): the next subscriber must not get id 3."""
    from newsletter.audience.subscribers import add_subscriber

    engine = make_engine(_release_010_sqlite(tmp_path), upgrade=False)
    with engine.begin() as conn:
        grace = conn.exec_driver_sql(
            "SELECT id FROM subscribers WHERE email = 'grace@example.com'"
        ).scalar_one()
        assert grace == conn.exec_driver_sql("SELECT max(id) FROM subscribers").scalar_one()
        conn.exec_driver_sql(f"DELETE FROM memberships WHERE subscriber_id = {grace}")
        conn.exec_driver_sql(f"DELETE FROM subscriber_events WHERE subscriber_id = {grace}")
        conn.exec_driver_sql(f"DELETE FROM subscribers WHERE id = {grace}")
    upgrade(engine)
    assert _autoincrement_tables(engine) == ID_TABLES
    new = add_subscriber(engine, "new@example.com", "weekly")
    assert new["id"] == grace + 1
    assert _autogenerate_diff(engine, tables.metadata) == []
    engine.dispose()


def test_the_cli_upgrades_an_old_database_and_says_from_which_revision(tmp_path):
    from click.testing import CliRunner

    from newsletter.cli import cli

    url = _release_010_sqlite(tmp_path)
    runner = CliRunner()
    status = runner.invoke(cli, ["db", "status"], env={"DATABASE_URL": url})
    assert status.exit_code == 0 and "legacy-3" in status.output and HEAD in status.output
    assert "run `newsletter db upgrade`" in status.output
    done = runner.invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert done.exit_code == 0, done.output
    assert f"upgraded from revision legacy-3 to {HEAD}" in done.output
    again = runner.invoke(cli, ["db", "upgrade"], env={"DATABASE_URL": url})
    assert f"at revision {HEAD}, the latest; nothing to do" in again.output
    status = runner.invoke(cli, ["db", "status"], env={"DATABASE_URL": url})
    assert status.output.strip() == f"database is at revision {HEAD}, the latest"


_UPGRADER = """
import sys
from newsletter.db.engine import make_engine
from newsletter.db.migrate import upgrade
engine = make_engine(sys.argv[1], upgrade=False)
print(upgrade(engine).after)
"""


def test_two_processes_upgrading_at_once_end_with_one_correct_schema(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        database_url = _release_010_sqlite(tmp_path)  # a real upgrade for both to race on
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _UPGRADER, database_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o.strip() for o, _ in outs] == [HEAD, HEAD]
    engine = make_engine(database_url, upgrade=False)
    with reading(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar_one() == 1
    assert _autogenerate_diff(engine, tables.metadata) == []
    engine.dispose()


_REBUILD_PARENT = '''
"""test only: rebuild the subscribers table (a parent of memberships, events, deliveries)"""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("subscribers", recreate="always") as batch:
        batch.add_column(sa.Column("nickname", sa.String(50), nullable=True))


def downgrade():
    pass
'''


def test_a_batch_rebuild_of_a_parent_table_keeps_its_children(tmp_path):
    """SQLite connections switch foreign keys on; a batch rebuild drops and recreates the parent
    table, and unless migrations run with them off, that drop cascades to the children."""
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    (location / "versions" / "9001_rebuild.py").write_text(
        textwrap.dedent(_REBUILD_PARENT.format(head=HEAD)), encoding="utf-8"
    )
    engine = make_engine(_release_010_sqlite(tmp_path), upgrade=False)
    upgrade(engine)
    with reading(engine) as conn:
        before = {
            t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("memberships", "subscriber_events", "deliveries")
        }
    assert before == {"memberships": 4, "subscriber_events": 2, "deliveries": 2}
    result = upgrade(engine, location=location)
    assert result.after == "9001"
    with reading(engine) as conn:
        after = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in before}
        columns = {c["name"] for c in inspect(conn).get_columns("subscribers")}
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one()
    assert after == before
    assert "nickname" in columns
    assert foreign_keys == 1  # switched back on for everything that follows
    _assert_release_010_data(engine)
    engine.dispose()


def test_an_upgrade_that_would_orphan_rows_changes_nothing(tmp_path):
    location = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS, location, ignore=shutil.ignore_patterns("__pycache__"))
    orphaning = _REBUILD_PARENT.replace(
        'batch.add_column(sa.Column("nickname", sa.String(50), nullable=True))',
        'batch.add_column(sa.Column("nickname", sa.String(50), nullable=True))\n'
        "    op.execute(\"DELETE FROM subscribers WHERE email_key = 'ada@example.com'\")",
    )
    (location / "versions" / "9001_rebuild.py").write_text(
        textwrap.dedent(orphaning.format(head=HEAD)), encoding="utf-8"
    )
    from newsletter.errors import StoreError

    engine = make_engine(_release_010_sqlite(tmp_path), upgrade=False)
    upgrade(engine)
    with pytest.raises(StoreError, match="would lose their parent"):
        upgrade(engine, location=location)
    assert current_revision(engine) == HEAD
    _assert_release_010_data(engine)
    engine.dispose()


@pytest.mark.slow
def test_revisions_ship_in_the_wheel_and_upgrade_from_a_plain_install(tmp_path):
    """`pip install .` (not editable), as the Quick start installs it: the revision scripts and
    Alembic's script template must be in the package, and the upgrade must run from there."""
    root = Path(__file__).resolve().parent.parent
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    installed = target / "newsletter" / "db" / "migrations"
    assert (installed / "env.py").is_file() and (installed / "script.py.mako").is_file()
    assert any((installed / "versions").glob("0001_*.py"))
    url = _release_010_sqlite(tmp_path)
    env = {"PYTHONPATH": str(target), "DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "-c", "from newsletter.cli import main; main()", "db", "upgrade"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f"upgraded from revision legacy-3 to {HEAD}" in run.stdout
    probe = subprocess.run(
        [sys.executable, "-c", "import newsletter, sys; print(newsletter.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.stdout.startswith(str(target))  # the installed copy ran, not this checkout


def test_a_database_from_a_newer_release_is_one_clear_error(tmp_path):
    """A revision this code does not know (a newer release wrote the database): one line that
    says so, never Alembic's traceback, and nothing is changed."""
    from click.testing import CliRunner

    from newsletter.cli import cli

    url = f"sqlite:///{tmp_path / 'newer.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    result = CliRunner().invoke(cli, ["lists"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: the database is at schema revision 9999, which this version of newsletter does "
        f"not know (its newest is {HEAD}): a newer release wrote it; upgrade newsletter"
    )
