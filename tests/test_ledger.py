"""The ledger on SQLite and PostgreSQL: snapshot, atomic claims, results, dead workers."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import select

from newsletter.audience.lists import create_list
from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.models import FAILED, SENT, SendResult
from newsletter.sending import ledger
from newsletter.sending.ledger import (
    claim,
    discard_if_untouched,
    finish_if_complete,
    record_in,
    release,
    requeue,
)
from newsletter.sending.sends import create_send, get_send
from newsletter.sending.workers import Worker, join, live_workers, recover


def record(engine, send_id: int, worker: Worker, results: list[SendResult]) -> None:
    with engine.begin() as conn:
        record_in(conn, send_id, worker, results)


def make_audience(engine, slug: str = "weekly", n: int = 20) -> dict:
    lst = create_list(engine, slug, slug.title())
    for i in range(n):
        add_subscriber(engine, f"p{i}@example.com", slug, name=f"P {i}")
    return lst


def new_send(engine, list_ids: list[int], slugs: list[str] | None = None) -> int:
    with engine.begin() as conn:
        return create_send(
            conn,
            issue_id="issue-1",
            list_slugs=slugs or ["weekly"],
            list_ids=list_ids,
            backend="outbox",
            subject="S",
            html="<p>h</p>",
            text_body="t",
            source_hash="x" * 64,
            options={},
        )


def test_snapshot_has_each_subscribed_member_once_across_lists(engine):
    a = make_audience(engine, "weekly", 10)
    b = create_list(engine, "daily", "Daily")
    for i in range(5, 15):  # p5..p9 are on both lists
        add_subscriber(engine, f"p{i}@example.com", "daily")
    unsubscribe(engine, get_subscriber(engine, "p0@example.com")["id"], a["id"], source="test")
    send_id = new_send(engine, [a["id"], b["id"]], ["weekly", "daily"])
    with engine.connect() as conn:
        emails = (
            conn.execute(
                select(tables.deliveries.c.email).where(tables.deliveries.c.send_id == send_id)
            )
            .scalars()
            .all()
        )
        counts = ledger.counts(conn, send_id)
    assert sorted(emails) == sorted(f"p{i}@example.com" for i in range(1, 15))
    assert counts["queued"] == 14


def test_claims_never_overlap_and_results_are_recorded(engine):
    lst = make_audience(engine, n=25)
    send_id = new_send(engine, [lst["id"]])
    w1, w2 = Worker(engine), Worker(engine)
    try:
        seen: list[int] = []
        while True:
            got = claim(engine, send_id, w1, 4) + claim(engine, send_id, w2, 3)
            if not got:
                break
            seen += [c.subscriber_id for c in got]
            record(engine, send_id, w1, [SendResult(c.subscriber_id, SENT) for c in got])
            record(
                engine, send_id, w2, [SendResult(c.subscriber_id, FAILED, "550 no") for c in got]
            )
        assert len(seen) == len(set(seen)) == 25
        with engine.connect() as conn:
            counts = ledger.counts(conn, send_id)
        # each row was recorded only by the worker that claimed it
        assert counts["sent"] + counts["failed"] == 25 and counts["claimed"] == 0
        assert counts["sent"] > 0 and counts["failed"] > 0
        assert finish_if_complete(engine, send_id)
    finally:
        w1.close()
        w2.close()


def _die_with_notes(database_url: str, send_id: int, claim_n: int, notes: str) -> list[int]:
    """A worker process that claims `claim_n` rows, leaves handed notes (`notes` is Python
    that gets `mark`, `ids` and `c`, a connection in a transaction) and dies; the ids it
    claimed."""
    script = (
        "import os, sys\n"
        "from newsletter.db.engine import make_engine\n"
        "from newsletter.sending.ledger import claim\n"
        "from newsletter.sending.handed import HandedMark\n"
        "from newsletter.sending.workers import Worker, join\n"
        "e = make_engine(sys.argv[1]); w = Worker(e); send = int(sys.argv[2])\n"
        "with e.begin() as c: join(c, send, w)\n"
        "ids = sorted(r.subscriber_id for r in claim(e, send, w, int(sys.argv[3])))\n"
        "mark = HandedMark(e, send, w)\n"
        "with e.begin() as c:\n"
        f"    {notes}\n"
        "print(*ids, flush=True)\n"
        "os._exit(0)  # dies holding its claims\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, database_url, str(send_id), str(claim_n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [int(i) for i in out.stdout.split()]


def _after_recovery(engine, send_id: int) -> dict[int, str]:
    me = Worker(engine)
    try:
        with engine.begin() as conn:
            join(conn, send_id, me)
        recover(engine, send_id)
        with engine.connect() as conn:
            rows = conn.execute(
                select(tables.deliveries.c.subscriber_id, tables.deliveries.c.status).where(
                    tables.deliveries.c.send_id == send_id
                )
            ).all()
    finally:
        me.close()
    return {r.subscriber_id: r.status for r in rows}


def test_only_rows_a_dead_worker_noted_as_handed_become_unknown(engine, database_url):
    """Two units on the network (a span of two rows, and one row), the other claimed rows only
    claimed ahead: after the worker dies the noted rows are unknown, all others queued again;
    a note dropped with its outcome (settle) leaves nothing in doubt."""
    lst = make_audience(engine, n=12)
    send_id = new_send(engine, [lst["id"]])
    notes = (
        "mark.hand(c, [(ids[2], ids[3]), (ids[6], ids[6]), (ids[8], ids[8])]); "
        "mark.settle(c, [(ids[8], ids[8])])"
    )
    ids = _die_with_notes(database_url, send_id, 10, notes)
    status = _after_recovery(engine, send_id)
    unknown = {i for i, st in status.items() if st == "unknown"}
    assert unknown == {ids[2], ids[3], ids[6]}
    assert all(st == "queued" for i, st in status.items() if i not in unknown)


def test_a_high_water_mark_from_an_older_release_still_recovers(engine, database_url):
    """A worker of the previous release noted one high-water mark (`...:handed:W:HIGH`):
    claimed rows up to it are unknown, the rest go back to the queue."""
    lst = make_audience(engine, n=12)
    send_id = new_send(engine, [lst["id"]])
    ids = _die_with_notes(database_url, send_id, 10, "mark._insert(c, f'{mark.prefix}{ids[4]}')")
    status = _after_recovery(engine, send_id)
    assert {i for i, st in status.items() if st == "unknown"} == set(ids[:5])
    assert sum(st == "queued" for st in status.values()) == 7


def test_rows_of_a_dead_worker_become_unknown_never_queued(engine, database_url):
    lst = make_audience(engine, n=12)
    send_id = new_send(engine, [lst["id"]])
    script = (
        "import os, sys\n"
        "from newsletter.db.engine import make_engine\n"
        "from newsletter.sending.ledger import claim\n"
        "from newsletter.sending.workers import Worker, join\n"
        "e = make_engine(sys.argv[1]); w = Worker(e)\n"
        "with e.begin() as c: join(c, int(sys.argv[2]), w)\n"
        "print(len(claim(e, int(sys.argv[2]), w, 5)), flush=True)\n"
        "os._exit(0)  # dies holding its claims\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, database_url, str(send_id)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "5"
    me = Worker(engine)
    try:
        with engine.begin() as conn:
            join(conn, send_id, me)
        assert live_workers(engine, send_id) == [me.id]
        assert recover(engine, send_id) == 5
        with engine.connect() as conn:
            counts = ledger.counts(conn, send_id)
            problems = ledger.problems(conn, send_id)
        assert counts["unknown"] == 5 and counts["queued"] == 7 and counts["claimed"] == 0
        assert all("stopped while this batch was in flight" in d for _, _, d in problems)
        got = claim(engine, send_id, me, 100)
        assert len(got) == 7  # unknown rows are not handed out again
        with engine.begin() as conn:
            assert requeue(conn, send_id, ["unknown"]) == 5
    finally:
        me.close()


def test_live_worker_is_not_recovered(engine):
    lst = make_audience(engine, n=6)
    send_id = new_send(engine, [lst["id"]])
    w = Worker(engine)
    try:
        with engine.begin() as conn:
            join(conn, send_id, w)
        claim(engine, send_id, w, 3)
        assert recover(engine, send_id) == 0
        with engine.connect() as conn:
            assert ledger.counts(conn, send_id)["claimed"] == 3
    finally:
        w.close()


def test_release_and_discard_leave_no_trace(engine):
    lst = make_audience(engine, n=4)
    send_id = new_send(engine, [lst["id"]])
    w = Worker(engine)
    try:
        got = claim(engine, send_id, w, 4)
        release(engine, send_id, w, [c.subscriber_id for c in got])
        assert discard_if_untouched(engine, send_id)
        with engine.connect() as conn:
            assert get_send(conn, send_id) is None
            assert ledger.counts(conn, send_id)["queued"] == 0
    finally:
        w.close()
