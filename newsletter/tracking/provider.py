"""SendGrid's own `open` and `click` events, for a user who turned SendGrid's tracking on
anyway: recorded through the same judging as our redirect and pixel.

Opens SendGrid flags with `sg_machine_open` (Apple Mail Privacy Protection's fetches) are
machine opens; otherwise the agent rules decide, and the recipient's recent hits (trap, burst)
as for our own hits. A click SendGrid reports on one of our tracked URLs is skipped: our
redirect counted it when the reader passed through. Only the verdict is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.db.clock import utcnow
from newsletter.tokens import site_link
from newsletter.tracking.hits import Hit, record
from newsletter.tracking.judge import LINK, OPEN, judge_agent
from newsletter.tracking.links import MAX_ID, link_for_url

APPLE_PROXY = "machine:apple-proxy"
EVENTS = ("open", "click")


def _moment(event: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromtimestamp(int(event["timestamp"]), UTC)
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        return utcnow()


def record_event(
    engine: Engine, settings: Settings, event: Mapping[str, Any], send_id: int, subscriber_id: int
) -> str:
    """Record one SendGrid open or click of a recipient of a send; returns the stored reason
    ('' when nothing was counted)."""
    kind = str(event.get("event", ""))
    agent = event.get("useragent")
    agent = agent if isinstance(agent, str) else None
    if not (0 < send_id <= MAX_ID and 0 < subscriber_id <= MAX_ID):
        return ""  # not ids we ever made
    if kind == "open":
        machine = event.get("sg_machine_open") in (True, "true", "True", 1)
        reason = APPLE_PROXY if machine else judge_agent(agent, is_open=True)
        hit = Hit(send_id, subscriber_id, 0, OPEN, reason, _moment(event))
        return record(engine, hit, settings.tracking_scanner_window)
    url = str(event.get("url") or "").strip()
    ours = site_link(settings.site_url, "/c/")
    if kind != "click" or not url.startswith(("http://", "https://")) or url.startswith(ours):
        return ""
    link = link_for_url(engine, send_id, url[:4000])
    if link is None:
        return ""
    reason = judge_agent(agent, is_open=False)
    hit = Hit(send_id, subscriber_id, link.id, LINK, reason, _moment(event))
    return record(engine, hit, settings.tracking_scanner_window)
