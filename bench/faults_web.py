"""The web app through a PostgreSQL restart (issue 21, point 5): how long after the database is
back do one-click unsubscribes succeed again, with gunicorn left running.

A throwaway PostgreSQL server of its own (initdb in a temporary folder; the machine's shared
server is never touched), N subscribers, gunicorn as deployed (gthread). Client threads post
one-click unsubscribes the way mail providers do, retrying each 503. Each round stops the
server (`pg_ctl stop -m fast`, as a restart for an upgrade does), keeps it down for --down
seconds, starts it again, and measures, from the moment a fresh psycopg connection from this
process first succeeds (the baseline: the database itself is back, polled every 5 ms), the
recovery of the app: the first one-click answered 200, and /healthz answering 200 ten times
running (so every worker has its pool back). Target: 5 s.

It also counts every answer: 200s (each must be recorded: "lost" counts those that are not),
503s (each with Retry-After) and anything else.

    python bench/faults_web.py [--subscribers 4000] [--rounds 3] [--down 3] [--clients 4]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from newsletter import tokens  # noqa: E402
from newsletter.audience.lists import create_list  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402
from tests.support.private_postgres import PrivatePostgres, _bindir  # noqa: E402
from tests.support.sending import populate  # noqa: E402
from tests.support.web_server import (  # noqa: E402
    drain_output,
    make_settings,
    start_gunicorn,
    stop,
)


def _status(url: str, data: bytes | None = None) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, r.headers.get("Retry-After")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Retry-After")
    except OSError:
        return 0, None


class Providers:
    """Client threads posting one-click unsubscribes in turn, each retried until it is 200."""

    def __init__(self, base: str, links: list[str], clients: int):
        self.base, self.todo, self.lock = base, list(reversed(links)), threading.Lock()
        self.answers: Counter[str] = Counter()
        self.ok: list[str] = []
        self.first_ok_after: dict[float, float] = {}
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while True:
            with self.lock:
                if not self.todo:
                    return
                link = self.todo.pop()
            while True:
                status, retry_after = _status(self.base + link, b"List-Unsubscribe=One-Click")
                kind = f"{status}" + (" with Retry-After" if retry_after else "")
                with self.lock:
                    self.answers[kind] += 1
                    if status == 200:
                        self.ok.append(link)
                        for mark in self.first_ok_after:
                            self.first_ok_after[mark] = self.first_ok_after[mark] or time.time()
                        break


def _wait(condition, timeout: float = 60.0) -> float:  # type: ignore[no-untyped-def]
    """Poll `condition` every 5 ms; the time it first held (or raise)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return time.time()
        time.sleep(0.005)
    raise TimeoutError("not within 60 s")


def _healthy_ten_times(base: str) -> bool:
    return all(_status(base + "/healthz")[0] == 200 for _ in range(10))


def _first_connect(server: PrivatePostgres, found: list[float]) -> None:
    """Try a fresh connection every 5 ms until one succeeds; note when."""
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
        except psycopg.OperationalError:
            time.sleep(0.005)
            continue
        found.append(time.time())
        return


def _round(server: PrivatePostgres, base: str, providers: Providers, down: float) -> str:
    server.stop()
    _wait(lambda: _status(base + "/healthz")[0] == 503)
    time.sleep(down)
    mark = time.time()
    providers.first_ok_after[mark] = 0.0
    connected: list[float] = []
    poller = threading.Thread(target=_first_connect, args=(server, connected), daemon=True)
    poller.start()
    server.start()
    poller.join()
    back = connected[0]  # the database accepts connections again: the baseline
    healthy = _wait(lambda: _healthy_ten_times(base)) - back
    _wait(lambda: providers.first_ok_after[mark] > 0)
    first = providers.first_ok_after[mark] - back
    return (
        f"first one-click 200 {first * 1000:5.0f} ms, /healthz 200 ten times running "
        f"{healthy * 1000:5.0f} ms after a new connection from this process first succeeded "
        f"(baseline: that took {(back - mark) * 1000:.0f} ms from `pg_ctl start`)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--down", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    bindir = _bindir()
    if bindir is None:
        sys.exit("needs the PostgreSQL server binaries (initdb)")
    root = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    work = Path(tempfile.mkdtemp(prefix="newsletter-faults-web-"))
    server = PrivatePostgres(bindir, root)
    server.init()
    server.start()
    proc = None
    try:
        url = server.create_database()
        engine = make_engine(url)
        news = create_list(engine, "news", "The News")["id"]
        populate(engine, "news", args.subscribers)
        settings = make_settings(work, url)
        signer = tokens.signer_for(settings, allow_generated=False)
        links = [
            f"/unsubscribe/{signer.make('unsubscribe', i, news)}"
            for i in range(1, args.subscribers + 1)
        ]
        proc, base = start_gunicorn(settings, work, workers=args.workers, threads=1)
        drain_output(proc)  # one log line per 503
        providers = Providers(base, links, args.clients)
        for thread in providers.threads:
            thread.start()
        print(
            f"gunicorn {args.workers} workers x 1 thread, {args.clients} clients posting "
            f"one-click unsubscribes; PostgreSQL down {args.down:g} s per round"
        )
        for number in range(1, args.rounds + 1):
            if not providers.todo:
                print("(every subscriber unsubscribed: raise --subscribers)")
                break
            print(f"round {number}: {_round(server, base, providers, args.down)}")
        with providers.lock:
            providers.todo.clear()
        for thread in providers.threads:
            thread.join()
        engine.dispose()
        with psycopg.connect(url) as conn:
            recorded = conn.execute(
                "SELECT count(*) FROM memberships WHERE status = 'unsubscribed'"
            ).fetchone()[0]
        answers = ", ".join(f"{n} {kind}" for kind, n in sorted(providers.answers.items()))
        print(f"answers: {answers}")
        print(f"answered 200: {len(providers.ok)}, recorded: {recorded}, "
              f"lost (200 but not recorded): {len(providers.ok) - recorded}")  # fmt: skip
    finally:
        if proc is not None:
            stop(proc)
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
