"""A subject-line test stored with its send: each variant rendered once (the same issue with
its own subject and preheader), its links tracked with the send's one set of link ids, then
the test's row and the sample (`ab_sample`), all in the transaction that creates the send.
A worker builds one MIME skeleton per variant from here (`variant_send`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from sqlalchemy import Connection, Engine, exists, select

from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.models import Issue
from newsletter.sending import ab_sample
from newsletter.sending.sends import SendRow
from newsletter.tracking.links import track_send

A, V, D = tables.ab_tests, tables.send_variants, tables.deliveries


def begin(
    conn: Connection,
    settings: Settings,
    issue: Issue,
    send_id: int,
    list_name: str,
    public: bool,
    language: str = "",
) -> int:
    """Store every variant, the test, and its sample (returns the sample's size). Variants are
    tracked last to first, so the send's own tracked HTML ends as variant A's."""
    test = issue.ab_test
    assert test is not None and issue.subjects
    pairs = list(zip(issue.subjects, issue.preheaders, strict=True))
    for variant in reversed(range(len(pairs))):
        subject, preheader = pairs[variant]
        rendered = render_issue(
            replace(issue, subject=subject, preheader=preheader),
            settings,
            list_name=list_name,
            published=public,
            language=language,
        )
        tracked = track_send(conn, settings, issue, send_id, rendered.html)
        conn.execute(
            V.insert().values(
                send_id=send_id,
                variant=variant,
                subject=rendered.subject,
                preheader=preheader,
                html=rendered.html,
                text=rendered.text,
                tracked_html=tracked,
                web_html=rendered.web_html,
            )
        )
    sample = ab_sample.assign(conn, send_id, test.share, len(pairs))
    conn.execute(
        A.insert().values(
            send_id=send_id,
            share=test.share,
            wait_seconds=test.wait_seconds,
            metric=test.metric,
            tie=test.tie,
            variants=len(pairs),
            sample=sample,
        )
    )
    return sample


def variant_send(conn: Connection, send: SendRow, variant: int) -> tuple[SendRow, str | None]:
    """The send as variant `variant` goes out: its subject, HTML and text, and tracked HTML."""
    r = conn.execute(select(V).where(V.c.send_id == send.id, V.c.variant == variant)).one()
    return replace(send, subject=r.subject, html=r.html, text=r.text), r.tracked_html


def pending_variants(engine: Engine, send_id: int) -> Iterator[int | None]:
    """The variants to claim in turn: None for a send without a test (claims ignore the
    column); the decided winner first, then any variant with rows queued again (a retry).
    Each is looked at when its turn comes: by then the winner's rows are sent, so looking
    for another variant's queued rows is quick."""
    with reading(engine) as conn:
        row = conn.execute(select(A.c.variants, A.c.winner).where(A.c.send_id == send_id)).first()
    if row is None:
        yield None
        return
    order = [v for v in range(int(row.variants)) if v != row.winner]
    if row.winner is not None:
        order.insert(0, int(row.winner))
    for variant in order:
        with reading(engine) as conn:
            if _has_queued(conn, send_id, variant):
                yield variant


def _has_queued(conn: Connection, send_id: int, variant: int) -> bool:
    return bool(
        conn.execute(
            select(
                exists().where(
                    D.c.send_id == send_id, D.c.status == "queued", D.c.variant == variant
                )
            )
        ).scalar()
    )
