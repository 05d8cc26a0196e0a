"""Helpers for the tracking tests: an issue with four links sent for real through the outbox,
each recipient's mail parsed into its tracked URLs, the stored hits and common user agents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select

from newsletter.db import tables

LINKS = [
    "https://example.org/first",
    "https://example.org/second?a=1&b=2",
    "https://example.org/third",
    "https://example.org/fourth",
]
TRACKED_ISSUE = f"""---
title: A tracked issue
subject: The tracked issue
preheader: Four links to follow
lists: [news]
---
The intro links to [the first page]({LINKS[0]}).

## The first takeaway
Speaker: Ada Lovelace
Link: {LINKS[2]}

The body of the first takeaway, with [a second link]({LINKS[1]}).

## The second takeaway
Speaker: Grace Hopper
Link: {LINKS[3]}

The body of the second takeaway, linking [the first page]({LINKS[0]}) again.
"""  # in the HTML the links appear in the order of LINKS (a body comes before its Read more)
BROWSER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
APPLE_PROXY = "Mozilla/5.0"
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)
SCANNER = "Barracuda Sentinel (EE)"


@dataclass
class Mail:
    """One recipient's message, as delivered to the outbox."""

    subscriber_id: int
    html: str
    text: str
    clicks: dict[str, str]  # target -> tracked URL
    trap: str
    pixel: str
    unsubscribe: str  # the https one of List-Unsubscribe

    def path(self, url: str) -> str:
        """The path of a tracked URL (for the Flask test client)."""
        return urlsplit(url).path


def parse_mail(eml: Path, subscriber_id: int) -> Mail:
    message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    anchors = re.findall(r'<a href="([^"]+/c/\d+/[0-9a-f]+)"([^>]*)>(.*?)</a>', html, re.S)
    trap = next(url for url, attrs, _ in anchors if 'tabindex="-1"' in attrs)
    visible = [url for url, attrs, _ in anchors if 'tabindex="-1"' not in attrs]
    pixel = re.search(r'<img src="([^"]+/o/[0-9a-f]+\.gif)"', html).group(1)
    unsubscribe = re.search(r"<(https?://[^>]+/unsubscribe/[^>]+)>", message["List-Unsubscribe"])
    # The visible tracked links in order of appearance, one per distinct target.
    distinct = list(dict.fromkeys(visible))
    return Mail(
        subscriber_id,
        html,
        text,
        dict(zip(LINKS, distinct, strict=True)),
        trap,
        pixel,
        unsubscribe.group(1),
    )


def send_tracked(web: Any, emails: list[str], settings: Any = None) -> dict[str, Mail]:
    """Add `emails` to list 'news', send TRACKED_ISSUE through the outbox, return each one's
    parsed mail by address."""
    members = {email: web.member(email, email.split("@")[0].title()) for email in emails}
    web.send_issue(TRACKED_ISSUE, name="2026-02-01-tracked", settings=settings)
    outbox = Path((settings or web.settings).outbox_dir) / "new"
    mails = {}
    for email, member in members.items():
        [eml] = list(outbox.glob(f"*.{member['id']}.eml"))
        mails[email] = parse_mail(eml, member["id"])
    return mails


def stored_hits(engine: Engine) -> list[tuple[int, int, str, str, int]]:
    """Every stored hit row as (subscriber id, link id, verdict, reason, hits), sorted."""
    h = tables.tracking_hits
    with engine.connect() as conn:
        rows = conn.execute(
            select(h.c.subscriber_id, h.c.link_id, h.c.verdict, h.c.reason, h.c.hits)
        )
        return sorted(tuple(r) for r in rows)


def link_id(url: str) -> int:
    return int(urlsplit(url).path.split("/")[2])


@pytest.fixture
def signed_hook(web: Any) -> Any:
    """Post events to `web`'s SendGrid webhook, signed with a key pair made here."""
    import base64
    import dataclasses
    import json
    import time

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from newsletter.web import create_app
    from newsletter.web.webhook_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER

    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    ).decode()
    settings = dataclasses.replace(web.settings, sendgrid_webhook_public_key=public)
    client = create_app(settings, web.engine).test_client()

    def post(events: list[dict[str, Any]]) -> Any:
        body = json.dumps(events).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(
            key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        ).decode()
        headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature}
        return client.post(
            "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
        )

    return post
