"""`subscribers confirm-request --list L` mails the confirmation link to the list's unconfirmed
members (an `import --unconfirmed`, say), once per address and within the form's limits; the
link confirms them as the form's does."""

from __future__ import annotations

import email
import re
from email import policy

from newsletter.audience.memberships import memberships_of
from newsletter.audience.subscribers import get_subscriber
from newsletter.config import Settings
from newsletter.web import create_app
from tests.support.sending import SECRET, run_cli

CONFIRM = re.compile(r"/confirm/([A-Za-z0-9_.-]+)")


def test_unconfirmed_members_get_one_confirmation_mail_each(engine, database_url, workdir) -> None:
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    assert (
        run_cli("lists", "create", "weekly", "--name", "Weekly", env=env, cwd=workdir).returncode
        == 0
    )
    (workdir / "people.csv").write_text("email,name\nann@example.org,Ann\nbo@example.org,Bo\n")
    imported = run_cli("subscribers", "import", "people.csv", "--list", "weekly", "--unconfirmed",
                       env=env, cwd=workdir)  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    asked = run_cli("subscribers", "confirm-request", "--list", "weekly", env=env, cwd=workdir)
    assert asked.returncode == 0, asked.stderr
    assert "2 confirmation mail(s) sent" in asked.stdout, asked.stdout
    mails = sorted((workdir / "outbox" / "new").glob("*.eml"))
    assert len(mails) == 2
    again = run_cli("subscribers", "confirm-request", "--list", "weekly", env=env, cwd=workdir)
    assert again.returncode == 0 and "0 confirmation mail(s) sent" in again.stdout, again.stdout
    assert "2 asked already" in again.stdout
    assert len(list((workdir / "outbox" / "new").glob("*.eml"))) == 2

    message = email.message_from_bytes(mails[0].read_bytes(), policy=policy.default)
    text = message.get_body(preferencelist=("plain",)).get_content()
    token = CONFIRM.search(text).group(1)
    client = create_app(Settings(secret_key=SECRET, database_url=database_url)).test_client()
    assert client.post(f"/confirm/{token}").status_code == 200
    statuses = {
        who: memberships_of(engine, get_subscriber(engine, f"{who}@example.org")["id"])[0]["status"]
        for who in ("ann", "bo")
    }
    assert sorted(statuses.values()) == ["subscribed", "unconfirmed"]
