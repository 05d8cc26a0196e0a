"""The pre-flight gate of `send`, `send-due` and `test-send`: `check` errors refuse a send on
every backend (warnings are printed); on smtp and sendgrid the shipped placeholders (loopback or
http site_url, the example sender, the placeholder postal address), `.invalid`/`localhost`
addresses and skeleton text refuse it too, one line each naming the setting to change.
`--force-preflight` sends anyway and is recorded in the send's options."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from newsletter.db import tables
from tests.support.sending import (
    REAL_SETTINGS,
    SECRET,
    delivered,
    populate,
    run_cli,
    smtp_env,
    weekly_send,
)


def _sends(engine) -> list[dict]:  # noqa: ANN001
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(tables.sends))]


def test_smtp_send_on_placeholder_settings_is_refused_naming_each_setting(
    engine, database_url, issue_path, workdir, sink_process
) -> None:
    port, record = sink_process
    populate(engine, "weekly", 3)
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_PORT": str(port),
    }
    for args in (weekly_send(issue_path), weekly_send(issue_path, "--dry-run")):
        result = run_cli(*args, env=env, cwd=workdir)
        assert result.returncode == 1, result.stdout
        for setting in ("NEWSLETTER_SITE_URL", "NEWSLETTER_SENDER_ADDRESS", "postal_address"):
            assert setting in result.stderr, result.stderr
        assert "--force-preflight" in result.stderr
        assert "Traceback" not in result.stderr
    proof = run_cli("test-send", str(issue_path), "--to", "me@example.org", env=env, cwd=workdir)
    assert proof.returncode == 1 and "NEWSLETTER_SITE_URL" in proof.stderr, proof.stderr
    assert _sends(engine) == [] and not delivered(record)


def test_loopback_https_and_invalid_addresses_are_refused_on_sendgrid(
    engine, database_url, issue_path, workdir
) -> None:
    populate(engine, "weekly", 2)
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": SECRET,
        "NEWSLETTER_BACKEND": "sendgrid",
        "SENDGRID_API_KEY": "SG.x",
        "NEWSLETTER_SENDGRID_API_HOST": "http://127.0.0.1:9",
        **REAL_SETTINGS,
        "NEWSLETTER_SITE_URL": "https://localhost:8443",
        "NEWSLETTER_REPLY_TO": "answers@news.invalid",
        "NEWSLETTER_BOUNCE_ADDRESS": "bounces@localhost",
    }
    result = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert result.returncode == 1
    for setting in ("NEWSLETTER_SITE_URL", "NEWSLETTER_REPLY_TO", "NEWSLETTER_BOUNCE_ADDRESS"):
        assert setting in result.stderr, result.stderr
    assert _sends(engine) == []


def test_check_errors_refuse_a_send_even_on_the_outbox(
    engine, database_url, issue_path, workdir
) -> None:
    populate(engine, "weekly", 2)
    body = "\n".join(f"Paragraph {i} " + "words " * 60 for i in range(1200))
    issue_path.write_text(issue_path.read_text() + "\n## A very long takeaway\n\n" + body + "\n")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    result = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert result.returncode == 1
    assert f"{issue_path}:1: error: final HTML is" in result.stderr, result.stderr
    assert _sends(engine) == []
    assert not list((workdir / "outbox").glob("*/*.eml"))


def test_warnings_are_printed_and_the_outbox_send_goes_on(
    engine, database_url, issue_path, workdir
) -> None:
    populate(engine, "weekly", 2)
    text = issue_path.read_text().replace(
        'subject: "Hanoi: five experts on a summit that ended early"',
        "subject: " + "A subject far longer than any inbox will show in one line " * 2,
    )
    issue_path.write_text(text)
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    result = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"{issue_path}:3: warning: " in result.stderr and "78" in result.stderr
    assert len(list((workdir / "outbox").glob("*/*.eml"))) == 2


def test_force_preflight_sends_anyway_and_is_recorded(
    engine, database_url, issue_path, workdir, sink_process
) -> None:
    port, record = sink_process
    populate(engine, "weekly", 3)
    env = {**smtp_env(database_url, port), "NEWSLETTER_SITE_URL": "http://127.0.0.1:8000"}
    result = run_cli(*weekly_send(issue_path, "--force-preflight"), env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "NEWSLETTER_SITE_URL" in result.stderr  # still said, but not refused
    assert sum(delivered(record).values()) == 3
    (send,) = _sends(engine)
    assert send["options"]["force_preflight"] is True


def test_example_org_settings_only_warn(
    engine, database_url, issue_path, workdir, sink_process
) -> None:
    port, record = sink_process
    populate(engine, "weekly", 2)
    result = run_cli(*weekly_send(issue_path), env=smtp_env(database_url, port), cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "example.org" in result.stderr
    assert sum(delivered(record).values()) == 2


def _skeleton_project(workdir: Path, env: dict[str, str]) -> Path:
    made = run_cli("new", "A first issue", "--date", "2030-01-01", env=env, cwd=workdir)
    assert made.returncode == 0, made.stderr
    path = workdir / made.stdout.strip()
    text = path.read_text().replace("lists: []", "lists: [weekly]")
    path.write_text(text.replace("# send_at:", "send_at:"))
    return path


def test_skeleton_text_fails_check_strict_and_refuses_send_due(
    engine, database_url, workdir, sink_process
) -> None:
    port, record = sink_process
    populate(engine, "weekly", 2)
    env = smtp_env(database_url, port)
    path = _skeleton_project(workdir, env)
    strict = run_cli("check", "--strict", str(path), env=env, cwd=workdir)
    assert strict.returncode == 1 and "skeleton" in strict.stdout, strict.stdout
    due = run_cli("send-due", "--now", "2030-01-01T09:05:00Z", env=env, cwd=workdir)
    assert due.returncode == 1 and "skeleton" in due.stderr, due.stderr
    assert _sends(engine) == [] and not delivered(record)


def test_check_reports_unknown_lists_without_creating_the_database(
    database_url, issue_path, workdir
) -> None:
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'none.db'}"}
    missing = run_cli("check", str(issue_path), env=env, cwd=workdir)
    assert missing.returncode == 0, missing.stdout
    assert "lists not checked" in missing.stdout
    assert not (workdir / "none.db").exists()
    env = {"DATABASE_URL": database_url}
    assert run_cli("db", "upgrade", env=env, cwd=workdir).returncode == 0
    unknown = run_cli("check", str(issue_path), env=env, cwd=workdir)
    assert unknown.returncode == 1
    assert "unknown list 'newsletter'" in unknown.stdout, unknown.stdout


def test_the_demo_still_works_on_zero_settings(database_url, workdir) -> None:
    result = run_cli("demo", env={"DATABASE_URL": database_url}, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert len(list((workdir / "outbox" / "new").glob("*.eml"))) == 5


def test_send_due_on_the_outbox_warns_about_skeleton_text_and_sends(
    engine, database_url, workdir
) -> None:
    populate(engine, "weekly", 1)
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    _skeleton_project(workdir, env)
    due = run_cli("send-due", "--now", "2030-01-01T09:05:00Z", env=env, cwd=workdir)
    assert due.returncode == 0, due.stderr  # the outbox: skeleton text only warns
    assert "warning" in due.stdout and "skeleton" in due.stdout
    assert len(list((workdir / "outbox").glob("*/*.eml"))) == 1


def test_build_prints_the_issues_warnings(database_url, issue_path, workdir) -> None:
    text = issue_path.read_text().replace("preheader: ", "# preheader: ")
    issue_path.write_text(text)
    result = run_cli("build", str(issue_path), env={"DATABASE_URL": database_url}, cwd=workdir)
    assert result.returncode == 0, result.stderr
    assert f"{issue_path}:1: warning: no preheader" in result.stderr, result.stderr


def test_each_unusable_setting_is_named_even_beside_the_placeholder_sender() -> None:
    from newsletter.config import Settings
    from newsletter.config.preflight import real_send_findings

    settings = Settings(reply_to="answers@news.invalid", sources={})
    errors = [f.message for f in real_send_findings(settings, "smtp") if f.severity == "error"]
    assert [m.split()[0] for m in errors] == [
        "site_url", "sender_address", "reply_to", "postal_address"
    ]  # fmt: skip
    assert "NEWSLETTER_REPLY_TO" in errors[2]
    assert real_send_findings(settings, "outbox") == []
    derived = Settings(sender_address="news@localhost", sources={})
    bounce = [f.message for f in real_send_findings(derived, "sendgrid") if "bounce" in f.message]
    assert bounce and "NEWSLETTER_SENDER_ADDRESS" in bounce[0]  # the default follows the sender
