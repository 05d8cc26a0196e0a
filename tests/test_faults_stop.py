"""Ctrl-C and SIGTERM stop a send gracefully (issue 21, point 1).

The first signal: nothing new starts; what is on the network finishes (up to `stop_timeout`) and
is recorded; rows claimed ahead go back to the queue; the command exits 130 (SIGINT) or 143
(SIGTERM) with one `stopped: ...` line. A second signal exits at once (the crash path). The
SendGrid stand-in holds its answers back (`hold`), so the stop always comes while requests wait
on the network, whatever the machine's speed.
"""

from __future__ import annotations

import signal
import threading

from newsletter.sending import workers
from newsletter.sending.delivery.base import ListFeed, Unit
from tests.support.backends import sendgrid_backend
from tests.support.messages import recipient, sample_template
from tests.support.sendgrid_standin import StandIn
from tests.support.sending import (
    delivered,
    populate,
    run_cli,
    sendgrid_env,
    sink_running,
    smtp_env,
    spawn_cli,
    the_send,
    weekly_send,
)
from tests.support.waiting import wait_until


def test_ctrl_c_with_requests_in_flight_records_them_and_resume_sends_the_rest_once(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """SIGINT while two requests wait and more batches are claimed ahead: the two are recorded
    when their answers come, the rest goes back to the queue, exit 130 with the stop line."""
    n = 1000
    populate(engine, "weekly", n)
    sendgrid_standin.hold()
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="2")
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    wait_until(lambda: sendgrid_standin.requests >= 2, what="two requests on the network")
    wait_until(lambda: the_send(engine)[1]["claimed"] >= 400, what="batches claimed ahead")
    proc.send_signal(signal.SIGINT)
    sendgrid_standin.release()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    send_id, counts = the_send(engine)
    accepted = len(sendgrid_standin.accepted_ids)
    assert counts["claimed"] == counts["unknown"] == 0  # nothing in doubt, nothing stuck
    assert counts["sent"] == accepted and counts["queued"] == n - accepted
    assert 200 <= accepted < n
    line = err.strip().splitlines()[-1]
    assert line == (
        f"stopped: {accepted:,} sent, {n - accepted:,} left; continue with: "
        "newsletter send 2019-03-01-hanoi-summit --resume"
    )
    done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert len(sendgrid_standin.accepted_ids) == n
    assert max(sendgrid_standin.accepted_ids.values()) == 1


def test_sigterm_to_the_parent_stops_its_helper_processes_gracefully_too(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """A send of two processes (`--workers 2`); SIGTERM reaches only the parent, as from
    `kill PID`. It forwards the stop: both finish their requests, give back what they claimed
    ahead, and the command exits 143; nobody is in doubt or sent twice."""
    n = 2000
    populate(engine, "weekly", n)
    sendgrid_standin.hold()
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="2")
    proc = spawn_cli(*weekly_send(issue_path, "--workers", "2"), env=env, cwd=workdir)
    wait_until(lambda: sendgrid_standin.requests >= 4, what="both processes' requests out")
    proc.send_signal(signal.SIGTERM)
    sendgrid_standin.release()
    _, err = proc.communicate(timeout=90)
    assert proc.returncode == 143, err
    send_id, counts = the_send(engine)
    accepted = len(sendgrid_standin.accepted_ids)
    assert counts["claimed"] == counts["unknown"] == 0
    assert counts["sent"] == accepted < n
    with engine.connect() as conn:  # no process of the send is left registered
        assert workers.workers(conn, send_id) == []
    done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert done.returncode == 0, done.stderr
    assert len(sendgrid_standin.accepted_ids) == n
    assert max(sendgrid_standin.accepted_ids.values()) == 1


