"""Signed tokens for the unsubscribe, preferences and confirm links, the URLs that carry them,
and the opaque recipient tags that identify a message's recipient: one for its tracked links,
one for its return path, one for its Message-ID (each from its own derived key).

A token is an itsdangerous timestamped signature over ``[subscriber_id, list_id]`` salted with
its purpose, so a token is bound to one subscriber, one list and one purpose. A confirm token
also carries the moment it was issued, in milliseconds (``[subscriber_id, list_id, issued_ms]``):
a confirmation is consent given at that moment, and never outranks a later opt-out. Unsubscribe
links in a send sign ``[subscriber_id, list_id, send_id]`` (so "unsubscribed through this issue"
can be counted); those of two values, mailed before, still verify and name no send (0). Several
keys may be accepted at once (key rotation): the first signs, all of them verify.
"""

from __future__ import annotations

import binascii
import hmac
import os
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.config import Settings, keys
from newsletter.errors import ConfigError, TokenError
from newsletter.recipient_tags import TAG_LENGTH as TAG_LENGTH  # re-exported
from newsletter.recipient_tags import TAG_PATTERN as TAG_PATTERN  # re-exported
from newsletter.recipient_tags import ReadTag, RecipientTags

if TYPE_CHECKING:  # itsdangerous loads with the first Signer: links alone (a build) need none
    from itsdangerous import URLSafeTimedSerializer

PURPOSES = ("unsubscribe", "preferences", "confirm")
SECRET_FILE = keys.SECRET_FILE
_MISSING_KEY = (
    "NEWSLETTER_SECRET_KEY is not set; smtp and sendgrid need it: generate one with "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


MAX_ID = 2**63 - 1  # the largest id a BIGINT column holds; no token names anything larger


@dataclass(frozen=True)
class ConfirmToken:
    subscriber_id: int
    list_id: int
    issued_at: datetime  # UTC, to the millisecond (to the second for tokens of release 0.1.0)


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _b64(data: bytes) -> bytes:
    """itsdangerous' base64_encode (URL-safe, unpadded), in C."""
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_URLSAFE)


