"""A `selectors` selector that other threads can wake: the engine waits on its sockets and on a
socket pair, so news from the feed (units added, a note committed, a stop) ends the wait at
once instead of a polling sleep."""

from __future__ import annotations

import contextlib
import selectors
import socket
from typing import Any

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE


class Wakeable:
    def __init__(self) -> None:
        self._sel = selectors.DefaultSelector()
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)
        self._sel.register(self._r, READ, None)

    def wake(self) -> None:
        """From any thread."""
        with contextlib.suppress(OSError):
            self._w.send(b"\0")

    def watch(self, sock: socket.socket, data: Any, write: bool) -> None:
        self._sel.register(sock, READ | (WRITE if write else 0), data)

    def change(self, sock: socket.socket, data: Any, write: bool) -> None:
        self._sel.modify(sock, READ | (WRITE if write else 0), data)

    def forget(self, sock: socket.socket) -> None:
        self._sel.unregister(sock)

    def wait(self, timeout: float) -> list[tuple[Any, int]]:
        """(data, events) of each socket ready within `timeout` seconds; a wake-up is none."""
        ready = []
        for key, events in self._sel.select(max(0.0, timeout)):
            if key.data is None:
                with contextlib.suppress(OSError):
                    self._r.recv(4096)
            else:
                ready.append((key.data, events))
        return ready

    def close(self) -> None:
        self._sel.close()
        self._r.close()
        self._w.close()
