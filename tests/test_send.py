"""The send engine end to end, in-process: SMTP sink, outbox, mid-send changes, bad input."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter import tokens
from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.errors import SendError
from newsletter.sending import batches, ledger
from newsletter.sending.batches import Progress
from newsletter.sending.pace import Pace
from newsletter.sending.plan import SendOptions, prepare
from newsletter.sending.proof import send_proof
from newsletter.sending.send import cancel, execute
from newsletter.sending.sends import get_send
from tests.support.ports import free_port
from tests.support.sending import REAL_SETTINGS, SECRET, populate, run_cli, weekly_send
from tests.support.waiting import wait_until

UNSUB = re.compile(r"<(https?://[^>]+/unsubscribe/([^>]+))>")


def sends_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(tables.sends)).scalar_one()


def counts_of(engine, send_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return ledger.counts(conn, send_id)


def run(engine, settings, path, on_progress=None, **opts) -> Progress:
    plan = prepare(engine, settings, path, SendOptions(**opts))
    progress = execute(engine, settings, plan, on_progress)
    assert progress is not None
    return progress


def test_smtp_send_reaches_each_recipient_once_with_their_own_unsubscribe_link(
    engine, send_settings, issue_path, smtp_sink
):
    lst = populate(engine, "weekly", 300)
    smtp_sink.handler.reject.add("user7@example.com")
    settings = replace(send_settings, backend="smtp", smtp_port=smtp_sink.port, smtp_connections=3)
    progress = run(engine, settings, issue_path, lists=("weekly",))

    counts = counts_of(engine, progress.send_id)
    assert counts["sent"] == 299 and counts["failed"] == 1 and counts["queued"] == 0
    with engine.connect() as conn:
        ((email_, status, detail),) = ledger.problems(conn, progress.send_id)
        assert get_send(conn, progress.send_id).status == "done"
    assert (email_, status) == ("user7@example.com", "failed") and "550" in detail

    signer = tokens.signer_for(settings, allow_generated=False)
    ids = {
        s["email"]: s["id"]
        for s in (get_subscriber(engine, f"user{i}@example.com") for i in range(300))
    }
    rcpts = [r for m in smtp_sink.messages for r in m.rcpt_tos]
    assert sorted(rcpts) == sorted(e for e in ids if e != "user7@example.com")
    for m in smtp_sink.messages:
        msg = email.message_from_bytes(m.data, policy=email.policy.default)
        (rcpt,) = m.rcpt_tos
        assert msg["To"].addresses[0].addr_spec == rcpt
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert msg["Subject"] == "Hanoi: five experts on a summit that ended early"
        url, token = UNSUB.search(str(msg["List-Unsubscribe"])).groups()
        assert signer.read(token, "unsubscribe") == (ids[rcpt], lst["id"])
        assert msg.get_body(("plain",)).get_content().count(url) >= 1  # footer link too
        assert url in msg.get_body(("html",)).get_content()


def test_unsubscribe_recorded_mid_send_stops_delivery(engine, send_settings, issue_path):
    lst = populate(engine, "weekly", 120)
    last = get_subscriber(engine, "user119@example.com")

    def unsubscribe_after_first_batch(p: Progress) -> None:
        if p.this_run == 50:
            unsubscribe(engine, last["id"], lst["id"], source="test")

    progress = run(
        engine, send_settings, issue_path, unsubscribe_after_first_batch, lists=("weekly",)
    )
    counts = counts_of(engine, progress.send_id)
    assert counts["sent"] == 119 and counts["skipped"] == 1
    outbox = list((Path(send_settings.outbox_dir) / "new").glob("*.eml"))
    assert len(outbox) == 119
    assert not any(b"user119@example.com" in f.read_bytes() for f in outbox)


def test_cancel_stops_claiming_and_resume_finishes_without_repeats(
    engine, send_settings, issue_path
):
    populate(engine, "weekly", 200)

    def cancel_after_first_batch(p: Progress) -> None:
        if p.this_run == 50:
            cancel(engine, "2019-03-01-hanoi-summit")

    progress = run(engine, send_settings, issue_path, cancel_after_first_batch, lists=("weekly",))
    assert counts_of(engine, progress.send_id)["sent"] == 50
    with pytest.raises(SendError, match="cancelled"):
        prepare(engine, send_settings, issue_path, SendOptions(lists=("weekly",)))
    again = run(engine, send_settings, issue_path, lists=("weekly",), resume=True)
    assert again.send_id == progress.send_id and again.this_run == 150
    assert counts_of(engine, progress.send_id)["sent"] == 200
    assert sends_count(engine) == 1


def test_resume_after_the_file_changed_keeps_stored_version_unless_rerender(
    engine, send_settings, issue_path
):
    populate(engine, "weekly", 100)
    first = run(engine, send_settings, issue_path, lists=("weekly",), limit=40)
    assert first.this_run == 40
    with pytest.raises(SendError, match="--resume"):
        prepare(engine, send_settings, issue_path, SendOptions(lists=("weekly",)))
    issue_path.write_text(
        issue_path.read_text().replace(
            'subject: "Hanoi: five experts', 'subject: "Hanoi revisited: five experts'
        )
    )
    plan = prepare(
        engine, send_settings, issue_path, SendOptions(lists=("weekly",), resume=True, limit=30)
    )
    assert any("changed since" in n and "--rerender" in n for n in plan.notes)
    execute(engine, send_settings, plan)
    with engine.connect() as conn:
        assert get_send(conn, first.send_id).subject.startswith("Hanoi: five")
    run(engine, send_settings, issue_path, lists=("weekly",), resume=True, rerender=True)
    with engine.connect() as conn:
        assert get_send(conn, first.send_id).subject.startswith("Hanoi revisited")
    assert counts_of(engine, first.send_id)["sent"] == 100


def test_pace_sleeps_only_what_keeps_the_rate():
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pace = Pace(50, clock=lambda: now[0], sleep=sleep)
    pace.wait(50)  # 50 messages sent instantly: wait out the rest of the first second
    assert slept == [1.0]
    now[0] += 3.0  # the next 50 took 3 s on their own: already slower than the rate
    pace.wait(100)
    assert slept == [1.0]
    Pace(0, clock=lambda: now[0], sleep=sleep).wait(10_000)  # 0 = no limit
    assert slept == [1.0]


def test_rate_sends_in_batches_of_at_most_the_rate_paced_by_the_clock(
    engine, send_settings, issue_path, monkeypatch
):
    """--rate 20 with 60 recipients: batches of 20, and the pacer holds the send to 3 s of
    its clock (a fake clock here: the test asserts the schedule, not the machine's speed)."""
    populate(engine, "weekly", 60)
    now = [0.0]

    def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    real_pace = Pace
    monkeypatch.setattr(
        batches,
        "Pace",
        lambda per_second, **_: real_pace(per_second, clock=lambda: now[0], sleep=fake_sleep),
    )
    seen: list[int] = []
    progress = run(
        engine,
        send_settings,
        issue_path,
        lambda p: seen.append(p.this_run),
        lists=("weekly",),
        rate=20,
    )
    assert seen == [20, 40, 60]
    assert progress.counts["sent"] == 60
    assert now[0] == pytest.approx(3.0)


def test_bad_rate_is_one_clear_line(engine, database_url, issue_path, workdir):
    populate(engine, "weekly", 3)
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET}
    result = run_cli(*weekly_send(issue_path, "--rate", "fast"), env=env, cwd=workdir)
    assert result.returncode == 2
    assert "'fast': give messages per second, e.g. 50 or 50/s" in result.stderr
    assert sends_count(engine) == 0


