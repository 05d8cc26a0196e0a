"""What a step's send adds to each claimed batch (`sending.batches.Screen`): lateness, checked
when the row is claimed (a reader due more than `max_late` ago is `skipped`, with the reason),
and each reader's own "view in browser" link, a signed web copy of their step (`web_copy`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from newsletter import tokens
from newsletter.db.clock import as_utc
from newsletter.db.connection import reading
from newsletter.recipient_tags import TAG_WEB_COPY
from newsletter.sending.ledger import Claimed
from newsletter.sequences.enrol import MEMBERS
from newsletter.sequences.registry import StepRow


def web_copy_url(site_url: str, signer: tokens.Signer, send_id: int, subscriber_id: int) -> str:
    tag = signer.recipient_tag(send_id, subscriber_id, purpose=TAG_WEB_COPY)
    return tokens.site_link(site_url, f"/steps/{tag}")


@dataclass(frozen=True)
class StepScreen:
    sequence: str
    step: StepRow
    send_id: int
    now: datetime  # send-due's clock (`--now`)
    max_late: timedelta
    site_url: str
    signer: tokens.Signer

    def skips(self, engine: Engine, batch: list[Claimed]) -> dict[int, str]:
        """Readers of the batch whose step fell due more than `max_late` ago."""
        ids = [c.subscriber_id for c in batch]
        after = timedelta(seconds=self.step.after_s)
        out: dict[int, str] = {}
        with reading(engine) as conn:
            for i in range(0, len(ids), 500):
                rows = conn.execute(
                    select(MEMBERS.c.subscriber_id, MEMBERS.c.joined_at).where(
                        MEMBERS.c.sequence == self.sequence,
                        MEMBERS.c.subscriber_id.in_(ids[i : i + 500]),
                    )
                )
                for sid, joined in rows:
                    start = as_utc(joined) or self.step.first_seen_at
                    due = max(start + after, self.step.first_seen_at)
                    if self.now - due > self.max_late:
                        out[sid] = (
                            f"late: due {due:%Y-%m-%d %H:%M} UTC, more than max_late "
                            f"({self.max_late}) before it could be sent"
                        )
        return out

    def view_url(self, subscriber_id: int) -> str:
        return web_copy_url(self.site_url, self.signer, self.send_id, subscriber_id)
