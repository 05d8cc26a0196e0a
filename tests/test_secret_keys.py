"""Setting NEWSLETTER_SECRET_KEY after starting on the outbox's generated key breaks no link
already mailed: the generated key (`.newsletter-secret`) stays accepted as an old key, with a
warning on every command that acts, until `newsletter secret retire` removes it.
`newsletter secret rotate` prints the steps of a rotation."""

from __future__ import annotations

import re
from pathlib import Path

from newsletter.config import Settings
from newsletter.web import create_app
from tests.support.sending import populate, run_cli, weekly_send

NEW_KEY = "the-operators-own-key-0123456789abcdef"
UNSUB = re.compile(r"/unsubscribe/([A-Za-z0-9_.-]+)")


def _key_file(engine, workdir: Path) -> Path:  # noqa: ANN001
    """Beside a SQLite file; in the working directory for PostgreSQL."""
    if engine.dialect.name == "sqlite":
        return Path(engine.url.database).parent / ".newsletter-secret"
    return workdir / ".newsletter-secret"


def _first_mail_token(workdir: Path) -> str:
    [mail] = list((workdir / "outbox" / "new").glob("*.eml"))
    found = UNSUB.search(mail.read_text())
    assert found, "no unsubscribe link"
    return found.group(1)


def _page(workdir: Path, database_url: str, token: str) -> int:
    settings = Settings(secret_key=NEW_KEY, database_url=database_url)
    client = create_app(settings).test_client()
    return client.get(f"/unsubscribe/{token}").status_code


def _outbox_project(engine, workdir: Path, database_url: str, issue_path: Path) -> str:  # noqa: ANN001
    populate(engine, "weekly", 1)
    sent = run_cli(*weekly_send(issue_path), env={"DATABASE_URL": database_url}, cwd=workdir)
    assert sent.returncode == 0, sent.stderr
    assert _key_file(engine, workdir).is_file()
    return _first_mail_token(workdir)


def test_links_signed_with_the_generated_key_keep_working_after_setting_a_key(
    engine, workdir, issue_path
) -> None:
    url = str(engine.url.render_as_string(hide_password=False))
    token = _outbox_project(engine, workdir, url, issue_path)
    assert _page(workdir, url, token) == 200


def test_acting_commands_warn_and_send_due_stays_silent_when_idle(
    engine, workdir, issue_path
) -> None:
    url = str(engine.url.render_as_string(hide_password=False))
    _outbox_project(engine, workdir, url, issue_path)
    env = {"DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": NEW_KEY}
    proof = run_cli("test-send", str(issue_path), "--list", "weekly", "--to", "me@example.org",
                    env=env, cwd=workdir)  # fmt: skip
    assert proof.returncode == 0, proof.stderr
    assert ".newsletter-secret" in proof.stderr and "newsletter secret retire" in proof.stderr
    idle = run_cli("send-due", "--now", "2000-01-01T00:00:00Z", env=env, cwd=workdir)
    assert idle.returncode == 0 and idle.stdout == idle.stderr == "", idle.stderr
    pruned = run_cli("prune", env=env, cwd=workdir)
    assert pruned.returncode == 0 and pruned.stdout == pruned.stderr == "", pruned.stderr


def test_rotate_prints_the_steps_and_retire_removes_the_generated_key(
    engine, workdir, issue_path
) -> None:
    url = str(engine.url.render_as_string(hide_password=False))
    token = _outbox_project(engine, workdir, url, issue_path)
    env = {"DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": NEW_KEY}
    rotate = run_cli("secret", "rotate", env=env, cwd=workdir)
    assert rotate.returncode == 0, rotate.stderr
    assert "NEWSLETTER_SECRET_KEY=" in rotate.stdout and "60 days" in rotate.stdout
    assert f"NEWSLETTER_OLD_SECRET_KEYS={NEW_KEY}" in rotate.stdout
    retire = run_cli("secret", "retire", "--yes", env=env, cwd=workdir)
    assert retire.returncode == 0, retire.stderr
    assert not _key_file(engine, workdir).exists()
    assert "no longer" in retire.stdout
    assert _page(workdir, url, token) == 404
    quiet = run_cli("test-send", str(issue_path), "--list", "weekly", "--to", "me@example.org",
                    env=env, cwd=workdir)  # fmt: skip
    assert ".newsletter-secret" not in quiet.stderr