def test_dry_run_writes_nothing(engine, send_settings, issue_path):
    populate(engine, "weekly", 30)
    plan = prepare(engine, send_settings, issue_path, SendOptions(lists=("weekly",), dry_run=True))
    assert plan.audience == 30
    assert execute(engine, send_settings, plan) is None
    assert sends_count(engine) == 0
    assert not (Path(send_settings.outbox_dir) / "new").exists()


def test_retry_failed_resends_only_the_failed(engine, send_settings, issue_path, smtp_sink):
    populate(engine, "weekly", 20)
    smtp_sink.handler.reject.update({"user3@example.com", "user4@example.com"})
    settings = replace(send_settings, backend="smtp", smtp_port=smtp_sink.port)
    first = run(engine, settings, issue_path, lists=("weekly",))
    assert counts_of(engine, first.send_id)["failed"] == 2
    smtp_sink.handler.reject.clear()
    again = run(engine, settings, issue_path, lists=("weekly",), retry_failed=True)
    assert again.this_run == 2 and counts_of(engine, first.send_id)["sent"] == 20
    rcpts = [r for m in smtp_sink.messages for r in m.rcpt_tos]
    assert len(rcpts) == len(set(rcpts)) == 20


def test_test_send_goes_outside_the_ledger(engine, send_settings, issue_path, smtp_sink):
    settings = replace(send_settings, backend="smtp", smtp_port=smtp_sink.port)
    results = send_proof(settings, issue_path, ["me@example.org", "you@example.org"])
    assert [r.status for r in results] == ["sent", "sent"]
    subjects = {
        email.message_from_bytes(m.data, policy=email.policy.default)["Subject"]
        for m in smtp_sink.messages
    }
    assert subjects == {"[TEST] Hanoi: five experts on a summit that ended early"}
    assert sends_count(engine) == 0


# --- bad input through the real command: one line, non-zero exit, nothing written -------------


