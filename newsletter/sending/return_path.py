"""What comes back along the return path, applied in one place for every way it arrives (a
report in the bounce mailbox, a provider's webhook): the bounce record, the send's ledger row
(`bounced` or `complained`, with the diagnostic) and the suppression it calls for, in the
caller's transaction. The record's (send, subscriber, kind) key makes it idempotent: news that
was already applied changes nothing and counts nothing twice.

The bounce path, end to end (this docstring is its one map; the README's code map repeats it):

    out:      sending.mime.message.MessageTemplate.envelope_sender
              (VERP `bounces+<tag>@domain`: the tag is signed, so a report names whom it is
              about, and only a verified tag does)
    mailbox:  mailbox.run.process (a Maildir or an IMAP folder, a batch at a time)
              -> mailbox.classify.classify: a Verdict (mailbox.reports reads a DSN or an
                 ARF report, on what mailbox.mime_scan finds in the bytes)
              -> mailbox.outcomes.apply_batch -> sending.return_path.record_returns
                 (unsubscribe requests: audience.unsubscribe.unsubscribe)
    webhook:  web.webhook.sendgrid_events
              -> sending.provider_events.read_event, apply_event
              -> an address the provider calls bad (hard bounce, bad drop, spam report,
                 unsubscribe): audience.suppressions.suppress_address
              -> bounce, spam report: sending.return_path.record_return (suppress=False)
              -> delivered, deferred: sending.ledger_returns.apply_provider_event
              -> open, click: tracking.provider.record_event (judged like our own hits)
    here:     sending.return_path.record_returns:
              audience.bounces.insert_returns (the record, once)
              -> sending.ledger_returns.mark_returned (the ledger row)
              -> audience.bounces.suppressions_due, suppress_subscribers (its rules:
                 hard at once, soft after a few sends, complaints for good, blocked never)
    read:     audience.bounces.counts_by_category (status, report), returns_of
              (`subscribers show`)
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection

from newsletter.audience.bounces import (
    Returned,
    SoftBouncePolicy,
    insert_returns,
    suppress_subscribers,
    suppressions_due,
)
from newsletter.sending.ledger_returns import mark_returned

LEDGER_STATUS = {"bounce": "bounced", "complaint": "complained"}


@dataclass(frozen=True)
class Applied:
    new: bool  # False: this news had been applied before (nothing changed)
    suppressed: str = ""  # the suppression reason it led to, if any


def record_returns(
    conn: Connection,
    items: list[Returned],
    policy: SoftBouncePolicy,
    *,
    suppress: bool = True,
    details: list[str] | None = None,
) -> list[Applied]:
    """Apply bounces, complaints and delay notices (see `audience.bounces` for the rules), a
    batch in a few statements; one `Applied` per item, in order. `suppress=False` when the
    caller suppresses by itself (a provider's signed address); `details` replace the ledger's
    default `<category> <code>: <diagnostic>`."""
    new_keys = insert_returns(conn, items)
    fresh: list[Returned] = []
    flags: list[bool] = []
    for item in items:
        key = (item.send_id, item.subscriber_id, item.kind)
        flags.append(key in new_keys)
        if key in new_keys:
            new_keys.discard(key)  # the same news twice in one batch counts once
            fresh.append(item)
    texts = details or [i.summary for i in items]
    mark_returned(
        conn,
        [
            (i.send_id, i.subscriber_id, LEDGER_STATUS[i.kind], text)
            for i, text, new in zip(items, texts, flags, strict=True)
            if new and i.kind in LEDGER_STATUS and i.send_id  # send 0: a confirmation mail
        ],
    )
    due = suppressions_due(conn, fresh, policy) if suppress else {}
    done = suppress_subscribers(conn, due)
    return [
        Applied(new, due[i.subscriber_id][0] if new and i.subscriber_id in done and
                due[i.subscriber_id][1] is i else "")
        for i, new in zip(items, flags, strict=True)
    ]  # fmt: skip


def record_return(
    conn: Connection,
    item: Returned,
    policy: SoftBouncePolicy,
    *,
    suppress: bool = True,
    detail: str = "",
) -> Applied:
    """`record_returns` for one piece of news."""
    details = [detail] if detail else None
    return record_returns(conn, [item], policy, suppress=suppress, details=details)[0]
