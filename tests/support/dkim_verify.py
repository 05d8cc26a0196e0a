"""DKIM keys for tests and the two independent verifiers of what the tool signs: dkimpy (its
verifier, asking the test DNS server through dnspython) and OpenDKIM from Debian's packages
(`opendkim -t FILE`, its test mode, which prints the Authentication-Results it would add). Both
get the public keys from the test DNS server: OpenDKIM's `Nameservers` takes no port, so it
is given an Unbound configuration (`ResolverConfiguration`: Debian builds it with libunbound)
whose stub zone points at the server's port."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.sending.mime.dkim_keys import public_value

if TYPE_CHECKING:
    from tests.support.dns_server import DnsServer


@dataclass(frozen=True)
class KeyPair:
    kind: str  # "rsa" | "ed25519"
    pem: str
    public: str  # p= of its TXT record

    def record(self) -> str:
        return f"v=DKIM1; k={self.kind}; p={self.public}"


def _pair(key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey, kind: str) -> KeyPair:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return KeyPair(kind, pem, public_value(key.public_key()))


@cache
def rsa_pair(bits: int = 2048, n: int = 0) -> KeyPair:
    """An RSA key (made once per size and number for the whole run: RSA keys are slow to make)."""
    return _pair(rsa.generate_private_key(public_exponent=65537, key_size=bits), "rsa")


@cache
def ed25519_pair(n: int = 0) -> KeyPair:
    return _pair(ed25519.Ed25519PrivateKey.generate(), "ed25519")


def dkimpy_results(message: bytes, server: DnsServer) -> list[bool]:
    """dkimpy's verdict on each DKIM-Signature of `message`, in order."""
    import dkim

    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [server.address]
    resolver.port = server.port

    def txt(name: bytes, timeout: int = 5) -> bytes | None:
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return None
        return b"".join(b"".join(r.strings) for r in answer)

    checker = dkim.DKIM(message)
    count = sum(1 for line in message.split(b"\r\n\r\n")[0].split(b"\r\n") if
                line.lower().startswith(b"dkim-signature:"))  # fmt: skip
    return [bool(checker.verify(idx=i, dnsfunc=txt)) for i in range(count)]


def _opendkim() -> str:
    found = shutil.which("opendkim") or (
        "/usr/sbin/opendkim" if os.path.exists("/usr/sbin/opendkim") else None
    )
    if found:
        return found
    why = "OpenDKIM is not installed (apt-get install opendkim; .ci/run does)"
    if os.environ.get("NEWSLETTER_TEST_REQUIRE_MAIL_SERVERS"):
        pytest.fail(why)
    pytest.skip(why)


def opendkim_results(message: bytes, server: DnsServer, zone: str, work: Path) -> str:
    """The Authentication-Results OpenDKIM writes for `message`, its keys looked up in `zone`
    on the test DNS server."""
    binary = _opendkim()
    work.mkdir(parents=True, exist_ok=True)
    (work / "unbound.conf").write_text(
        'server:\n  do-not-query-localhost: no\n  module-config: "iterator"\n'
        f'stub-zone:\n  name: "{zone}"\n  stub-addr: {server.address}@{server.port}\n'
    )
    (work / "opendkim.conf").write_text(
        f"Mode v\nResolverConfiguration {work / 'unbound.conf'}\nSyslog no\n"
    )
    (work / "message.eml").write_bytes(message)
    run = subprocess.run(
        [binary, "-x", str(work / "opendkim.conf"), "-t", str(work / "message.eml"), "-vvv"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-2000:]
    start = said.find("hname='Authentication-Results'")
    assert start >= 0, f"OpenDKIM wrote no Authentication-Results: {said[-2000:]}"
    return said[start : said.find("'\n", start + 40)]