@pytest.mark.parametrize(
    "case",
    [
        "unknown list",
        "empty list",
        "missing API key",
        "missing secret",
        "unreachable SMTP",
        "issue with errors",
        "no --yes off a terminal",
    ],
)
def test_bad_input_is_one_clear_line_and_nothing_is_sent(
    case, engine, database_url, issue_path, workdir
):
    """One error line (after the pre-flight's own lines, each naming a file or a setting)."""
    populate(engine, "weekly", 10)
    create_list(engine, "empty", "Empty")
    env = {"DATABASE_URL": database_url, "NEWSLETTER_SECRET_KEY": SECRET, **REAL_SETTINGS}
    args = [str(issue_path), "--list", "weekly", "--yes"]
    expect = ""
    if case == "unknown list":
        args[2], expect = "nosuch", "unknown list 'nosuch'"
    elif case == "empty list":
        args[2], expect = "empty", "no subscribed members"
    elif case == "missing API key":
        args += ["--backend", "sendgrid"]
        expect = "SENDGRID_API_KEY"
    elif case == "missing secret":
        del env["NEWSLETTER_SECRET_KEY"]
        args += ["--backend", "smtp"]
        expect = "NEWSLETTER_SECRET_KEY"
    elif case == "unreachable SMTP":
        env.update(NEWSLETTER_SMTP_PORT=str(free_port()), NEWSLETTER_SMTP_HOST="127.0.0.1")
        args += ["--backend", "smtp"]
        expect = "127.0.0.1"
    elif case == "issue with errors":
        issue_path.write_text(issue_path.read_text().replace("Speaker:", "Speeker:", 1))
        expect = "Speeker"
    else:
        args.remove("--yes")
        expect = "--yes"
    result = run_cli("send", *args, env=env, cwd=workdir)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], lines
    if case == "issue with errors":  # check's own line, then the gate's
        wrong = f"{issue_path}:14: error: unknown takeaway key 'Speeker'"
        assert any(line.startswith(wrong) for line in lines), lines
    else:
        assert expect in errors[0], lines
    assert all(line.startswith("warning: ") for line in lines[:-1]) or case.startswith("issue")
    assert sends_count(engine) == 0
    assert not list((workdir / "outbox").glob("*/*.eml"))


def test_demo_twice_sends_nothing_twice(database_url, workdir):
    env = {"DATABASE_URL": database_url}
    first = run_cli("demo", env=env, cwd=workdir)
    assert first.returncode == 0, first.stderr
    files = sorted((workdir / "outbox" / "new").glob("*.eml"))
    assert len(files) == 5 and str(files[0]) in first.stdout
    stamps = [f.stat().st_mtime_ns for f in files]
    second = run_cli("demo", env=env, cwd=workdir)
    assert second.returncode == 0, second.stderr
    assert "nothing sent twice" in second.stdout
    assert [
        f.stat().st_mtime_ns for f in sorted((workdir / "outbox" / "new").glob("*.eml"))
    ] == stamps


# --- SendGrid stand-in: every recipient ends in exactly one status ------------------------------


def sendgrid_run(engine, send_settings, issue_path, standin, n: int, timeout: float = 30.0):
    populate(engine, "weekly", n)
    settings = replace(
        send_settings,
        backend="sendgrid",
        sendgrid_api_key="SG.test-key",
        sendgrid_api_host=standin.url,
        sendgrid_timeout=timeout,
        batch_size=1000,
    )
    plan = prepare(engine, settings, issue_path, SendOptions(lists=("weekly",)))
    return plan, settings


def final_states(engine, n: int) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(tables.deliveries.c.subscriber_id, tables.deliveries.c.status)
        ).all()
    assert len(rows) == n  # one row, so one status, per recipient
    out: dict[str, set[str]] = {}
    for sid, status in rows:
        out.setdefault(status, set()).add(str(sid))
    assert not out.get("queued") and not out.get("claimed")
    return out


@pytest.mark.parametrize("trouble", ["none", "429", "500", "400 for some", "hang"])
def test_sendgrid_behaviours_leave_everyone_in_exactly_one_status(
    trouble, engine, send_settings, issue_path, sendgrid_standin
):
    n = 2300
    if trouble in ("429", "500"):
        sendgrid_standin.script(int(trouble), 2)
    if trouble == "400 for some":
        sendgrid_standin.bad.update(
            {
                "user5@example.com": "Does not contain a valid address.",
                "user1500@example.com": "Does not contain a valid address.",
            }
        )
    if trouble == "hang":
        sendgrid_standin.hang(1)  # no answer until the client's timeout gives up on it
    timeout = 5.0 if trouble == "hang" else 30.0  # the others answer in well under a second
    plan, settings = sendgrid_run(engine, send_settings, issue_path, sendgrid_standin, n, timeout)
    progress = execute(engine, settings, plan)
    states = final_states(engine, n)
    accepted = set(sendgrid_standin.accepted_ids)
    assert max(sendgrid_standin.accepted_ids.values()) == 1  # nobody twice
    assert states.get("sent", set()) <= accepted
    if trouble == "400 for some":
        assert len(states["failed"]) == 2
        with engine.connect() as conn:
            details = {d for _, _, d in ledger.problems(conn, progress.send_id)}
        assert any("valid address" in d for d in details)
    elif trouble == "hang":
        # the first request timed out after it was sent: those 1000 are unknown, not resent
        assert len(states["unknown"]) == 1000 and len(states["sent"]) == n - 1000
    else:
        assert states == {"sent": accepted} and len(accepted) == n


