"""SendGrid backend against the local stand-in (schema-validated, scriptable)."""

from __future__ import annotations

import itertools
import json
import re
import socket
import struct
import threading
import urllib.error
import urllib.request
from collections import Counter
from typing import Any

import pytest
from urllib3.util.wait import wait_for_read

from newsletter.authoring.placeholders import fill
from newsletter.config import load_settings
from newsletter.errors import BackendConfigError, RelayOutage
from newsletter.models import FAILED, SENT, UNKNOWN
from newsletter.sending.delivery.base import ListFeed, Unit
from newsletter.sending.delivery.sendgrid import SendGridBackend
from newsletter.sending.mime.message import values_for
from tests.support.backends import sendgrid_backend
from tests.support.messages import HTML, TEXT, recipient, sample_template
from tests.support.ports import free_port
from tests.support.sendgrid_standin import StandIn
from tests.support.waiting import ManualClock, wait_until


def one_status_each(results: list, people: list) -> None:
    assert [r.subscriber_id for r in results] == [p.subscriber_id for p in people]
    assert all(r.status in (SENT, FAILED, UNKNOWN) for r in results)


def test_large_send_in_requests_of_1000_with_per_recipient_values(
    sendgrid_standin: StandIn,
) -> None:
    people = [recipient(i, name=f"Zoë, {i}; <b>") for i in range(1, 2501)]
    template = sample_template(subject="Hello __NL_NAME__")
    results = sendgrid_backend(sendgrid_standin.url).send(template, people)
    one_status_each(results, people)
    assert all(r.status == SENT and r.provider_id for r in results)
    assert sendgrid_standin.requests == 3 and not sendgrid_standin.rejected
    accepted = sendgrid_standin.accepted
    assert [p["custom_args"]["subscriber_id"] for p in accepted] == [str(i) for i in range(1, 2501)]
    body = sendgrid_standin.bodies[0]
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["tracking_settings"] == {
        "subscription_tracking": {"enable": False},
        "click_tracking": {"enable": False, "enable_text": False},
        "open_tracking": {"enable": False},
    }
    assert body["headers"]["X-Newsletter-Send"] == "send-42"
    assert body["reply_to"] == {"email": "editor@example.com"}
    for person, item in zip(people[:50], accepted[:50], strict=True):
        values = values_for(person)
        html, text, subject = (
            body["content"][1]["value"],
            body["content"][0]["value"],
            body["subject"],
        )
        for key, value in item["substitutions"].items():
            html, text, subject = (s.replace(key, value) for s in (html, text, subject))
        assert html == fill(HTML, values.html)
        assert text == fill(TEXT, values.text)
        assert subject == f"Hello {person.name}"
        assert item["to"] == [{"email": person.email, "name": f"Zoë {person.subscriber_id} <b>"}]
        assert item["custom_args"] == {
            "send_ref": "send-42",
            "subscriber_id": str(person.subscriber_id),
        }
        assert item["headers"]["List-Unsubscribe"].startswith(f"<{person.unsubscribe_url}>")
        assert item["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_bad_recipients_are_isolated_and_fail_with_sendgrids_message(
    sendgrid_standin: StandIn,
) -> None:
    people = [recipient(i) for i in range(1, 201)]
    sendgrid_standin.bad = {
        "reader17@example.org": "Does not contain a valid address.",
        "reader150@example.org": "Does not contain a valid address.",
    }
    results = sendgrid_backend(sendgrid_standin.url).send(sample_template(), people)
    one_status_each(results, people)
    failed = {r.subscriber_id: r.detail for r in results if r.status == FAILED}
    assert set(failed) == {17, 150}
    assert all("valid address" in d for d in failed.values())
    assert sum(r.status == SENT for r in results) == 198
    ids = Counter(p["custom_args"]["subscriber_id"] for p in sendgrid_standin.accepted)
    assert set(ids.values()) == {1} and len(ids) == 198  # nobody accepted twice


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retried(sendgrid_standin: StandIn, status: int) -> None:
    sendgrid_standin.script(status, 2)
    people = [recipient(i) for i in range(1, 11)]
    results = sendgrid_backend(sendgrid_standin.url).send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [SENT] * 10
    assert sendgrid_standin.requests == 3
    assert len(sendgrid_standin.accepted) == 10