def test_answers_still_missing_at_stop_timeout_become_unknown_and_the_line_says_so(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """The answers never come before `stop_timeout` (1 s): the two requests on the network
    are `unknown` (they may have been accepted), nothing else is, and the line counts them."""
    n = 1000
    populate(engine, "weekly", n)
    sendgrid_standin.hold()
    env = sendgrid_env(
        database_url,
        sendgrid_standin.url,
        NEWSLETTER_SENDGRID_CONCURRENCY="2",
        NEWSLETTER_STOP_TIMEOUT="1",
    )
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    wait_until(lambda: sendgrid_standin.requests >= 2, what="two requests on the network")
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        sendgrid_standin.release()
    assert proc.returncode == 130, err
    _, counts = the_send(engine)
    assert counts["unknown"] == 200  # the two requests of 100 that had no answer
    assert counts["claimed"] == counts["sent"] == 0
    assert counts["queued"] == n - 200
    assert "200 unknown (no answer by stop_timeout)" in err


def test_a_second_signal_stops_at_once(engine, database_url, issue_path, workdir, sendgrid_standin):
    """Two SIGINTs while answers are held back: the second does not wait for them (the crash
    path: what was on the network is left for recovery to call in doubt)."""
    populate(engine, "weekly", 1000)
    sendgrid_standin.hold()
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="2")
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        wait_until(lambda: sendgrid_standin.requests >= 2, what="two requests on the network")
        proc.send_signal(signal.SIGINT)
        wait_until(lambda: any(x.startswith("stopping:") for x in lines), what="the first stop")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)  # the held answers never come meanwhile
        reader.join(timeout=60)
    finally:
        sendgrid_standin.release()
    err = "".join(lines)
    assert proc.returncode == 130, err
    assert "stopping at once" in err
    _, counts = the_send(engine)
    assert counts["claimed"] >= 200  # left as a crash leaves them: recovery's job


def test_a_429_during_the_stop_puts_the_unit_back_without_a_retry() -> None:
    """The stop comes while a 429's pause runs: no retry starts, the unit goes back to the
    queue (given back: no result), and the stand-in saw exactly one request."""
    standin = StandIn().start()
    standin.script(429, 1)
    backend = sendgrid_backend(standin.url)
    backend.backoff = 30.0  # a long pause: only the stop can end it early
    calm = backend._calm

    def calm_then_stop(attempt: int) -> None:
        calm(attempt)
        backend.stopping.set()  # as `Flight.stop` does when the signal comes

    backend._calm = calm_then_stop  # type: ignore[method-assign]
    unit = Unit([recipient(1), recipient(2)])
    feed = ListFeed([unit])
    lane = threading.Thread(target=backend.lane, args=(sample_template(), feed))
    try:
        lane.start()
        lane.join(timeout=60)
        assert not lane.is_alive()
        assert feed.in_order() == []  # no result: given back, not failed
        assert standin.requests == 1  # no retry went out
    finally:
        standin.stop()


def test_smtp_send_stopped_by_ctrl_c_delivers_each_message_once_with_resume(
    engine, database_url, issue_path, workdir
):
    """The SMTP engine's side: on SIGINT the messages whose end is out get their replies and
    are recorded; the rest goes back to the queue; the resume sends each address once."""
    n = 1000
    populate(engine, "weekly", n)
    record = workdir / "sink.jsonl"
    with sink_running(record, "--fast", "--latency-ms", "500") as port:  # a slow relay
        proc = spawn_cli(*weekly_send(issue_path), env=smtp_env(database_url, port), cwd=workdir)
        wait_until(
            lambda: the_send(engine)[1]["sent"] >= 50,
            what="some messages sent",
            ignore=(ValueError,),
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    _, counts = the_send(engine)
    assert counts["claimed"] == counts["unknown"] == 0
    assert counts["sent"] == sum(delivered(record).values()) < n, err
    with sink_running(record, "--fast") as port:  # the same record, a quick relay
        env = smtp_env(database_url, port)
        done = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
        assert done.returncode == 0, done.stderr
    sent = delivered(record)
    assert len(sent) == n and max(sent.values()) == 1
    assert the_send(engine)[1]["sent"] == n


def test_smtp_answers_missing_at_stop_timeout_leave_only_those_messages_unknown(
    engine, database_url, issue_path, workdir
):
    """Replies take 5 s and `stop_timeout` is 1 s: on SIGINT the messages whose end is out
    get no answer in time, so they (and only they) are `unknown`, one per connection at most;
    nothing stays claimed."""
    n = 1000
    populate(engine, "weekly", n)
    record = workdir / "sink.jsonl"
    with sink_running(record, "--fast", "--latency-ms", "5000") as port:
        env = smtp_env(database_url, port, NEWSLETTER_STOP_TIMEOUT="1")
        proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
        wait_until(
            lambda: the_send(engine)[1]["sent"] >= 1, what="a first message", ignore=(ValueError,)
        )
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    _, counts = the_send(engine)
    assert counts["claimed"] == 0
    assert 1 <= counts["unknown"] <= 40  # default smtp_connections
    assert counts["sent"] + counts["unknown"] + counts["queued"] == n
    assert f"{counts['unknown']:,} unknown (no answer by stop_timeout)" in err