class Signer:
    """Makes and checks tokens; ``keys[0]`` signs, every key in ``keys`` verifies."""

    def __init__(self, keys: Sequence[str], *, generated_key_path: Path | None = None):
        from itsdangerous import URLSafeTimedSerializer

        keys = [k for k in keys if k]
        if not keys:
            raise ConfigError(_MISSING_KEY)
        # itsdangerous treats the LAST key of a list as the current one.
        self._keys = list(reversed(keys))
        self._serializers = {
            p: URLSafeTimedSerializer(self._keys, salt=f"newsletter.{p}") for p in PURPOSES
        }
        self.generated_key_path = generated_key_path  # set when the key was generated
        self._macs: dict[str, bytes] = {}  # purpose -> derived HMAC key
        self._stamp = (-1, b"")  # (second, its encoding) of the last token made
        self._tags = RecipientTags(keys)  # keys[0] first: it makes tags

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        try:
            return self._serializers[purpose]
        except KeyError:
            raise ValueError(f"unknown token purpose {purpose!r}") from None

    def make(self, purpose: str, subscriber_id: int, list_id: int, send_id: int = 0) -> str:
        """A token of (subscriber, list); unsubscribe links of a send also carry its id."""
        ids = b"[%d,%d" % (int(subscriber_id), int(list_id))
        return self._sign(purpose, ids + (b",%d]" % int(send_id) if send_id else b"]"))

    def make_confirm(self, subscriber_id: int, list_id: int) -> str:
        """A confirm token stamped with the moment it is made (see `read_confirm`)."""
        issued_ms = time.time_ns() // 1_000_000
        payload = b"[%d,%d,%d]" % (int(subscriber_id), int(list_id), issued_ms)
        return self._sign("confirm", payload)

    def _sign(self, purpose: str, payload: bytes) -> str:
        # Byte-for-byte what `self._serializer(purpose).dumps([...])` returns, with the derived
        # HMAC key computed once, the timestamp encoded once a second and a one-shot C HMAC:
        # a few us instead of 56 us a token (a send makes one or two per person).
        key = self._macs.get(purpose)
        if key is None:
            key = self._macs[purpose] = self._serializer(purpose).make_signer().derive_key()
        now = int(time.time())
        if now != self._stamp[0]:
            self._stamp = (now, _b64(now.to_bytes(8, "big").lstrip(b"\x00")))
        value = b"%s.%s" % (_b64(payload), self._stamp[1])
        return (value + b"." + _b64(hmac.digest(key, value, "sha1"))).decode("ascii")

    def read(self, token: str, purpose: str, *, max_age: int | None = None) -> tuple[int, int]:
        """(subscriber_id, list_id) of a genuine token, else TokenError."""
        subscriber_id, list_id, _send_id = self.read_with_send(token, purpose, max_age=max_age)
        return subscriber_id, list_id

    def read_with_send(
        self, token: str, purpose: str, *, max_age: int | None = None
    ) -> tuple[int, int, int]:
        """(subscriber_id, list_id, send_id) of a genuine token (send 0: the token names no
        send, as every token made before sends carried one), else TokenError. Only unsubscribe
        tokens carry a send."""
        data, _ = self._load(token, purpose, max_age)
        if len(data) == 2 or (len(data) == 3 and purpose == "unsubscribe"):
            return data[0], data[1], data[2] if len(data) == 3 else 0
        raise TokenError(f"this {purpose} link is not valid")

    def issued_at(self, token: str, purpose: str) -> datetime:
        """When a genuine token was made (to the second), else TokenError."""
        return self._load(token, purpose, None)[1]

    def read_confirm(self, token: str, *, max_age: int | None = None) -> ConfirmToken:
        """A genuine confirm token with the moment it was issued, else TokenError."""
        data, signed_at = self._load(token, "confirm", max_age)
        if len(data) == 2:  # made before tokens carried milliseconds: the signed second
            return ConfirmToken(data[0], data[1], signed_at)
        if len(data) != 3 or abs(data[2] // 1000 - signed_at.timestamp()) > 1:
            raise TokenError("this confirm link is not valid")
        issued = datetime.fromtimestamp(data[2] / 1000, tz=UTC)
        return ConfirmToken(data[0], data[1], issued)

    def _load(self, token: str, purpose: str, max_age: int | None) -> tuple[list[int], datetime]:
        """The signed list of ids (each within 0..MAX_ID) and when it was signed."""
        from itsdangerous import BadData, SignatureExpired

        try:
            data, signed_at = self._serializer(purpose).loads(
                token, max_age=max_age, return_timestamp=True
            )
        except SignatureExpired:
            raise TokenError(f"this {purpose} link has expired") from None
        except (BadData, UnicodeError, ValueError, TypeError):
            raise TokenError(f"this {purpose} link is not valid") from None
        if not isinstance(data, list) or not all(type(v) is int and 0 <= v <= MAX_ID for v in data):
            raise TokenError(f"this {purpose} link is not valid")
        return data, signed_at

    def recipient_tag(self, send_id: int, subscriber_id: int, *, purpose: str) -> str:
        """The opaque tag of one recipient of one send for one purpose (`recipient_tags`)."""
        return self._tags.make(send_id, subscriber_id, purpose)

    def read_recipient_tag(self, tag: str, *, purpose: str) -> tuple[int, int]:
        """(send_id, subscriber_id) of a genuine tag of this purpose (or an old one made before
        tags had purposes), else TokenError."""
        found = self._tags.read(tag, purpose)
        return found.send_id, found.subscriber_id

    def read_tag(self, tag: str, *, purpose: str) -> ReadTag:
        """The tag read, saying whether it is an old single-purpose one (`legacy`)."""
        return self._tags.read(tag, purpose)


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
    old = keys.old_keys(settings)  # with a generated key NEWSLETTER_SECRET_KEY replaced
    if settings.secret_key:
        return Signer([settings.secret_key, *old])
    if not allow_generated:
        raise ConfigError(_MISSING_KEY)
    path = keys.secret_file_location(settings)
    return Signer([_generated_key(path), *old], generated_key_path=path)


def site_link(site_url: str, path: str) -> str:
    """The address of `path` (which starts with "/") on the site at `site_url`, whether or not
    the setting ends with a slash: every link to our own pages is made here."""
    return site_url.rstrip("/") + path


def unsubscribe_url(settings: Settings, token: str) -> str:
    return site_link(settings.site_url, f"/unsubscribe/{token}")


def preferences_url(settings: Settings, token: str) -> str:
    return site_link(settings.site_url, f"/preferences/{token}")


def confirm_url(settings: Settings, token: str) -> str:
    return site_link(settings.site_url, f"/confirm/{token}")


def view_url(settings: Settings, issue_id: str) -> str:
    return site_link(settings.site_url, f"/archive/{issue_id}")


def unsubscribe_mailto(settings: Settings, token: str) -> str:
    return f"mailto:{settings.effective_unsubscribe_mailto}?subject=unsubscribe%20{token}"
