"""Operating sequences: `newsletter sequences` (per step sent, waiting, skipped; `--json`),
`sequences pause` / `resume`, `report` and `status` of a step id and `report` of a sequence,
and the confirmation page's line when the list has a sequence that sends."""

from __future__ import annotations

import json
import re
import shutil
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from click.testing import CliRunner
from sqlalchemy import Engine, update

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.cli import cli
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.sequences.files import load_sequences
from newsletter.sequences.registry import register, set_paused
from tests.support.sending import SECRET
from tests.support.sequences import (
    at,
    outbox_messages,
    send_due,
    write_sequence,
    write_step,
)
from tests.support.tracking import BROWSER
from tests.support.web_server import confirm_path, make_settings, post_form
from tests.support.web_server import outbox_mails as mails

WELCOME, TIPS = "welcome/01-welcome", "welcome/02-tips"
WELCOMED = "Your welcome mail is on its way."


def run(database_url: str, *args: str) -> Any:
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _weekly(engine: Engine) -> int:
    return int(create_list(engine, "weekly", "Weekly")["id"])


def _subscribed_at(engine: Engine, subscriber_id: int, when: Any) -> None:
    m = tables.memberships
    with engine.begin() as conn:
        conn.execute(update(m).where(m.c.subscriber_id == subscriber_id).values(subscribed_at=when))


def _three_ways(engine: Engine, database_url: str, project: Path) -> dict[str, int]:
    """ann got both steps; bob's welcome was too late (skipped), then he got step 2; cy joined
    two days later: welcome sent, step 2 waiting; dan, like cy, then unsubscribed."""
    _weekly(engine)
    send_due(database_url, project)  # first seen: registered, nobody in it yet
    start = utcnow()
    ids = {"ann": add_subscriber(engine, "ann@example.com", "weekly")["id"]}
    send_due(database_url, project)
    ids["bob"] = add_subscriber(engine, "bob@example.com", "weekly")["id"]
    for name in ("cy", "dan"):
        ids[name] = add_subscriber(engine, f"{name}@example.com", "weekly")["id"]
        _subscribed_at(engine, ids[name], start + timedelta(days=2))
    send_due(database_url, project, "--now", at(start, days=2, hours=1), "--max-late", "24h")
    unsubscribe(engine, ids["dan"], None, source="link")
    return ids


def test_sequences_lists_each_step_with_sent_waiting_and_skipped(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _three_ways(engine, database_url, seq_project)
    result = run(database_url, "sequences")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "welcome: active; lists weekly; join new, 4 in it, 0 left",
        "  01-welcome  after 0h      sent       3  waiting       0  skipped       1",
        "  02-tips     after 2d      sent       2  waiting       1  skipped       0",
    ]
    [data] = json.loads(run(database_url, "sequences", "--json").stdout)
    assert {k: data[k] for k in ("name", "registered", "paused", "lists", "join")} == {
        "name": "welcome",
        "registered": True,
        "paused": False,
        "lists": ["weekly"],
        "join": "new",
    }
    steps = [
        {k: s[k] for k in ("step_id", "after", "sent", "waiting", "skipped")} for s in data["steps"]
    ]
    assert steps == [
        {"step_id": WELCOME, "after": "0h", "sent": 3, "waiting": 0, "skipped": 1},
        {"step_id": TIPS, "after": "2d", "sent": 2, "waiting": 1, "skipped": 0},  # cy, not dan
    ]


