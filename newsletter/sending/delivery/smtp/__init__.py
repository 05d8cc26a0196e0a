"""SMTP delivery: one engine, one thread, every connection a state machine.

- `backend`: `SMTPBackend`, the settings, and what is kept between runs (idle connections,
  what was learned, the TLS context);
- `engine`: the loop (one thread, one selector, every connection), with `wakeable` (a selector
  other threads can wake), `jobs` (the units it holds: results, retry timers, given back) and
  `notes` (the notes on their way);
- `governor`: how many sessions, how many messages a second, learned from the relay's answers;
- `link`: one connection as the engine holds it, over a `channel` (a non-blocking socket, TLS
  through memory buffers, how far the stream has left);
- `session`: the protocol of one connection without I/O (bytes in, bytes and events out), on
  `handshake` (greeting, EHLO, STARTTLS, AUTH with `auth`); `events` is what it answers;
- `transaction`: one message on one connection; `outcomes`: the closed set of what became of
  it, and the one rule for "in doubt"; `replies`: replies read with bounds, and their codes;
- `tls`: which certificates are trusted, and a failed handshake said in words.

One session (`session.Session`), phase by phase; every arrow is a reply read in order:

    connect ─► [TLS handshake, smtp_security = tls] ─► GREETING
    GREETING ──220──► EHLO ──250──┬─ starttls ──► STARTTLS ──220──► (handshake) ──► EHLO
                  │      500/502 ─┘   (HELO)    ├─ username ──► AUTH ──334…──► AUTH ──235──┐
                  │                             └─ otherwise ──────────────────────────────┤
                  └─421/4xx: Refused (the relay's connection limit) · 5xx: Fatal         READY
    READY, one message (one recipient):
      PIPELINING     MAIL+RCPT+DATA in one write ─250,250,354─► note ─► content ─250─► SENT
                     (the next message's MAIL+RCPT+DATA goes right behind this content)
      CHUNKING       note ─► MAIL+RCPT+BDAT n LAST+content in one write ─250,250,250─► SENT
      neither        note and MAIL ─250─► RCPT ─250─► DATA ─354─► content ─250─► SENT
      a refusal      MAIL 5xx: SENDER_REFUSED (the send stops) · RCPT/DATA/end 5xx: REFUSED
                     4xx: RETRY, THROTTLED when Reply.throttling · then RSET if MAIL was taken
                     replies still due for a refused message are read and ignored
    421 anywhere ──► CLOSING (nothing more written; the server closes)
    connection lost ──► each unsettled message: IN_DOUBT if its end may have left, else RETRY
    QUIT ──► CLOSING ──► CLOSED

A message's note (the feed's "handed to the network") is committed before its end can leave,
and only once no other message of that connection is unsettled: so after a crash at most one
message per connection is in doubt. The one-off sends (`test-send`, the web app's confirmation
mails) go through this same engine, with one connection.
"""

from newsletter.sending.delivery.smtp.backend import SMTPBackend

__all__ = ["SMTPBackend"]
