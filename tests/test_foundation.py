"""Configuration, the database layer and migrations."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from newsletter import db
from newsletter.config import load_settings, masked
from newsletter.errors import ConfigError
from newsletter.migrations import HEAD, STEPS, current_version, upgrade


def test_defaults_work_without_any_configuration(workdir):
    s = load_settings()
    assert s.backend == "outbox"
    assert s.effective_database_url == "sqlite:///newsletter.db"
    assert "postal_address" in s.defaults_used()


def test_file_then_environment_override(workdir):
    (workdir / "newsletter.toml").write_text(
        'site_url = "https://news.example.org"\nsmtp_port = 2525\n'
    )
    s = load_settings(env={"NEWSLETTER_SMTP_PORT": "587"})
    assert s.site_url == "https://news.example.org"
    assert s.sources["site_url"].endswith("newsletter.toml")
    assert s.smtp_port == 587 and s.sources["smtp_port"] == "env NEWSLETTER_SMTP_PORT"


def test_secret_in_file_is_refused(workdir):
    (workdir / "newsletter.toml").write_text('sendgrid_api_key = "SG.x"\n')
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        load_settings(env={})


def test_unknown_setting_suggests_the_right_one(workdir):
    (workdir / "newsletter.toml").write_text('site_ulr = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'site_url'"):
        load_settings(env={})


def test_secrets_are_masked():
    s = load_settings(
        env={"SENDGRID_API_KEY": "SG.abcdefghijklmnop", "DATABASE_URL": "postgresql://u:pw@h/d"}
    )
    shown = {name: value for name, value, _ in masked(s)}
    assert "abcdefghijkl" not in shown["sendgrid_api_key"]
    assert "pw" not in shown["database_url"]


def test_fresh_database_is_at_head(engine):
    with engine.connect() as conn:
        assert current_version(conn) == HEAD
        names = set(inspect(conn).get_table_names())
    assert {"lists", "subscribers", "memberships", "suppressions", "sends", "deliveries"} <= names


def test_upgrade_keeps_data_from_an_old_version(database_url):
    engine = db.make_engine(database_url, upgrade=False)
    upgrade(engine, target=1)
    now = db.now()
    with engine.begin() as conn:
        conn.execute(db.lists.insert().values(slug="weekly", name="Weekly", created_at=now))
        conn.execute(
            db.subscribers.insert().values(
                email="Ann@Example.com",
                email_key="Ann@example.com",
                name="Ann",
                attributes={"city": "Oslo"},
                created_at=now,
                updated_at=now,
            )
        )
    with engine.connect() as conn:
        assert current_version(conn) == 1
        assert not inspect(conn).has_table("deliveries")
    applied = upgrade(engine)
    assert [a.split(":")[0] for a in applied] == [str(n) for n, _, _ in STEPS[1:]]
    with engine.connect() as conn:
        assert current_version(conn) == HEAD
        row = conn.execute(select(db.subscribers)).one()
        assert (row.email, row.name, row.attributes) == ("Ann@Example.com", "Ann", {"city": "Oslo"})
        assert conn.execute(select(db.lists.c.slug)).scalar_one() == "weekly"
    assert upgrade(engine) == []
    engine.dispose()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_pooled_connection_killed_while_idle_is_replaced(engine, database_url, monkeypatch):
    """PostgreSQL restarts (or an idle timeout) kill pooled connections; the next use after an
    idle spell must get a working one, not an error."""
    from sqlalchemy import text

    from newsletter import db

    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as admin:  # outside the pool
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    monkeypatch.setattr(db, "IDLE_PING_S", 0.0)  # every checkout now counts as after idling
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_a_long_read_never_holds_up_a_writer(engine, monkeypatch):
    """`subscribers export` of a big list, a send's per-batch re-reads, `status`: they read
    through db.reading, which on SQLite is a deferred (WAL) transaction, so an unsubscribe or
    a send can commit while they are still reading."""
    from sqlalchemy import func, select

    from newsletter import db
    from newsletter.subscribers import create_list

    monkeypatch.setattr(db, "BUSY_TIMEOUT_S", 1.0)  # a regression fails in 1 s, not 30
    create_list(engine, "weekly", "Weekly")
    with db.reading(engine) as reader:
        count = select(func.count()).select_from(db.lists)
        assert reader.execute(count).scalar_one() == 1  # the read transaction is open
        create_list(engine, "daily", "Daily")  # a writer commits meanwhile
    with db.reading(engine) as reader:
        assert reader.execute(count).scalar_one() == 2


def test_unreachable_database_is_one_line_naming_database_url(workdir):
    from tests.support.sending import run_cli
    from tests.support.web_server import free_port

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there
    result = run_cli("lists", env={"DATABASE_URL": url}, cwd=workdir)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("error: ") and "DATABASE_URL" in lines[0]
