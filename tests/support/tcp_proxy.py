"""A TCP proxy on 127.0.0.1 between an SMTP client and its server, for tests and benchmarks.

It can delay every byte by `delay` seconds each way (a network's round trip, which loopback
hides; bytes keep their order), and it watches SMTP sessions from outside the client: how many
got a `220` greeting from the server at once, and the most ever (`max_greeted`).

As a process (for the benchmarks): ``python -m tests.support.tcp_proxy --to HOST:PORT
[--delay-ms MS]`` prints ``listening on PORT`` once ready. Asyncio protocols, no streams: at
the rates the benchmarks drive, its own CPU counts against the client on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from dataclasses import dataclass


@dataclass
class Watch:
    greeted: int = 0
    max_greeted: int = 0
    sessions: int = 0


class _Pipe(asyncio.Protocol):
    """One direction's reader: what it reads, the peer's transport writes (`delay` later)."""

    def __init__(self, proxy: Proxy, session: _Session, upstream: bool):
        self.proxy, self.session, self.upstream = proxy, session, upstream

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        session = self.session
        if self.upstream and not session.seen_server:
            session.seen_server = True
            if data.startswith(b"220"):
                session.greet()
        peer = session.client if self.upstream else session.server
        if peer is None:
            session.early.append(data)
            return
        if self.proxy.delay:
            self.proxy.loop.call_later(self.proxy.delay, _write, peer, data)
        else:
            peer.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.session.client if self.upstream else self.session.server
        if peer is not None:
            if self.proxy.delay:
                self.proxy.loop.call_later(self.proxy.delay, peer.close)
            else:
                peer.close()
        self.session.ended()


def _write(transport: asyncio.WriteTransport, data: bytes) -> None:
    if not transport.is_closing():
        transport.write(data)


class _Session:
    def __init__(self, proxy: Proxy):
        self.proxy = proxy
        self.client: asyncio.WriteTransport | None = None
        self.server: asyncio.WriteTransport | None = None
        self.early: list[bytes] = []
        self.seen_server = self.greeted = self.over = False

    def greet(self) -> None:
        watch = self.proxy.watch
        self.greeted = True
        watch.greeted += 1
        watch.max_greeted = max(watch.max_greeted, watch.greeted)

    def ended(self) -> None:
        if not self.over:
            self.over = True
            if self.greeted:
                self.proxy.watch.greeted -= 1


class _Front(_Pipe):
    """The client's side: opens the server's side when a client connects."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.session.client = transport  # type: ignore[assignment]
        self.proxy.watch.sessions += 1
        self.proxy.loop.create_task(self._open())

    async def _open(self) -> None:
        proxy, session = self.proxy, self.session
        try:
            transport, _ = await proxy.loop.create_connection(
                lambda: _Pipe(proxy, session, upstream=True), *proxy.target
            )
        except OSError:
            self.transport.close()
            return
        transport.get_extra_info("socket").setsockopt(6, 1, 1)  # TCP_NODELAY
        session.server = transport  # type: ignore[assignment]
        for data in session.early:
            transport.write(data)
        session.early.clear()


class Proxy:
    def __init__(self, target: tuple[str, int], delay: float = 0.0):
        self.target, self.delay, self.watch = target, delay, Watch()
        self.loop = asyncio.new_event_loop()
        self.port = 0

    async def _serve(self, port: int) -> asyncio.Server:
        def front() -> _Front:
            return _Front(self, _Session(self), upstream=False)

        server = await self.loop.create_server(front, "127.0.0.1", port)
        self.port = server.sockets[0].getsockname()[1]
        return server

    def start(self) -> Proxy:
        """Serve from a thread of its own (tests; the caller's thread may run another loop)."""
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(0), self.loop).result(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.server.close)
        self.loop.call_soon_threadsafe(self.loop.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description="TCP proxy on 127.0.0.1 (tests, benchmarks)")
    parser.add_argument("--to", required=True, help="HOST:PORT of the server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=0.0, help="added to each direction")
    args = parser.parse_args()
    host, _, port = args.to.rpartition(":")
    proxy = Proxy((host, int(port)), args.delay_ms / 1000)
    proxy.loop.run_until_complete(proxy._serve(args.port))
    print(f"listening on {proxy.port}", flush=True)
    proxy.loop.run_forever()


if __name__ == "__main__":
    main()
