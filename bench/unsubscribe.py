"""One-click unsubscribe throughput and latency against the real server (gunicorn, gthread).

For each database (SQLite file; PostgreSQL if --pg-url or TEST_DATABASE_URL is set): seed N
subscribers, start `gunicorn 'newsletter.web:create_app()'` on 127.0.0.1, then drive it with a
small asyncio HTTP/1.1 keep-alive client (C connections, bounded request count):
  1. baseline: N x GET /healthz (same server, same client, same run),
  2. N x POST /unsubscribe/<token> with body List-Unsubscribe=One-Click, one per subscriber.
Prints requests/s, p50/p99 latency, errors, and checks that all N unsubscribes were recorded.

    python bench/unsubscribe.py [--requests 5000] [--concurrency 16] [--workers 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from newsletter import db, subscribers, tokens  # noqa: E402
from newsletter.addresses import parse  # noqa: E402
from tests.support.web_server import make_settings, start_gunicorn, stop  # noqa: E402

MAX_REQUESTS = 50_000


async def _worker(port: int, jobs: list[bytes], latencies: list[float], errors: list[str]) -> None:
    reader = writer = None
    for raw in jobs:
        for attempt in range(2):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                start = time.perf_counter()
                writer.write(raw)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length, close = 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"connection" and value.strip().lower() == b"close":
                        close = True
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - start)
                if status != 200:
                    errors.append(f"HTTP {status}")
                if close:
                    writer.close()
                    reader = writer = None
                break
            except (OSError, asyncio.IncompleteReadError) as exc:
                if writer is not None:
                    writer.close()
                reader = writer = None
                if attempt == 1:  # a keep-alive connection the server closed: retry once
                    errors.append(f"{exc.__class__.__name__}: {exc}")
    if writer is not None:
        writer.close()


async def _drive(port: int, requests: list[bytes], concurrency: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    shares = [requests[i::concurrency] for i in range(concurrency)]
    start = time.perf_counter()
    await asyncio.gather(*(_worker(port, s, latencies, errors) for s in shares if s))
    elapsed = time.perf_counter() - start
    qs = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {"n": len(latencies), "rps": len(latencies) / elapsed, "p50": qs[49] * 1000,
            "p99": qs[98] * 1000, "errors": errors}


def _seed(settings, engine, n: int) -> list[str]:  # type: ignore[no-untyped-def]
    the_list = subscribers.create_list(engine, "news", "The News")
    now = db.now()
    with engine.begin() as conn:
        rows = []
        for i in range(n):
            addr = parse(f"reader{i}@example.org")
            rows.append({"email": addr.email, "email_key": addr.key, "name": "",
                         "attributes": {}, "created_at": now, "updated_at": now})
        conn.execute(db.subscribers.insert(), rows)
        ids = list(conn.execute(select(db.subscribers.c.id)).scalars())
        conn.execute(db.memberships.insert(), [
            {"subscriber_id": i, "list_id": the_list["id"], "status": "subscribed",
             "source": "bench", "created_at": now, "updated_at": now} for i in ids])
    signer = tokens.signer_for(settings, allow_generated=False)
    return [signer.make("unsubscribe", i, the_list["id"]) for i in ids]


def run(label: str, url: str, workdir: Path, args: argparse.Namespace) -> None:
    settings = make_settings(workdir, url)
    engine = db.make_engine(url)
    toks = _seed(settings, engine, args.requests)
    proc, base = start_gunicorn(settings, workdir, workers=args.workers, threads=args.threads)
    port = int(base.rsplit(":", 1)[1])
    try:
        get = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        body = b"List-Unsubscribe=One-Click"
        posts = [(f"POST /unsubscribe/{t} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n").encode() + body for t in toks]
        asyncio.run(_drive(port, [get] * 200, args.concurrency))  # warm-up
        baseline = asyncio.run(_drive(port, [get] * args.requests, args.concurrency))
        result = asyncio.run(_drive(port, posts, args.concurrency))
    finally:
        stop(proc)
    x = db.suppressions
    with engine.connect() as conn:
        recorded = conn.execute(select(func.count()).select_from(x).where(
            x.c.source == "web:one-click")).scalar_one()
    engine.dispose()
    for name, r in (("GET /healthz (baseline)", baseline), ("POST one-click", result)):
        print(f"{label:10} {name:24} {r['n']:6d} req  {r['rps']:8.0f} req/s  "
              f"p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  errors {len(r['errors'])}")
    lost = args.requests - recorded
    print(f"{label:10} recorded {recorded}/{args.requests} unsubscribes, lost {lost}")
    if result["errors"]:
        print(f"{label:10} first errors: {result['errors'][:3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    args.requests = max(1, min(args.requests, MAX_REQUESTS))
    print(f"{os.cpu_count()} CPUs; gunicorn gthread {args.workers} workers x {args.threads} "
          f"threads; {args.concurrency} keep-alive connections; {args.requests} requests each")
    if args.only != "postgresql":
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.db", Path(tmp), args)
    if args.pg_url and args.only != "sqlite":
        import psycopg

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            try:
                sep = "&" if "?" in args.pg_url else "?"
                with tempfile.TemporaryDirectory() as tmp:
                    run("postgresql", f"{args.pg_url}{sep}options=-csearch_path%3D{schema}",
                        Path(tmp), args)
            finally:
                admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
