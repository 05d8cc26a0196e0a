"""Proofs show the mail the list gets: `test-send`, `build`'s sample.eml and `preview` use the
list's own From, Reply-To and name (`--list L`, by default the issue's first list); a proof's
unsubscribe and preferences links open a page saying it was a test message; `preview` shows the
inbox line (From, subject, preheader)."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from newsletter.audience.lists import create_list
from newsletter.config import Settings
from newsletter.models import PROOF_TOKEN
from tests.support.sending import SECRET, populate, run_cli, weekly_send

HEADERS = ("From", "Reply-To", "List-Id")


def _headers(path: Path) -> dict[str, str]:
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    return {h: str(message[h]) for h in (*HEADERS, "List-Unsubscribe", "Subject")}


@pytest.fixture
def weekly(engine):  # noqa: ANN001, ANN201
    create_list(
        engine, "weekly", "The Weekly", "", "Weekly Desk", "desk@news.example.org",
        "letters@news.example.org",
    )  # fmt: skip
    populate(engine, "weekly", 1)


def test_test_send_uses_the_lists_sender_reply_to_and_name(
    weekly, database_url, issue_path, workdir
) -> None:
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    proof = run_cli(
        "test-send", str(issue_path), "--list", "weekly", "--to", "me@example.org",
        env=env, cwd=workdir,
    )  # fmt: skip
    assert proof.returncode == 0, proof.stderr
    [proof_file] = list((workdir / "outbox" / "new").glob("*.eml"))
    proof_file.rename(workdir / "proof.eml")
    sent = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    assert sent.returncode == 0, sent.stderr
    [real_file] = list((workdir / "outbox" / "new").glob("*.eml"))
    got, real = _headers(workdir / "proof.eml"), _headers(real_file)
    assert {h: got[h] for h in HEADERS} == {h: real[h] for h in HEADERS}
    assert got["From"] == "Weekly Desk <desk@news.example.org>"
    assert "The Weekly" in got["List-Id"] and got["Subject"] == "[TEST] " + real["Subject"]
    assert f"/unsubscribe/{PROOF_TOKEN}>" in got["List-Unsubscribe"]


def test_sample_eml_uses_the_issues_first_list(weekly, database_url, issue_path, workdir) -> None:
    text = issue_path.read_text().replace("lists: [newsletter]", "lists: [weekly]")
    issue_path.write_text(text)
    built = run_cli("build", str(issue_path), env={"DATABASE_URL": database_url}, cwd=workdir)
    assert built.returncode == 0, built.stderr
    sample = _headers(workdir / "dist" / issue_path.stem / "sample.eml")
    assert sample["From"] == "Weekly Desk <desk@news.example.org>"
    assert sample["Reply-To"] == "letters@news.example.org" and "The Weekly" in sample["List-Id"]


@pytest.mark.parametrize("page", ["unsubscribe", "preferences"])
def test_a_proofs_links_open_a_test_message_page(web, page) -> None:  # noqa: ANN001
    shown = web.client.get(f"/{page}/{PROOF_TOKEN}")
    assert shown.status_code == 200
    assert "this is a test message" in shown.get_data(as_text=True).lower()
    assert "works for real readers" in shown.get_data(as_text=True)
    clicked = web.client.post(f"/{page}/{PROOF_TOKEN}", data={"List-Unsubscribe": "One-Click"})
    assert clicked.status_code == 200


def test_preview_shows_the_inbox_line(workdir) -> None:  # noqa: ANN001
    from newsletter.cli.build_cmds import _Preview

    issue = Path(__file__).resolve().parents[1] / "issues" / "2019-03-01-hanoi-summit.md"
    state = _Preview(issue, Settings(sender_name="Desk", sender_address="desk@news.example.org"))
    assert state.refresh() is not None
    page = state.pages["/"][1]
    assert "Desk &lt;desk@news.example.org&gt;" in page
    assert "Hanoi: five experts on a summit that ended early" in page
    assert "Preparation, expectations, sanctions" in page  # the preheader


def test_test_send_before_any_database_uses_the_configured_sender(tmp_path: Path) -> None:
    """A new operator's first proof, before any list exists: it goes out with the settings'
    sender and a note, and creates no database."""
    issue = Path(__file__).resolve().parents[1] / "issues" / "2019-03-01-hanoi-summit.md"
    env = {"NEWSLETTER_SECRET_KEY": SECRET, "DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
    run = run_cli("test-send", str(issue), "--to", "me@example.org", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "me@example.org: sent" in run.stdout
    assert "note: the proof shows the configured sender" in run.stderr
    assert not (tmp_path / "n.db").exists()
    (sent,) = (tmp_path / "outbox" / "new").iterdir()
    assert _headers(sent)["From"].endswith("<newsletter@example.com>")
