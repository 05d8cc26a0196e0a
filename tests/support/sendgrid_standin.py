"""A local stand-in for SendGrid's POST /v3/mail/send, on 127.0.0.1 (ephemeral port).

Every request body is validated against sendgrid-mail-send.schema.json beside this file (a copy
of the project's shared reference schema, from Twilio's MIT-licensed SendGrid OpenAPI spec; see
sendgrid-mail-send.SOURCES.md for its origin and local patches; Draft 2020-12, with format
checking), plus the limits the schema cannot express: 1000 recipients, 30 MB, unique
addresses, 10,000 bytes of substitutions, the Authorization header.
Scriptable: ``standin.script(status, times)`` answers 429/500/401... that many times,
``standin.bad`` gets 400 with SendGrid-shaped errors, ``standin.hang(times)`` accepts and then
keeps the answer back until the client hangs up (its timeout, however long), so the client
cannot know.
Across a network: ``delay`` holds every answer back that many seconds (a real API answers a
1000-recipient request in a few hundred ms), and ``keepalive`` closes a connection that sat
idle that long, as servers do. ``connections`` counts connections accepted, ``idle_closed``
those it closed for sitting idle (so a test can wait for that event), ``arrived`` holds the
monotonic time of every request, ``answered`` the (time, status) of every answer.
``hold()`` keeps every answer back until ``release()``: requests stay in flight for exactly as
long as a test needs, whatever the machine's speed.

As a process: ``python -m tests.support.sendgrid_standin --port N --api-key KEY
[--validate-every K] [--delay-ms MS] [--keepalive S] [--summary FILE]``
prints ``listening on PORT``; on SIGTERM/SIGINT it writes {"accepted": n, "requests": n,
"rejected": n, "subscriber_ids_unique": n, "connections": n} to FILE.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import select
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

SCHEMA = Path(__file__).resolve().parent / "sendgrid-mail-send.schema.json"
MAX_BYTES = 30 * 1024 * 1024
MAX_RECIPIENTS = 1000


def _errors(*items: tuple[str, str | None]) -> bytes:
    return json.dumps(
        {"errors": [{"message": m, "field": f, "help": None} for m, f in items]}
    ).encode()


class StandIn:
    def __init__(
        self,
        api_key: str = "SG.test-key",
        *,
        keep_bodies: bool = True,
        validate_every: int = 1,
        delay: float = 0.0,
        keepalive: float | None = None,
    ):
        from jsonschema import Draft202012Validator, FormatChecker

        self.api_key = api_key
        self.validator = Draft202012Validator(
            json.loads(SCHEMA.read_text()), format_checker=FormatChecker()
        )
        self.keep_bodies = keep_bodies
        self.validate_every = max(1, validate_every)
        self.accepted: list[dict[str, Any]] = []  # personalizations (when keep_bodies)
        self.bodies: list[dict[str, Any]] = []  # accepted bodies without personalizations
        self.accepted_ids: Counter[str] = Counter()  # custom_args.subscriber_id -> times
        self.bad: dict[str, str] = {}  # address -> message for a 400
        self.requests = 0
        self.rejected: list[tuple[int, str]] = []
        self._script: list[int] = []
        self._hang: list[float] = []
        self.delay, self.keepalive = delay, keepalive
        self.connections = 0
        self.idle_closed = 0
        self._released = threading.Event()
        self._released.set()
        self.answered: list[tuple[float, int]] = []
        self.arrived: list[float] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"

    # --- scripting -------------------------------------------------------------------------

    def script(self, status: int, times: int = 1) -> None:
        with self.lock:
            self._script.extend([status] * times)

    def hang(self, times: int = 1, seconds: float = 120.0) -> None:
        """The next `times` accepted requests get no answer until the client closes the
        connection (at most `seconds`, so a client that never gives up frees the thread)."""
        with self.lock:
            self._hang.extend([seconds] * times)

    def hold(self) -> None:
        """Keep every answer back (requests already judged stay in flight) until release()."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    def start(self) -> StandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()

    def summary(self) -> dict[str, int]:
        return {
            "accepted": sum(self.accepted_ids.values()),
            "requests": self.requests,
            "rejected": len(self.rejected),
            "subscriber_ids_unique": len(self.accepted_ids),
            "connections": self.connections,
        }

    # --- the endpoint ----------------------------------------------------------------------

    def _judge(self, headers: Any, raw: bytes) -> tuple[int, bytes, float]:
        """(status, body, longest wait for the client to hang up first: 0 = answer now)."""
        with self.lock:
            self.requests += 1
            self.arrived.append(time.monotonic())
            number = self.requests
            scripted = self._script.pop(0) if self._script else None
            hang = self._hang.pop(0) if self._hang else 0.0
        if headers.get("Authorization") != f"Bearer {self.api_key}":
            return (
                401,
                _errors(("The provided authorization grant is invalid, expired, or revoked", None)),
                0,
            )
        if scripted is not None:
            return scripted, _errors((f"scripted {scripted}", None)), 0
        if len(raw) > MAX_BYTES:
            return 413, _errors(("request too large: limit is 30 MB", None)), 0
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, _errors(("Bad Request: body is not JSON", None)), 0
        if number % self.validate_every == 1 % self.validate_every:
            problems = [
                (f"{e.message}", "/".join(str(p) for p in e.absolute_path) or None)
                for e in self.validator.iter_errors(body)
            ]
            if problems:
                return 400, _errors(*problems[:20]), 0
        people = body.get("personalizations", [])
        count = sum(len(p.get(k, [])) for p in people for k in ("to", "cc", "bcc"))
        if count > MAX_RECIPIENTS:
            return 400, _errors((f"too many recipients: {count} > 1000", "personalizations")), 0
        seen: set[str] = set()
        bad = []
        for i, p in enumerate(people):
            subs = p.get("substitutions") or {}
            if sum(len(k.encode()) + len(str(v).encode()) for k, v in subs.items()) > 10_000:
                bad.append(("substitutions exceed 10000 bytes", f"personalizations.{i}"))
            for j, to in enumerate(p.get("to", [])):
                address = to.get("email", "").lower()
                if address in seen:
                    bad.append(
                        (
                            "Each email address in the personalization block should be unique",
                            f"personalizations.{i}.to.{j}.email",
                        )
                    )
                seen.add(address)
                if address in self.bad:
                    bad.append((self.bad[address], f"personalizations.{i}.to.{j}.email"))
        if bad:
            return 400, _errors(*bad), 0
        with self.lock:
            for p in people:
                self.accepted_ids[str(p.get("custom_args", {}).get("subscriber_id"))] += 1
            if self.keep_bodies:
                self.accepted.extend(people)
                self.bodies.append({k: v for k, v in body.items() if k != "personalizations"})
        return 202, b"", hang

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def log_error(self, format: str, *args: object) -> None:  # noqa: A002
                # The base class reports a read that timed out (a connection idle past
                # `keepalive`) only here, then drops the connection: close it now and count it.
                if format.startswith("Request timed out"):
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    with standin.lock:
                        standin.idle_closed += 1

            def setup(self) -> None:
                self.timeout = standin.keepalive  # idle that long: the connection is closed
                super().setup()
                with standin.lock:
                    standin.connections += 1

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/v3/mail/send":
                    status, body, hang = 404, _errors(("not found", None)), 0.0
                else:
                    status, body, hang = standin._judge(self.headers, raw)
                if status != 202:
                    with standin.lock:
                        standin.rejected.append((status, body.decode()))
                if hang:  # wait for the client to give up (its EOF)
                    select.select([self.connection], [], [], hang)
                if standin.delay:
                    time.sleep(standin.delay)  # latency of a real API
                standin._released.wait()
                with standin.lock:
                    standin.answered.append((time.monotonic(), status))
                # the client may have given up waiting (a hang, or a killed sender)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(status)
                    if status == 202:
                        self.send_header("X-Message-Id", uuid.uuid4().hex[:22])
                    else:
                        self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

        return Handler


@pytest.fixture
def sendgrid_standin() -> Iterator[StandIn]:
    standin = StandIn().start()
    try:
        yield standin
    finally:
        standin.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SendGrid /v3/mail/send stand-in")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default="SG.test-key")
    parser.add_argument(
        "--validate-every",
        type=int,
        default=1,
        help="schema-validate every K-th request (limits are always checked)",
    )
    parser.add_argument("--delay-ms", type=float, default=0, help="hold every answer back")
    parser.add_argument("--keepalive", type=float, default=None, help="idle seconds to close")
    parser.add_argument("--summary", help="write a JSON summary here on exit")
    args = parser.parse_args(argv)
    standin = StandIn(
        args.api_key,
        keep_bodies=False,
        validate_every=args.validate_every,
        delay=args.delay_ms / 1000,
        keepalive=args.keepalive,
    )
    if args.port:
        standin.server.server_close()
        standin.server = ThreadingHTTPServer(("127.0.0.1", args.port), standin._handler_class())
        standin.port = args.port

    def finish(*_: object) -> None:
        if args.summary:
            Path(args.summary).write_text(json.dumps(standin.summary()))
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    print(f"listening on {standin.port}", flush=True)
    try:
        standin.server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        finish()


if __name__ == "__main__":
    main()
