"""Bad settings are one line that says what to do, never a traceback; `newsletter config`
shows no character of any secret; a mistyped NEWSLETTER_* variable is pointed out."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.config import load_settings, mask_url, masked
from tests.support.sending import run_cli

SCHEMES_HINT = "use sqlite:///path/to/file.db (SQLite) or postgresql://"


def _one_error_line(result) -> str:  # noqa: ANN001
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("url", ["mysql://app:hunter2secret@db.internal/news", "oracle://x/y"])
def test_an_unsupported_database_says_which_ones_work(workdir: Path, url: str) -> None:
    line = _one_error_line(run_cli("lists", env={"DATABASE_URL": url}, cwd=workdir))
    scheme = url.partition("://")[0]
    assert f"DATABASE_URL: unsupported database '{scheme}://'" in line
    assert SCHEMES_HINT in line
    assert "hunter2secret" not in line


def test_a_database_url_that_is_no_url_says_what_one_looks_like(workdir: Path) -> None:
    result = run_cli("lists", env={"DATABASE_URL": "postgresql:/app:hunter2@db"}, cwd=workdir)
    line = _one_error_line(result)
    assert line.startswith("error: DATABASE_URL is not a database URL") and SCHEMES_HINT in line
    assert "hunter2" not in line


def test_a_sqlite_folder_that_cannot_be_created_says_so(workdir: Path) -> None:
    (workdir / "data").write_text("a file where the folder should be")
    url = f"sqlite:///{workdir / 'data' / 'db' / 'news.db'}"
    create = ("lists", "create", "weekly", "--name", "Weekly")  # a command that creates the file
    line = _one_error_line(run_cli(*create, env={"DATABASE_URL": url}, cwd=workdir))
    assert line == (
        f"error: DATABASE_URL: cannot create the folder {workdir / 'data' / 'db'} for the "
        "SQLite database: Not a directory (choose another path, or create the folder)"
    )


def test_a_sqlite_path_that_is_a_folder_says_so(workdir: Path) -> None:
    (workdir / "data").mkdir()
    url = f"sqlite:///{workdir / 'data'}"
    line = _one_error_line(run_cli("lists", env={"DATABASE_URL": url}, cwd=workdir))
    assert (
        line == f"error: DATABASE_URL: {workdir / 'data'} is a folder; name a database file in it"
    )


SECRET = "Zq7-hunter2-Xk9"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://app:{SECRET}@db.internal:5432/news",
        f"postgresql://app@db.internal/news?password={SECRET}",
        f"postgresql://app@db.internal/news?sslmode=require&sslpassword={SECRET}",
        f"postgresql://app:{SECRET}@db.internal/news?sslpassword={SECRET}&password={SECRET}",
        f"postgresql://app@db.internal/news?PASSWORD={SECRET}&application_name=news",
        f"postgresql://app:{SECRET}@db.internal/news?application_name=a@b",
        f"postgresql://app:{SECRET.replace('-', '@')}@db.internal/news",  # unescaped @
        f"postgres://:{SECRET}@db.internal/news",
        f"postgresql://app:{SECRET}@h1:5432,h2:5433/news?target_session_attrs=any",
    ],
)
def test_config_masks_every_password_in_the_database_url(workdir: Path, url: str) -> None:
    result = CliRunner().invoke(cli, ["config"], env={"DATABASE_URL": url})
    assert result.exit_code == 0, result.output
    shown = next(line for line in result.stdout.splitlines() if line.startswith("database_url"))
    for piece in (SECRET, *SECRET.split("-"), *SECRET.replace("-", "@").split("@")):
        assert piece not in shown, shown
    assert "****" in shown


def test_mask_url_keeps_what_is_not_secret() -> None:
    url = "postgresql://app:pw@db.internal:5432/news?sslmode=require&password=pw&connect_timeout=5"
    assert mask_url(url) == (
        "postgresql://app:****@db.internal:5432/news?sslmode=require&password=****"
        "&connect_timeout=5"
    )
    assert mask_url("sqlite:///var/lib/news.db") == "sqlite:///var/lib/news.db"


def test_a_masked_secret_shows_no_character_of_it(tmp_path: Path) -> None:
    env = {
        "SENDGRID_API_KEY": "SG.abcdefghijklmnopqrstuvwxyz",
        "NEWSLETTER_SECRET_KEY": "k" * 40,
        "NEWSLETTER_SMTP_PASSWORD": "a-long-smtp-password",
        "NEWSLETTER_OLD_SECRET_KEYS": "old-key-one,old-key-two",
    }
    shown = {name: value for name, value, _ in masked(load_settings(cwd=tmp_path, env=env))}
    for name in ("sendgrid_api_key", "secret_key", "smtp_password", "old_secret_keys"):
        assert shown[name] == "****"


def test_a_mistyped_environment_variable_gets_a_did_you_mean(workdir: Path) -> None:
    env = {
        "NEWSLETTER_SMTP_PASWORD": "x",  # the typo from the issue
        "NEWSLETTER_DATABASE_URL": "sqlite:///x.db",  # the secret has no prefix
        "NEWSLETTER_TEST_CRASH_AT": "never:0",  # the test harness's own hooks: no warning
        "NEWSLETTER_TEST_BATCH_DELAY": "0",
    }
    result = run_cli("lists", "create", "weekly", "--name", "Weekly", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "warning: environment variable NEWSLETTER_DATABASE_URL is not a setting; it is "
        "ignored (did you mean 'DATABASE_URL'?)",
        "warning: environment variable NEWSLETTER_SMTP_PASWORD is not a setting; it is "
        "ignored (did you mean 'NEWSLETTER_SMTP_PASSWORD'?)",
    ]


def test_known_variables_and_unrelated_ones_give_no_warning(tmp_path: Path) -> None:
    env = {
        "NEWSLETTER_SMTP_PASSWORD": "x",
        "NEWSLETTER_SITE_URL": "https://news.example.org",
        "NEWSLETTER_TEST_REQUIRE_POSTGRES": "1",
        "PATH": "/usr/bin",
        "NEWSLETTERX": "1",
    }
    assert load_settings(cwd=tmp_path, env=env).warnings == ()
    odd = load_settings(cwd=tmp_path, env={"NEWSLETTER_QWERTY": "1"}).warnings
    assert odd == ("environment variable NEWSLETTER_QWERTY is not a setting; it is ignored",)


def test_the_web_app_logs_a_mistyped_environment_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Under gunicorn nobody reads the CLI's stderr: the warning goes to the server log."""
    from newsletter.web import create_app

    monkeypatch.setenv("NEWSLETTER_SMTP_PASWORD", "x")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{workdir / 'web.db'}")
    with caplog.at_level("WARNING", logger="newsletter.web.app"):
        create_app()
    assert any(
        "NEWSLETTER_SMTP_PASWORD" in r.getMessage() and "NEWSLETTER_SMTP_PASSWORD" in r.getMessage()
        for r in caplog.records
    )
