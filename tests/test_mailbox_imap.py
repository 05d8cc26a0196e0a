"""`newsletter mailbox --imap` against a real IMAP server (Dovecot on 127.0.0.1, IMAPS with a
private certificate): a refused login and a missing folder are one clear line each, and every
message is processed exactly once (\\Seen when done, a keyword when unrecognised)."""

from __future__ import annotations

import json

import pytest

from tests.support.imap_server import PASSWORD
from tests.support.mailroom import arf, dsn
from tests.support.sending import run_cli


@pytest.fixture
def database_url(tmp_path):  # type: ignore[no-untyped-def]
    """SQLite only: what is tested here is the IMAP side (the database paths run elsewhere)."""
    return f"sqlite:///{tmp_path / 'test.db'}"


def _env(mailroom, server, password: str = PASSWORD) -> dict:  # type: ignore[no-untyped-def]
    return {
        "DATABASE_URL": mailroom.settings.database_url,
        "NEWSLETTER_SECRET_KEY": mailroom.settings.secret_key,
        "NEWSLETTER_IMAP_PASSWORD": password,
        "NEWSLETTER_IMAP_CA_FILE": server.ca_file,
    }


def test_messages_are_processed_exactly_once(mailroom, imap_server, workdir):
    send = mailroom.add_send()
    imap_server.append(dsn(mailroom.tag(send, 1)))
    imap_server.append(arf(mailroom.tag(send, 2)))
    imap_server.append(b"From: a@example.org\r\nSubject: hello\r\n\r\nhi\r\n")
    env = _env(mailroom, imap_server)
    first = run_cli("mailbox", "--imap", imap_server.url(), "--json", env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert (report["read"], report["hard"], report["complaints"]) == (3, 1, 1)
    assert [u["message"] for u in report["unrecognised"]] == ["uid 3"]
    flags = imap_server.flags()
    assert "\\Seen" in flags[0] and "\\Seen" in flags[1]
    assert "NewsletterUnrecognised" in flags[2] and "\\Seen" not in flags[2]
    assert mailroom.suppression(1) == "bounced" and mailroom.suppression(2) == "complained"
    again = run_cli("mailbox", "--imap", imap_server.url(), env=env, cwd=workdir)
    assert again.returncode == 0 and "read 0 messages" in again.stdout, again.stdout
    assert len(mailroom.bounce_rows()) == 2


def test_delete_expunges_processed_messages(mailroom, imap_server, workdir):
    send = mailroom.add_send()
    imap_server.append(dsn(mailroom.tag(send, 1)))
    imap_server.append(b"From: a@example.org\r\nSubject: hello\r\n\r\nhi\r\n")
    env = _env(mailroom, imap_server)
    done = run_cli("mailbox", "--imap", imap_server.url(), "--delete", env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    flags = imap_server.flags()
    assert len(flags) == 1 and "NewsletterUnrecognised" in flags[0]


def test_a_refused_login_is_one_clear_line(mailroom, imap_server, workdir):
    env = _env(mailroom, imap_server, password="wrong")
    result = run_cli("mailbox", "--imap", imap_server.url(), env=env, cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(
        f"error: IMAP server 127.0.0.1:{imap_server.port} refused the login for 'bounces'"
    )
    assert "NEWSLETTER_IMAP_PASSWORD" in result.stderr


def test_a_folder_that_does_not_exist_is_one_clear_line(mailroom, imap_server, workdir):
    env = _env(mailroom, imap_server)
    result = run_cli("mailbox", "--imap", imap_server.url("Bounces"), env=env, cwd=workdir)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: IMAP folder 'Bounces' cannot be opened on 127.0.0.1")


def test_a_private_certificate_needs_the_ca_file(mailroom, imap_server, workdir):
    env = _env(mailroom, imap_server)
    del env["NEWSLETTER_IMAP_CA_FILE"]
    result = run_cli("mailbox", "--imap", imap_server.url(), env=env, cwd=workdir)
    assert result.returncode == 1
    assert "TLS with IMAP server" in result.stderr and "imap_ca_file" in result.stderr


def test_a_bounce_someone_opened_in_a_mail_client_is_still_processed(
    mailroom, imap_server, workdir
):
    send = mailroom.add_send()
    env = _env(mailroom, imap_server)
    imap_server.append(dsn(mailroom.tag(send, 1)))
    first = run_cli("mailbox", "--imap", imap_server.url(), "--json", env=env, cwd=workdir)
    assert first.returncode == 0 and json.loads(first.stdout)["hard"] == 1, first.stderr
    imap_server.append(dsn(mailroom.tag(send, 2)))
    imap_server.mark_seen(2)  # a person read it before the next run
    second = run_cli("mailbox", "--imap", imap_server.url(), "--json", env=env, cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["hard"] == 1
    assert mailroom.suppression(2) == "bounced"
    assert all("NewsletterProcessed" in flags for flags in imap_server.flags())
    third = run_cli("mailbox", "--imap", imap_server.url(), env=env, cwd=workdir)
    assert "read 0 messages" in third.stdout, third.stdout


def test_on_the_first_run_after_the_upgrade_seen_mail_counts_as_processed_once(
    mailroom, imap_server, workdir
):
    send = mailroom.add_send()
    env = _env(mailroom, imap_server)
    imap_server.append(dsn(mailroom.tag(send, 1)))  # processed by the release before: \\Seen
    imap_server.mark_seen(1)
    imap_server.append(dsn(mailroom.tag(send, 2)))  # arrived since: unseen
    first = run_cli("mailbox", "--imap", imap_server.url(), "--json", env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["read"] == 1
    assert mailroom.suppression(1) is None and mailroom.suppression(2) == "bounced"
    assert all("NewsletterProcessed" in flags for flags in imap_server.flags())
    imap_server.append(dsn(mailroom.tag(send, 3)))
    imap_server.mark_seen(3)  # after the first run, \\Seen alone means nothing
    second = run_cli("mailbox", "--imap", imap_server.url(), "--json", env=env, cwd=workdir)
    assert json.loads(second.stdout)["read"] == 1 and mailroom.suppression(3) == "bounced"
