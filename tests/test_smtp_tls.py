"""TLS to a real local SMTP relay (aiosmtpd, STARTTLS and implicit TLS) whose certificate this
machine does not trust: the error names the cause, and `smtp_ca_file` makes it trusted."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from newsletter.errors import BackendConfigError
from newsletter.models import SENT
from tests.support.backends import smtp_backend
from tests.support.certificates import Pem, make_ca, make_server_cert
from tests.support.messages import recipient, sample_template
from tests.support.ports import free_port
from tests.support.smtp_sink import RecordingHandler


@dataclass(frozen=True)
class Certs:
    ca: Pem
    by_ca: Pem
    self_signed: Pem
    other_host: Pem
    expired: Pem


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca, ca_cert, ca_key = make_ca(folder)
    issuer = (ca_cert, ca_key)
    return Certs(
        ca=ca,
        by_ca=make_server_cert(folder, "by-ca", issuer=issuer),
        self_signed=make_server_cert(folder, "self-signed"),
        other_host=make_server_cert(folder, "other-host", host="mail.other.example", issuer=issuer),
        expired=make_server_cert(folder, "expired", issuer=issuer, expired=True),
    )


@dataclass
class Relay:
    port: int
    handler: RecordingHandler


@pytest.fixture
def relay(request: pytest.FixtureRequest) -> Iterator[callable]:  # type: ignore[valid-type]
    """start(pem, mode): an aiosmtpd relay on 127.0.0.1 presenting `pem`, with STARTTLS
    (required before mail) or implicit TLS."""
    from aiosmtpd.controller import Controller

    controllers = []

    def start(pem: Pem, mode: str = "starttls") -> Relay:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(pem.cert, pem.key)
        handler, port = RecordingHandler(), free_port()
        tls = (
            {"tls_context": context, "require_starttls": True}
            if mode == "starttls"
            else {"ssl_context": context}
        )
        controller = Controller(handler, hostname="127.0.0.1", port=port, **tls)
        controller.start()
        controllers.append(controller)
        return Relay(port, handler)

    yield start
    for controller in controllers:
        controller.stop()


def _send(relay: Relay, mode: str = "starttls", **env: str) -> list:
    with smtp_backend(relay.port, 1, NEWSLETTER_SMTP_SECURITY=mode, **env) as backend:
        return backend.send(sample_template(), [recipient(1)])


@pytest.fixture(autouse=True)
def no_ssl_cert_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The machine's trust store only: no SSL_CERT_FILE/DIR from the developer's shell."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_self_signed_relay_is_named_as_the_cause(certs: Certs, relay, mode: str) -> None:
    server = relay(certs.self_signed, mode)
    with pytest.raises(BackendConfigError) as caught:
        _send(server, mode)
    message = str(caught.value)
    assert message.startswith(
        f"TLS with SMTP server 127.0.0.1:{server.port} failed: its certificate is not "
        "trusted: it is self-signed ("
    )
    assert "set smtp_ca_file to that CA's certificate (or the self-signed certificate)" in message
    assert "check smtp_security and smtp_port" not in message
    assert server.handler.messages == []


def test_smtp_ca_file_trusts_a_self_signed_relay(certs: Certs, relay) -> None:
    server = relay(certs.self_signed)
    results = _send(server, NEWSLETTER_SMTP_CA_FILE=str(certs.self_signed.cert))
    assert [r.status for r in results] == [SENT]
    assert len(server.handler.messages) == 1


@pytest.mark.parametrize("mode", ["starttls", "tls"])
def test_a_private_ca_is_named_and_smtp_ca_file_trusts_it(certs: Certs, relay, mode: str) -> None:
    server = relay(certs.by_ca, mode)
    with pytest.raises(BackendConfigError, match="signed by a certificate authority this machine"):
        _send(server, mode)
    results = _send(server, mode, NEWSLETTER_SMTP_CA_FILE=str(certs.ca.cert))
    assert [r.status for r in results] == [SENT]


def test_the_wrong_ca_file_says_it_does_not_hold_the_signer(certs: Certs, relay) -> None:
    server = relay(certs.by_ca)
    wrong = str(certs.self_signed.cert)
    with pytest.raises(BackendConfigError) as caught:
        _send(server, NEWSLETTER_SMTP_CA_FILE=wrong)
    assert f"smtp_ca_file {wrong} does not hold the certificate that signed it" in str(caught.value)


def test_a_certificate_for_another_host_name_says_so(certs: Certs, relay) -> None:
    server = relay(certs.other_host)
    with pytest.raises(BackendConfigError) as caught:
        _send(server, NEWSLETTER_SMTP_CA_FILE=str(certs.ca.cert))
    message = str(caught.value)
    assert "its certificate is not trusted: it is for another host name (" in message
    assert "set smtp_host to a name the certificate is for" in message


def test_an_expired_certificate_says_so(certs: Certs, relay) -> None:
    server = relay(certs.expired)
    with pytest.raises(BackendConfigError, match="it has expired .*needs a current certificate"):
        _send(server, NEWSLETTER_SMTP_CA_FILE=str(certs.ca.cert))


def test_ssl_cert_file_still_works(certs: Certs, relay, monkeypatch: pytest.MonkeyPatch) -> None:
    server = relay(certs.by_ca)
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca.cert))
    assert [r.status for r in _send(server)] == [SENT]


@pytest.mark.parametrize("content", [None, b"not a certificate\n"])
def test_an_unusable_ca_file_is_one_line(
    certs: Certs, relay, tmp_path: Path, content: bytes | None
) -> None:
    server = relay(certs.by_ca)
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BackendConfigError) as caught:
        _send(server, NEWSLETTER_SMTP_CA_FILE=str(path))
    message = str(caught.value)
    assert message.startswith(f"smtp_ca_file {path}: ")
    assert "No such file" in message if content is None else "no PEM certificate" in message
    assert "\n" not in message


def test_a_plain_port_still_points_at_smtp_security(certs: Certs, relay) -> None:
    """Not a certificate problem (implicit TLS against a STARTTLS port): the old advice."""
    server = relay(certs.by_ca, "starttls")
    with pytest.raises(BackendConfigError, match="check smtp_security and smtp_port"):
        _send(server, "tls", NEWSLETTER_SMTP_CA_FILE=str(certs.ca.cert))
