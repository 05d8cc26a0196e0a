"""A real IMAP server for the mailbox tests: Debian's Dovecot (`apt-get install dovecot-imapd`),
started by the test with its own configuration in a temporary folder, IMAPS only, on a free
port of 127.0.0.1, with a self-signed certificate (its own CA file) and one user whose mail is
a Maildir. Stopped (the process the fixture started, by its id) when the test ends."""

from __future__ import annotations

import datetime
import imaplib
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_until

USER, PASSWORD = "bounces", "imap-test-password"
MAIL_OWNER = "nobody"  # Dovecot never runs mail processes as root

CONFIG = """
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
auth_mechanisms = plain
first_valid_uid = {uid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
"""


def _certificate(root: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            critical=False,
        )  # fmt: skip
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    (root / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (root / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@dataclass
class ImapServer:
    port: int
    ca_file: str
    maildir: Path

    def url(self, folder: str = "INBOX", user: str = USER) -> str:
        return f"imaps://{user}@127.0.0.1:{self.port}/{folder}"

    def client(self) -> imaplib.IMAP4_SSL:
        context = ssl.create_default_context(cafile=self.ca_file)
        conn = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context)
        conn.login(USER, PASSWORD)
        conn.select("INBOX")
        return conn

    def append(self, data: bytes) -> None:
        conn = self.client()
        try:
            status, _ = conn.append("INBOX", "", imaplib.Time2Internaldate(time.time()), data)
            assert status == "OK"
        finally:
            conn.logout()

    def mark_seen(self, number: int) -> None:
        """Message `number` (1-based) opened in a mail client: flagged \\Seen."""
        conn = self.client()
        try:
            status, _ = conn.store(str(number), "+FLAGS", "(\\Seen)")
            assert status == "OK"
        finally:
            conn.logout()

    def flags(self) -> list[str]:
        """The flags of each message in INBOX, in order (after an expunge: the rest)."""
        conn = self.client()
        try:
            _, data = conn.fetch("1:*", "(FLAGS)") if self._count(conn) else ("OK", [])
            return [item.decode() for item in data if item]
        finally:
            conn.logout()

    @staticmethod
    def _count(conn: imaplib.IMAP4_SSL) -> int:
        _, data = conn.select("INBOX")
        return int(data[0])


def _wait(port: int, proc: subprocess.Popen, log: Path) -> None:
    """Until dovecot accepts connections on `port`; fails with its log if it exits first."""

    def listening() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"dovecot exited with {proc.returncode}: {_tail(log)}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_until(
        listening, 30, what=f"dovecot on 127.0.0.1:{port}", interval=0.05, detail=lambda: _tail(log)
    )


def _tail(log: Path) -> str:
    return log.read_text()[-2000:] if log.exists() else ""


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    binary = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists(
        "/usr/sbin/dovecot") else None)  # fmt: skip
    if binary is None or os.geteuid() != 0:
        why = "Dovecot (apt-get install dovecot-imapd) and root are needed for the IMAP tests"
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_MAIL_SERVERS"):
            pytest.fail(why)
        pytest.skip(why)
    owner = pwd.getpwnam(MAIL_OWNER)
    root = Path(tempfile.mkdtemp(prefix="nl-imap-"))
    os.chmod(root, 0o755)
    _certificate(root)
    (root / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    maildir = root / "home" / USER / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True)
    for path in [root / "home", root / "home" / USER, *maildir.parent.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    port = free_port()
    conf = root / "dovecot.conf"
    conf.write_text(
        CONFIG.format(root=root, uid=owner.pw_uid, gid=owner.pw_gid, port=port), encoding="utf-8"
    )
    proc = subprocess.Popen(
        [binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait(port, proc, root / "dovecot.log")
        yield ImapServer(port, str(root / "cert.pem"), maildir)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)
