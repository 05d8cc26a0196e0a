"""Segments at scale (issue 24, point 4): N subscribers (default 1,000,000) with three
attributes each (city, plan, age) on one list, 1% suppressed, and 10 past sends with 25% human
opens, 5% human clicks and 10% machine hits. On SQLite and PostgreSQL, each figure printed
beside the same run's baseline:

- `newsletter audience --list L --count` (the real command, a process) with
  `attributes.city = "Oslo" and not clicked in last 3 sends`, against the same command without
  `--where` (suppressions applied). Target: at most 2 s, and its ratio to the baseline.
- The snapshot of a segment matching the whole list into the ledger (`sends.create_send`, one
  INSERT ... SELECT, rolled back), against the whole-list snapshot. Target: at most 1.5x.
- Memory: the peak RSS of `newsletter audience --list L` writing every subscriber of the
  segment, against the same command with `--count` (bounded: it streams).

    python bench/segments.py                       # 1,000,000 subscribers, both databases
    python bench/segments.py --n 100000 --db sqlite
    TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python bench/segments.py
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import DateTime, Engine, bindparam, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.db.derived import key_hash  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402

SEGMENT = 'attributes.city = "Oslo" and not clicked in last 3 sends'
WHOLE = "attributes.age >= 0"  # every subscriber has an age: a segment of the whole list
ENGAGED = "not clicked in last 3 sends"  # about 85% of the list
CITIES = ("Oslo", "Bergen", "Lisbon", "Hanoi", "Lyon")
SENDS = 10
# (link id, verdict, percent of readers, two odd multipliers): human opens (the pixel), human
# clicks, machine hits, drawn independently for every send.
HITS = (
    (0, "human", 25, 2654435761, 40503),
    (1, "human", 5, 2246822519, 97),
    (2, "machine", 10, 3266489917, 131),
)  # noqa: E501


_LIST = (
    "INSERT INTO lists (slug, name, description, from_name, from_address, reply_to, created_at) "
    "VALUES ('l', 'L', '', '', '', '', :now)"
)
_SUBSCRIBER = (
    "INSERT INTO subscribers (email, email_key, name, attributes, created_at, updated_at, "
    "address_hash, domain) VALUES (:e, :e, '', :a, :now, :now, :h, :d)"
)
_MEMBERS = (
    "INSERT INTO memberships (subscriber_id, list_id, status, source, created_at, updated_at, "
    "subscribed_at) SELECT id, 1, 'subscribed', 'bench', :now, :now, :now FROM subscribers"
)
_SUPPRESSED = (  # 1% of the list, suppressed for every list
    "INSERT INTO suppressions (address_hash, email, list_id, reason, source, created_at) "
    "SELECT address_hash, email, 0, 'manual', 'bench', :now FROM subscribers WHERE id % 100 = 0"
)
_SEND = (
    "INSERT INTO sends (issue_id, list_slugs, status, backend, subject, html, text, source_hash, "
    "options, created_at) VALUES (:issue, '[\"l\"]', 'done', 'outbox', '', '', '', '', "
    "'{\"list_ids\": [1]}', :now)"
)
_TRACKED = "INSERT INTO tracked_sends (send_id, clicks, opens, html) VALUES (:s, true, true, '')"
_HITS = (
    "INSERT INTO tracking_hits (send_id, subscriber_id, link_id, verdict, reason, first_at, "
    "last_at, hits) SELECT :s, id, :link, :verdict, :verdict, :now, :now, 1 FROM subscribers "
    "WHERE (id * {a} + {b}) % 100 < {share}"
)


def populate(engine: Engine, n: int) -> None:
    """The fixture, in set-based statements (subscribers in batches: SQLite has no sha256)."""
    now = datetime(2026, 12, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(text(_LIST).bindparams(now=now))
        for start in range(0, n, 50_000):
            conn.execute(
                text(_SUBSCRIBER).bindparams(bindparam("now", now, DateTime(timezone=True))),
                [_subscriber(i) for i in range(start, min(n, start + 50_000))],
            )
        for sql in (_MEMBERS, _SUPPRESSED):
            conn.execute(text(sql).bindparams(bindparam("now", now, DateTime(timezone=True))))
        for s in range(1, SENDS + 1):
            conn.execute(text(_SEND), {"issue": f"issue-{s}", "now": now})
            conn.execute(text(_TRACKED), {"s": s})
            for link, verdict, share, a, b in HITS:  # each reader's own dice for each send
                sql = _HITS.format(a=a, b=s * b, share=share)
                conn.execute(text(sql), {"s": s, "link": link, "verdict": verdict, "now": now})
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def _subscriber(i: int) -> dict[str, str]:
    key = f"user{i}@example{i % 50}.com"
    plan = ("free", "pro")[i % 7 == 0]
    attrs = f'{{"city": "{CITIES[i % 5]}", "plan": "{plan}", "age": "{18 + i % 60}"}}'
    return {"e": key, "h": key_hash(key), "d": key.split("@")[1], "a": attrs}


def cli(url: str, *args: str) -> tuple[float, str, int]:
    """(seconds, stdout, peak RSS in KiB) of `newsletter ARGS` as its own process (its own
    peak, read with wait4)."""
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "newsletter", *args], env=env, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        took = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise SystemExit(err.read())
        return took, out.read(), usage.ru_maxrss


def _best(url: str, *args: str) -> tuple[float, str]:
    """The fastest of three runs of `newsletter audience --list l ARGS` (a shared machine)."""
    runs = [cli(url, "audience", "--list", "l", *args) for _ in range(3)]
    took, out, _ = min(runs)
    return took, out


def counted(engine: Engine, where: str | None) -> float:
    """Seconds of the count query alone (in this process: no start-up, no imports)."""
    from newsletter.audience.segments import audience_count, read_segment, scope_for
    from newsletter.db.clock import utcnow

    with engine.connect() as conn:
        t = time.perf_counter()
        audience_count(scope_for(conn, [1], utcnow()), read_segment(where) if where else None)
        return time.perf_counter() - t


def snapshot(engine: Engine, where: str | None) -> float:
    """Seconds to create a send and snapshot its audience (rolled back afterwards)."""
    from newsletter.audience.segment_sql import compile_segment
    from newsletter.audience.segments import read_segment, scope_for
    from newsletter.db.clock import utcnow
    from newsletter.sending import sends

    with engine.connect() as conn:
        trans = conn.begin()
        t = time.perf_counter()
        clause = None
        if where:
            clause = compile_segment(read_segment(where).node, scope_for(conn, [1], utcnow()))
        sends.create_send(conn, issue_id="bench", list_slugs=["l"], list_ids=[1],
                          backend="outbox", subject="", html="", text_body="", source_hash="",
                          options={}, segment=clause)  # fmt: skip
        took = time.perf_counter() - t
        trans.rollback()
    return took


def run(name: str, url: str, n: int) -> None:
    engine = make_engine(url)
    t = time.perf_counter()
    populate(engine, n)
    print(f"\n== {name}: {n:,} subscribers, {SENDS} sends, fixture {time.perf_counter() - t:.0f} s")
    base_t, base_out = _best(url, "--count")
    seg_t, seg_out = _best(url, "--where", SEGMENT, "--count")
    base_q, seg_q = counted(engine, None), counted(engine, SEGMENT)
    ok = "ok" if seg_t <= 2 else "MISSED"
    print(f"audience --count, whole list:   {base_t:6.2f} s ({base_out.strip()} subscribers)")
    print(f"audience --count, with segment: {seg_t:6.2f} s ({seg_out.strip()} subscribers)")
    print(f"  {seg_t / base_t:.2f}x the baseline; target <= 2 s: {ok}")
    print(f"  the count query alone: {seg_q:.2f} s, whole list {base_q:.2f} s")
    whole = min(snapshot(engine, None) for _ in range(2))
    print(f"snapshot, whole list:           {whole:6.2f} s")
    for where in (WHOLE, ENGAGED):
        seg = min(snapshot(engine, where) for _ in range(2))
        ok = "ok" if seg <= 1.5 * whole else "MISSED"
        print(f"snapshot, `{where}`: {seg:.2f} s, {seg / whole:.2f}x; target <= 1.5x: {ok}")
    _, _, count_rss = cli(url, "audience", "--list", "l", "--count")
    _, listed, list_rss = cli(url, "audience", "--list", "l", "--where", WHOLE)
    print(
        f"memory: listing {len(listed.splitlines()):,} subscribers peaks at "
        f"{list_rss / 1024:.0f} MB, counting them at {count_rss / 1024:.0f} MB (whole process)"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.db in ("sqlite", "both"):
            run("SQLite", f"sqlite:///{Path(tmp) / 'bench.db'}", args.n)
    base = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    if args.db in ("postgresql", "both"):
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(base, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                run("PostgreSQL", f"{base}?options=-csearch_path%3D{schema}", args.n)
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
