"""The figures of a send: its outcomes (sent, delivered, bounced, complained: given by the
caller, from `sending.outcomes`, which this layer may not import), who left through its links,
and opens and clicks as unique people and machines, per link too.

Opens count readers with a recorded open OR a click (a reader whose client blocked images still
opened the mail to click). A reader is human for opens (or clicks, or a link) if any of their
hits there was judged human; machine if all were. The trap link is no link of the issue: it
only teaches the judge. Once a send's hits expire (`retention`), its totals are read instead,
and the timeline is gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, case, distinct, exists, func, or_, select

from newsletter.audience.bounces import counts_by_category
from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.models import SendOutcomes
from newsletter.tracking import links as stored_links
from newsletter.tracking.ab_report import ab_section
from newsletter.tracking.judge import LINK
from newsletter.tracking.unsubscribes import unsubscribed_through

D, S, H, L, T = (
    tables.deliveries,
    tables.sends,
    tables.tracking_hits,
    tables.tracked_links,
    tables.tracking_totals,
)
TIMELINE_HOURS = 7 * 24
RECENT_SENDS = 20


def _send_row(r: Any) -> dict[str, Any]:
    return {
        "send_id": r.id,
        "issue": r.issue_id,
        "subject": r.subject,
        "lists": list(r.list_slugs),
        "backend": r.backend,
        "status": r.status,
        "started_at": as_utc(r.started_at or r.created_at),
        "segment": (r.options or {}).get("segment"),  # the audience's segment, if it had one
    }


_SEND_COLUMNS = (
    S.c.id,
    S.c.issue_id,
    S.c.subject,
    S.c.list_slugs,
    S.c.backend,
    S.c.status,
    S.c.started_at,
    S.c.created_at,
    S.c.options,
)


def latest_send(conn: Connection, issue_id: str) -> dict[str, Any] | None:
    """The newest send of an issue (whatever its state: a paused or cancelled send went out to
    some)."""
    row = conn.execute(
        select(*_SEND_COLUMNS).where(S.c.issue_id == issue_id).order_by(S.c.id.desc()).limit(1)
    ).first()
    return _send_row(row) if row else None


def sends_of(conn: Connection, issue_id: str) -> list[dict[str, Any]]:
    """Every send of an issue (its own and its follow-ups), oldest first."""
    rows = conn.execute(select(*_SEND_COLUMNS).where(S.c.issue_id == issue_id).order_by(S.c.id))
    return [_send_row(r) for r in rows]


def recent_sends(conn: Connection, limit: int = RECENT_SENDS) -> list[dict[str, Any]]:
    rows = conn.execute(select(*_SEND_COLUMNS).order_by(S.c.id.desc()).limit(limit))
    return [_send_row(r) for r in rows]


def _on_issue_links(send_id: int) -> Any:
    """Hits on the open pixel or on a real link of the send (not the trap)."""
    return and_(H.c.send_id == send_id, or_(H.c.link_id == 0, L.c.kind == LINK))


def _unique(conn: Connection, where: Any) -> tuple[int, int]:
    """(human, machine) unique readers among the hits matching `where`."""
    human = func.count(distinct(case((H.c.verdict == "human", H.c.subscriber_id))))
    row = conn.execute(
        select(human, func.count(distinct(H.c.subscriber_id)))
        .select_from(H.outerjoin(L, L.c.id == H.c.link_id))
        .where(where)
    ).one()
    return int(row[0]), int(row[1]) - int(row[0])


def _machine_reasons(conn: Connection, send_id: int) -> dict[str, int]:
    """Readers with machine hits and no human one, by reason (one may have several)."""
    other = H.alias("other")
    human_too = exists().where(
        other.c.send_id == H.c.send_id,
        other.c.subscriber_id == H.c.subscriber_id,
        other.c.verdict == "human",
    )
    rows = conn.execute(
        select(H.c.reason, func.count(distinct(H.c.subscriber_id)))
        .where(H.c.send_id == send_id, H.c.verdict == "machine", ~human_too)
        .group_by(H.c.reason)
        .order_by(H.c.reason)
    )
    return {reason: int(n) for reason, n in rows}


def _live_link_counts(conn: Connection, send_id: int) -> dict[int, tuple[int, int]]:
    """link id -> (human, machine) unique readers, from the hits."""
    human = func.count(distinct(case((H.c.verdict == "human", H.c.subscriber_id))))
    rows = conn.execute(
        select(H.c.link_id, human, func.count(distinct(H.c.subscriber_id)))
        .where(H.c.send_id == send_id, H.c.link_id != 0)
        .group_by(H.c.link_id)
    )
    return {link_id: (int(h), int(a) - int(h)) for link_id, h, a in rows}


def _link_figures(conn: Connection, send_id: int, expired: bool) -> list[dict[str, Any]]:
    """Each link of the issue, in order, with its human and machine readers."""
    if expired:
        rows = conn.execute(
            select(L.c.id, L.c.human_clicks, L.c.machine_clicks).where(L.c.send_id == send_id)
        )
        counts = {r.id: (r.human_clicks or 0, r.machine_clicks or 0) for r in rows}
    else:
        counts = _live_link_counts(conn, send_id)
    out = []
    for link in stored_links.links_of(conn, send_id):
        if link.kind == LINK:
            human, machine = counts.get(link.id, (0, 0))
            out.append({"url": link.url, "human": human, "machine": machine})
    return out


def _timeline(conn: Connection, send_id: int, start: datetime) -> dict[str, Any]:
    """Readers by the hour of their first human open and first human click, first 7 days."""
    opens, clicks = [0] * TIMELINE_HOURS, [0] * TIMELINE_HOURS
    first_click = func.min(case((L.c.kind == LINK, H.c.first_at)))
    rows = conn.execute(
        select(func.min(H.c.first_at), first_click)
        .select_from(H.outerjoin(L, L.c.id == H.c.link_id))
        .where(_on_issue_links(send_id), H.c.verdict == "human")
        .group_by(H.c.subscriber_id)
    )
    for first_open, first_clicked in rows:
        for moment, series in ((first_open, opens), (first_clicked, clicks)):
            at = as_utc(moment)
            if at is None:
                continue
            hour = int((at - start) // timedelta(hours=1))
            if 0 <= hour < TIMELINE_HOURS:
                series[hour] += 1
    return {"start": start, "hours": TIMELINE_HOURS, "opens": opens, "clicks": clicks}


def _engagement(conn: Connection, send_id: int) -> dict[str, Any]:
    """Opens, clicks, machine reasons: from the hits, or from the totals once they expired."""
    totals = conn.execute(select(T).where(T.c.send_id == send_id)).first()
    if totals is not None:
        return {
            "opens": {"human": totals.opens_human, "machine": totals.opens_machine},
            "clicks": {"human": totals.clicks_human, "machine": totals.clicks_machine},
            "machine_reasons": dict(totals.reasons or {}),
            "hits_expired": True,
        }
    return {**live_figures(conn, send_id, per_link=False), "hits_expired": False}


def live_figures(conn: Connection, send_id: int, *, per_link: bool = True) -> dict[str, Any]:
    """Opens, clicks and machine reasons (and per-link counts) computed from the hits."""
    opens = _unique(conn, _on_issue_links(send_id))
    clicks = _unique(conn, and_(H.c.send_id == send_id, L.c.kind == LINK))
    out: dict[str, Any] = {
        "opens": {"human": opens[0], "machine": opens[1]},
        "clicks": {"human": clicks[0], "machine": clicks[1]},
        "machine_reasons": _machine_reasons(conn, send_id),
    }
    if per_link:
        out["per_link"] = _live_link_counts(conn, send_id)
    return out


def _bounce_kinds(conn: Connection, send_id: int) -> dict[str, int]:
    """Bounces by class (hard, soft, blocked), from the bounce records."""
    kinds = counts_by_category(conn, send_id)
    return {k: kinds.get(k, 0) for k in ("hard", "soft", "blocked")}


def _rate(part: int, whole: int | None) -> float | None:
    return round(part / whole, 4) if whole else None


def send_report(
    conn: Connection, send: dict[str, Any], outcomes: SendOutcomes, *, detail: bool = True
) -> dict[str, Any]:
    """The report of one send (`send` from `latest_send` / `recent_sends`, `outcomes` from
    `sending.outcomes.outcome_totals`, the one reader of delivery outcomes): the JSON shape of
    `newsletter report ISSUE --json`. Rates are of sent - bounced (`SendOutcomes.rate`).
    `detail=False` leaves out links and the timeline."""
    send_id = send["send_id"]
    engagement = _engagement(conn, send_id)
    human_opens, human_clicks = engagement["opens"]["human"], engagement["clicks"]["human"]
    switches = stored_links.switches_of(conn, send_id)
    out: dict[str, Any] = {
        "issue": send["issue"],
        "sent": outcomes.sent,
        "delivered": outcomes.delivered,
        "bounced": outcomes.bounced,
        "complained": outcomes.complained,
        "bounces": _bounce_kinds(conn, send_id),
        "unsubscribed": unsubscribed_through(conn, [send_id])[send_id],
        "opens": engagement["opens"],
        "clicks": engagement["clicks"],
        "send_id": send_id,
        "subject": send["subject"],
        "lists": send["lists"],
        "segment": send.get("segment"),
        "backend": send["backend"],
        "started_at": send["started_at"],
        "open_rate": outcomes.rate(human_opens),
        "click_rate": outcomes.rate(human_clicks),
        "click_to_open": _rate(human_clicks, human_opens),
        "machine_reasons": engagement["machine_reasons"],
        "tracking": {"clicks": switches[0], "opens": switches[1]} if switches else None,
        "hits_expired": engagement["hits_expired"],
    }
    if test := ab_section(conn, send_id):  # a subject-line test: per variant, and its verdict
        out.update(test)
    if detail:
        out["links"] = _link_figures(conn, send_id, engagement["hits_expired"])
        start = send["started_at"]
        expired = engagement["hits_expired"] or start is None
        out["timeline"] = None if expired else _timeline(conn, send_id, start)
    return out


def together(conn: Connection, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """An issue's sends (its own and its follow-ups, `send_report` rows) as one: the ledger
    figures added up, opens and clicks as unique people across the sends (None once a send's
    hits were folded into totals: who they were is gone), rates of sent - bounced."""
    ids = [r["send_id"] for r in rows]
    out: dict[str, Any] = {  # a figure a backend does not know (None) stays unknown
        key: None if any(r[key] is None for r in rows) else sum(r[key] for r in rows)
        for key in ("sent", "delivered", "bounced", "complained", "unsubscribed")
    }
    out["sends"] = ids
    if any(r["hits_expired"] for r in rows):
        out.update(opens=None, clicks=None, open_rate=None, click_rate=None)
        return out
    opened = _unique(conn, and_(H.c.send_id.in_(ids), or_(H.c.link_id == 0, L.c.kind == LINK)))
    clicked = _unique(conn, and_(H.c.send_id.in_(ids), L.c.kind == LINK))
    base = (out["sent"] or 0) - (out["bounced"] or 0)
    out.update(
        opens={"human": opened[0], "machine": opened[1]},
        clicks={"human": clicked[0], "machine": clicked[1]},
        open_rate=_rate(opened[0], base),
        click_rate=_rate(clicked[0], base),
    )
    return out
