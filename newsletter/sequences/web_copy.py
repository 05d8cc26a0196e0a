"""A sequence step's "view in browser" page: steps are never in the archive, so each reader's
link carries a recipient tag of purpose `web-copy` (`screen.web_copy_url`) naming the step's
send and the reader; it opens the step as sent (its stored web page) only to a reader the step
went to. A forged or altered tag, or a reader the step never reached, finds nothing."""

from __future__ import annotations

from sqlalchemy import Engine, select

from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.errors import TokenError
from newsletter.recipient_tags import TAG_WEB_COPY
from newsletter.tokens import Signer

D, S = tables.deliveries, tables.sends


def reader_copy(engine: Engine, signer: Signer, tag: str) -> str | None:
    """The page of the step the tag names, for its reader; None when there is none."""
    try:
        send_id, subscriber_id = signer.read_recipient_tag(tag, purpose=TAG_WEB_COPY)
    except TokenError:
        return None
    with reading(engine) as conn:
        page = conn.execute(
            select(S.c.web_html)
            .join(D, D.c.send_id == S.c.id)
            .where(
                S.c.id == send_id,
                S.c.issue_id.like("%/%"),  # a sequence step's send
                D.c.subscriber_id == subscriber_id,
                D.c.status.in_(["sent", "bounced", "complained"]),
            )
        ).scalar()
    return str(page) if page else None
