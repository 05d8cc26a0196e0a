"""The SMTP loop's reply reader (`smtp_wire._Conn.receive`) on a real socket pair: replies split
anywhere, multi-line replies, and whatever a broken or hostile server sends."""

from __future__ import annotations

import smtplib
import socket

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.sending.delivery.smtp_wire import _Conn, _Lost


def _pair() -> tuple[_Conn, socket.socket]:
    ours, server = socket.socketpair()
    ours.setblocking(False)
    return _Conn(smtplib.SMTP(), ours, pipelining=True, chunking=False), server


def test_replies_split_anywhere_and_multiline_ones_arrive_whole():
    conn, server = _pair()
    wire = (
        b"250 2.1.0 Ok\r\n250-first\r\n250-second\r\n250 last\r\n"
        b"354 End data with <CR><LF>.<CR><LF>\r\n"
    )
    got = []
    for i in range(0, len(wire), 7):  # 7-byte pieces: lines and replies cut mid-way
        server.sendall(wire[i : i + 7])
        got += conn.receive()
    assert got == [
        (250, b"2.1.0 Ok"),
        (250, b"first\nsecond\nlast"),
        (354, b"End data with <CR><LF>.<CR><LF>"),
    ]
    assert conn.receive() == []  # nothing more has arrived: no reply, no error


def test_a_closed_connection_and_a_line_that_is_no_reply_are_lost():
    conn, server = _pair()
    server.sendall(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(_Lost, match="not an SMTP reply"):
        conn.receive()
    conn, server = _pair()
    server.close()
    with pytest.raises(_Lost, match="closed"):
        conn.receive()


@given(st.lists(st.binary(max_size=60), max_size=8))
def test_any_bytes_from_the_server_give_replies_or_lost_never_another_error(chunks):
    conn, server = _pair()
    try:
        for chunk in chunks:
            server.sendall(chunk)
            try:
                for code, text in conn.receive():
                    assert 0 <= code <= 999 and isinstance(text, bytes)
            except _Lost:
                return
    finally:
        server.close()
        conn.sock.close()


def test_flush_counts_the_bytes_of_a_message_still_unwritten():
    """While any byte of a message's content is still queued, it cannot have arrived: the loop
    then retries it instead of calling it unknown."""
    conn, server = _pair()
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    conn.out += b"x" * 1_000_000
    conn.unsent = len(conn.out)
    assert conn.flush()  # the socket took what it could; the rest waits
    assert 0 < conn.unsent < 1_000_000 and conn.unsent == len(conn.out)
    while conn.out:
        server.recv(1 << 20)
        conn.flush()
    assert conn.unsent == 0
    server.close()
