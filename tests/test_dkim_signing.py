"""DKIM signing: every message the outbox and SMTP backends send carries signatures that two
independent verifiers (dkimpy, OpenDKIM) find `pass`, keys read from the test DNS server; both
algorithms, alone and together; a non-ASCII name and subject. The quoted-printable encoder
writes bodies that are already in relaxed canonical form (so the body hash is a plain SHA-256).
A bad key is one line naming the setting, and nothing is sent."""

from __future__ import annotations

import binascii
import email
import email.policy
import os
import pwd
import re
import secrets
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.sending.delivery import make_backend
from newsletter.sending.mime.quoted_printable import QPBody, qp
from tests.support.dkim_verify import (
    KeyPair,
    dkimpy_results,
    ed25519_pair,
    opendkim_results,
    rsa_pair,
)
from tests.support.dns_server import DnsServer
from tests.support.messages import recipient, sample_template
from tests.support.sending import REAL_SETTINGS, SAMPLE, env_for, populate, run_cli
from tests.support.waiting import wait_until

DOMAIN = "news.example"


def _keys(algorithm: str) -> dict[str, KeyPair]:
    """selector -> key for a dkim_algorithm."""
    if algorithm == "both":
        return {"r2026": rsa_pair(), "e2026": ed25519_pair()}
    return {"s1": rsa_pair() if algorithm == "rsa-sha256" else ed25519_pair()}


def _dkim_env(algorithm: str) -> dict[str, str]:
    keys = _keys(algorithm)
    env = {
        "NEWSLETTER_DKIM_ALGORITHM": algorithm,
        "NEWSLETTER_DKIM_PRIVATE_KEY": "".join(k.pem for k in keys.values()),
    }
    if algorithm == "both":
        env |= {
            "NEWSLETTER_DKIM_SELECTOR_RSA": "r2026",
            "NEWSLETTER_DKIM_SELECTOR_ED25519": "e2026",
        }
    else:
        env["NEWSLETTER_DKIM_SELECTOR"] = "s1"
    return env


def _publish(dns: DnsServer, algorithm: str, domain: str = DOMAIN) -> None:
    dns.serve(
        {f"{sel}._domainkey.{domain}": [("TXT", k.record())] for sel, k in _keys(algorithm).items()}
    )


def _verified(message: bytes, dns: DnsServer, work: Path, algorithm: str, domain: str) -> None:
    """Both verifiers say pass for every signature, and there is one per key."""
    want = 2 if algorithm == "both" else 1
    crlf = re.sub(rb"\r?\n", b"\r\n", message)
    assert dkimpy_results(crlf, dns) == [True] * want
    verdict = opendkim_results(message, dns, domain, work)
    assert verdict.count("dkim=pass") == want, verdict
    assert "dkim=fail" not in verdict and "dkim=neutral" not in verdict
    for algo in ("rsa-sha256", "ed25519-sha256"):
        assert (f"header.a={algo}" in verdict) == (algorithm in (algo, "both")), verdict


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256", "both"])
def test_outbox_messages_verify_with_dkimpy_and_opendkim(
    algorithm: str, workdir: Path, dns: DnsServer
) -> None:
    _publish(dns, algorithm)
    env = _dkim_env(algorithm) | {"NEWSLETTER_SENDER_ADDRESS": f"news@{DOMAIN}"}
    backend = make_backend("outbox", load_settings(cwd=workdir, env=env))
    template = sample_template(
        "Grüße aus Köln, __NL_NAME__: «déjà vu»", from_address=f"news@{DOMAIN}"
    )
    people = [recipient(1, "Zoë Ünicode-Åström"), recipient(2, "Ann  Lee"), recipient(3, "李小龍")]
    backend.send(template, people)
    files = sorted((workdir / "outbox" / "new").iterdir())
    assert len(files) == 3
    for path in files:
        data = path.read_bytes()
        assert data.startswith(b"DKIM-Signature: v=1; a=")
        assert b" d=" + DOMAIN.encode() + b";" in data.split(b"\r\n\r\n")[0]
        _verified(data, dns, workdir / "opendkim" / path.stem, algorithm, DOMAIN)


def test_dkim_domain_setting_names_the_signing_domain(workdir: Path, dns: DnsServer) -> None:
    _publish(dns, "ed25519-sha256", "mail.example.net")
    env = _dkim_env("ed25519-sha256") | {"NEWSLETTER_DKIM_DOMAIN": "mail.example.net"}
    make_backend("outbox", load_settings(cwd=workdir, env=env)).send(
        sample_template(), [recipient(1)]
    )
    (path,) = (workdir / "outbox" / "new").iterdir()
    data = path.read_bytes()
    assert b"d=mail.example.net;" in data
    _verified(data, dns, workdir / "od", "ed25519-sha256", "mail.example.net")


