"""Subject-line test sample (issue 25): the time to deal a snapshot into the test share and the
held rest, in SQL, beside the same run's plain audience snapshot (INSERT ... SELECT), and the
process's peak memory (no row passes through Python, so it does not grow with the audience).

    PYTHONPATH=. python bench/ab_sample.py [--n 300000] [--database URL]

Without --database: a fresh SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import readers  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from newsletter.db import tables  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402
from newsletter.sending import ab_sample, sends  # noqa: E402


def _snapshot(engine, list_id: int, issue: str, held: bool) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    with engine.begin() as conn:
        send_id = sends.create_send(
            conn,
            issue_id=issue,
            list_slugs=["news"],
            list_ids=[list_id],
            backend="outbox",
            subject="S",
            html="<p>x</p>",
            text_body="x",
            source_hash="0" * 64,
            options={},
            held=held,
        )
    return send_id, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300_000)
    parser.add_argument("--database", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/bench.db"
        engine = make_engine(url)
        the_list, _ = readers(engine, args.n)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _, plain = _snapshot(engine, the_list["id"], "plain", False)
        send_id, snap = _snapshot(engine, the_list["id"], "ab", True)
        started = time.perf_counter()
        with engine.begin() as conn:
            size = ab_sample.assign(conn, send_id, 0.2, 2)
        dealt = time.perf_counter() - started
        with engine.connect() as conn:
            d = tables.deliveries
            held = conn.execute(
                select(func.count()).where(d.c.send_id == send_id, d.c.status == "held")
            ).scalar_one()
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"database: {engine.dialect.name}, audience {args.n:,}")
        print(f"  plain snapshot (baseline)      {plain:6.2f} s")
        print(f"  test snapshot (all held)       {snap:6.2f} s")
        print(
            f"  sample + held (SQL hash)       {dealt:6.2f} s  ({dealt / plain:.2f}x the baseline)"
        )
        print(f"  sample {size:,}, held {held:,}")
        print(
            f"  peak RSS before/after the two snapshots and the deal: {rss_before // 1024} / "
            f"{rss_after // 1024} MB"
        )
        engine.dispose()


if __name__ == "__main__":
    main()