def test_waiting_counts_readers_who_have_not_had_a_step_yet(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    for name in ("ann", "bob"):
        add_subscriber(engine, f"{name}@example.com", "weekly")
    send_due(database_url, seq_project, "--now", at(utcnow(), minutes=-1))  # not joined yet
    data = json.loads(run(database_url, "sequences", "--json").stdout)[0]
    assert [(s["sent"], s["waiting"]) for s in data["steps"]] == [(0, 0), (0, 0)]
    send_due(database_url, seq_project)
    data = json.loads(run(database_url, "sequences", "--json").stdout)[0]
    assert [(s["sent"], s["waiting"]) for s in data["steps"]] == [(2, 0), (0, 2)]
    write_step(seq_project / "sequences" / "welcome", "03-more", "1w", "More")  # added at the end
    send_due(database_url, seq_project)
    data = json.loads(run(database_url, "sequences", "--json").stdout)[0]
    assert [(s["key"], s["waiting"]) for s in data["steps"]] == [
        ("01-welcome", 0),
        ("02-tips", 2),
        ("03-more", 2),
    ]


def test_a_sequence_not_registered_yet_or_gone_from_the_folder_is_shown_as_such(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    write_sequence(seq_project, "later", steps=(("01-hello", "0h", "Hello"),))
    lines = run(database_url, "sequences").stdout.splitlines()
    assert (
        lines[0]
        == "later: not registered yet (the next send-due registers it); lists weekly; join new"
    )
    assert lines[1] == "  01-hello  after 0h      sent       -  waiting       -  skipped       -"
    shutil.rmtree(seq_project / "sequences" / "welcome")
    lines = run(database_url, "sequences").stdout.splitlines()
    assert lines[2].startswith(
        "welcome: active, gone from the folder (nothing more is sent); lists weekly"
    )
    assert lines[3].split()[:3] == ["01-welcome", "after", "0h"]
    assert lines[3].endswith("(not in the folder)")


def test_pause_and_resume_stop_and_restart_a_sequence(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    _weekly(engine)
    send_due(database_url, seq_project)
    paused = run(database_url, "sequences", "pause", "welcome")
    assert paused.exit_code == 0, paused.output
    assert paused.stdout.startswith("sequence 'welcome' paused")
    assert run(database_url, "sequences").stdout.startswith("welcome: paused;")
    add_subscriber(engine, "ann@example.com", "weekly")
    send_due(database_url, seq_project)
    assert outbox_messages(seq_project) == []
    resumed = run(database_url, "sequences", "resume", "welcome")
    assert resumed.exit_code == 0 and resumed.stdout.startswith("sequence 'welcome' resumed")
    send_due(database_url, seq_project)
    assert len(outbox_messages(seq_project)) == 1


def test_pausing_an_unknown_or_unregistered_sequence_is_one_line_and_exit_2(
    workdir: Path, database_url: str, engine: Engine
) -> None:
    fresh = run(f"sqlite:///{workdir / 'none.db'}", "sequences", "pause", "welcome")
    assert fresh.exit_code == 2 and "there is no database yet" in fresh.stderr
    assert not (workdir / "none.db").exists()  # pausing creates no database
    _weekly(engine)
    write_sequence(workdir, "welcome")
    with engine.begin() as conn:
        register(conn, load_sequences(workdir / "sequences")[0], [1], utcnow())
    write_sequence(workdir, "later")
    for name, words in (
        ("nope", "error: no sequence 'nope' (known: later, welcome)"),
        ("later", "error: sequence 'later' is not registered yet: the next `newsletter send-due`"),
        ("../x", "error: no sequence '../x': names are letters, digits, '-' and '_'"),
    ):
        for command in ("pause", "resume"):
            result = run(database_url, "sequences", command, name)
            assert result.exit_code == 2, result.output
            assert result.stdout == "" and len(result.stderr.splitlines()) == 1
            assert result.stderr.startswith(words)


# --- report and status of a step --------------------------------------------------------------


def _mail(project: Path, subscriber_id: int) -> tuple[str, str]:
    """(the HTML, the https List-Unsubscribe URL) of the one message to a subscriber."""
    [eml] = (project / "outbox" / "new").glob(f"*.{subscriber_id}.eml")
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    html = message.get_body(("html",)).get_content()
    return html, re.search(r"<(https?://[^>]+)>", message["List-Unsubscribe"]).group(1)


def _hit(client: Any, url: str) -> None:
    answer = client.get(urlsplit(url).path, headers={"User-Agent": BROWSER})
    assert answer.status_code in (200, 302)


def test_report_and_status_take_a_step_id_and_report_takes_a_sequence(
    engine: Engine, database_url: str, seq_project: Path
) -> None:
    from newsletter.web import create_app

    folder = seq_project / "sequences" / "welcome"
    body = "Hello, start with [our guide](https://example.org/guide)."
    write_step(folder, "01-welcome", "0h", "Welcome aboard", body)
    _weekly(engine)
    send_due(database_url, seq_project)
    ann, bob, _ = (add_subscriber(engine, f"{n}@example.com", "weekly")["id"] for n in "abc")
    send_due(database_url, seq_project)
    app = create_app(make_settings(seq_project, database_url, secret_key=SECRET), engine)
    client = app.test_client()
    html, _ = _mail(seq_project, ann)
    _hit(client, re.search(r"https?://\S+/o/[0-9a-f]+\.gif", html).group(0))
    _hit(client, re.search(r'https?://[^\s"]+/c/\d+/[0-9a-f]+(?=")', html).group(0))
    _, one_click = _mail(seq_project, bob)
    answer = client.post(urlsplit(one_click).path, data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200

    for ref in (WELCOME, "sequences/welcome/01-welcome.md"):
        data = json.loads(run(database_url, "report", ref, "--json").stdout)
        assert data["issue"] == WELCOME and data["sent"] == 3
        assert (data["opens"]["human"], data["clicks"]["human"], data["unsubscribed"]) == (1, 1, 1)
        status = run(database_url, "status", ref)
        assert status.exit_code == 0 and f" {WELCOME} -> weekly [running" in status.stdout
    text = run(database_url, "report", WELCOME).stdout
    assert text.startswith(f"{WELCOME}: send #") and "sent 3" in text
    whole = run(database_url, "report", "welcome")
    assert whole.exit_code == 0, whole.output
    lines = whole.stdout.splitlines()
    assert lines[0] == "sequence welcome: 2 steps"
    assert lines[1].split() == [
        WELCOME,
        "sent",
        "3",
        "opened",
        "1",
        "people",
        "(33.3%)",
        "clicked",
        "1",
        "(33.3%)",
        "unsubscribed",
        "1",
    ]
    assert lines[2].split()[:3] == [TIPS, "sent", "0"]  # nobody due yet
    data = json.loads(run(database_url, "report", "welcome", "--json").stdout)
    assert [s["issue"] for s in data["steps"]] == [WELCOME, TIPS]
    missing = run(database_url, "report", "welcome/09-none")
    assert missing.exit_code == 1
    assert (
        missing.stderr.strip()
        == "error: welcome/09-none has not been sent (see `newsletter status`)"
    )


# --- the confirmation page --------------------------------------------------------------------


def _confirm(web: Any, email: str) -> str:
    post_form(web.client, {"email": email})
    [mail] = mails(web, email)
    assert WELCOMED not in web.client.get(confirm_path(mail)).get_data(as_text=True)  # asking
    page = web.client.post(confirm_path(mail))
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_the_confirmation_page_says_the_welcome_is_on_its_way_when_a_sequence_sends(
    web: Any, workdir: Path
) -> None:
    other = create_list(web.engine, "other", "Other")
    assert WELCOMED not in _confirm(web, "before@example.org")  # no sequence yet
    write_sequence(workdir, "welcome", lists='["other"]')
    write_sequence(workdir, "news-welcome", lists='["news"]')
    by_name = {s.name: s for s in load_sequences(workdir / "sequences")}
    with web.engine.begin() as conn:
        register(conn, by_name["welcome"], [int(other["id"])], utcnow())
    assert WELCOMED not in _confirm(web, "elsewhere@example.org")  # another list's sequence
    with web.engine.begin() as conn:
        register(conn, by_name["news-welcome"], [int(web.list["id"])], utcnow())
    page = _confirm(web, "ann@example.org")
    assert f"<p>{WELCOMED}</p>" in page and "Subscription confirmed" in page
    set_paused(web.engine, "news-welcome", True)
    assert WELCOMED not in _confirm(web, "bob@example.org")
    set_paused(web.engine, "news-welcome", False)
    assert WELCOMED in _confirm(web, "cy@example.org")


def test_an_issue_reference_is_a_step_id_only_where_it_cannot_be_a_path(workdir: Path) -> None:
    from newsletter.cli.sequence_cmds import issue_id_of

    write_sequence(workdir, "welcome")
    (workdir / "issues").mkdir()
    (workdir / "issues" / "2026-01-01-a.md").write_text("x", encoding="utf-8")
    assert issue_id_of("welcome/02-tips") == "welcome/02-tips"
    assert issue_id_of("sequences/welcome/02-tips.md") == "welcome/02-tips"
    assert issue_id_of("sequences/welcome/02-tips") == "welcome/02-tips"
    assert issue_id_of("issues/2026-01-01-a.md") == "2026-01-01-a"
    assert issue_id_of("issues/2026-01-01-a") == "2026-01-01-a"
    assert issue_id_of("issues/2026-01-01-gone") == "2026-01-01-gone"  # a folder: a path
    assert issue_id_of("2026-01-01-a") == "2026-01-01-a"


def test_sequences_without_a_database_lists_the_folder_and_creates_nothing(workdir: Path) -> None:
    none = run(f"sqlite:///{workdir / 'news.db'}", "sequences")
    assert none.stdout == "no sequences (none in sequences/, none registered)\n"
    assert run(f"sqlite:///{workdir / 'news.db'}", "new", "--sequence", "welcome").exit_code == 0
    result = run(f"sqlite:///{workdir / 'news.db'}", "sequences")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("welcome: not registered yet")
    assert result.stderr == ""
    assert not (workdir / "news.db").exists()
    write_sequence(workdir, "broken", steps=(("01-hello", "soon", "Hello"),))
    result = run(f"sqlite:///{workdir / 'news.db'}", "sequences")
    assert result.stderr == (
        "warning: sequence 'broken' has errors and is not sent: run `newsletter check`\n"
    )
