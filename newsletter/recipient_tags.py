"""Recipient tags: the opaque values that name one recipient of one send, one purpose each.

A tag is one AES block holding five zero bytes, the send id (5 bytes) and the subscriber id
(6 bytes), encrypted with a key derived from the secret key and the tag's purpose. Nobody reads
the database's numbering in it, a forged or altered tag decrypts to five zero bytes with odds of
1 in 2**40, and lower-case hex (32 characters) survives MTAs that fold the case of local parts.

Four purposes, none computed from another: the tracked links and pixel (readers share and
forward those), the VERP return path, the Message-ID, and a sequence step's web copy (one
reader's). A bounce or complaint counts only through the return path and the Message-ID, which
a forwarded copy does not carry in its body. Mail sent before tags had purposes carried one
value for the first three: it is still read (`ReadTag.legacy`), for clicks and opens for good,
for bounces and complaints while its send is under `LEGACY_TAG_DAYS` old.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from collections.abc import Sequence
from typing import Any, NamedTuple

from newsletter.errors import TokenError

TAG_LENGTH = 32
TAG_PATTERN = re.compile(rf"(?<![0-9a-f])[0-9a-f]{{{TAG_LENGTH}}}(?![0-9a-f])")
TAG_LINK = "link"  # tracked links and the open pixel
TAG_RETURN_PATH = "return-path"  # the VERP bounce address, `bounces+<tag>@domain`
TAG_MESSAGE_ID = "message-id"  # the Message-ID and X-Newsletter-Tag headers
TAG_WEB_COPY = "web-copy"  # a sequence step's "view in browser" link: that reader's copy
TAG_PURPOSES = (TAG_LINK, TAG_RETURN_PATH, TAG_MESSAGE_ID, TAG_WEB_COPY)
LEGACY_TAG_DAYS = 30
_LEGACY = b"newsletter.recipient-tag"  # the derivation of the one tag of older mail
_CHECK = bytes(5)


class ReadTag(NamedTuple):
    send_id: int
    subscriber_id: int
    legacy: bool  # made before tags had purposes: the same value as that mail's link token


def _label(purpose: str) -> bytes:
    if purpose not in TAG_PURPOSES:
        raise ValueError(f"unknown tag purpose {purpose!r}")
    return f"newsletter.recipient-tag.{purpose}".encode()


def _tag_key(key: str, label: bytes) -> bytes:
    """The AES key of one purpose's tags, derived from one secret key."""
    return hmac.new(key.encode("utf-8"), label, hashlib.sha256).digest()


def _aes_ecb(key: bytes) -> Any:
    """AES on single blocks (cryptography loads here: commands that make no tag skip it)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(key), modes.ECB())


class RecipientTags:
    """Makes tags with ``keys[0]``; reads tags made with any key, of this purpose or legacy."""

    def __init__(self, keys: Sequence[str]):
        self._keys = list(keys)
        self._encryptors: dict[str, Any] = {}  # purpose -> encryptor (ECB keeps no state)
        # Per purpose, one decryptor per key, then one per key for legacy tags, made once: the
        # click redirect reads a tag per request. The lock keeps threads off one context.
        self._decryptors: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def make(self, send_id: int, subscriber_id: int, purpose: str) -> str:
        encryptor = self._encryptors.get(purpose)
        if encryptor is None:
            key = _tag_key(self._keys[0], _label(purpose))
            encryptor = self._encryptors[purpose] = _aes_ecb(key).encryptor()
        block = _CHECK + send_id.to_bytes(5, "big") + subscriber_id.to_bytes(6, "big")
        return str(encryptor.update(block).hex())

    def read(self, tag: str, purpose: str) -> ReadTag:
        """The tag's (send, subscriber), and whether it is legacy; else TokenError."""
        label = _label(purpose)
        text = tag.strip().lower()
        if not TAG_PATTERN.fullmatch(text):  # exactly 32 hex digits, nothing else
            raise TokenError("not a recipient tag")
        sealed = bytes.fromhex(text)
        with self._lock:
            decryptors = self._decryptors.get(purpose)
            if decryptors is None:
                pairs = [(k, label) for k in self._keys] + [(k, _LEGACY) for k in self._keys]
                decryptors = [_aes_ecb(_tag_key(k, lb)).decryptor() for k, lb in pairs]
                self._decryptors[purpose] = decryptors
            plains = [decryptor.update(sealed) for decryptor in decryptors]
        for i, plain in enumerate(plains):
            if plain[:5] == _CHECK:
                send_id, subscriber_id = int.from_bytes(plain[5:10]), int.from_bytes(plain[10:])
                return ReadTag(send_id, subscriber_id, legacy=i >= len(self._keys))
        raise TokenError("this recipient tag was not made by us")