def test_lasting_server_errors_are_an_outage_that_stops_after_outage_timeout(
    sendgrid_standin: StandIn,
) -> None:
    """Every request gets a 500: SendGrid is down. The request is retried with backoff, its
    recipients never `failed`, until `outage_timeout` (1 s here); then the send stops."""
    sendgrid_standin.script(500, 10_000)
    backend = sendgrid_backend(sendgrid_standin.url, NEWSLETTER_OUTAGE_TIMEOUT="1")
    with pytest.raises(RelayOutage, match="outage_timeout") as info:
        backend.send(sample_template(), [recipient(1), recipient(2)])
    assert "HTTP 500" in str(info.value)
    assert info.value.results == []  # type: ignore[attr-defined]
    assert sendgrid_standin.requests > 4  # more than the attempt limit: an outage is waited out


def test_payload_too_large_is_split(sendgrid_standin: StandIn) -> None:
    sendgrid_standin.script(413, 1)
    people = [recipient(i) for i in range(1, 9)]
    results = sendgrid_backend(sendgrid_standin.url).send(sample_template(), people)
    assert [r.status for r in results] == [SENT] * 8
    assert sendgrid_standin.requests == 3 and len(sendgrid_standin.accepted) == 8


@pytest.mark.parametrize("status", [401, 403])
def test_bad_key_stops_the_send(sendgrid_standin: StandIn, status: int) -> None:
    sendgrid_standin.script(status, 1)
    with pytest.raises(BackendConfigError, match="SENDGRID_API_KEY"):
        sendgrid_backend(sendgrid_standin.url).send(sample_template(), [recipient(1)])


def test_wrong_key_is_refused_by_the_standin(sendgrid_standin: StandIn) -> None:
    with pytest.raises(BackendConfigError, match="HTTP 401"):
        sendgrid_backend(sendgrid_standin.url, key="SG.wrong").send(
            sample_template(), [recipient(1)]
        )
    assert sendgrid_standin.accepted == []


def test_timeout_after_sending_is_unknown_and_never_resent(sendgrid_standin: StandIn) -> None:
    sendgrid_standin.hang(1)  # no answer until the client gives up (after its 3 s timeout)
    people = [recipient(i) for i in range(1, 6)]
    backend = sendgrid_backend(sendgrid_standin.url, NEWSLETTER_SENDGRID_TIMEOUT="3")
    results = backend.send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [UNKNOWN] * 5
    assert "may have been delivered" in results[0].detail
    assert sendgrid_standin.requests == 1  # not retried: it had in fact been accepted
    assert len(sendgrid_standin.accepted) == 5


def test_oversized_substitutions_fail_that_recipient_only(sendgrid_standin: StandIn) -> None:
    people = [recipient(1), recipient(2, name="x" * 6000), recipient(3)]
    results = sendgrid_backend(sendgrid_standin.url).send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [SENT, FAILED, SENT]
    assert "10000-byte" in results[1].detail
    assert len(sendgrid_standin.accepted) == 2


def test_missing_key_and_unreachable_api_are_fatal(tmp_path) -> None:
    with pytest.raises(BackendConfigError, match="SENDGRID_API_KEY is not set"):
        SendGridBackend(load_settings(cwd=tmp_path, env={}))
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(BackendConfigError, match="cannot reach the SendGrid API"):
        sendgrid_backend(url).send(sample_template(), [recipient(1)])


