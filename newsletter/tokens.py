"""Signed tokens for the unsubscribe, preferences and confirm links, the URLs that carry them,
and the opaque recipient tag that identifies a message's recipient in its headers.

A token is an itsdangerous timestamped signature over ``[subscriber_id, list_id]`` salted with
its purpose, so a token is bound to one subscriber, one list and one purpose. Several keys may be
accepted at once (key rotation): the first signs, all of them verify. Unsubscribe links in a send
sign ``[subscriber_id, list_id, send_id]`` (so "unsubscribed through this issue" can be counted);
tokens of two values, mailed before that, still verify and name no send (0).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes

from newsletter.config import Settings
from newsletter.errors import ConfigError, TokenError

PURPOSES = ("unsubscribe", "preferences", "confirm")
SECRET_FILE = ".newsletter-secret"
_MISSING_KEY = (
    "NEWSLETTER_SECRET_KEY is not set; smtp and sendgrid need it: generate one with "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


# A recipient tag: one AES block holding five zero bytes, the send id (5 bytes) and the
# subscriber id (6 bytes), encrypted with a key derived from the secret key. Nobody reads the
# database's numbering in it, and a forged or altered tag decrypts to five zero bytes with odds
# of 1 in 2**40. Lower-case hex (32 characters) survives MTAs that fold the case of local parts.
TAG_LENGTH = 32
TAG_PATTERN = re.compile(rf"(?<![0-9a-f])[0-9a-f]{{{TAG_LENGTH}}}(?![0-9a-f])")
_CHECK = bytes(5)


class Signer:
    """Makes and checks tokens; ``keys[0]`` signs, every key in ``keys`` verifies."""

    def __init__(self, keys: Sequence[str], *, generated_key_path: Path | None = None):
        keys = [k for k in keys if k]
        if not keys:
            raise ConfigError(_MISSING_KEY)
        # itsdangerous treats the LAST key of a list as the current one.
        self._keys = list(reversed(keys))
        self._serializers = {
            p: URLSafeTimedSerializer(self._keys, salt=f"newsletter.{p}") for p in PURPOSES
        }
        self.generated_key_path = generated_key_path  # set when the key was generated
        self._macs: dict[str, hmac.HMAC] = {}
        self._tag_keys = [_tag_key(k) for k in keys]  # keys[0] first: it makes tags
        self._tag_encryptor: Any = None
        # One decryptor per key, made once: the click redirect reads a tag per request. ECB on
        # one block keeps no state between calls; the lock keeps threads off one context.
        self._tag_decryptors: list[Any] = []
        self._tag_lock = threading.Lock()

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        try:
            return self._serializers[purpose]
        except KeyError:
            raise ValueError(f"unknown token purpose {purpose!r}") from None

    def make(self, purpose: str, subscriber_id: int, list_id: int, send_id: int = 0) -> str:
        # Byte-for-byte what `self._serializer(purpose).dumps([...])` returns, with the derived
        # HMAC key computed once: 12 us instead of 56 us a token (a send makes one per person).
        # A send id (unsubscribe links of a send) is a third value; 0 leaves it out.
        mac = self._macs.get(purpose)
        if mac is None:
            signer = self._serializer(purpose).make_signer()
            mac = self._macs[purpose] = hmac.new(signer.derive_key(), digestmod=hashlib.sha1)
        ids = b"[%d,%d" % (int(subscriber_id), int(list_id))
        ids += b",%d]" % int(send_id) if send_id else b"]"
        value = b"%s.%s" % (
            base64_encode(ids),
            base64_encode(int_to_bytes(int(time.time()))),
        )
        mac = mac.copy()
        mac.update(value)
        return (value + b"." + base64_encode(mac.digest())).decode("ascii")

    def read(self, token: str, purpose: str, *, max_age: int | None = None) -> tuple[int, int]:
        """(subscriber_id, list_id) of a genuine token, else TokenError."""
        subscriber_id, list_id, _send_id = self.read_with_send(token, purpose, max_age=max_age)
        return subscriber_id, list_id

    def read_with_send(
        self, token: str, purpose: str, *, max_age: int | None = None
    ) -> tuple[int, int, int]:
        """(subscriber_id, list_id, send_id) of a genuine token (send 0: the token names no
        send, as every token made before sends carried one), else TokenError."""
        try:
            data = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired:
            raise TokenError(f"this {purpose} link has expired") from None
        except (BadData, UnicodeError, ValueError, TypeError):
            raise TokenError(f"this {purpose} link is not valid") from None
        if (
            not isinstance(data, list)
            or len(data) not in (2, 3)
            or not all(type(v) is int for v in data)
        ):
            raise TokenError(f"this {purpose} link is not valid")
        return data[0], data[1], data[2] if len(data) == 3 else 0

    def recipient_tag(self, send_id: int, subscriber_id: int) -> str:
        """The opaque, signed tag of one recipient of one send (send 0: outside any send, e.g.
        a confirmation mail). It goes in the Message-ID, and the bounce return path."""
        if self._tag_encryptor is None:  # ECB on a single block: one encryptor serves them all
            key = self._tag_keys[0]
            self._tag_encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
        block = _CHECK + send_id.to_bytes(5, "big") + subscriber_id.to_bytes(6, "big")
        return str(self._tag_encryptor.update(block).hex())

    def read_recipient_tag(self, tag: str) -> tuple[int, int]:
        """(send_id, subscriber_id) of a genuine tag, else TokenError."""
        text = tag.strip().lower()
        if len(text) != TAG_LENGTH:
            raise TokenError("not a recipient tag")
        try:
            sealed = bytes.fromhex(text)
        except ValueError:
            raise TokenError("not a recipient tag") from None
        with self._tag_lock:
            if not self._tag_decryptors:
                self._tag_decryptors = [
                    Cipher(algorithms.AES(key), modes.ECB()).decryptor() for key in self._tag_keys
                ]
            plains = [decryptor.update(sealed) for decryptor in self._tag_decryptors]
        for plain in plains:
            if plain[:5] == _CHECK:
                return int.from_bytes(plain[5:10], "big"), int.from_bytes(plain[10:], "big")
        raise TokenError("this recipient tag was not made by us")


def _tag_key(key: str) -> bytes:
    """The AES key of recipient tags, derived from one secret key."""
    return hmac.new(key.encode("utf-8"), b"newsletter.recipient-tag", hashlib.sha256).digest()


def _secret_file_location(settings: Settings) -> Path:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database and database != ":memory:":
            return Path(database).resolve().parent / SECRET_FILE
    return Path.cwd() / SECRET_FILE


def _generated_key(path: Path) -> str:
    """Read the generated key, creating it (mode 0600, exclusively) the first time."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if not key:
            raise ConfigError(f"{path}: generated secret key file is empty; delete it") from None
        return key
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the generated secret key: {exc}") from None
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key


def signer_for(settings: Settings, *, allow_generated: bool) -> Signer:
    """The Signer for these settings; a generated key only when ``allow_generated`` (outbox)."""
    old = [k.strip() for k in settings.old_secret_keys.split(",") if k.strip()]
    if settings.secret_key:
        return Signer([settings.secret_key, *old])
    if not allow_generated:
        raise ConfigError(_MISSING_KEY)
    path = _secret_file_location(settings)
    return Signer([_generated_key(path), *old], generated_key_path=path)


def _site(settings: Settings) -> str:
    return settings.site_url.rstrip("/")


def unsubscribe_url(settings: Settings, token: str) -> str:
    return f"{_site(settings)}/unsubscribe/{token}"


def preferences_url(settings: Settings, token: str) -> str:
    return f"{_site(settings)}/preferences/{token}"


def confirm_url(settings: Settings, token: str) -> str:
    return f"{_site(settings)}/confirm/{token}"


def view_url(settings: Settings, issue_id: str) -> str:
    return f"{_site(settings)}/archive/{issue_id}"


def unsubscribe_mailto(settings: Settings, token: str) -> str:
    return f"mailto:{settings.effective_unsubscribe_mailto}?subject=unsubscribe%20{token}"
