"""Kept-alive HTTP connections for API backends: one per lane thread (urllib3's connection
classes: certificate checks and SNI as urllib3 sets them up), reused across requests.

The point of keeping connections is to skip a TCP and TLS handshake per request. The danger is
the server closing a connection while it sits idle: a request written into a closed connection
fails, and if that failure were read as "sent, answer lost" its recipients would be `unknown`
for nothing. So:
- a connection idle for longer than `idle_limit` (below the server's keep-alive timeout) is
  closed and replaced before use, and so is one the server has already closed (readable while
  idle: its EOF is waiting);
- a request that could not be written on a reused connection was not sent: it is written again
  at once on a fresh one (`NotSent` is raised only when a fresh connection fails too);
- once the request is written, a failure to read the answer is `AnswerLost` (maybe accepted).
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import parse_url
from urllib3.util.wait import wait_for_read


class NotSent(Exception):
    """The request did not go out (connecting or writing failed): safe to send again."""

    def __init__(self, cause: BaseException):
        super().__init__(str(cause) or type(cause).__name__)
        self.cause = cause.__cause__ or cause


class AnswerLost(Exception):
    """The request went out but no answer came back: it may have been acted on."""


@dataclass
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class _Kept:
    conn: HTTPConnection
    last_used: float = 0.0
    used: bool = False


class KeptAlive:
    def __init__(self, base_url: str, *, timeout: float, idle_limit: float):
        url = parse_url(base_url)
        self.scheme, self.host = url.scheme or "https", url.host or ""
        self.port = url.port or (443 if self.scheme == "https" else 80)
        self.base_path = (url.path or "").rstrip("/")
        self.timeout, self.idle_limit = timeout, idle_limit
        self.opened = 0  # connections opened (for tests and benchmarks)
        self._local = threading.local()
        self._all: list[_Kept] = []
        self._lock = threading.Lock()

    def _fresh(self) -> _Kept:
        kind = HTTPSConnection if self.scheme == "https" else HTTPConnection
        kept = _Kept(kind(self.host, self.port, timeout=self.timeout))
        with self._lock:
            self._all.append(kept)
            self.opened += 1
        self._local.kept = kept
        return kept

    def _current(self) -> _Kept:
        kept: _Kept | None = getattr(self._local, "kept", None)
        if kept is None:
            return self._fresh()
        sock = kept.conn.sock
        stale = time.monotonic() - kept.last_used > self.idle_limit
        if kept.used and (sock is None or stale or wait_for_read(sock, timeout=0.0)):
            self._drop(kept)
            return self._fresh()
        return kept

    def _drop(self, kept: _Kept) -> None:
        kept.conn.close()
        with self._lock:
            if kept in self._all:
                self._all.remove(kept)
        if getattr(self._local, "kept", None) is kept:
            self._local.kept = None

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        kept = self._current()
        try:
            kept.conn.request("POST", self.base_path + path, body=body, headers=headers)
        except (OSError, http.client.HTTPException, Urllib3Error) as exc:
            self._drop(kept)
            if not kept.used:
                raise NotSent(exc) from None
            kept = self._fresh()  # the server had closed the reused connection: not sent
            try:
                kept.conn.request("POST", self.base_path + path, body=body, headers=headers)
            except (OSError, http.client.HTTPException, Urllib3Error) as again:
                self._drop(kept)
                raise NotSent(again) from None
        kept.used = True
        try:
            response = kept.conn.getresponse()  # preloads the body
            data = response.data
        except (OSError, http.client.HTTPException, Urllib3Error) as exc:
            self._drop(kept)
            raise AnswerLost(str(exc) or type(exc).__name__) from None
        kept.last_used = time.monotonic()
        if response.headers.get("Connection", "").lower() == "close":
            self._drop(kept)
        return Answer(response.status, response.headers, data)

    def close(self, at_once: bool = False) -> None:
        """Close every connection; `at_once` from another thread, while lanes may wait on
        them: a shutdown wakes a blocked read (it then fails: `AnswerLost`)."""
        with self._lock:
            kept, self._all = self._all, []
        for k in kept:
            if at_once and k.conn.sock is not None:
                with contextlib.suppress(OSError):
                    k.conn.sock.shutdown(socket.SHUT_RDWR)
            else:
                k.conn.close()
