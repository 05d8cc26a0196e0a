"""`newsletter serve` runs the app (development server) on the given host and port; every
answer it gives, including the ones the server writes itself, carries the security headers."""

from __future__ import annotations

import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from newsletter.web.security import HEADERS
from tests.support.ports import free_port
from tests.support.web_server import server_env, wait_for_health

# The server, not the database, is under test here.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def served(web) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """`newsletter serve` on a free port; yields the port."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=web.workdir,
        env=server_env(web.settings),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for_health(f"http://127.0.0.1:{port}", proc, "newsletter serve")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


def _raw(port: int, request: bytes) -> tuple[int, dict[str, str]]:
    """Send raw bytes; (status, headers) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(head[0].split()[1]), headers


def test_serve_answers_healthz_and_pages(served):
    with urllib.request.urlopen(f"http://127.0.0.1:{served}/subscribe", timeout=5) as r:
        assert "Subscribe to The News" in r.read().decode()
        assert r.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),  # URI too long
        (b"GET / HTTP/1.1 extra words\r\nHost: x\r\n\r\n", 400),  # malformed request line
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 505),  # unsupported version
        (b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 150 + b"\r\n", 431),  # too many headers
        (b"GET /no-such-page HTTP/1.1\r\nHost: x\r\n\r\n", 404),  # the app's own answer
    ],
    ids=["414", "400", "505", "431", "404"],
)
def test_errors_of_the_server_itself_carry_the_security_headers(served, request_bytes, status):
    got, headers = _raw(served, request_bytes)
    assert got == status
    for name, value in HEADERS.items():
        assert headers.get(name.lower()) == value, name
