"""Segments where they are used (issue 24, points 3 and 4): a send with a segment (front
matter `segment:` and `--where`, joined with `and`) queues exactly the matching members,
stores its expression (status and report show it), and follow-ups (`send --again`) reach
each reader once. The world is tests/support/segment_world.py's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from newsletter.audience.subscribers import add_subscriber
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.errors import SendError
from newsletter.sending import sends
from newsletter.sending.plan import SendOptions, prepare
from newsletter.sending.send import execute
from newsletter.tracking.report import latest_send
from tests.support.segment_world import HANOI, World
from tests.support.sending import SAMPLE, run_cli

OSLO = 'attributes.city = "Oslo"'
NOT_CLICKED = "not clicked in last 3 sends"


def issue_file(workdir: Path, name: str, segment: str = "") -> Path:
    """The sample issue as `name`, to list weekly, with `segment:` in its front matter."""
    (workdir / "issues").mkdir(exist_ok=True)
    text = SAMPLE.read_text().replace("lists: [newsletter]", "lists: [weekly]")
    if segment:
        text = text.replace("lists: [weekly]", f"lists: [weekly]\nsegment: '{segment}'")
    path = workdir / "issues" / f"{name}.md"
    path.write_text(text)
    return path


def queued(world: World, send_id: int) -> set[str]:
    d = tables.deliveries
    with world.engine.connect() as conn:
        ids = conn.execute(select(d.c.subscriber_id).where(d.c.send_id == send_id)).scalars()
        return world.who(ids)


def send(world: World, settings: Settings, path: Path, **options: object) -> int:
    plan = prepare(world.engine, settings, path, SendOptions(backend="outbox", **options))
    progress = execute(world.engine, settings, plan)
    assert progress is not None
    return progress.send_id


def test_front_matter_and_where_combine_and_the_send_stores_the_expression(
    world: World, send_settings: Settings, workdir: Path
) -> None:
    path = issue_file(workdir, "2026-01-05-oslo", OSLO)
    plan = prepare(world.engine, send_settings, path, SendOptions(where=NOT_CLICKED))
    assert plan.audience == 1 and plan.untracked == 1  # bob; dan opted out of tracking
    assert any("opted out of tracking" in note for note in plan.notes)
    send_id = send(world, send_settings, path, where=NOT_CLICKED)
    assert queued(world, send_id) == {"bob"}
    with world.engine.connect() as conn:
        shown = latest_send(conn, "2026-01-05-oslo")
        assert shown is not None and shown["segment"] == f"{OSLO} and {NOT_CLICKED}"
    assert len(list((workdir / "outbox").rglob("*.eml"))) == 1


def test_a_segment_only_narrows_the_list(world: World, send_settings: Settings, workdir: Path):
    # `or` with a condition everyone meets still leaves out eve (suppressed), fay
    # (unsubscribed) and hal (unconfirmed).
    path = issue_file(workdir, "2026-01-06-all", 'email is set or domain = "example.com"')
    assert queued(world, send(world, send_settings, path)) == {"ann", "bob", "cat", "dan", "gus"}


def test_a_follow_up_reaches_those_who_did_not_open_once(
    world: World, send_settings: Settings, workdir: Path
) -> None:
    path = issue_file(workdir, HANOI)
    where = f'received "{HANOI}" and not opened issue "{HANOI}"'
    plain = prepare(world.engine, send_settings, path, SendOptions())
    assert "already sent" in plain.nothing_to_do  # send #1 is the issue's own send
    first = send(
        world, send_settings, path, again=True, where=where, subject="In case you missed it"
    )
    assert queued(world, first) == {"bob", "cat"}
    with world.engine.connect() as conn:
        row = sends.get_send(conn, first)
        assert row is not None and row.subject == "In case you missed it"
    again = prepare(
        world.engine,
        send_settings,
        path,
        SendOptions(again=True, where=where, subject="In case you missed it"),
    )
    assert "already sent" in again.nothing_to_do  # nobody gets the same follow-up twice
    world.names[add_subscriber(world.engine, "ivy@example.com", "weekly")["id"]] = "ivy"
    joined = send(world, send_settings, path, again=True, where=f'not received "{HANOI}"')
    assert queued(world, joined) == {"ivy"}  # gus's row is unknown: not resent silently


def test_again_needs_where_and_no_unfinished_send(
    world: World, send_settings: Settings, workdir: Path
):
    path = issue_file(workdir, HANOI)
    with pytest.raises(SendError, match="--again needs --where"):
        prepare(world.engine, send_settings, path, SendOptions(again=True))
    with world.engine.begin() as conn:
        sends.set_status(conn, 1, "running")
    with pytest.raises(SendError, match="unfinished"):
        prepare(
            world.engine, send_settings, path, SendOptions(again=True, where="bounced or opened")
        )


def test_audience_command_counts_lists_and_explains_errors(
    world: World, workdir: Path, database_url: str
):
    env = {"DATABASE_URL": database_url}
    where = f"{OSLO} and {NOT_CLICKED}"
    counted = run_cli(
        "audience", "--list", "weekly", "--where", where, "--count", env=env, cwd=workdir
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.strip() == "1"
    assert "1 member(s) left out" in counted.stderr
    listed = run_cli(
        "audience", "--list", "weekly", "--where", 'domain = "EXAMPLE.org"', env=env, cwd=workdir
    )
    assert listed.stdout.split() == ["bob@example.org"]
    bad = run_cli(
        "audience", "--list", "weekly", "--where", "attributes.age >=", env=env, cwd=workdir
    )
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        "segment:1:18: error: expected a value after '>=' (example: attributes.age >= 30)"
    )


def test_named_segments_come_from_segments_toml(world: World, workdir: Path, database_url: str):
    (workdir / "segments.toml").write_text("[segments]\noslo = 'attributes.city = \"Oslo\"'\n")
    env = {"DATABASE_URL": database_url}
    counted = run_cli(
        "audience",
        "--list",
        "weekly",
        "--where",
        "@oslo and not @oslo",
        "--count",
        env=env,
        cwd=workdir,
    )
    assert counted.stdout.strip() == "0", counted.stderr
    counted = run_cli(
        "audience", "--list", "weekly", "--where", "@oslo", "--count", env=env, cwd=workdir
    )
    assert counted.stdout.strip() == "3", counted.stderr  # ann, bob, dan
    typo = run_cli("audience", "--list", "weekly", "--where", "@olso", env=env, cwd=workdir)
    assert "unknown named segment '@olso' (did you mean 'oslo'?)" in typo.stderr


def test_report_status_cancel_and_resume_act_on_the_latest_send(
    world: World, send_settings: Settings, workdir: Path, database_url: str
) -> None:
    from newsletter.sending.send import cancel

    path = issue_file(workdir, HANOI)
    where = f'received "{HANOI}" and not opened issue "{HANOI}"'
    follow_up = send(world, send_settings, path, again=True, where=where)
    env = {"DATABASE_URL": database_url}
    shown = run_cli("report", HANOI, "--json", env=env, cwd=workdir)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["send_id"] == follow_up and data["segment"] == where
    assert data["together"]["sends"] == [1, follow_up]
    assert data["together"]["sent"] == sum(r["sent"] for r in data["all_sends"])
    listed = run_cli("status", HANOI, env=env, cwd=workdir)
    assert f"where {where}" in listed.stdout
    first = run_cli("status", HANOI, "--send", "1", "--json", env=env, cwd=workdir)
    assert [r["send_id"] for r in json.loads(first.stdout)] == [1]
    earlier = run_cli("report", HANOI, "--send", "1", "--json", env=env, cwd=workdir)
    assert json.loads(earlier.stdout)["send_id"] == 1
    missing = run_cli("status", HANOI, "--send", "99", env=env, cwd=workdir)
    assert missing.returncode != 0 and "has no send #99" in missing.stderr
    with world.engine.begin() as conn:
        sends.set_status(conn, follow_up, "running")
    assert cancel(world.engine, HANOI) == follow_up  # the latest, not the issue's own send #1
    plan = prepare(world.engine, send_settings, path, SendOptions(resume=True))
    assert plan.existing is not None and plan.existing.id == follow_up
    picked = prepare(world.engine, send_settings, path, SendOptions(send_id=1))
    assert "already sent" in picked.nothing_to_do


def test_send_due_sends_a_scheduled_issue_to_its_segment(
    world: World, workdir: Path, database_url: str
) -> None:
    """A scheduled issue's `segment:` goes out through send-due: `subscribed_at > 30 days
    ago` is ann (10 days) and cat (5 days)."""
    path = issue_file(workdir, "2026-01-07-new", "subscribed_at > 30 days ago")
    text = path.read_text().replace(
        "send_at: 2019-03-01T14:00:00+00:00", "send_at: 2020-01-01T00:00:00+00:00"
    )
    path.write_text(text)
    env = {
        "DATABASE_URL": database_url,
        "NEWSLETTER_SECRET_KEY": "k" * 32,
        "NEWSLETTER_MAX_LATE": "100000d",
    }
    ran = run_cli("send-due", env=env, cwd=workdir)
    assert ran.returncode == 0, ran.stderr
    with world.engine.connect() as conn:
        found = sends.find_send(conn, "2026-01-07-new")
    assert found is not None and found.options["segment"] == "subscribed_at > 30 days ago"
    assert queued(world, found.id) == {"ann", "cat"}


def test_check_reads_the_front_matter_segment(workdir: Path) -> None:
    path = issue_file(workdir, "2026-01-08-bad", "attributes.age >=")
    checked = run_cli("check", str(path), env={}, cwd=workdir)
    assert checked.returncode == 1
    line = next(
        n for n, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("segment:")
    )
    assert (
        f"{path}:{line}: error: segment: column 18: expected a value after '>=' "
        "(example: attributes.age >= 30)"
    ) in checked.stdout