def test_oversigned_headers_cannot_be_added(workdir: Path, dns: DnsServer) -> None:
    """A second From, Subject or List-Unsubscribe added on the way breaks the signature."""
    _publish(dns, "rsa-sha256", "example.com")
    env = _dkim_env("rsa-sha256")
    make_backend("outbox", load_settings(cwd=workdir, env=env)).send(
        sample_template(), [recipient(1)]
    )
    (path,) = (workdir / "outbox" / "new").iterdir()
    data = path.read_bytes()
    head = data.split(b"\r\n\r\n")[0]
    assert b"h=from:from:to:subject:subject:" in head.replace(b"\r\n\t", b"")
    assert dkimpy_results(data, dns) == [True]
    for added in (b"From: a@evil.example", b"Subject: win", b"List-Unsubscribe: <https://x/>"):
        assert dkimpy_results(data.replace(b"\r\n\r\n", b"\r\n" + added + b"\r\n\r\n", 1), dns) == [
            False
        ]


@pytest.mark.parametrize("algorithm", ["ed25519-sha256", "both"])
def test_every_message_of_a_send_over_smtp_is_signed_and_verifies(
    algorithm: str,
    workdir: Path,
    issue_path: Path,
    database_url: str,
    engine: object,
    sink_process: tuple[int, Path],
    dns: DnsServer,
) -> None:
    """A send of 150 over SMTP (signed messages are rendered ahead while the connections
    wait): each message reaches the sink once, signed, and verifies."""
    from tests.support.smtp_sink import read_records

    port, record = sink_process
    populate(engine, "newsletter", 150)
    _publish(dns, algorithm, "example.org")  # the sender's domain (REAL_SETTINGS)
    env = env_for(database_url, port, NEWSLETTER_SMTP_CONNECTIONS="6") | _dkim_env(algorithm)
    result = run_cli("send", str(issue_path), "--yes", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    messages = read_records(str(record))
    assert sorted(r for m in messages for r in m.rcpt_tos) == sorted(
        f"user{i}@example.com" for i in range(150)
    )
    want = [True] * (2 if algorithm == "both" else 1)
    assert all(dkimpy_results(m.data, dns) == want for m in messages)


def test_the_web_apps_confirmation_mail_is_signed(
    workdir: Path, database_url: str, engine: object, dns: DnsServer
) -> None:
    from newsletter.audience.lists import create_list
    from newsletter.web import create_app
    from tests.support.web_server import make_settings, post_form

    _publish(dns, "both", "example.com")
    keys = _keys("both")
    settings = make_settings(
        workdir, database_url, dkim_algorithm="both", dkim_selector_rsa="r2026",
        dkim_selector_ed25519="e2026", dkim_private_key="".join(k.pem for k in keys.values()),
        sender_address="news@example.com",
    )  # fmt: skip
    create_list(engine, "news", "Les Nouvelles d'Été")
    client = create_app(settings, engine).test_client()
    answer = post_form(client, {"name": "Zoë", "email": "zoe@example.org"})
    assert answer.status_code == 200
    (path,) = (workdir / "outbox" / "new").glob("*.eml")
    _verified(path.read_bytes(), dns, workdir / "od", "both", "example.com")


def _lab_env(lab: dict[str, str], workdir: Path, algorithm: str) -> dict[str, str]:
    return _dkim_env(algorithm) | {
        "DATABASE_URL": f"sqlite:///{workdir / 'lab.db'}",
        "NEWSLETTER_SECRET_KEY": secrets.token_urlsafe(24),
        "NEWSLETTER_BACKEND": "smtp",
        "NEWSLETTER_SMTP_HOST": lab["NEWSLETTER_SMTP_HOST"],
        "NEWSLETTER_SMTP_PORT": lab["NEWSLETTER_SMTP_PORT"],
        **REAL_SETTINGS,  # the pre-flight refuses placeholder settings on smtp
        "NEWSLETTER_SENDER_ADDRESS": f"news@{lab['LAB_RCPT_DOMAIN']}",
        "NEWSLETTER_SENDER_NAME": "Zoë's Ünicode Letter",
    }


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "both"])
def test_smtp_send_through_postfix_verifies(
    algorithm: str, lab: dict[str, str], workdir: Path, dns: DnsServer
) -> None:
    """`newsletter send` over SMTP to the Postfix lab: what reaches the readers' Maildirs
    (Postfix added its own headers on top) verifies with both verifiers."""
    domain = lab["LAB_RCPT_DOMAIN"]
    _publish(dns, algorithm, domain)
    env = _lab_env(lab, workdir, algorithm)
    mark = secrets.token_hex(6)
    created = run_cli("lists", "create", "newsletter", "--name", "News", env=env, cwd=workdir)
    assert created.returncode == 0, created.stderr
    for i in (1, 2):
        added = run_cli(
            "subscribers", "add", f"reader{i}@{domain}", "--list", "newsletter",
            "--name", f"Ørjan Nú {mark}", env=env, cwd=workdir,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    (workdir / "issues").mkdir()
    issue = workdir / "issues" / SAMPLE.name
    issue.write_text(SAMPLE.read_text().replace('subject: "', 'subject: "Ça va? — ', 1))
    sent = run_cli("send", str(issue), "--yes", env=env, cwd=workdir)
    assert sent.returncode == 0, sent.stderr
    for i in (1, 2):
        folder = Path(pwd.getpwnam(f"reader{i}").pw_dir) / "Maildir" / "new"

        def mine(folder: Path = folder) -> list[Path]:
            return [p for p in folder.iterdir() if mark in _to_header(p)]

        (path,) = wait_until(mine, what=f"the message marked {mark} in {folder}", interval=0.2)
        try:
            data = path.read_bytes()
            assert b"Received:" in data.split(b"\n\n")[0]  # it went through Postfix
            _verified(data, dns, workdir / f"od{i}", algorithm, domain)
        finally:
            path.unlink(missing_ok=True)


def _to_header(path: Path) -> str:
    """The decoded To of a delivered message ("" once another test removed it)."""
    try:
        head = path.read_bytes().split(b"\n\n")[0] + b"\n\n"
    except FileNotFoundError:
        return ""
    return str(email.message_from_bytes(head, policy=email.policy.default)["To"])


# --- keys that are refused ----------------------------------------------------------------------


def _refused(workdir: Path, env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        make_backend("outbox", load_settings(cwd=workdir, env=env))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_key_that_does_not_parse_is_one_line(workdir: Path) -> None:
    broken = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    message = _refused(
        workdir, {"NEWSLETTER_DKIM_SELECTOR": "s1", "NEWSLETTER_DKIM_PRIVATE_KEY": broken}
    )
    assert "NEWSLETTER_DKIM_PRIVATE_KEY" in message and "not a readable PEM" in message
    message = _refused(
        workdir, {"NEWSLETTER_DKIM_SELECTOR": "s1", "NEWSLETTER_DKIM_PRIVATE_KEY": "hello"}
    )
    assert "holds no PEM private key" in message


def test_a_key_of_the_wrong_kind_is_one_line(workdir: Path) -> None:
    env = {"NEWSLETTER_DKIM_SELECTOR": "s1", "NEWSLETTER_DKIM_PRIVATE_KEY": ed25519_pair().pem}
    message = _refused(workdir, env)  # rsa-sha256 is the default
    assert "holds ed25519-sha256" in message and "one RSA key" in message
    env["NEWSLETTER_DKIM_ALGORITHM"] = "both"
    env |= {"NEWSLETTER_DKIM_SELECTOR_RSA": "r", "NEWSLETTER_DKIM_SELECTOR_ED25519": "e"}
    assert "needs one RSA key and one ED25519 key" in _refused(workdir, env)
    made = subprocess.run(  # cryptography will not make one this small; OpenSSL will
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:768"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    small = {"NEWSLETTER_DKIM_SELECTOR": "s1", "NEWSLETTER_DKIM_PRIVATE_KEY": made.stdout}
    assert "768 bits" in _refused(workdir, small)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    env = {"NEWSLETTER_DKIM_SELECTOR": "s1", "NEWSLETTER_DKIM_PRIVATE_KEY": ec_pem}
    assert "DKIM signs with RSA (rsa-sha256) or Ed25519" in _refused(workdir, env)


def test_a_key_file_others_can_read_is_refused_and_nothing_is_sent(workdir: Path) -> None:
    key = workdir / "dkim.pem"
    key.write_text(rsa_pair().pem)
    os.chmod(key, 0o644)
    (workdir / "newsletter.toml").write_text(
        f'dkim_selector = "s1"\ndkim_private_key_file = "{key}"\n'
    )
    message = _refused(workdir, {})
    assert "newsletter.toml" in message and "dkim_private_key_file" in message
    assert "chmod 600" in message
    env = {"DATABASE_URL": f"sqlite:///{workdir / 'n.db'}"}
    assert (
        run_cli("lists", "create", "newsletter", "--name", "N", env=env, cwd=workdir).returncode
        == 0
    )
    run = run_cli("test-send", str(SAMPLE), "--to", "a@example.org", env=env, cwd=workdir)
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "chmod 600" in run.stderr
    assert "Traceback" not in run.stderr
    assert run_cli("subscribers", "add", "a@example.org", "--list", "newsletter",
                   env=env, cwd=workdir).returncode == 0  # fmt: skip
    run = run_cli("send", str(SAMPLE), "--yes", env=env, cwd=workdir)
    assert run.returncode == 1 and "chmod 600" in run.stderr and "Traceback" not in run.stderr
    assert run_cli("status", env=env, cwd=workdir).stdout.strip().lower() == "no sends yet"
    assert not (workdir / "outbox").exists() or not list((workdir / "outbox").rglob("*.eml"))
    os.chmod(key, 0o600)
    run = run_cli("test-send", str(SAMPLE), "--to", "a@example.org", env=env, cwd=workdir)
    assert run.returncode == 0, run.stderr
    (sent,) = (workdir / "outbox" / "new").iterdir()
    assert sent.read_bytes().startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")


def test_a_selector_without_a_key_is_one_line(workdir: Path) -> None:
    message = _refused(workdir, {"NEWSLETTER_DKIM_SELECTOR": "s1"})
    assert "NEWSLETTER_DKIM_PRIVATE_KEY" in message and "dkim_private_key_file" in message
    env = {"NEWSLETTER_DKIM_ALGORITHM": "both", "NEWSLETTER_DKIM_PRIVATE_KEY": rsa_pair().pem
           + ed25519_pair().pem, "NEWSLETTER_DKIM_SELECTOR_RSA": "r"}  # fmt: skip
    assert "dkim_selector_ed25519 is not set" in _refused(workdir, env)


def test_sendgrid_does_not_sign(workdir: Path) -> None:
    """SendGrid signs with its own domain authentication: no key is read for it."""
    env = {"NEWSLETTER_DKIM_SELECTOR": "s1", "SENDGRID_API_KEY": "SG.x"}
    backend = make_backend("sendgrid", load_settings(cwd=workdir, env=env))
    assert not hasattr(backend, "dkim")


# --- bodies already in relaxed canonical form ------------------------------------------------


def _relaxed(part: bytes) -> bytes:
    """RFC 6376 §3.4.4's rules for lines, written out: no white space at a line's end, runs
    made one space. (Its rule for empty lines at the end of the body is kept by the closing
    boundary that ends every message.)"""
    lines = [re.sub(rb"[ \t]+", b" ", line).rstrip(b" ") for line in part.split(b"\r\n")]
    return b"\r\n".join(lines)


def _decoded(encoded: bytes, keep_lf: bool) -> str:
    text = binascii.a2b_qp(encoded).decode()
    return text if keep_lf else text.replace("\r\n", "\n")


texts = st.text(alphabet=" \t\r\n.=aé€x-", max_size=400)


@given(texts, st.booleans())
def test_quoted_printable_is_relaxed_canonical_and_decodes_back(text: str, keep_lf: bool) -> None:
    encoded = qp(text, keep_lf=keep_lf) + b"\r\n"
    assert _relaxed(encoded) == encoded
    assert all(len(line) <= 76 and not line.startswith(b".") for line in encoded.split(b"\r\n"))
    want = text.replace("\r\n", "\n").replace("\r", "\n")
    assert _decoded(encoded[:-2], keep_lf) == want


@given(texts, texts, st.text(alphabet=" \t.aé\n", max_size=60))
def test_personalised_bodies_are_relaxed_canonical(before: str, after: str, value: str) -> None:
    body = QPBody(before + "__NL_NAME__" + after + "__NL_NAME__")
    encoded = body.encode({"__NL_NAME__": value}) + b"\r\n"
    assert _relaxed(encoded) == encoded

    def n(text: str) -> str:  # each piece's line ends made LF on its own
        return text.replace("\r\n", "\n").replace("\r", "\n")

    assert _decoded(encoded[:-2], False) == n(before) + n(value) + n(after) + n(value)
