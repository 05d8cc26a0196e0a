"""A scanner's burst of hits from many server threads at once, on a small connection pool:
each recorded hit holds one pool connection at most, so the pool never runs dry (before, a hit
that rewrote earlier rows on PostgreSQL held its autocommit connection while it waited for a
second one, and two such hits on a pool of two waited for each other until the pool timed out),
and every hit is recorded."""

from __future__ import annotations

import threading

from sqlalchemy import Engine, func, select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.db.connection import create
from newsletter.tracking.hits import Hit, record

THREADS = 8
RECIPIENTS = 4  # two threads per recipient: their hits also race on the recipient's version
ROUNDS = 3


def _a_send_with_links(engine: Engine) -> tuple[int, list[int], list[tuple[int, str]]]:
    """A send to RECIPIENTS subscribers with four links and the trap: (send, subscribers,
    links as (id, kind))."""
    now = utcnow()
    with engine.begin() as conn:
        subscribers = [
            conn.execute(
                tables.subscribers.insert().values(
                    email=f"r{i}@example.org", email_key=f"r{i}@example.org", name="",
                    attributes={}, created_at=now, updated_at=now,
                )
            ).inserted_primary_key[0]
            for i in range(RECIPIENTS)
        ]  # fmt: skip
        send_id = conn.execute(
            tables.sends.insert().values(
                issue_id="burst", list_slugs=[], status="done", backend="outbox", subject="s",
                html="", text="", source_hash="", options={}, created_at=now,
            )
        ).inserted_primary_key[0]  # fmt: skip
        links = []
        for position, kind in enumerate(["link"] * 4 + ["trap"]):
            link_id = conn.execute(
                tables.tracked_links.insert().values(
                    send_id=send_id, position=position, kind=kind, url=f"https://e.org/{position}"
                )
            ).inserted_primary_key[0]
            links.append((link_id, kind))
    return send_id, subscribers, links


def test_scanner_bursts_from_eight_threads_on_a_pool_of_two_record_every_hit(
    engine: Engine, database_url: str
) -> None:
    send_id, subscribers, links = _a_send_with_links(engine)
    small = create(database_url, pool_size=2, max_overflow=0, pool_timeout=20)
    start = threading.Barrier(THREADS)
    reasons: list[str] = []
    errors: list[BaseException] = []

    def burst(thread: int) -> None:
        subscriber = subscribers[thread % RECIPIENTS]
        start.wait()
        try:
            for _ in range(ROUNDS):
                for link_id, kind in links:  # every link then the trap, within a second
                    hit = Hit(send_id, subscriber, link_id, kind, "human", utcnow())
                    reasons.append(record(small, hit, 60))
        except BaseException as exc:  # a pool timeout arrives here as a StoreError
            errors.append(exc)

    threads = [threading.Thread(target=burst, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    small.dispose()

    assert errors == []
    assert len(reasons) == THREADS * ROUNDS * len(links) and all(reasons)
    with engine.connect() as conn:
        h = tables.tracking_hits
        stored = conn.execute(select(func.sum(h.c.hits)).where(h.c.send_id == send_id)).scalar()
        human_rows = conn.execute(
            select(func.count()).where(h.c.send_id == send_id, h.c.verdict == "human")
        ).scalar()
    assert stored == len(reasons)  # earlier rows rewritten as machine rows keep their counts
    assert human_rows == 0  # a scanner's burst: no hit of it stays a person's
