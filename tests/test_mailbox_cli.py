"""`newsletter mailbox PATH` (and its alias `unsubscribe-mailbox`): unsubscribe requests to the
List-Unsubscribe mailto:, one summary line, --json, --delete, unrecognised mail set aside and
listed, and an exit code that is non-zero only when the mailbox cannot be read."""

from __future__ import annotations

import json

from click.testing import CliRunner

from newsletter.cli import cli
from tests.support.mailroom import dsn


def _request(subject: str) -> bytes:
    return (
        f"From: someone@example.org\r\nTo: unsubscribe@example.com\r\nSubject: {subject}\r\n"
        "\r\nplease\r\n"
    ).encode()


def _invoke(mailroom, monkeypatch, *args: str):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", mailroom.settings.database_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", mailroom.settings.secret_key)
    monkeypatch.chdir(mailroom.box.parent)  # not the checkout: the demo may have left a key there
    return CliRunner().invoke(cli, list(args))


def _status(mailroom, subscriber_id: int) -> str:  # type: ignore[no-untyped-def]
    from newsletter.audience.memberships import memberships_of

    return memberships_of(mailroom.engine, subscriber_id)[0]["status"]


def test_unsubscribe_requests_with_a_valid_token_unsubscribe_the_others_are_set_aside(
    mailroom, monkeypatch
):
    token = mailroom.signer.make("unsubscribe", 1, mailroom.list_id)
    other = mailroom.signer.make("unsubscribe", 2, mailroom.list_id)
    mailroom.drop("1.mail", _request(f"unsubscribe {token}"))
    mailroom.drop("2.mail", _request(f"Re: unsubscribe {other[:-3]}"))  # tampered
    mailroom.drop("3.mail", _request("hello"))
    result = _invoke(mailroom, monkeypatch, "unsubscribe-mailbox", str(mailroom.box))
    assert result.exit_code == 0, result.output
    assert _status(mailroom, 1) == "unsubscribed" and _status(mailroom, 2) == "subscribed"
    assert mailroom.files("cur") == ["1.mail:2,S"]
    assert mailroom.files(".unrecognised/new") == ["2.mail", "3.mail"]
    assert "unrecognised 2.mail: an unsubscribe request without a valid token" in result.output
    assert "unrecognised 3.mail: not a delivery report, complaint or unsubscribe request" in (
        result.output
    )
    last = result.output.strip().splitlines()[-1]
    assert last.startswith(f"mailbox {mailroom.box}: read 3 messages: 1 unsubscribed, 0 bounced")
    assert "2 unrecognised" in last
    again = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert "read 0 messages" in again.output  # nothing is handled twice


def test_json_report_and_two_worker_processes(mailroom, monkeypatch):
    send = mailroom.add_send()
    for sid in mailroom.subscribers:
        mailroom.drop(f"{sid}.eml", dsn(mailroom.tag(send, sid)))
    mailroom.drop("x.eml", dsn("0" * 32))
    result = _invoke(
        mailroom, monkeypatch, "mailbox", str(mailroom.box), "--json", "--workers", "2"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["read"], report["hard"], report["suppressed"]) == (7, 6, 6)
    assert report["unrecognised"] == [
        {
            "message": "x.eml",
            "reason": "a delivery report, but its recipient tag is not one of ours (forged, "
            "or made with another key)",
        }
    ]
    assert len(mailroom.files("cur")) == 6


def test_delete_removes_processed_messages_but_keeps_unrecognised_ones(mailroom, monkeypatch):
    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1)))
    mailroom.drop("2", _request("hello"))
    result = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box), "--delete")
    assert result.exit_code == 0, result.output
    assert mailroom.files("cur") == [] and mailroom.files("new") == []
    assert mailroom.files(".unrecognised/new") == ["2"]


