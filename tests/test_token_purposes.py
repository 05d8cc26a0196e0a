"""One purpose per token (issue 20, point 1): the token in a reader's tracked links, the tag of
the VERP return path and the tag in the Message-ID are three values, none computed from
another. A complaint or bounce counts only through the return-path or Message-ID tag, so a
reader's forwarded link cannot get them suppressed; mail sent before keeps working."""

from __future__ import annotations

import hashlib
import hmac
import re
from email import policy
from email.parser import BytesParser
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from newsletter.mailbox.maildir import Maildir
from newsletter.mailbox.run import process
from newsletter.tracking.arrival import count_click
from newsletter.tracking.links import link as stored_link
from tests.support.tracking import LINKS, send_tracked, stored_hits
from tests.support.web_server import SECRET


def _legacy_tag(key: str, send_id: int, subscriber_id: int) -> str:
    """The one tag of mail sent before this change (links, return path and Message-ID alike)."""
    aes_key = hmac.new(key.encode(), b"newsletter.recipient-tag", hashlib.sha256).digest()
    block = bytes(5) + send_id.to_bytes(5, "big") + subscriber_id.to_bytes(6, "big")
    encryptor = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()
    return encryptor.update(block).hex()


def _maildir(root: Path) -> Path:
    for sub in ("new", "cur", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return root


def _complaint_to(verp_tag: str, body_link: str) -> bytes:
    """A three-line ARF report a stranger mails to the VERP address, quoting a forwarded link."""
    return (
        f"From: stranger@example.net\r\nTo: bounces+{verp_tag}@example.com\r\n"
        f"Delivered-To: bounces+{verp_tag}@example.com\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
        'boundary="F"\r\n\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\n'
        "Feedback-Type: abuse\r\nVersion: 1\r\n\r\n--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Subject: fwd\r\n\r\nlook at {body_link}\r\n--F--\r\n"
    ).encode()


def _headers(web, subscriber_id: int):  # type: ignore[no-untyped-def]
    [eml] = (Path(web.settings.outbox_dir) / "new").glob(f"*.{subscriber_id}.eml")
    return BytesParser(policy=policy.default).parsebytes(eml.read_bytes())


def _statuses(web, subscriber_id: int) -> tuple[str | None, list]:  # type: ignore[no-untyped-def]
    return web.status(subscriber_id), web.suppressions()


def test_link_token_return_path_tag_and_message_id_tag_are_three_values(web):
    mails = send_tracked(web, ["ann@example.org"])
    ann = mails["ann@example.org"]
    link_token = ann.pixel.rsplit("/", 1)[1].removesuffix(".gif")
    message = _headers(web, ann.subscriber_id)
    message_tag = re.match(r"<([0-9a-f]{32})\.", message["Message-ID"]).group(1)
    verp = web.signer.recipient_tag(1, ann.subscriber_id, purpose="return-path")
    assert len({link_token, message_tag, verp}) == 3
    assert message["X-Newsletter-Tag"] == message_tag
    assert link_token not in message.as_string().split("\n\n", 1)[0]  # not in any header


def test_a_complaint_through_a_forwarded_link_token_suppresses_nobody(web, tmp_path):
    mails = send_tracked(web, ["ann@example.org"])
    ann = mails["ann@example.org"]
    link_token = ann.pixel.rsplit("/", 1)[1].removesuffix(".gif")
    box = _maildir(tmp_path / "Maildir")
    (box / "new" / "1.eml").write_bytes(_complaint_to(link_token, ann.clicks[LINKS[0]]))
    report = process(web.engine, web.settings, web.signer, Maildir(box))
    assert report.complaints == 0 and len(report.unrecognised) == 1
    assert web.status(ann.subscriber_id) == "subscribed"
    assert web.suppressions() == []


def test_the_return_path_tag_still_counts_a_complaint(web, tmp_path):
    mails = send_tracked(web, ["ann@example.org"])
    ann = mails["ann@example.org"]
    verp = web.signer.recipient_tag(1, ann.subscriber_id, purpose="return-path")
    box = _maildir(tmp_path / "Maildir")
    (box / "new" / "1.eml").write_bytes(_complaint_to(verp, "nothing"))
    report = process(web.engine, web.settings, web.signer, Maildir(box))
    assert report.complaints == 1
    assert [row[2] for row in web.suppressions()] == ["complained"]


def test_mail_sent_before_keeps_working_old_link_tokens_count_and_old_tags_resolve(web, tmp_path):
    mails = send_tracked(web, ["ann@example.org"])
    ann = mails["ann@example.org"]
    old = _legacy_tag(SECRET, 1, ann.subscriber_id)
    target = stored_link(web.engine, int(ann.clicks[LINKS[0]].split("/")[-2]))
    assert target is not None
    reason = count_click(
        web.engine, web.settings, web.signer, target, old, "GET",
        lambda name: {"user-agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}.get(
            name.lower()
        ),
    )  # fmt: skip
    assert reason and stored_hits(web.engine)
    box = _maildir(tmp_path / "Maildir")
    (box / "new" / "1.eml").write_bytes(_complaint_to(old, "nothing"))
    report = process(web.engine, web.settings, web.signer, Maildir(box))
    assert report.complaints == 1  # a send of less than LEGACY_TAG_DAYS ago


def test_old_tags_stop_counting_bounces_once_their_send_is_older_than_the_stated_period(
    web, tmp_path
):
    from datetime import timedelta

    from sqlalchemy import update

    from newsletter.db import tables
    from newsletter.db.clock import utcnow
    from newsletter.recipient_tags import LEGACY_TAG_DAYS

    send_tracked(web, ["ann@example.org"])
    with web.engine.begin() as conn:
        long_ago = utcnow() - timedelta(days=LEGACY_TAG_DAYS + 1)
        conn.execute(update(tables.sends).values(created_at=long_ago, started_at=long_ago))
    box = _maildir(tmp_path / "Maildir")
    (box / "new" / "1.eml").write_bytes(_complaint_to(_legacy_tag(SECRET, 1, 1), "nothing"))
    report = process(web.engine, web.settings, web.signer, Maildir(box))
    assert report.complaints == 0 and "older than" in report.unrecognised[0]["reason"]
    assert web.suppressions() == []


def test_a_link_token_written_where_header_tags_go_counts_nothing_either(web, tmp_path):
    """The stranger writes the link token into a returned Message-ID, X-Newsletter-Tag and
    Return-Path by hand: each is read for its own purpose, and the link tag fits none."""
    mails = send_tracked(web, ["ann@example.org"])
    token = mails["ann@example.org"].pixel.rsplit("/", 1)[1].removesuffix(".gif")
    forged = (
        "From: stranger@example.net\r\nTo: bounces@example.com\r\nSubject: complaint\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
        'boundary="F"\r\n\r\n--F\r\nContent-Type: message/feedback-report\r\n\r\n'
        "Feedback-Type: abuse\r\nVersion: 1\r\n\r\n--F\r\nContent-Type: message/rfc822\r\n\r\n"
        f"Message-ID: <{token}.1@example.com>\r\nX-Newsletter-Tag: {token}\r\n"
        f"Return-Path: <bounces+{token}@example.com>\r\nSubject: hi\r\n\r\nbody\r\n--F--\r\n"
    ).encode()
    box = _maildir(tmp_path / "Maildir")
    (box / "new" / "1.eml").write_bytes(forged)
    report = process(web.engine, web.settings, web.signer, Maildir(box))
    assert report.complaints == 0 and "not one of ours" in report.unrecognised[0]["reason"]
    assert web.suppressions() == []
