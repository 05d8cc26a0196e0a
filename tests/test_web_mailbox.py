"""`newsletter unsubscribe-mailbox`: mails to the List-Unsubscribe mailto: address."""

from __future__ import annotations

from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.mailbox.unsubscribe_requests import process_maildir


def _mail(folder, name: str, subject: str) -> None:  # type: ignore[no-untyped-def]
    (folder / "new").mkdir(parents=True, exist_ok=True)
    (folder / "new" / name).write_bytes(
        f"From: someone@example.org\r\nTo: unsubscribe@example.com\r\nSubject: {subject}\r\n"
        f"\r\nplease\r\n".encode()
    )


def test_maildir_unsubscribes_valid_tokens_and_moves_everything_to_cur(web):
    ann = web.member("ann@example.org")
    bob = web.member("bob@example.org")
    box = web.workdir / "Maildir"
    _mail(box, "1.mail", f"unsubscribe {web.token('unsubscribe', ann['id'])}")
    _mail(box, "2.mail", f"Re: unsubscribe {web.token('unsubscribe', bob['id'])[:-3]}")
    _mail(box, "3.mail", "hello")
    report = process_maildir(web.engine, web.signer, box)
    assert (report.unsubscribed, report.invalid) == (1, 2)
    assert web.status(ann["id"]) == "unsubscribed" and web.status(bob["id"]) == "subscribed"
    assert web.suppressions() == [("ann@example.org", web.list["id"], "unsubscribed", "mailto")]
    assert list((box / "new").iterdir()) == []
    assert sorted(p.name for p in (box / "cur").iterdir()) == [
        "1.mail:2,S",
        "2.mail:2,F",
        "3.mail:2,F",
    ]
    again = process_maildir(web.engine, web.signer, box)  # nothing is handled twice
    assert (again.unsubscribed, again.invalid) == (0, 0)


def test_cli_command(web, monkeypatch):
    ann = web.member("ann@example.org")
    box = web.workdir / "Maildir"
    _mail(box, "1.mail", f"unsubscribe {web.token('unsubscribe', ann['id'])}")
    monkeypatch.setenv("DATABASE_URL", web.settings.database_url)
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", web.settings.secret_key)
    result = CliRunner().invoke(cli, ["unsubscribe-mailbox", str(box)])
    assert result.exit_code == 0, result.output
    assert "1 unsubscribed, 0 without a valid token" in result.output
    bad = CliRunner().invoke(cli, ["unsubscribe-mailbox", str(web.workdir / "nope")])
    assert bad.exit_code == 1 and "not a Maildir" in bad.output
