"""An IMAP folder as the mailbox: `imaps://user@host[:port]/FOLDER` (TLS from the first byte,
port 993) or `imap://...` (port 143, STARTTLS required: the password never crosses in clear).
The password comes from NEWSLETTER_IMAP_PASSWORD; `imap_ca_file` names the CA of a private
server's certificate.

Pending: messages without either keyword below, seen or not (a person may have opened a
bounce in a mail client). Processed: the keyword `NewsletterProcessed`, and \\Seen (read with
BODY.PEEK, so reading alone never marks anything), or deleted and expunged with `--delete`.
Unrecognised: the keyword `NewsletterUnrecognised`, left unseen for a person to look at.

Releases before used \\Seen to mean processed: on a folder's first run with the keyword
(`mailbox.folders`), \\Seen mail without a keyword is marked processed once, unread. A server
that takes no keywords (no `\\*` in PERMANENTFLAGS) keeps the old rule: \\Seen is processed.
"""

from __future__ import annotations

import imaplib
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

from newsletter.config import Settings, mask_url
from newsletter.errors import ConfigError
from newsletter.mailbox.lock import imap_lock_path
from newsletter.safe_text import one_line

KEYWORD = "NewsletterUnrecognised"
PROCESSED = "NewsletterProcessed"
_FETCHED = re.compile(rb"UID (\d+)")


def _quote(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class ImapFolder:
    """One IMAP folder, opened and selected; every failure to get there is one clear line."""

    label = "imap"

    def __init__(self, url: str, settings: Settings, *, delete: bool = False):
        shown = one_line(mask_url(url), 300)  # as `config` shows it: never a password
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        if (
            parts.scheme not in ("imap", "imaps")
            or not parts.hostname
            or not parts.username
            or port == -1
        ):
            raise ConfigError(
                f"--imap '{shown}': use imaps://user@host[:port]/FOLDER (or imap:// for "
                "STARTTLS), with the password in NEWSLETTER_IMAP_PASSWORD"
            )
        self.user = unquote(parts.username)
        self.host = parts.hostname
        self.port = port or (993 if parts.scheme == "imaps" else 143)
        self.folder = unquote(parts.path.lstrip("/")) or "INBOX"
        self.delete = delete
        self._deleted = False
        self.first_keyword_run = False  # set by the caller: see `mailbox.folders`
        if not settings.imap_password:
            raise ConfigError("NEWSLETTER_IMAP_PASSWORD is not set (the IMAP login's password)")
        self.conn = self._open(parts.scheme == "imaps", settings)
        self._login(settings.imap_password)
        self._select()
        self._keywords = self.keywords

    def where(self) -> str:
        return f"{self.host}:{self.port}/{self.folder}"

    def name(self) -> str:
        """The folder, as `mailbox.folders` remembers it."""
        return f"{self.user}@{self.host}:{self.port}/{self.folder}"

    @property
    def keywords(self) -> bool:
        """Whether the server lets us set keywords of our own on messages in this folder."""
        flags = self.conn.untagged_responses.get("PERMANENTFLAGS") or [b""]
        return any(b"\\*" in item for item in flags if isinstance(item, bytes))

    def lock_path(self) -> Path:
        return imap_lock_path(self.user, self.host, self.port, self.folder)

    def _context(self, settings: Settings) -> ssl.SSLContext:
        try:
            return ssl.create_default_context(cafile=settings.imap_ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"imap_ca_file {settings.imap_ca_file!r}: {exc}") from None

    def _open(self, implicit_tls: bool, settings: Settings) -> imaplib.IMAP4:
        context = self._context(settings)
        where = f"{self.host}:{self.port}"
        try:
            if implicit_tls:
                return imaplib.IMAP4_SSL(self.host, self.port, ssl_context=context, timeout=30)
            conn = imaplib.IMAP4(self.host, self.port, timeout=30)
            if "STARTTLS" not in conn.capabilities:
                conn.shutdown()
                raise ConfigError(f"IMAP server {where} does not offer STARTTLS: use imaps://")
            conn.starttls(ssl_context=context)
            return conn
        except ssl.SSLError as exc:
            raise ConfigError(
                f"TLS with IMAP server {where} failed: {exc.reason or exc} (a private "
                "certificate needs imap_ca_file)"
            ) from None
        except (TimeoutError, OSError, imaplib.IMAP4.error) as exc:
            raise ConfigError(f"cannot connect to IMAP server {where}: {exc}") from None

    def _login(self, password: str) -> None:
        try:
            self.conn.login(self.user, password)
        except imaplib.IMAP4.error as exc:
            self.close()
            said = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
            raise ConfigError(
                f"IMAP server {self.host}:{self.port} refused the login for '{self.user}': "
                f"{said} (check the URL's user and NEWSLETTER_IMAP_PASSWORD)"
            ) from None

    def _select(self) -> None:
        status, data = self.conn.select(_quote(self.folder))
        if status != "OK":
            self.close()
            said = data[0].decode("utf-8", "replace") if data and data[0] else ""
            raise ConfigError(
                f"IMAP folder '{self.folder}' cannot be opened on {self.host}: {said} "
                "(check the folder in the URL)"
            )

    def _search(self, *criteria: str) -> list[bytes]:
        status, data = self.conn.uid("SEARCH", *criteria)
        if status != "OK":
            raise ConfigError(f"IMAP search in '{self.folder}' failed: {data}")
        return (data[0] or b"").split()

    def pending(self) -> Iterator[bytes]:
        if not self._keywords:
            yield from self._search("UNSEEN", "UNKEYWORD", KEYWORD)
            return
        unmarked = ("UNKEYWORD", PROCESSED, "UNKEYWORD", KEYWORD)
        if self.first_keyword_run:  # processed by a release that used \\Seen: marked once
            seen = self._search("SEEN", *unmarked)
            if seen:
                self.conn.uid("STORE", b",".join(seen).decode(), "+FLAGS.SILENT", f"({PROCESSED})")
        yield from self._search(*unmarked)

    @staticmethod
    def name_of(uid: bytes) -> str:
        return f"uid {uid.decode()}"

    def fetch(self, uids: list[bytes]) -> list[tuple[bytes, bytes | str]]:
        status, data = self.conn.uid("FETCH", b",".join(uids).decode(), "(UID BODY.PEEK[])")
        if status != "OK":
            return [(uid, f"cannot fetch: {data}") for uid in uids]
        got: dict[bytes, bytes] = {}
        for entry in data:
            if isinstance(entry, tuple):
                found = _FETCHED.search(entry[0])
                if found:
                    got[found.group(1)] = entry[1]
        return [(uid, got[uid]) for uid in uids if uid in got]

    def done(self, uid: bytes) -> None:
        flag = "(\\Deleted)" if self.delete else f"(\\Seen {PROCESSED})"
        if not self._keywords and not self.delete:
            flag = "(\\Seen)"
        self.conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", flag)
        self._deleted = self._deleted or self.delete

    def set_aside(self, uid: bytes) -> None:
        status, _ = self.conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", f"({KEYWORD})")
        if status != "OK":  # a server without keywords: flagged and seen instead
            self.conn.uid("STORE", uid.decode(), "+FLAGS.SILENT", "(\\Flagged \\Seen)")

    def close(self) -> None:
        try:
            if self._deleted:
                self.conn.expunge()
            if self.conn.state == "SELECTED":
                self.conn.close()
            self.conn.logout()
        except (OSError, imaplib.IMAP4.error):
            pass
