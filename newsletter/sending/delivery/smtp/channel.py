"""One TCP connection without blocking, TLS included: an `ssl.SSLObject` over memory buffers
does the handshake and the records, so the engine's one thread drives a TLS connection like
any other. Besides moving bytes, a channel knows how far the plaintext stream may have reached
the server (`left`): the rule for "in doubt" needs it."""

from __future__ import annotations

import errno
import os
import socket
import ssl
from collections import deque

RECORD = 16384  # plaintext per TLS record: a record counts as sent only once all of it is
_WAIT = (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError)


class Closed(Exception):
    """The connection is gone, or cannot be made."""


class Channel:
    def __init__(self, address: tuple[str, int]):
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.raw = bytearray()  # to be written to the socket (ciphertext under TLS)
        self.left = 0  # plaintext stream offset that may have reached the server
        self.plain = 0  # plaintext stream offset queued so far
        self.tls: ssl.SSLObject | None = None
        self.handshaking = False
        self._bio_in, self._bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._raw_queued = self._raw_sent = 0
        self._records: deque[tuple[int, int]] = deque()  # (raw end, plaintext end) under TLS
        code = self.sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
            self.sock.close()
            raise Closed(os.strerror(code))

    def fileno(self) -> int:
        return self.sock.fileno()

    def connected(self) -> None:
        """After the socket turned writable: raise Closed if the connect failed."""
        code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            raise Closed(os.strerror(code))

    def start_tls(self, context: ssl.SSLContext, hostname: str) -> None:
        self._bio_in, self._bio_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self._bio_in, self._bio_out, server_hostname=hostname)
        self.handshaking = True
        self.handshake()

    def handshake(self) -> bool:
        """One step of the TLS handshake; True once it is done. Raises ssl.SSLError."""
        assert self.tls is not None
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            self._pull_records()
            return False
        self._pull_records()
        self.handshaking = False
        return True

    def send(self, data: bytes) -> None:
        """Queue plaintext (write what the socket takes with `flush`)."""
        if self.tls is None:
            self.raw += data
            self.plain += len(data)
            self._raw_queued += len(data)
            return
        for start in range(0, len(data), RECORD):
            piece = data[start : start + RECORD]
            self.tls.write(piece)
            self.plain += len(piece)
            self._pull_records()
            self._records.append((self._raw_queued, self.plain))

    def _pull_records(self) -> None:
        if pending := self._bio_out.read():
            self.raw += pending
            self._raw_queued += len(pending)

    def flush(self) -> bool:
        """Write what the socket takes now; True while some is left for later."""
        try:
            while self.raw:
                sent = self.sock.send(self.raw)
                del self.raw[:sent]
                self._raw_sent += sent
        except _WAIT:
            pass
        except OSError as exc:
            raise Closed(exc.strerror or str(exc)) from None
        finally:
            if self.tls is None:
                self.left = self._raw_sent
            else:
                while self._records and self._records[0][0] <= self._raw_sent:
                    self.left = self._records.popleft()[1]
        return bool(self.raw)

    def receive(self) -> bytes:
        """What has arrived (b'' when nothing did yet); raises Closed at the end, and
        ssl.SSLError when the TLS handshake fails."""
        try:
            raw = self.sock.recv(262144)
        except _WAIT:
            return b""
        except OSError as exc:
            raise Closed(exc.strerror or str(exc)) from None
        if self.tls is None:
            if not raw:
                raise Closed("the server closed the connection")
            return raw
        if raw:
            self._bio_in.write(raw)
        else:
            self._bio_in.write_eof()
        if self.handshaking and not self.handshake():
            if not raw:
                raise Closed("the server closed the connection during the TLS handshake")
            return b""
        return self._decrypt(ended=not raw)

    def _decrypt(self, ended: bool) -> bytes:
        assert self.tls is not None
        out = bytearray()
        try:
            while chunk := self.tls.read(262144):
                out += chunk
        except ssl.SSLWantReadError:
            if ended and not out:
                raise Closed("the server closed the connection") from None
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            if not out:
                raise Closed("the server closed the connection") from None
        except ssl.SSLError as exc:
            raise Closed(f"TLS: {exc.reason or exc}") from None
        self._pull_records()  # a key update may want an answer
        return bytes(out)

    def close(self) -> None:
        self.sock.close()