def test_messages_a_mail_client_moved_to_cur_unread_are_processed(mailroom, monkeypatch):
    send = mailroom.add_send()
    mailroom.drop("1:2,", dsn(mailroom.tag(send, 1)), folder="cur")
    mailroom.drop("2:2,S", dsn(mailroom.tag(send, 2)), folder="cur")  # seen: left alone
    result = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert "read 1 messages" in result.output
    assert mailroom.files("cur") == ["1:2,S", "2:2,S"]
    assert mailroom.suppression(1) == "bounced" and mailroom.suppression(2) is None


def test_exit_code_is_non_zero_only_when_the_mailbox_cannot_be_read(mailroom, monkeypatch):
    missing = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box / "nope"))
    assert missing.exit_code == 1
    assert missing.output.startswith("error: ") and "not a Maildir" in missing.output
    assert len(missing.output.strip().splitlines()) == 1
    neither = _invoke(mailroom, monkeypatch, "mailbox")
    assert neither.exit_code == 1 and "give a Maildir PATH or --imap" in neither.output
    garbage = bytes(range(256)) * 50 + b"\r\n\r\n--\r\n" + b"Content-Type: multipart/report"
    mailroom.drop("junk", garbage)
    mailroom.drop("empty", b"")
    ok = _invoke(mailroom, monkeypatch, "mailbox", str(mailroom.box))
    assert ok.exit_code == 0, ok.output
    assert "2 unrecognised" in ok.output


def _newsletter_script() -> str:
    """The `newsletter` script installed beside this Python (else the one on PATH)."""
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).parent / "newsletter"
    return str(beside) if beside.exists() else shutil.which("newsletter") or "newsletter"


def test_the_readme_crontab_line_processes_the_maildir(mailroom, tmp_path):
    """The README's `mailbox` crontab command, its paths pointed at this test's folders, run
    the way cron runs it: `sh -c` with cron's bare environment."""
    import re
    import shlex
    import subprocess
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- crontab-mailbox -->", 1)[1].split("<!-- /crontab-mailbox -->")[0]
    (line,) = [x for x in block.splitlines() if re.match(r"^[\d*/,-]+( +[\d*/,-]+){4} +", x)]
    project, logs = tmp_path / "srv", tmp_path / "logs"
    project.mkdir()
    logs.mkdir()
    (project / "newsletter.env").write_text(
        f"export DATABASE_URL={shlex.quote(mailroom.settings.database_url)}\n"
        f"export NEWSLETTER_SECRET_KEY={mailroom.settings.secret_key}\n"
    )
    send = mailroom.add_send()
    mailroom.drop("1", dsn(mailroom.tag(send, 1)))
    command = (
        line.split(None, 5)[5]
        .replace("/srv/newsletter/.venv/bin/newsletter", _newsletter_script())
        .replace("/var/log/newsletter", str(logs))
        .replace("/home/newsletter/Maildir", str(mailroom.box))
        .replace("/srv/newsletter", str(project))
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project), "SHELL": "/bin/sh", "LOGNAME": "root"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])  # the code under test
    result = subprocess.run(
        ["sh", "-c", command], env=env, capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, (command, result.stderr)
    assert (
        "read 1 messages: 0 unsubscribed, 1 bounced (1 hard" in (logs / "mailbox.log").read_text()
    )
    assert mailroom.suppression(1) == "bounced"


def test_a_password_in_a_malformed_imap_url_is_never_printed(mailroom, monkeypatch):
    monkeypatch.setenv("NEWSLETTER_IMAP_PASSWORD", "from-the-environment")
    for url in (
        "imaps://bob:hunter2@/INBOX",  # no host
        "imaps://bob:hunter2@imap.example.org:99999/INBOX",  # no such port
        "imapx://bob:hunter2@imap.example.org/INBOX",  # no such scheme
        "imaps://bob:hun@ter2@:1/INBOX",  # an unescaped @ in the password
    ):
        result = _invoke(mailroom, monkeypatch, "mailbox", "--imap", url)
        assert result.exit_code != 0, url
        assert "hunter2" not in result.output and "ter2" not in result.output, result.output
        assert "****" in result.output and "Traceback" not in result.output, result.output
