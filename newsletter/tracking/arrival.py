"""A click or an open as the web app receives it: read the token, judge the request, record.

The token is the recipient's opaque link tag (one AES block over send and subscriber, see
`recipient_tags`; never the tag of the return path or Message-ID). An unknown or forged token,
or a click token of another send, counts nothing; the caller still answers (the reader gets
where they wanted). Only the verdict is passed on: the user agent and the address stay here.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db.clock import utcnow
from newsletter.errors import TokenError
from newsletter.recipient_tags import TAG_LINK
from newsletter.tokens import Signer
from newsletter.tracking.hits import Hit, record
from newsletter.tracking.judge import OPEN, judge_request
from newsletter.tracking.links import Link, opens_tracked

Header = Callable[[str], str | None]


def _recipient(signer: Signer, token: str) -> tuple[int, int] | None:
    try:
        return signer.read_recipient_tag(token, purpose=TAG_LINK)
    except TokenError:
        return None


def count_click(
    engine: Engine,
    settings: Settings,
    signer: Signer,
    link: Link,
    token: str,
    method: str,
    header: Header,
) -> str:
    """Record a hit on a tracked link; returns the stored reason ('' when nothing counted)."""
    who = _recipient(signer, token)
    if who is None or who[0] != link.send_id:
        return ""
    reason = judge_request(method, header, is_open=False)
    hit = Hit(link.send_id, who[1], link.id, link.kind, reason, utcnow())
    return record(engine, hit, settings.tracking_scanner_window)


def count_open(
    engine: Engine, settings: Settings, signer: Signer, token: str, method: str, header: Header
) -> str:
    """Record a fetch of the open pixel; returns the stored reason ('' when nothing counted)."""
    who = _recipient(signer, token)
    if who is None or who[0] == 0 or not opens_tracked(engine, who[0]):
        return ""  # a send made without the pixel records no open, whatever URL is fetched
    reason = judge_request(method, header, is_open=True)
    hit = Hit(who[0], who[1], 0, OPEN, reason, utcnow())
    return record(engine, hit, settings.tracking_scanner_window)
