"""Shared by the web benchmarks (unsubscribe.py, track.py): readers in the database, and one
phase of Debian's `wrk` (C, so the client takes little of the 2 CPUs) with a Lua script that
prints one JSON line of results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import Engine, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from newsletter.audience.addresses import parse  # noqa: E402
from newsletter.audience.lists import create_list  # noqa: E402
from newsletter.db import tables  # noqa: E402
from newsletter.db.clock import utcnow  # noqa: E402


def readers(engine: Engine, n: int) -> tuple[dict, list[int]]:
    """N subscribed readers (reader0@example.org ...) on a new list 'news'; (list, their ids)."""
    the_list = create_list(engine, "news", "The News")
    now = utcnow()
    people = [parse(f"reader{i}@example.org") for i in range(n)]
    with engine.begin() as conn:
        conn.execute(
            tables.subscribers.insert(),
            [
                {
                    "email": addr.email,
                    "email_key": addr.key,
                    "name": "",
                    "attributes": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for addr in people
            ],
        )
        ids = list(conn.execute(select(tables.subscribers.c.id)).scalars())
        conn.execute(
            tables.memberships.insert(),
            [
                {
                    "subscriber_id": i,
                    "list_id": the_list["id"],
                    "status": "subscribed",
                    "source": "bench",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
    return the_list, ids


def wrk(script: str, base: str, items_file: str, concurrency: int, seconds: float) -> dict:
    """One wrk phase with bench/SCRIPT over ITEMS_FILE ('-': GET /healthz); the script's JSON
    result plus rps, p50 and p99 in ms."""
    threads = min(2, concurrency)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds:g}s"]
        + ["--timeout", "10s", "-s", str(ROOT / "bench" / script), base]
        + ["--", items_file, str(threads)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    r["threads"] = threads
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    r["p50"], r["p99"] = r["p50_us"] / 1000, r["p99_us"] / 1000
    return r


def on_each_database(run, pg_url: str, only: str, args) -> None:  # type: ignore[no-untyped-def]
    """run(label, url, workdir, args) on a fresh SQLite file, then (with pg_url) in a fresh
    PostgreSQL schema dropped afterwards; `only` picks one."""
    import tempfile
    import uuid

    if only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args)
    if pg_url and only != "sqlite":
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                sep = "&" if "?" in pg_url else "?"
                with tempfile.TemporaryDirectory() as tmp:
                    url = f"{pg_url}{sep}options=-csearch_path%3D{schema}"
                    run("postgresql", url, Path(tmp), args)
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
