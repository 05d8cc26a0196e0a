"""Configuration, the database layer and migrations."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.config import load_settings, masked
from newsletter.db import connection as db_connection
from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.errors import ConfigError


def test_defaults_work_without_any_configuration(workdir):
    s = load_settings(cwd=workdir)
    assert s.backend == "outbox"
    assert s.effective_database_url == "sqlite:///newsletter.db"
    assert "postal_address" in s.defaults_used()


def test_file_then_environment_override(workdir):
    (workdir / "newsletter.toml").write_text(
        'site_url = "https://news.example.org"\nsmtp_port = 2525\n'
    )
    s = load_settings(cwd=workdir, env={"NEWSLETTER_SMTP_PORT": "587"})
    assert s.site_url == "https://news.example.org"
    assert s.sources["site_url"].endswith("newsletter.toml")
    assert s.smtp_port == 587 and s.sources["smtp_port"] == "env NEWSLETTER_SMTP_PORT"


def test_secret_in_file_is_refused(workdir):
    (workdir / "newsletter.toml").write_text('sendgrid_api_key = "SG.x"\n')
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY"):
        load_settings(cwd=workdir, env={})


def test_unknown_setting_suggests_the_right_one(workdir):
    (workdir / "newsletter.toml").write_text('site_ulr = "x"\n')
    with pytest.raises(ConfigError, match="did you mean 'site_url'"):
        load_settings(cwd=workdir, env={})


def test_secrets_are_masked(tmp_path):
    s = load_settings(
        cwd=tmp_path,
        env={"SENDGRID_API_KEY": "SG.abcdefghijklmnop", "DATABASE_URL": "postgresql://u:pw@h/d"},
    )
    shown = {name: value for name, value, _ in masked(s)}
    assert "abcdefghijkl" not in shown["sendgrid_api_key"]
    assert "pw" not in shown["database_url"]


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_a_pooled_connection_killed_while_idle_is_replaced(engine, database_url, monkeypatch):
    """PostgreSQL restarts (or an idle timeout) kill pooled connections; the next use after an
    idle spell must get a working one, not an error."""
    from sqlalchemy import text

    with engine.connect() as conn:
        pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as admin:  # outside the pool
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    monkeypatch.setattr(
        db_connection, "IDLE_PING_S", 0.0
    )  # every checkout now counts as after idling
    with engine.connect() as conn:
        assert conn.execute(text("SELECT 1")).scalar_one() == 1
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid


def test_a_long_read_never_holds_up_a_writer(engine, monkeypatch):
    """`subscribers export` of a big list, a send's per-batch re-reads, `status`: they read
    through reading, which on SQLite is a deferred (WAL) transaction, so an unsubscribe or
    a send can commit while they are still reading."""
    from sqlalchemy import func

    from newsletter.audience.lists import create_list

    monkeypatch.setattr(db_connection, "BUSY_TIMEOUT_S", 1.0)  # a regression fails in 1 s, not 30
    create_list(engine, "weekly", "Weekly")
    with reading(engine) as reader:
        count = select(func.count()).select_from(tables.lists)
        assert reader.execute(count).scalar_one() == 1  # the read transaction is open
        create_list(engine, "daily", "Daily")  # a writer commits meanwhile
    with reading(engine) as reader:
        assert reader.execute(count).scalar_one() == 2


def test_unreachable_database_is_one_line_naming_database_url(workdir):
    from tests.support.ports import free_port
    from tests.support.sending import run_cli

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there
    result = run_cli("lists", env={"DATABASE_URL": url}, cwd=workdir)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("error: ") and "DATABASE_URL" in lines[0]
