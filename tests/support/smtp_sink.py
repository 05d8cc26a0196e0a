"""SMTP servers for tests and benchmarks, on 127.0.0.1 only.

- ``smtp_sink`` fixture: a real aiosmtpd server that records every message (envelope + bytes),
  rejects chosen recipients with 550 at RCPT, and on demand answers 421 / 451 or drops the
  connection (``sink.script(...)``).
- ``FastSink``: a minimal asyncio SMTP server that reads DATA in bulk, for benchmarks (stock
  aiosmtpd reads line by line and tops out near 360 messages/s). It advertises PIPELINING (and
  answers pipelined commands as a real relay does), optionally CHUNKING (BDAT), and can delay
  every reply (``--latency-ms``) like a server across a network.
- As a process: ``python -m tests.support.smtp_sink --port N --record FILE [--fast
  [--latency-ms MS] [--chunking] [--no-pipelining]]`` appends
  one JSON line per accepted message ({"mail_from", "rcpt_tos", "data_b64"}) and prints
  ``listening on PORT`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.ports import free_port


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    peer: str = ""  # client host:port, one per connection


@dataclass
class RecordingHandler:
    """aiosmtpd handler; ``script`` maps a trouble kind to how many times it happens next."""

    messages: list[Received] = field(default_factory=list)
    reject: set[str] = field(default_factory=set)
    trouble: Counter = field(default_factory=Counter)
    record_file: str | None = None
    pipelining: bool = True  # advertise PIPELINING (aiosmtpd reads commands in order anyway)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, kind: str, times: int = 1) -> None:
        """kinds: 421_at_mail, drop_at_mail, 451_at_rcpt, 451_at_data, drop_after_data."""
        assert kind in {
            "421_at_mail",
            "drop_at_mail",
            "451_at_rcpt",
            "451_at_data",
            "drop_after_data",
            "553_at_mail",
        }, kind
        with self.lock:
            self.trouble[kind] += times

    def _take(self, kind: str) -> bool:
        with self.lock:
            if self.trouble[kind] > 0:
                self.trouble[kind] -= 1
                return True
            return False

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: ANN001
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: ANN001
        if self._take("drop_at_mail"):
            server.transport.close()
            return "421 4.3.2 dropping"
        if self._take("421_at_mail"):
            server.transport.close()
            return "421 4.7.0 too busy, try later"
        if self._take("553_at_mail"):
            return f"553 5.7.1 <{address}>: sender address rejected"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: ANN001
        if address.lower() in self.reject:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        if self._take("451_at_rcpt"):
            return "451 4.3.0 temporary trouble, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        if self._take("451_at_data"):
            return "451 4.3.0 queue full, try later"
        if self._take("drop_after_data"):  # accepted but the answer never arrives
            self._record(envelope, session)
            server.transport.close()
            return "250 OK"
        self._record(envelope, session)
        return "250 2.0.0 OK queued"

    def _record(self, envelope, session) -> None:  # noqa: ANN001
        peer = "{}:{}".format(*tuple(session.peer[:2])) if session.peer else ""
        item = Received(
            envelope.mail_from, tuple(envelope.rcpt_tos), bytes(envelope.original_content), peer
        )
        with self.lock:
            self.messages.append(item)
            if self.record_file:
                _append_record(self.record_file, item)


def _append_record(path: str, item: Received) -> None:
    line = json.dumps(
        {
            "mail_from": item.mail_from,
            "rcpt_tos": list(item.rcpt_tos),
            "data_b64": base64.b64encode(item.data).decode(),
        }
    )
    # One unbuffered write of the whole line (a buffered file would flush a 40 KB line in
    # several pieces, and a test polling the file could read between them).
    with open(path, "ab", buffering=0) as handle:
        handle.write((line + "\n").encode("ascii"))


def read_records(path: str) -> list[Received]:
    """Messages recorded by a sink process (``--record FILE``). The file is read in one go and
    its last piece dropped: either empty, or a line still being written while a test polls."""
    with open(path, "rb") as handle:
        complete = handle.read().split(b"\n")[:-1]
    out = []
    for line in complete:
        if line.strip():
            d = json.loads(line)
            out.append(
                Received(d["mail_from"], tuple(d["rcpt_tos"]), base64.b64decode(d["data_b64"]))
            )
    return out


class SinkServer:
    """A running aiosmtpd sink: ``.port``, ``.handler`` (messages, reject, script)."""

    def __init__(self, handler: RecordingHandler | None = None, port: int = 0):
        from aiosmtpd.controller import Controller

        self.handler = handler or RecordingHandler()
        self.port = port or free_port()
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, data_size_limit=50_000_000
        )

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def start(self) -> SinkServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def smtp_sink() -> Iterator[SinkServer]:
    server = SinkServer().start()
    try:
        yield server
    finally:
        server.stop()


# --- the fast sink (benchmarks) -----------------------------------------------------------------


class _FastProtocol(asyncio.Protocol):
    def __init__(self, sink: FastSink):
        self.sink = sink
        self.buffer = b""
        self.in_data = False
        self.chunk = -1  # bytes still to read of a BDAT chunk (-1: none)
        self.rcpts: list[str] = []
        self.mail_from = ""

    def connection_made(self, transport) -> None:  # noqa: ANN001
        self.transport = transport
        self.reply(b"220 fast-sink ESMTP\r\n")

    def reply(self, data: bytes, close: bool = False) -> None:
        """Each reply leaves `latency` seconds late (in order), like one across a network."""
        if not self.sink.latency:
            self.transport.write(data)
            if close:
                self.transport.close()
            return
        loop = asyncio.get_running_loop()
        loop.call_later(self.sink.latency, self.transport.write, data)
        if close:
            loop.call_later(self.sink.latency, self.transport.close)

    def _message(self, message: bytes) -> bytes:
        self.sink.accept(self.mail_from, self.rcpts, message)
        self.rcpts = []
        return b"250 OK\r\n"

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        out: list[bytes] = []
        while True:
            if self.chunk >= 0:  # BDAT n LAST: n raw bytes
                if len(self.buffer) < self.chunk:
                    break
                message, self.buffer = self.buffer[: self.chunk], self.buffer[self.chunk :]
                self.chunk = -1
                out.append(self._message(message))
                continue
            if self.in_data:
                end = self.buffer.find(b"\r\n.\r\n")
                if end < 0:
                    break
                message, self.buffer = self.buffer[: end + 2], self.buffer[end + 5 :]
                self.in_data = False
                out.append(self._message(message))
                continue
            end = self.buffer.find(b"\r\n")
            if end < 0:
                break
            line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
            if self._command(line, out):
                return
        if out:
            self.reply(b"".join(out))

    def _command(self, line: bytes, out: list[bytes]) -> bool:
        """Answer one command line into `out`; True when the connection is closed."""
        verb = line[:4].upper()
        if verb == b"EHLO":
            out.append(self.sink.ehlo)
        elif verb == b"MAIL":
            self.mail_from, self.rcpts = line[10:].strip(b"<> ").decode().split(" ")[0], []
            out.append(b"250 OK\r\n")
        elif verb == b"RCPT":
            self.rcpts.append(line[8:].strip(b"<> ").decode())
            out.append(b"250 OK\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.buffer = b"\r\n" + self.buffer  # so a message ending right away is found
            out.append(b"354 go ahead\r\n")
        elif verb == b"BDAT" and self.sink.chunking:
            self.chunk = int(line.split()[1])  # every client here sends one LAST chunk
        elif verb == b"XSTA":  # benchmark helper: "XSTAT" -> messages and distinct rcpts
            out.append(f"250 {self.sink.count} {len(self.sink.recipients)}\r\n".encode())
        elif verb == b"QUIT":
            out.append(b"221 bye\r\n")
            self.reply(b"".join(out), close=True)
            return True
        else:  # HELO, RSET, NOOP
            out.append(b"250 OK\r\n")
        return False


class FastSink:
    """Counts (and optionally records) messages; unstuffs nothing, keeps raw DATA bytes.
    `latency` delays every reply (seconds); `chunking` offers CHUNKING (BDAT ... LAST)."""

    def __init__(
        self,
        record: str | None = None,
        *,
        pipelining: bool = True,
        latency: float = 0.0,
        chunking: bool = False,
        envelopes_only: bool = False,
    ):
        self.ehlo = (
            b"250-fast-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
            + (b"250-CHUNKING\r\n" if chunking else b"")
            + (b"250 PIPELINING\r\n" if pipelining else b"250 HELP\r\n")
        )
        self.latency, self.chunking, self.envelopes_only = latency, chunking, envelopes_only
        self.count = 0
        self.record = record
        self.recipients: Counter[str] = Counter()

    def accept(self, mail_from: str, rcpts: list[str], message: bytes) -> None:
        self.count += 1
        self.recipients.update(rcpts)
        if self.record:
            data = b"" if self.envelopes_only else message
            if data.startswith(b"\r\n"):  # DATA (the reader put a CRLF before it), not BDAT
                data = re.sub(rb"(?m)^\.\.", b".", data[2:])  # undo SMTP dot-stuffing
            _append_record(self.record, Received(mail_from, tuple(rcpts), data))

    async def serve(self, port: int, ready: threading.Event | None = None) -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _FastProtocol(self), "127.0.0.1", port)
        self.port = server.sockets[0].getsockname()[1]
        print(f"listening on {self.port}", flush=True)
        if ready:
            ready.set()
        async with server:
            await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP sink on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", help="append one JSON line per accepted message")
    parser.add_argument("--fast", action="store_true", help="bulk-reading sink (benchmarks)")
    parser.add_argument("--no-pipelining", action="store_true", help="fast sink: hide PIPELINING")
    parser.add_argument("--chunking", action="store_true", help="fast sink: offer CHUNKING")
    parser.add_argument("--latency-ms", type=float, default=0, help="fast sink: delay replies")
    parser.add_argument("--envelopes-only", action="store_true", help="fast sink: record no data")
    parser.add_argument("--reject", action="append", default=[], help="address to 550 at RCPT")
    args = parser.parse_args(argv)
    if args.fast:
        sink = FastSink(
            args.record,
            pipelining=not args.no_pipelining,
            latency=args.latency_ms / 1000,
            chunking=args.chunking,
            envelopes_only=args.envelopes_only,
        )
        asyncio.run(sink.serve(args.port))
        return
    handler = RecordingHandler(reject={a.lower() for a in args.reject}, record_file=args.record)
    server = SinkServer(handler, args.port).start()
    print(f"listening on {server.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()
        sys.exit(0)


if __name__ == "__main__":
    main()
