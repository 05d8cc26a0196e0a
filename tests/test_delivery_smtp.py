"""SMTP backend against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from newsletter.errors import BackendConfigError, RelayOutage
from newsletter.models import FAILED, SENT, UNKNOWN
from tests.support.backends import smtp_backend
from tests.support.messages import body, parse, recipient, sample_template
from tests.support.ports import free_port
from tests.support.sending import sink_running
from tests.support.smtp_sink import RecordingHandler, SinkServer, read_records


@pytest.fixture(params=[True, False], ids=["pipelining", "no-pipelining"])
def smtp_sink(request: pytest.FixtureRequest) -> Iterator[SinkServer]:
    """The shared sink, with and without PIPELINING advertised (two client code paths)."""
    server = SinkServer(RecordingHandler(pipelining=request.param)).start()
    try:
        yield server
    finally:
        server.stop()


ROOT = Path(__file__).resolve().parents[1]


def one_status_each(results: list, people: list) -> None:
    assert [r.subscriber_id for r in results] == [p.subscriber_id for p in people]
    assert all(r.status in (SENT, FAILED, UNKNOWN) for r in results)


def test_a_few_hundred_messages_each_exactly_once_with_its_own_unsubscribe_url(
    smtp_sink: SinkServer,
) -> None:
    people = [recipient(i) for i in range(1, 301)]
    template = sample_template()
    with smtp_backend(smtp_sink.port) as backend:
        results = []
        for start in range(0, 300, 100):  # three batches over the same connections
            results += backend.send(template, people[start : start + 100])
    one_status_each(results, people)
    assert all(r.status == SENT for r in results)
    received = Counter(r for m in smtp_sink.messages for r in m.rcpt_tos)
    assert received == Counter(p.email for p in people)
    assert len({m.peer for m in smtp_sink.messages}) <= 4  # connections were reused
    for message in smtp_sink.messages:
        assert message.mail_from == "news@example.com"
        m = parse(message.data)
        i = int(message.rcpt_tos[0].removeprefix("reader").removesuffix("@example.org"))
        assert m["To"].addresses[0].addr_spec == message.rcpt_tos[0] == f"reader{i}@example.org"
        assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        own = f"https://news.example.com/unsubscribe/tok-{i}.sig"
        assert m["List-Unsubscribe"].startswith(f"<{own}>")
        assert f'href="{own}"' in body(m, "html")
        assert own in body(m, "plain")
    assert len({parse(m.data)["Message-ID"] for m in smtp_sink.messages}) == 300


def test_rejected_recipient_fails_with_the_servers_words(smtp_sink: SinkServer) -> None:
    smtp_sink.handler.reject.add("reader2@example.org")
    people = [recipient(i) for i in (1, 2, 3)]
    with smtp_backend(smtp_sink.port, connections=1) as backend:
        results = backend.send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [SENT, FAILED, SENT]
    assert "550" in results[1].detail and "no such mailbox" in results[1].detail
    assert sorted(r for m in smtp_sink.messages for r in m.rcpt_tos) == [
        "reader1@example.org",
        "reader3@example.org",
    ]


@pytest.mark.parametrize("trouble", ["451_at_rcpt", "451_at_data", "421_at_mail", "drop_at_mail"])
def test_transient_trouble_is_retried_and_delivers_once(
    smtp_sink: SinkServer, trouble: str
) -> None:
    smtp_sink.handler.script(trouble, 2)
    people = [recipient(i) for i in range(1, 6)]
    with smtp_backend(smtp_sink.port, connections=1) as backend:
        results = backend.send(sample_template(), people)
    assert smtp_sink.handler.trouble[trouble] == 0  # the trouble did happen, twice
    one_status_each(results, people)
    assert [r.status for r in results] == [SENT] * 5
    assert Counter(r for m in smtp_sink.messages for r in m.rcpt_tos) == Counter(
        p.email for p in people
    )


def test_lasting_trouble_gives_up_with_the_reason(smtp_sink: SinkServer) -> None:
    smtp_sink.handler.script("451_at_data", 1000)
    people = [recipient(1), recipient(2)]
    with smtp_backend(smtp_sink.port, connections=1) as backend:
        results = backend.send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [FAILED, FAILED]
    assert "4 attempts" in results[0].detail and "451" in results[0].detail
    assert smtp_sink.messages == []


def test_a_refused_sender_stops_the_send_with_one_line_and_nothing_counted_sent(
    smtp_sink: SinkServer,
) -> None:
    """MAIL FROM refused for good (5xx): a setting is wrong, so the send stops with the
    server's words and the fix, after reading every answer still due; no message went out."""
    smtp_sink.handler.script("553_at_mail", 1000)
    people = [recipient(i) for i in range(1, 7)]
    with (
        smtp_backend(smtp_sink.port, connections=3) as backend,
        pytest.raises(BackendConfigError, match="refused the sender") as info,
    ):
        backend.send(sample_template(), people)
    assert "553" in str(info.value) and "sender_address" in str(info.value)
    assert all(r.status != SENT for r in info.value.results)
    assert smtp_sink.messages == []


def test_connection_lost_after_data_is_unknown_and_not_resent(smtp_sink: SinkServer) -> None:
    smtp_sink.handler.script("drop_after_data", 1)
    people = [recipient(i) for i in (1, 2, 3)]
    with smtp_backend(smtp_sink.port, connections=1) as backend:
        results = backend.send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [UNKNOWN, SENT, SENT]
    # the server did take it: resending would have doubled it
    assert Counter(r for m in smtp_sink.messages for r in m.rcpt_tos)["reader1@example.org"] == 1


