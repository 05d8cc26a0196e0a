"""Click redirect and open pixel against the real server, beside GET /healthz on the same server
in the same run (gunicorn as the README deploys it: gthread, 2 workers per CPU, 1 thread).

For each database (SQLite file; PostgreSQL if --pg-url or TEST_DATABASE_URL is set): seed N
readers, create a send of a five-link issue with its tracked links (the real `track_send`),
start `gunicorn 'newsletter.web:create_app()'`, and load it with Debian's `wrk` (C, so the
client takes little of the CPUs, with a desktop browser's User-Agent). Rounds of three phases,
interleaved so the machine's noise falls on all three alike, each round with its own readers:
  1. GET /healthz (the baseline of the round),
  2. GET /o/<token>.gif: each reader's first hit (one statement, nothing to re-judge),
  3. GET /c/<link>/<token>: the same readers, seconds after their open, so each click is
     judged against their recent hits (the slower path, as for a reader who opens and clicks);
then clicks on a fifth link while the server reloads its workers (SIGHUP), one worker is
stopped (SIGTERM) and finally the server itself (SIGTERM). Prints the median requests/s, the
ratio to the round's healthz (median and per round), p50 and each round's p99, and the hits
answered against those recorded (every answered hit must be stored; wrk stops mid-flight, so up
to one hit per connection may be stored without its answer being counted).

    python bench/track.py [--seconds 5] [--rounds 3] [--readers 60000] [--concurrency 16]
                          [--workers 2xCPUs] [--threads 1] [--only sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import loadgen  # noqa: E402
from loadgen import readers  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from newsletter import tokens  # noqa: E402
from newsletter.authoring.issue_file import read_issue  # noqa: E402
from newsletter.authoring.render import render_issue  # noqa: E402
from newsletter.db import tables  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402
from newsletter.sending.sends import create_send  # noqa: E402
from newsletter.tracking.links import links_of, track_send  # noqa: E402
from tests.support.web_server import make_settings, start_gunicorn, stop  # noqa: E402

ISSUE = """---
title: Benchmark issue
preheader: Five links
lists: [news]
---
""" + "\n\n".join(f"Paragraph {i}: [link {i}](https://example.org/bench/{i})." for i in range(5))


def seed(settings, engine, n: int, workdir: Path) -> tuple[list[str], list[int]]:  # type: ignore[no-untyped-def]
    """N readers on list 'news' and a send of the five-link issue to them; returns their
    tracking tokens and the send's five link ids (in order)."""
    the_list, ids = readers(engine, n)
    path = workdir / "2026-01-01-bench.md"
    path.write_text(ISSUE, encoding="utf-8")
    issue = read_issue(path)
    rendered = render_issue(issue, settings)
    with engine.begin() as conn:
        send_id = create_send(
            conn,
            issue_id=issue.id,
            list_slugs=["news"],
            list_ids=[the_list["id"]],
            backend="outbox",
            subject=rendered.subject,
            html=rendered.html,
            text_body=rendered.text,
            source_hash=issue.source_hash,
            options={},
        )
        track_send(conn, settings, issue, send_id, rendered.html)
        link_ids = [lk.id for lk in links_of(conn, send_id) if lk.kind == "link"]
    signer = tokens.signer_for(settings, allow_generated=False)
    return [signer.recipient_tag(send_id, i, purpose="link") for i in ids], link_ids


def wrk(base: str, paths_file: str, args: argparse.Namespace, seconds: float) -> dict:
    """One wrk phase; paths_file '-' means GET /healthz."""
    r = loadgen.wrk("track.lua", base, paths_file, args.concurrency, seconds)
    return {
        "n": r["requests"],
        "rps": r["rps"],
        "p50": r["p50"],
        "p99": r["p99"],
        "answered": r["requests"] - r["status_errors"],
        "status_errors": r["status_errors"],
        "socket_errors": r["socket_errors"],
    }


def recorded(engine, link_ids: list[int]) -> int:  # type: ignore[no-untyped-def]
    h = tables.tracking_hits
    with engine.connect() as conn:
        q = select(func.coalesce(func.sum(h.c.hits), 0)).where(h.c.link_id.in_(link_ids))
        return int(conn.execute(q).scalar_one())


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except OSError:
                continue
    return out


def restarts(proc: subprocess.Popen, seconds: float) -> None:
    """During the last phase: reload every worker, stop one worker, then stop the server."""
    time.sleep(seconds * 0.25)
    os.kill(proc.pid, signal.SIGHUP)
    time.sleep(seconds * 0.25)
    workers = _children(proc.pid)
    if workers:
        os.kill(workers[0], signal.SIGTERM)
    time.sleep(seconds * 0.3)
    proc.send_signal(signal.SIGTERM)


