"""DKIM private keys from the settings: the PEM in `NEWSLETTER_DKIM_PRIVATE_KEY` or in the file
`dkim_private_key_file` (readable only by its owner), one key per signature (`dkim_algorithm
both`: an RSA and an Ed25519 key, in either order). Anything wrong is one ConfigError line that
names the setting, raised before a message is built. Signing goes through `cryptography`
(OpenSSL): about five times the speed of dkimpy's own RSA, with identical signatures."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter.errors import ConfigError

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.sending.mime.dkim import DkimSigner

RSA, ED25519 = "rsa-sha256", "ed25519-sha256"
MIN_RSA_BITS = 1024  # RFC 8301: verifiers refuse smaller keys
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


@dataclass(frozen=True)
class DkimKey:
    """One signing key: its algorithm (a= of the signature), its selector (s=) and the key."""

    algorithm: str
    selector: str
    key: Any  # cryptography's RSAPrivateKey or Ed25519PrivateKey

    def sign(self, data: bytes) -> bytes:
        """The signature of canonical header data (RFC 6376; Ed25519 signs its SHA-256 hash,
        RFC 8463)."""
        if self.algorithm == ED25519:
            return bytes(self.key.sign(hashlib.sha256(data).digest()))
        from cryptography.hazmat.primitives.asymmetric import padding
        from cryptography.hazmat.primitives.hashes import SHA256

        return bytes(self.key.sign(data, padding.PKCS1v15(), SHA256()))

    def public_value(self) -> str:
        """The p= of the selector's TXT record for this key."""
        return public_value(self.key.public_key())

    def record(self) -> str:
        """The TXT record to publish at `<selector>._domainkey.<domain>`."""
        kind = "ed25519" if self.algorithm == ED25519 else "rsa"
        return f"v=DKIM1; k={kind}; p={self.public_value()}"


def public_value(public_key: Any) -> str:
    """p= for a public key: the raw 32 bytes for Ed25519 (RFC 8463), SubjectPublicKeyInfo DER
    for RSA (what OpenDKIM's opendkim-genkey publishes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    else:
        raw = public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return base64.b64encode(raw).decode()


def signer_for(settings: Settings) -> DkimSigner | None:
    """The send's DKIM signer from the settings (None: DKIM is not configured)."""
    keys = load_keys(settings)
    if not keys:
        return None
    from newsletter.sending.mime.dkim import DkimSigner

    return DkimSigner(keys, settings.dkim_domain)


def load_keys(settings: Settings) -> list[DkimKey]:
    """The keys to sign with ([] when DKIM is not configured), checked against
    `dkim_algorithm` and the selectors."""
    if not settings.dkim_enabled:
        return []
    where, name = _key_source(settings)
    pem = _read_pem(settings, where, name)
    keys = [_parse(block, where, name) for block in _pem_blocks(pem, where, name)]
    wanted = [RSA, ED25519] if settings.dkim_algorithm == "both" else [settings.dkim_algorithm]
    kinds = sorted(_kind(k) for k in keys)
    if kinds != sorted(wanted):
        found = " and ".join(kinds) or "no key"
        need = " and ".join(f"one {w.split('-')[0].upper()} key" for w in wanted)
        raise ConfigError(
            f"{where}: {name} holds {found}, but dkim_algorithm {settings.dkim_algorithm} "
            f"needs {need}"
        )
    out = []
    for key in keys:
        algorithm = _kind(key)
        if algorithm == RSA and key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"{where}: {name} is an RSA key of {key.key_size} bits; receivers ignore "
                f"signatures under {MIN_RSA_BITS} bits: make a 2048-bit key "
                "(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)"
            )
        out.append(DkimKey(algorithm, _selector(settings, algorithm), key))
    return out


def _key_source(settings: Settings) -> tuple[str, str]:
    """Where the key comes from, as the error lines name it: (where, setting)."""
    if settings.dkim_private_key and settings.dkim_private_key_file:
        raise ConfigError(
            "NEWSLETTER_DKIM_PRIVATE_KEY and dkim_private_key_file are both set: keep one"
        )
    if settings.dkim_private_key:
        return "environment NEWSLETTER_DKIM_PRIVATE_KEY", "the key"
    if settings.dkim_private_key_file:
        return settings.sources.get("dkim_private_key_file", "settings"), "dkim_private_key_file"
    raise ConfigError(
        "DKIM signing is configured (dkim_selector) but there is no key: set "
        "NEWSLETTER_DKIM_PRIVATE_KEY (PEM) or dkim_private_key_file"
    )


def _read_pem(settings: Settings, where: str, name: str) -> str:
    if settings.dkim_private_key:
        return settings.dkim_private_key.replace("\\n", "\n")  # one-line variables
    path = Path(settings.dkim_private_key_file)
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                f"{where}: dkim_private_key_file {path} can be read by others "
                f"(mode {stat.S_IMODE(info.st_mode):o}): run chmod 600 {path}"
            )
        if info.st_uid != os.geteuid():
            raise ConfigError(
                f"{where}: dkim_private_key_file {path} belongs to another user: "
                "it must be owned by the user who sends"
            )
        return path.read_text(encoding="ascii")
    except OSError as exc:
        raise ConfigError(
            f"{where}: cannot read dkim_private_key_file {path}: {exc.strerror}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: {name} {path} is not a PEM file") from None


def _pem_blocks(pem: str, where: str, name: str) -> list[str]:
    blocks = [m[0] for m in _PEM_BLOCK.finditer(pem) if "PRIVATE KEY" in m[1]]
    if not blocks:
        raise ConfigError(f"{where}: {name} holds no PEM private key (-----BEGIN PRIVATE KEY-----)")
    return blocks


def _parse(block: str, where: str, name: str) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    try:
        key = serialization.load_pem_private_key(block.encode(), password=None)
    except (ValueError, TypeError) as exc:
        why = "it is encrypted: store it without a passphrase" if "password" in str(exc) else ""
        raise ConfigError(
            f"{where}: {name} is not a readable PEM private key{': ' + why if why else ''}"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise ConfigError(
            f"{where}: {name} is a {type(key).__name__.removeprefix('_')} key; DKIM signs with "
            "RSA (rsa-sha256) or Ed25519 (ed25519-sha256)"
        )
    return key


def _kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ED25519 if isinstance(key, ed25519.Ed25519PrivateKey) else RSA


def _selector(settings: Settings, algorithm: str) -> str:
    if settings.dkim_algorithm == "both":
        name = "dkim_selector_rsa" if algorithm == RSA else "dkim_selector_ed25519"
    else:
        name = "dkim_selector"
    selector: str = getattr(settings, name)
    if not selector:
        raise ConfigError(
            f"{settings.sources.get(name, 'settings')}: {name} is not set: the DKIM key needs "
            f'the selector its public key is published under ({name} = "...")'
        )
    return selector
