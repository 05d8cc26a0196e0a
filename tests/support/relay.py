"""A scriptable SMTP relay on 127.0.0.1 for the SMTP engine's tests: what a real relay does when
it is busy, broken or strict, on demand, and what it saw.

It speaks with or without PIPELINING, with CHUNKING (BDAT) if asked, reads DATA in bulk, and
counts what a test needs to judge a client: sessions that got a 220 at once (and the most ever),
greetings refused, every command verb in order (a stray `.` shows), every message accepted.

Trouble is scripted per command (`relay.on("MAIL", "450 4.7.1 too much mail", times=3)`):
the next `times` matching commands get that reply instead of a 250, and `then` says what the
relay does right after it: "close" (FIN), "reset" (RST: the client's next write fails), or
nothing. `after=N` lets N matching commands through first. Other knobs: `max_sessions` (421 at
the greeting beyond it, as Postfix's connection limit does), `drip` (every reply one byte at a
time), `cut_content` ((n, size): reset the connection once `size` bytes of the n-th message's
content have arrived, on a small receive buffer, so a large message's end cannot have left the
client), `latency`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

_GIL_HELD = ctypes.PyDLL(None)  # libc, called without releasing the GIL


@dataclass
class Rule:
    verb: str
    reply: str
    times: int
    then: str = ""  # "", "close" or "reset"
    after: int = 0


@dataclass
class Relay:
    pipelining: bool = True
    chunking: bool = False
    max_sessions: int = 0  # 0: any number
    drip: bool = False
    latency: float = 0.0
    cut_content: tuple[int, int] = (0, 0)  # (n, size): reset within the n-th content
    contents: int = 0  # message contents begun (DATA or BDAT), refused ones included
    rules: list[Rule] = field(default_factory=list)
    messages: list = field(default_factory=list)  # smtp_sink.Received
    verbs: list[str] = field(default_factory=list)
    greeted: int = 0
    max_greeted: int = 0
    sessions: int = 0
    refused_greetings: int = 0
    refusing: int = 0  # sessions refused at the greeting and not yet closed
    max_refusing: int = 0
    port: int = 0

    def on(self, verb: str, reply: str, times: int = 1, then: str = "", after: int = 0) -> None:
        self.rules.append(Rule(verb.upper(), reply, times, then, after))

    def rule_for(self, verb: str) -> Rule | None:
        for rule in self.rules:
            if rule.verb == verb and rule.times > 0:
                if rule.after > 0:
                    rule.after -= 1
                    return None
                rule.times -= 1
                return rule
        return None

    def recipients(self) -> list[str]:
        return [r for m in self.messages for r in m.rcpt_tos]

    @property
    def ehlo(self) -> bytes:
        lines = ["relay.test", "8BITMIME", "SMTPUTF8", "SIZE 50000000"]
        lines += ["PIPELINING"] * self.pipelining + ["CHUNKING"] * self.chunking
        return b"".join(
            f"250{'-' if i < len(lines) - 1 else ' '}{line}\r\n".encode()
            for i, line in enumerate(lines)
        )


class _Session(asyncio.Protocol):
    def __init__(self, relay: Relay):
        self.relay, self.buffer, self.greeted, self.refused = relay, b"", False, False
        self.mode = "command"  # command | data | bdat
        self.chunk = 0
        self.mail_from, self.rcpts, self.content = "", list[str](), b""
        self.queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.writer = asyncio.get_running_loop().create_task(self._write_replies())
        relay = self.relay
        relay.sessions += 1
        if relay.max_sessions and relay.greeted >= relay.max_sessions:
            relay.refused_greetings += 1
            relay.refusing += 1
            relay.max_refusing = max(relay.max_refusing, relay.refusing)
            self.refused = True
            self.reply("421 4.7.0 relay.test Error: too many connections", "close")
            return
        if relay.cut_content[0]:  # keep little in flight, so a cut leaves the end unsent
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.greeted = True
        relay.greeted += 1
        relay.max_greeted = max(relay.max_greeted, relay.greeted)
        self.reply("220 relay.test ESMTP")

    def connection_lost(self, exc: Exception | None) -> None:
        if self.greeted:
            self.relay.greeted -= 1
            self.greeted = False
        if self.refused:
            self.relay.refusing -= 1
            self.refused = False
        self.writer.cancel()

    def reply(self, text: str | bytes, then: str = "") -> None:
        data = text if isinstance(text, bytes) else text.encode() + b"\r\n"
        self.queue.put_nowait((data, then))

    async def _write_replies(self) -> None:
        """Replies leave in order, each `latency` late, byte by byte when dripping."""
        transport = self.transport
        while True:
            data, then = await self.queue.get()
            if self.relay.latency:
                await asyncio.sleep(self.relay.latency)
            pieces = [data[i : i + 1] for i in range(len(data))] if self.relay.drip else [data]
            if then == "reset":  # the reply's last byte arrives with the RST, not before
                pieces = [data[:-1], data[-1:]]
            for i, piece in enumerate(pieces):
                if then == "reset" and i == 1:
                    self.reset(piece)
                    return
                transport.write(piece)
                if self.relay.drip or then == "reset":
                    await asyncio.sleep(0.02 if then == "reset" else 0.0005)
            if then == "close":
                transport.close()
                self.connection_lost(None)
            if then:
                return

    def reset(self, last: bytes = b"") -> None:
        """Write `last`, then close with a RST: the client's next write fails. Both system calls
        run with Python's GIL held (ctypes.PyDLL), so no thread of this process (the client
        under test) can read `last` before the RST has arrived."""
        raw: socket.socket = self.transport._sock  # type: ignore[attr-defined]
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        fd = raw.detach()
        if last:
            _GIL_HELD.send(fd, last, len(last), 0)
        _GIL_HELD.close(fd)
        self.transport.abort()
        self.connection_lost(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer and not self.transport.is_closing():
            if self.mode == "command":
                end = self.buffer.find(b"\r\n")
                if end < 0:
                    return
                line, self.buffer = self.buffer[:end], self.buffer[end + 2 :]
                self.command(line.decode("utf-8", "replace"))
            elif not self.content_received():
                return

    def content_received(self) -> bool:
        """Take message content from the buffer; False when more must arrive first."""
        relay = self.relay
        nth, size = relay.cut_content
        if nth == relay.contents and len(self.content) + len(self.buffer) >= size:
            relay.cut_content = (0, 0)
            self.reset()
            return False
        if self.mode == "bdat":
            take = min(self.chunk, len(self.buffer))
            self.content += self.buffer[:take]
            self.buffer, self.chunk = self.buffer[take:], self.chunk - take
            if self.chunk:
                return False
            self.mode = "command"
            self.finish(self.bdat_reply)
            return True
        end = (b"\r\n" + self.content + self.buffer).find(b"\r\n.\r\n")
        if end < 0:
            self.content += self.buffer
            self.buffer = b""
            return False
        whole = self.content + self.buffer
        self.content, self.buffer = whole[:end], whole[end + 3 :]
        self.content = self.content.replace(b"\r\n..", b"\r\n.")
        self.mode = "command"
        self.finish(None)
        return True

    def finish(self, refused: Rule | None) -> None:
        rule = refused or self.relay.rule_for("END")
        if rule is None and self.rcpts and self.mail_from:
            from tests.support.smtp_sink import Received  # a plugin: imported once loaded

            self.relay.messages.append(Received(self.mail_from, tuple(self.rcpts), self.content))
            self.reply("250 2.0.0 Ok: queued")
        elif rule is not None:
            self.reply(rule.reply, rule.then)
        else:
            self.reply("554 5.5.1 Error: no valid recipients")
        self.mail_from, self.rcpts, self.content = "", [], b""

    def command(self, line: str) -> None:
        verb = line.split(" ", 1)[0].upper()
        self.relay.verbs.append(verb)
        if verb in ("EHLO", "HELO"):
            self.reply(self.relay.ehlo if verb == "EHLO" else b"250 relay.test\r\n")
            return
        if verb in ("RSET", "NOOP", "QUIT"):
            if verb == "RSET":
                self.mail_from, self.rcpts = "", []
            self.reply(
                "221 2.0.0 Bye" if verb == "QUIT" else "250 2.0.0 Ok", "close" * (verb == "QUIT")
            )
            return
        if verb == "BDAT" and self.relay.chunking:
            self.mode, self.chunk, self.content = "bdat", int(line.split()[1]), b""
            self.relay.contents += 1
            self.bdat_reply = self.relay.rule_for("BDAT") or (
                None if self.rcpts else Rule("BDAT", "554 5.5.1 Error: no valid recipients", 1)
            )
            if self.chunk == 0:
                self.mode = "command"
                self.finish(self.bdat_reply)
            return
        rule = self.relay.rule_for(verb)
        if rule is not None:
            self.reply(rule.reply, rule.then)
        elif verb == "MAIL":
            self.mail_from, self.rcpts = line[10:].split(">")[0].strip(" <"), []
            self.reply("250 2.1.0 Ok")
        elif verb == "RCPT" and not self.mail_from:
            self.reply("503 5.5.1 Error: need MAIL command")
        elif verb == "RCPT":
            self.rcpts.append(line[8:].split(">")[0].strip(" <"))
            self.reply("250 2.1.5 Ok")
        elif verb == "DATA" and not self.rcpts:
            self.reply(
                "554 5.5.1 Error: no valid recipients"
                if self.mail_from
                else "503 5.5.1 Error: need RCPT command"
            )
        elif verb == "DATA":
            self.mode, self.content = "data", b""
            self.relay.contents += 1
            self.reply("354 End data with <CR><LF>.<CR><LF>")
        else:
            self.reply("502 5.5.2 Error: command not recognized")


class RelayServer:
    """The relay, served from its own thread's event loop."""

    def __init__(self, relay: Relay):
        self.relay = relay
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> Relay:
        from tests.support.ports import free_port

        self.relay.port = self.relay.port or free_port()
        self.thread.start()  # the loop runs in its own thread: this one may run another's
        self.server = asyncio.run_coroutine_threadsafe(
            self.loop.create_server(lambda: _Session(self.relay), "127.0.0.1", self.relay.port),
            self.loop,
        ).result(10)
        return self.relay

    def stop(self) -> None:
        async def close() -> None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1)

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def relay() -> Iterator[Relay]:
    """A scriptable relay (PIPELINING, no CHUNKING); a test may change its knobs first."""
    server = RelayServer(Relay())
    yield server.start()
    server.stop()