def median(values: list[float]) -> float:
    return statistics.median(values)


def run(label: str, url: str, workdir: Path, args: argparse.Namespace) -> None:
    settings = make_settings(workdir, url)
    engine = make_engine(url)
    toks, links = seed(settings, engine, args.readers, workdir)
    share = len(toks) // args.rounds  # each round its own readers: first hits stay first
    files = []
    for r in range(args.rounds):
        mine = toks[r * share : (r + 1) * share]
        opens, clicks = workdir / f"opens{r}.txt", workdir / f"clicks{r}.txt"
        opens.write_text("".join(f"/o/{t}.gif\n" for t in mine))
        clicks.write_text("".join(f"/c/{links[i % 4]}/{t}\n" for i, t in enumerate(mine)))
        files.append((str(opens), str(clicks)))
    late = workdir / "late.txt"
    late.write_text("".join(f"/c/{links[4]}/{t}\n" for t in toks))
    proc, base = start_gunicorn(settings, workdir, workers=args.workers, threads=args.threads)
    phases: dict[str, list[dict]] = {"healthz": [], "opens": [], "clicks": []}
    try:
        wrk(base, "-", args, 2)  # warm-up
        for opens_file, clicks_file in files:  # interleaved: the machine's noise hits all three
            phases["healthz"].append(wrk(base, "-", args, args.seconds))
            phases["opens"].append(wrk(base, opens_file, args, args.seconds))
            phases["clicks"].append(wrk(base, clicks_file, args, args.seconds))
        killer = threading.Thread(target=restarts, args=(proc, args.seconds))
        killer.start()
        try:
            late_run = wrk(base, str(late), args, args.seconds)
        except subprocess.CalledProcessError:
            late_run = None
        killer.join()
        proc.wait(timeout=60)
    finally:
        stop(proc)
    report(label, phases, engine, links, late_run)
    engine.dispose()


def report(label: str, phases: dict, engine, links: list[int], late_run: dict | None) -> None:  # type: ignore[no-untyped-def]
    names = {
        "healthz": "GET /healthz (baseline)",
        "opens": "GET /o/<token>.gif",
        "clicks": "GET /c/<link>/<token>",
    }
    base = [r["rps"] for r in phases["healthz"]]
    for key, name in names.items():
        runs = phases[key]
        ratios = [r["rps"] / b for r, b in zip(runs, base, strict=True)]
        print(
            f"{label:10} {name:24} {sum(r['n'] for r in runs):7d} req  median "
            f"{median([r['rps'] for r in runs]):6.0f} req/s"
            + (
                f"  {median(ratios):4.2f}x healthz (rounds: "
                + ", ".join(f"{x:.2f}" for x in ratios)
                + ")"
                if key != "healthz"
                else ""
            )
            + f"  p50 {median([r['p50'] for r in runs]):5.1f} ms  p99 "
            + "/".join(f"{r['p99']:.0f}" for r in runs)
            + f" ms  errors {sum(r['status_errors'] + r['socket_errors'] for r in runs)}"
        )
    for name, key, ids in (("opens", "opens", [0]), ("clicks", "clicks", links[:4])):
        answered = sum(r["answered"] for r in phases[key])
        stored = recorded(engine, ids)
        print(
            f"{label:10} {name}: answered {answered}, recorded {stored}; "
            f"lost {max(0, answered - stored)}"
        )
    if late_run:
        stored = recorded(engine, [links[4]])
        print(
            f"{label:10} clicks through SIGHUP, a worker's SIGTERM and the server's SIGTERM: "
            f"answered {late_run['answered']}, recorded {stored}; lost "
            f"{max(0, late_run['answered'] - stored)} (socket errors {late_run['socket_errors']})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5, help="per phase")
    parser.add_argument("--rounds", type=int, default=3, help="healthz/opens/clicks rounds")
    parser.add_argument("--readers", type=int, default=60000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--pg-url", default=os.environ.get("TEST_DATABASE_URL", ""))
    parser.add_argument("--only", choices=["sqlite", "postgresql"], default=None)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/track.py needs Debian's wrk: apt-get install wrk")
    print(
        f"{os.cpu_count()} CPUs; gunicorn gthread {args.workers} workers x {args.threads} "
        f"threads; wrk, {args.concurrency} keep-alive connections, {args.seconds:g} s per "
        f"phase; {args.readers} readers"
    )
    loadgen.on_each_database(run, args.pg_url, args.only, args)


if __name__ == "__main__":
    main()
