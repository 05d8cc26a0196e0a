"""The way out: over SMTP every message's envelope sender is the bounce address with that
recipient's verified tag (VERP), and the From: header is unchanged."""

from __future__ import annotations

import email
import re
from email import policy

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.sending.mime.message import list_message_template
from newsletter.tokens import Signer
from tests.support.backends import smtp_backend
from tests.support.messages import recipient, sample_template
from tests.support.sending import SECRET, env_for, populate, run_cli
from tests.support.smtp_sink import SinkServer


def test_every_envelope_sender_carries_its_recipients_valid_tag(
    workdir, issue_path, database_url, engine, sink_process
):
    port, record = sink_process
    populate(engine, "newsletter", 60)
    env = env_for(database_url, port, NEWSLETTER_SENDER_ADDRESS="news@example.com")
    result = run_cli("send", str(issue_path), "--yes", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    from tests.support.smtp_sink import read_records

    messages = read_records(str(record))
    assert len(messages) == 60
    signer = Signer([SECRET])
    ids = {f"user{i}@example.com": i + 1 for i in range(60)}  # ids in insertion order
    for m in messages:
        found = re.fullmatch(r"bounces\+([0-9a-f]{32})@example\.com", m.mail_from)
        assert found, m.mail_from
        send_id, subscriber_id = signer.read_recipient_tag(found.group(1), purpose="return-path")
        assert (send_id, subscriber_id) == (1, ids[m.rcpt_tos[0]])
        parsed = email.message_from_bytes(m.data, policy=policy.default)
        assert parsed["From"] == "Newsletter <news@example.com>"
        header_tag = signer.recipient_tag(1, subscriber_id, purpose="message-id")
        assert parsed["X-Newsletter-Tag"] == header_tag != found.group(1)
        assert parsed["Message-ID"].startswith(f"<{header_tag}.")


def test_bounce_address_setting_and_its_default():
    base = {"NEWSLETTER_SENDER_ADDRESS": "news@example.org"}
    assert load_settings(env=base, cwd="/").effective_bounce_address == "bounces@example.org"
    own = load_settings(env={**base, "NEWSLETTER_BOUNCE_ADDRESS": "rp@mail.example.org"}, cwd="/")
    assert own.effective_bounce_address == "rp@mail.example.org"
    off = load_settings(env={**base, "NEWSLETTER_BOUNCE_ADDRESS": "off"}, cwd="/")
    assert off.effective_bounce_address == ""
    for bad in ("bounces+x@example.org", "not an address"):
        with pytest.raises(ConfigError, match="bounce_address"):
            load_settings(env={**base, "NEWSLETTER_BOUNCE_ADDRESS": bad}, cwd="/")


def test_the_template_makes_the_verp_sender_only_with_a_tag_and_an_address():
    with_tag = recipient(7)
    plain = sample_template(bounce_address="bounces@example.com")
    assert plain.envelope_sender(with_tag) == f"bounces+{with_tag.return_tag}@example.com"
    untagged = recipient(8).__class__(email="x@example.org")  # a test-send recipient: no tag
    assert plain.envelope_sender(untagged) == "news@example.com"
    assert sample_template().envelope_sender(with_tag) == "news@example.com"  # VERP off
    settings = load_settings(env={"NEWSLETTER_SENDER_ADDRESS": "news@example.org"}, cwd="/")
    template = list_message_template(
        settings, {"slug": "n", "from_address": "ed@example.net"}, subject="s", html="h",
        text="t", send_ref="send-1",
    )  # fmt: skip
    assert template.envelope_sender(with_tag) == f"bounces+{with_tag.return_tag}@example.org"
    assert template.from_address == "ed@example.net"  # the list's From stays its own


def test_the_smtp_backend_uses_the_envelope_sender(smtp_sink: SinkServer):
    people = [recipient(i) for i in range(1, 4)]
    with smtp_backend(smtp_sink.port) as backend:
        backend.send(sample_template(bounce_address="rp@example.com"), people)
    senders = {m.rcpt_tos[0]: m.mail_from for m in smtp_sink.messages}
    assert senders == {p.email: f"rp+{p.return_tag}@example.com" for p in people}