def test_sendgrid_bad_key_stops_the_send_and_leaves_nothing(
    engine, send_settings, issue_path, sendgrid_standin
):
    from newsletter.errors import BackendConfigError

    sendgrid_standin.api_key = "SG.other"
    plan, settings = sendgrid_run(engine, send_settings, issue_path, sendgrid_standin, 50)
    with pytest.raises(BackendConfigError):
        execute(engine, settings, plan)
    assert sends_count(engine) == 0 and not sendgrid_standin.accepted_ids


def test_dry_run_count_leaves_out_suppressed_addresses(engine, send_settings, issue_path):
    populate(engine, "weekly", 30)
    sub = get_subscriber(engine, "user3@example.com")
    unsubscribe(engine, sub["id"])  # every list: a global suppression
    plan = prepare(engine, send_settings, issue_path, SendOptions(lists=("weekly",), dry_run=True))
    assert plan.audience == 29


def test_run_worker_polls_until_a_send_runs_and_reports_progress(
    engine, send_settings, issue_path, monkeypatch
):
    """`newsletter worker`: with nothing to do it polls; once a send runs it claims batches and
    calls its progress callback (which used to land in the slot of `rate`: TypeError). The
    polls are counted: the send is resumed only after three of them found nothing to do."""
    import threading

    from newsletter.sending import sends
    from newsletter.sending.sends import set_status
    from newsletter.sending.worker_loop import run_worker

    populate(engine, "weekly", 120)
    first = run(engine, send_settings, issue_path, lists=("weekly",), limit=20)
    with engine.begin() as conn:
        set_status(conn, first.send_id, "paused")  # nothing for a worker to claim yet

    class Stop(Exception):
        pass

    seen: list[tuple[int, int]] = []

    def on_progress(p: Progress) -> None:
        seen.append((p.this_run, p.counts["queued"]))
        if p.counts["queued"] == 0:
            raise Stop  # the worker itself runs until stopped

    idle_polls: list[int] = []  # one entry per poll that found no running send
    running_sends = sends.running_sends

    def counted(conn):  # type: ignore[no-untyped-def]
        found = running_sends(conn)
        if not found:
            idle_polls.append(1)
        return found

    monkeypatch.setattr(sends, "running_sends", counted)

    def resume_after_three_idle_polls() -> None:
        try:
            wait_until(lambda: len(idle_polls) >= 3, what="three idle polls of the worker")
        finally:  # resumed in any case, so the worker ends; the count is asserted below
            with engine.begin() as conn:
                set_status(conn, first.send_id, "running")

    helper = threading.Thread(target=resume_after_three_idle_polls)
    helper.start()
    with pytest.raises(Stop):
        run_worker(engine, send_settings, poll=0.05, on_progress=on_progress)
    helper.join()
    assert len(idle_polls) >= 3  # it polled, found nothing, and went on polling
    assert seen == [(50, 50), (100, 0)]  # batches of 50 (send_settings.batch_size)
    assert counts_of(engine, first.send_id)["sent"] == 120


def test_already_sent_names_every_status_that_is_not_sent(
    engine, send_settings, issue_path, smtp_sink
):
    populate(engine, "weekly", 20)
    smtp_sink.handler.reject.update({"user3@example.com", "user4@example.com"})
    settings = replace(send_settings, backend="smtp", smtp_port=smtp_sink.port)
    first = run(engine, settings, issue_path, lists=("weekly",))
    d = tables.deliveries
    with engine.begin() as conn:  # as a killed worker on another machine would leave them
        conn.execute(
            d.update()
            .where(d.c.send_id == first.send_id, d.c.status == "sent", d.c.subscriber_id < 10)
            .values(status="unknown")
        )
    plan = prepare(engine, settings, issue_path, SendOptions(lists=("weekly",)))
    assert plan.nothing_to_do == (
        "2019-03-01-hanoi-summit was already sent to weekly (send #1: 11 sent, 2 failed "
        "(resend with --retry-failed), 7 unknown (resend with --retry-unknown)); "
        "nothing sent twice"
    )