def test_unreachable_host_is_one_clear_fatal_line() -> None:
    port = free_port()
    with pytest.raises(BackendConfigError) as info:
        smtp_backend(port).send(sample_template(), [recipient(1)])
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "smtp_host" in message and "\n" not in message


def test_login_against_a_server_without_auth_is_fatal(smtp_sink: SinkServer) -> None:
    backend = smtp_backend(
        smtp_sink.port, NEWSLETTER_SMTP_USERNAME="me", NEWSLETTER_SMTP_PASSWORD="pw"
    )
    with pytest.raises(BackendConfigError, match="login"):
        backend.send(sample_template(), [recipient(1)])
    assert smtp_sink.messages == []


def test_starttls_required_but_not_offered_is_fatal(smtp_sink: SinkServer) -> None:
    backend = smtp_backend(smtp_sink.port, NEWSLETTER_SMTP_SECURITY="starttls")
    with pytest.raises(BackendConfigError, match="STARTTLS"):
        backend.send(sample_template(), [recipient(1)])


def test_server_gone_mid_send_is_an_outage_that_stops_after_outage_timeout() -> None:
    """Every connection refused once the relay has been reached: an outage, waited out with
    backoff for `outage_timeout` (1 s here), then the send stops, nothing attempted."""
    server = SinkServer().start()
    backend = smtp_backend(server.port, connections=1, NEWSLETTER_OUTAGE_TIMEOUT="1")
    first = backend.send(sample_template(), [recipient(1)])
    assert first[0].status == SENT
    server.stop()
    with pytest.raises(RelayOutage, match="outage_timeout") as info:
        backend.send(sample_template(), [recipient(2), recipient(3)])
    assert info.value.results == []  # type: ignore[attr-defined]
    assert "Connection refused" in str(info.value)
    backend.close()


@pytest.mark.parametrize("fast", [False, True], ids=["aiosmtpd", "fast"])
def test_sink_runs_as_a_separate_process_and_records(tmp_path: Path, fast: bool) -> None:
    record = tmp_path / "received.jsonl"
    options = ["--reject", "reader2@example.org"] + ["--fast"] * fast
    people = [recipient(i) for i in (1, 2, 3)]
    with sink_running(record, *options) as port, smtp_backend(port, connections=2) as backend:
        results = backend.send(sample_template(), people)
    expected = [SENT, SENT, SENT] if fast else [SENT, FAILED, SENT]  # the fast sink rejects nobody
    assert [r.status for r in results] == expected
    records = read_records(str(record))
    assert sorted(r.rcpt_tos[0] for r in records) == sorted(
        p.email for p, s in zip(people, expected, strict=True) if s == SENT
    )
    for item in records:
        assert parse(item.data)["To"].addresses[0].addr_spec == item.rcpt_tos[0]


@pytest.mark.parametrize(
    "mode", [["--chunking"], ["--latency-ms", "20"]], ids=["chunking", "late-replies"]
)
def test_chunking_and_late_replies_deliver_each_message_once_intact(
    tmp_path: Path, mode: list[str]
) -> None:
    """Against a server offering CHUNKING each message is one `BDAT n LAST` write (no
    dot-stuffing); against one answering 20 ms late the lanes pipeline the next envelope
    behind each message. Either way: everyone once, every message whole."""
    record = tmp_path / "received.jsonl"
    people = [recipient(i) for i in range(1, 61)]
    with sink_running(record, "--fast", *mode) as port, smtp_backend(port, 4) as backend:
        results = backend.send(sample_template(), people)
    one_status_each(results, people)
    assert [r.status for r in results] == [SENT] * 60
    records = read_records(str(record))
    assert sorted(r.rcpt_tos[0] for r in records) == sorted(p.email for p in people)
    by_address = {p.email: p for p in people}
    for item in records:
        message = parse(item.data)
        person = by_address[message["To"].addresses[0].addr_spec]
        assert person.email == item.rcpt_tos[0]
        assert person.unsubscribe_url in body(message, "html")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl CLI)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _authenticator(server, session, envelope, mechanism, auth_data):  # noqa: ANN001, ANN202
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"editor",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_tls_modes_with_login(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handler, port = RecordingHandler(), free_port()
    tls = {"tls_context": context} if mode == "starttls" else {"ssl_context": context}
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        authenticator=_authenticator,
        auth_require_tls=mode == "starttls",
        **tls,
    )
    controller.start()
    try:
        login = {"NEWSLETTER_SMTP_SECURITY": mode, "NEWSLETTER_SMTP_USERNAME": "editor"}
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now trust it
        with pytest.raises(BackendConfigError, match="refused the login for 'editor'"):
            smtp_backend(port, **login, NEWSLETTER_SMTP_PASSWORD="wrong").send(
                sample_template(), [recipient(1)]
            )
        with smtp_backend(port, **login, NEWSLETTER_SMTP_PASSWORD="s3cret") as backend:
            results = backend.send(sample_template(), [recipient(1), recipient(2)])
        assert [r.status for r in results] == [SENT, SENT]
        assert len(handler.messages) == 2
        monkeypatch.delenv("SSL_CERT_FILE")
        with pytest.raises(BackendConfigError, match="TLS|certificate"):  # untrusted: refused
            smtp_backend(port, **login, NEWSLETTER_SMTP_PASSWORD="s3cret").send(
                sample_template(), [recipient(1)]
            )
    finally:
        controller.stop()
