"""One chunk of `subscribers import --as unsubscribed|bounced|complained`: past opt-outs and
bounces from another provider, brought in as suppressions. Nobody is mailed and nobody is
subscribed; an address nobody here knows gets its suppression only (no subscriber, no name,
no attributes: we keep no more about people we will never mail).

Scope, as the rest of the tool sets it: an unsubscribe is from the one list (`--list`); a
bounce or a complaint is about the address, so it covers every list. An address already
suppressed as strongly (a complaint outranks a bounce, a bounce an unsubscribe) is counted
unchanged; a weaker suppression of the same scope is made stronger. A member of the list is
marked unsubscribed and the change goes into their history (`record_suppression`).
"""

from __future__ import annotations

from sqlalchemy import Connection

from newsletter.audience.import_chunk import ImportRow
from newsletter.audience.suppressions import RANK, check_reason, record_suppression
from newsletter.db.bulk import BulkStatements

AS_REASONS = ("unsubscribed", "bounced", "complained")


def scope_of(reason: str, list_id: int) -> int:
    """The suppression's list: the list for an unsubscribe, every list (0) otherwise."""
    return list_id if reason == "unsubscribed" else 0


def suppress_chunk(
    conn: Connection,
    list_id: int,
    rows: list[ImportRow],
    source: str,
    reason: str,
    dry_run: bool,
) -> dict[str, int]:
    """Suppress `rows` (valid and unique) for `reason`; counts added (new suppressions),
    updated (made stronger) and unchanged (already as strong)."""
    check_reason(reason)
    scope = scope_of(reason, list_id)
    d = BulkStatements(conn)
    held: dict[tuple[str, int], int] = {}
    for h, lst, why in d.lookup(
        "address_hash, list_id, reason",
        "suppressions",
        "address_hash",
        [r.hash for r in rows],
        "list_id IN (0, {p})",
        scope,
    ):
        held[(h, int(lst))] = RANK.get(why, 0)
    subs = dict(d.lookup("email_key, id", "subscribers", "email_key", [r.key for r in rows]))
    counts = dict.fromkeys(("added", "updated", "unchanged"), 0)
    for r in sorted(rows, key=lambda r: r.hash):  # one lock order for imports running at once
        strongest = max(held.get((r.hash, 0), 0), held.get((r.hash, scope), 0))
        if strongest >= RANK[reason]:
            counts["unchanged"] += 1
            continue
        counts["updated" if (r.hash, scope) in held else "added"] += 1
        if not dry_run:
            sub_id = subs.get(r.key)
            record_suppression(
                conn, r.hash, r.email, None if sub_id is None else int(sub_id), scope, reason,
                source,
            )  # fmt: skip
    return counts
