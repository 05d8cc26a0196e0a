"""End to end with a real MTA: the Postfix lab (../shared/labs/postfix-lab.sh: Postfix on
127.0.0.1:2526, local delivery only). A send through it reaches real local mailboxes with the
VERP return path, and Postfix itself bounces the unknown users at delivery; the DSNs it writes
to the bounce mailbox are processed by `newsletter mailbox`.

The lab is shared by everything on this machine, so the test never empties it: it picks out
the DSNs that carry its own tags (its secret key is made for this run), processes copies of
them in a Maildir of its own, and removes what it delivered."""

from __future__ import annotations

import json
import pwd
import secrets
import shutil
from pathlib import Path

from newsletter.tokens import Signer
from tests.support.sending import REAL_SETTINGS, SAMPLE, run_cli
from tests.support.waiting import wait_until


def _mine(folder: Path, marks: list[str]) -> list[Path]:
    found = []
    for path in folder.iterdir():
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if any(m.encode() in data for m in marks):
            found.append(path)
    return found


def _wait_for(folder: Path, marks: list[str], count: int) -> list[Path]:
    """The `count` messages in `folder` that carry one of `marks`, once they have arrived."""

    def arrived() -> list[Path]:
        found = _mine(folder, marks)
        return found if len(found) >= count else []

    return wait_until(arrived, what=f"{count} messages marked {marks} in {folder}", interval=0.2)


def test_dsns_written_by_postfix_are_processed(lab, workdir, tmp_path):
    key = secrets.token_urlsafe(24)
    domain = lab["LAB_RCPT_DOMAIN"]
    ghosts = [f"ghost-{secrets.token_hex(4)}" for _ in range(2)]
    people = ["reader1", "reader2", *ghosts]
    env = {
        **REAL_SETTINGS,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lab.db'}",
        "NEWSLETTER_SECRET_KEY": key,
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": lab["NEWSLETTER_SMTP_HOST"],
        "NEWSLETTER_SMTP_PORT": lab["NEWSLETTER_SMTP_PORT"],
        "NEWSLETTER_SENDER_ADDRESS": f"news@{domain}",
    }
    assert (
        run_cli("lists", "create", "newsletter", "--name", "News", env=env, cwd=workdir).returncode
        == 0
    )
    for name in people:
        added = run_cli(
            "subscribers", "add", f"{name}@{domain}", "--list", "newsletter", env=env, cwd=workdir
        )
        assert added.returncode == 0, added.stderr
    (workdir / "issues").mkdir()
    issue = Path(shutil.copy(SAMPLE, workdir / "issues" / SAMPLE.name))
    sent = run_cli("send", str(issue), "--yes", env=env, cwd=workdir)
    assert sent.returncode == 0, sent.stderr

    signer = Signer([key])
    tags = {i: signer.recipient_tag(1, i, purpose="return-path") for i in range(1, 5)}
    news = Path(lab["LAB_NEWS_MAILDIR"]) / "new"
    dsns = _wait_for(news, [f"bounces+{tags[3]}@", f"bounces+{tags[4]}@"], 2)
    readers = {
        i: _wait_for(Path(pwd.getpwnam(f"reader{i}").pw_dir) / "Maildir" / "new", [tags[i]], 1)[0]
        for i in (1, 2)
    }
    try:
        for i, path in readers.items():  # delivered with the VERP return path, From unchanged
            head = path.read_bytes().split(b"\n\n", 1)[0].decode()
            assert f"Return-Path: <bounces+{tags[i]}@{domain}>" in head
            assert f"From: Newsletter <news@{domain}>" in head
        box = tmp_path / "Maildir"
        for sub in ("new", "cur", "tmp"):
            (box / sub).mkdir(parents=True)
        for path in dsns:
            shutil.copy(path, box / "new" / path.name)
        done = run_cli("mailbox", str(box), "--json", env=env, cwd=workdir)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        assert (report["read"], report["hard"], report["suppressed"]) == (2, 2, 2), report
        status = run_cli("status", str(issue), env=env, cwd=workdir)
        counts = "sent 4 (bounced 2 (hard 2, soft 0, blocked 0), complained 0) failed 0"
        assert counts in status.stdout, status.stdout
        for ghost in ghosts:
            assert f'hard 5.1.1: X-Postfix; unknown user: "{ghost}"' in status.stdout
            shown = run_cli("subscribers", "show", f"{ghost}@{domain}", env=env, cwd=workdir)
            assert "suppressed for every list: bounced" in shown.stdout
        again = run_cli("mailbox", str(box), "--json", env=env, cwd=workdir)
        assert json.loads(again.stdout)["read"] == 0
    finally:
        for path in [*dsns, *readers.values()]:
            path.unlink(missing_ok=True)
