"""The relay or the API goes down in the middle of a send and comes back (issue 21, point 4).

The send pauses with backoff and goes on by itself once the service is back: nobody lost, nobody
sent twice, `unknown` only for messages whose end had left when the outage cut them. The outage
lasts until the sender has tried (and failed) a few times, counted by the stand-ins, so the test
waits for events, not for a clock.
"""

from __future__ import annotations

import socket
import threading

from tests.support.ports import free_port
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

TRIES = 4  # failed connections or requests the outage lasts for


class RelayDown:
    """A port where the relay was: every connection is taken and closed at once, counted."""

    def __init__(self, port: int):
        self.sock = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.tries = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()
            self.tries += 1

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept (a close would not)
        self._thread.join(timeout=10)
        self.sock.close()


def test_smtp_relay_down_mid_send_the_send_waits_and_finishes_once_it_is_back(
    engine, database_url, issue_path, workdir
):
    n = 1500
    populate(engine, "weekly", n)
    record, port = workdir / "sink.jsonl", free_port()
    env = smtp_env(database_url, port)
    with sink_running(record, "--fast", "--latency-ms", "20", "--port", str(port)):
        proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
        wait_until(
            lambda: the_send(engine)[1]["sent"] >= 200, what="a part sent", ignore=(ValueError,)
        )
    down = RelayDown(port)  # the relay is gone: every connection fails
    try:
        wait_until(lambda: down.tries >= TRIES, timeout=120, what="the sender retrying")
    finally:
        down.close()
    assert proc.poll() is None  # still waiting for the relay, not given up
    with sink_running(record, "--fast", "--port", str(port)):  # back, same record
        _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    _, counts = the_send(engine)
    assert counts["failed"] == counts["claimed"] == counts["queued"] == 0
    assert counts["sent"] + counts["unknown"] == n  # nobody lost
    assert counts["unknown"] <= 40  # at most what was on the network when it went
    sent = delivered(record)
    assert max(sent.values()) == 1  # nobody twice
    assert len(sent) >= counts["sent"]  # every `sent` was delivered (unknown: maybe)


def test_sendgrid_down_mid_send_the_send_waits_and_finishes_once_it_is_back(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """SendGrid answers 503 to every request for a while: the send backs off, counts nobody
    `failed`, and finishes by itself once requests are accepted again."""
    n = 2000
    populate(engine, "weekly", n)
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="1")
    proc = spawn_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    try:
        wait_until(lambda: len(sendgrid_standin.accepted_ids) >= 300, what="a part accepted")
        sendgrid_standin.script(503, 100_000)  # down
        refused = len(sendgrid_standin.rejected)
        wait_until(  # one request refused more often than the attempt limit (5)
            lambda: len(sendgrid_standin.rejected) - refused >= 6,
            timeout=120,
            what="the request retried past the attempt limit",
        )
        assert proc.poll() is None
    finally:
        with sendgrid_standin.lock:
            sendgrid_standin._script.clear()  # back
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    _, counts = the_send(engine)
    assert counts["failed"] == counts["unknown"] == counts["queued"] == 0
    assert counts["sent"] == n == len(sendgrid_standin.accepted_ids)
    assert max(sendgrid_standin.accepted_ids.values()) == 1


def test_sendgrid_down_past_outage_timeout_stops_paused_and_resume_finishes(
    engine, database_url, issue_path, workdir, sendgrid_standin
):
    """Down for longer than `outage_timeout` (3 s here): the send stops, paused, with the line
    to resume; nobody `failed`; `--resume` once it is back sends the rest, each once."""
    n = 1000
    populate(engine, "weekly", n)
    env = sendgrid_env(database_url, sendgrid_standin.url, NEWSLETTER_OUTAGE_TIMEOUT="3")
    sendgrid_standin.script(503, 100_000)
    try:
        done = run_cli(*weekly_send(issue_path), env=env, cwd=workdir)
    finally:
        with sendgrid_standin.lock:
            sendgrid_standin._script.clear()
    assert done.returncode == 1
    assert "failed every request for 3 s (outage_timeout" in done.stderr
    assert "--resume" in done.stderr
    _, counts = the_send(engine)
    assert counts["failed"] == counts["unknown"] == counts["claimed"] == 0
    resumed = run_cli(*weekly_send(issue_path, "--resume"), env=env, cwd=workdir)
    assert resumed.returncode == 0, resumed.stderr
    assert len(sendgrid_standin.accepted_ids) == n
    assert max(sendgrid_standin.accepted_ids.values()) == 1
