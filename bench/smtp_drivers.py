"""Benchmark: which event loop drives the SMTP sessions better, asyncio or a selectors loop?

The session (`sending/delivery/smtp/session.Session`) does no I/O, so the same state machine
runs under any driver. Measured in one run, to the same sink, the same messages, the same
number of connections: two minimal drivers that differ only in their loop (asyncio, one
`asyncio.Protocol` per connection; a `selectors` loop), and the engine as shipped (selectors,
with its governor, retry timers, notes and results). Printed: messages/s and CPU per message
of this process.

    python bench/smtp_drivers.py [--messages 10000] [--connections 4]
        [--sink fast|lockstep] [--latency-ms 0]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mime_smtp import people, sample, start  # noqa: E402

from newsletter.sending.delivery.base import Unit  # noqa: E402
from newsletter.sending.delivery.smtp.events import NoteWanted, Settled  # noqa: E402
from newsletter.sending.delivery.smtp.handshake import Login  # noqa: E402
from newsletter.sending.delivery.smtp.session import Session  # noqa: E402
from newsletter.sending.delivery.smtp.transaction import Transaction  # noqa: E402
from tests.support.backends import smtp_backend  # noqa: E402


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def with_selectors(port: int, recipients: list, connections: int) -> int:
    _, template = sample()
    with smtp_backend(port, connections=connections) as backend:
        results = backend.send(template, recipients)
    return sum(1 for r in results if r.status == "sent")


class _Link(asyncio.Protocol):
    def __init__(self, driver: _Driver):
        self.driver, self.session = driver, Session(Login(helo="bench.test"))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        for event in self.session.receive(data):
            if isinstance(event, NoteWanted):  # noted at once, as a one-off send does
                self.session.noted(event.txn, handed=True)
            elif isinstance(event, Settled):
                self.driver.settled(event)
        self.driver.feed(self)

    def flush(self) -> None:
        if data := self.session.take():
            self.transport.write(data)  # type: ignore[attr-defined]


class _Driver:
    def __init__(self, recipients: list, done: asyncio.Future):
        self.todo, self.sent, self.left, self.done = list(recipients), 0, len(recipients), done
        self.template = sample()[1]

    def feed(self, link: _Link) -> None:
        session = link.session
        while self.todo and session.can_begin():
            recipient = self.todo.pop()
            data = self.template.render(recipient)  # rendered per message, as the engine does
            sender = self.template.envelope_sender(recipient)
            txn = Transaction(Unit([recipient]), sender, recipient.email, data)
            if session.begin(txn):
                session.noted(txn, handed=True)
        link.flush()

    def settled(self, event: Settled) -> None:
        self.left -= 1
        self.sent += event.outcome.verdict.value == "sent"
        if not self.left and not self.done.done():
            self.done.set_result(None)


def with_asyncio(port: int, recipients: list, connections: int) -> int:
    async def run() -> int:
        loop = asyncio.get_running_loop()
        driver = _Driver(recipients, loop.create_future())
        links = []
        for _ in range(connections):
            _, link = await loop.create_connection(lambda: _Link(driver), "127.0.0.1", port)
            links.append(link)
        await driver.done
        for link in links:
            link.transport.close()
        return driver.sent

    return asyncio.run(run())


def with_selectors_minimal(port: int, recipients: list, connections: int) -> int:
    """The asyncio driver's logic on a plain selectors loop."""
    import selectors
    import socket

    loop_done: asyncio.Future = asyncio.Future(loop=asyncio.new_event_loop())
    driver = _Driver(recipients, loop_done)
    sel = selectors.DefaultSelector()
    links = []
    for _ in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        link = _Link(driver)
        link.transport = _SocketWriter(sock)  # type: ignore[assignment]
        sel.register(sock, selectors.EVENT_READ, link)
        links.append(link)
    while driver.left:
        for key, _ in sel.select(1.0):
            data = key.fileobj.recv(262144)  # type: ignore[union-attr]
            key.data.data_received(data)
    for link in links:
        link.transport.close()
    return driver.sent


class _SocketWriter:
    def __init__(self, sock) -> None:  # noqa: ANN001
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.setblocking(True)  # small writes; the sink reads as fast as we write
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--sink", choices=["fast", "lockstep"], default="fast")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    recipients = people(args.messages)
    if args.sink == "lockstep":
        command = [sys.executable, str(ROOT / "bench" / "lockstep_sink.py")]
    else:
        command = [sys.executable, "-m", "tests.support.smtp_sink", "--fast"]
        command += ["--latency-ms", str(args.latency_ms)]
    sink, port = start(command)
    print(
        f"{args.messages:,} messages, {args.connections} connections, {args.sink} sink, "
        f"replies {args.latency_ms:g} ms late; this process only:"
    )
    try:
        for name, driver in (
            ("asyncio, minimal", with_asyncio),
            ("selectors, minimal", with_selectors_minimal),
            ("the engine", with_selectors),
        ):
            began, cpu0 = time.perf_counter(), cpu()
            sent = driver(port, recipients, args.connections)
            seconds, used = time.perf_counter() - began, cpu() - cpu0
            print(
                f"  {name:<18} {sent / seconds:7,.0f} msg/s, CPU {used / sent * 1000:.3f} ms/msg "
                f"({sent:,} sent)"
            )
    finally:
        sink.terminate()
        sink.wait(timeout=30)


if __name__ == "__main__":
    main()