def _post(standin: StandIn, body: bytes, key: str = "SG.test-key") -> int:
    request = urllib.request.Request(
        standin.url + "/v3/mail/send",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_standin_enforces_schema_and_limits(sendgrid_standin: StandIn) -> None:
    backend = sendgrid_backend(sendgrid_standin.url)
    template = sample_template()
    base = dict(backend._common(template)["body"])
    ok = dict(base, personalizations=[backend.personalization(template, recipient(1))])
    assert _post(sendgrid_standin, json.dumps(ok).encode()) == 202
    assert _post(sendgrid_standin, json.dumps(ok).encode(), key="nope") == 401
    many = dict(
        base,
        personalizations=[backend.personalization(template, recipient(i)) for i in range(1001)],
    )
    assert _post(sendgrid_standin, json.dumps(many).encode()) == 400
    bad_custom = json.loads(json.dumps(ok))
    bad_custom["personalizations"][0]["custom_args"]["subscriber_id"] = 1
    assert _post(sendgrid_standin, json.dumps(bad_custom).encode()) == 400
    no_from = {k: v for k, v in ok.items() if k != "from"}
    assert _post(sendgrid_standin, json.dumps(no_from).encode()) == 400
    huge = dict(ok, content=[{"type": "text/plain", "value": "x" * (31 * 1024 * 1024)}])
    assert _post(sendgrid_standin, json.dumps(huge).encode()) == 413


# --- kept-alive connections, requests in flight ---------------------------------------------


def test_requests_reuse_kept_alive_connections(sendgrid_standin: StandIn) -> None:
    people = [recipient(i) for i in range(1, 401)]
    backend = sendgrid_backend(sendgrid_standin.url, per_request=50)
    results = backend.send(sample_template(), people)
    assert [r.status for r in results] == [SENT] * 400
    assert sendgrid_standin.requests == 8
    assert sendgrid_standin.connections == 1 == backend.http.opened  # one handshake, not 8


def eof_waiting(backend: SendGridBackend) -> bool:
    """Has every kept connection of `backend` seen the server's FIN or RST (readable while
    idle)? The client's own check at reuse, made here so a test knows it will find it."""
    return all(wait_for_read(kept.conn.sock, timeout=0.0) for kept in backend.http._all)


def test_connection_closed_by_the_server_while_idle_is_replaced_not_unknown() -> None:
    """The server drops idle connections after 1 s; the client's own limit is longer, so
    the dead connection is found at reuse (its EOF is waiting) and the request goes out on a
    fresh one: nobody becomes `unknown`, nobody is sent twice."""
    standin = StandIn(keepalive=1).start()
    try:
        backend = sendgrid_backend(standin.url, NEWSLETTER_SENDGRID_KEEPALIVE="60")
        first = backend.send(sample_template(), [recipient(1), recipient(2)])
        wait_until(lambda: standin.idle_closed >= 1, what="the server to close the idle one")
        wait_until(lambda: eof_waiting(backend), what="its EOF to reach the client")
        second = backend.send(sample_template(), [recipient(3), recipient(4)])
        assert [r.status for r in first + second] == [SENT] * 4
        assert standin.connections == 2 and set(standin.accepted_ids.values()) == {1}
    finally:
        standin.stop()


def test_idle_connections_are_refreshed_before_the_servers_keepalive_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Idle past our limit (1.5 s, below the server's 10 s), a kept connection is replaced
    before use. The client's clock is moved by the test, not waited out."""
    from newsletter.sending.delivery import keepalive

    clock = ManualClock()
    monkeypatch.setattr(keepalive, "time", clock)
    standin = StandIn(keepalive=10).start()
    try:
        backend = sendgrid_backend(standin.url, NEWSLETTER_SENDGRID_KEEPALIVE="1.5")
        backend.send(sample_template(), [recipient(1)])
        clock.advance(1.4)
        backend.send(sample_template(), [recipient(2)])  # within our limit: same connection
        assert backend.http.opened == 1
        clock.advance(1.6)
        backend.send(sample_template(), [recipient(3)])  # idle past our limit: a new one
        assert backend.http.opened == 2 == standin.connections
        assert len(standin.accepted_ids) == 3
    finally:
        standin.stop()


def test_a_429_pauses_every_lane_not_only_the_one_that_got_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Four lanes post small requests; the third answer is a 429. Requests the other three
    lanes had already started may still arrive, but then all four lanes wait out the shared
    pause (with a pause per lane, the other lanes would go on posting). The pause runs on a
    clock the test moves, and answers after the 429 wait until the pause is drawn (else, on a
    loaded machine, the other lanes could finish every unit before the 429's lane runs again),
    so nothing depends on the machine's speed."""
    from newsletter.sending.delivery import sendgrid

    clock = ManualClock()
    monkeypatch.setattr(sendgrid, "time", clock)
    standin = StandIn().start()
    standin.script(202, 2)  # two normal answers first ...
    standin.script(429, 1)  # ... then one 429
    backend = sendgrid_backend(standin.url, NEWSLETTER_SENDGRID_CONCURRENCY="4", per_request=5)
    backend.backoff = 0.6
    pauses: list[tuple[float, float, int]] = []
    calm = backend._calm

    calmed, judge, judged = threading.Event(), standin._judge, itertools.count(1)

    def noted_calm(attempt: int) -> None:
        calm(attempt)
        pauses.append((clock.monotonic(), backend._calm_until, standin.requests))
        calmed.set()

    def judge_after_calm(headers: Any, raw: bytes) -> tuple[int, bytes, float]:
        if next(judged) > 3:  # answers after the 429 wait until its lane has drawn the pause
            calmed.wait(60)
        return judge(headers, raw)

    standin._judge = judge_after_calm  # type: ignore[method-assign]

    backend._calm = noted_calm  # type: ignore[method-assign]
    feed = ListFeed([Unit([recipient(i) for i in range(s, s + 5)]) for s in range(1, 101, 5)])
    lanes = [
        threading.Thread(target=backend.lane, args=(sample_template(), feed)) for _ in range(4)
    ]
    try:
        for lane in lanes:
            lane.start()
        wait_until(lambda: clock.sleeping == 4, what="all four lanes to wait out the 429")
        ((start, until, before),) = pauses
        assert until - start >= backend.backoff / 2  # the drawn pause, on the test's clock
        assert standin.requests - before <= 3  # only what the other three had under way
        clock.advance(until - start)
        for lane in lanes:
            lane.join(timeout=60)
        assert [r.status for r in feed.in_order()] == [SENT] * 100
        assert standin.requests == 21  # 20 requests and the retried one
    finally:
        clock.advance(3600)  # on failure, let the lanes out
        standin.stop()


def test_request_that_cannot_be_written_on_a_reused_connection_goes_out_on_a_fresh_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server resets each connection once the client has read its answer; the client is
    made to miss that at reuse (the race with a server's idle timeout). Writing then fails, so
    the request was not sent: it goes out on a fresh connection, and nobody is `unknown`."""
    from newsletter.sending.delivery import keepalive

    monkeypatch.setattr(keepalive, "wait_for_read", lambda sock, timeout: False)
    listener = socket.create_server(("127.0.0.1", 0))
    port, requests = listener.getsockname()[1], []
    answer_read, first_reset = threading.Event(), threading.Event()

    def serve() -> None:
        for _ in range(2):
            conn, _ = listener.accept()
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
            while len(body) < length:
                body += conn.recv(65536)
            requests.append(json.loads(body))
            conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nX-Message-Id: m\r\n\r\n")
            answer_read.wait(timeout=60)  # the answer is the client's: now reset
            answer_read.clear()
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()  # a reset, without a word about keep-alive
            first_reset.set()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        backend = sendgrid_backend(f"http://127.0.0.1:{port}")
        first = backend.send(sample_template(), [recipient(1)])
        answer_read.set()
        wait_until(first_reset.is_set, what="the server to reset the first connection")
        wait_until(lambda: eof_waiting(backend), what="the reset to reach the client")
        second = backend.send(sample_template(), [recipient(2)])
        answer_read.set()
        assert [r.status for r in first + second] == [SENT, SENT]
        assert backend.http.opened == 2 and len(requests) == 2
    finally:
        answer_read.set()
        server.join(timeout=5)
        listener.close()
