"""Under the real server (gunicorn, several worker processes), on both databases: bursts and
trap hits are judged through the database whichever process takes each hit, and a worker
restart or a SIGTERM loses no hit that was answered."""

from __future__ import annotations

import http.client
import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from newsletter.db import tables
from tests.support.tracking import BROWSER, LINKS, link_id, send_tracked, stored_hits
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def fetch(base: str, url: str, agent: str = BROWSER) -> int:
    """GET the path of `url` on the server at `base` (a new connection); the status."""
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", urlsplit(url).path, headers={"User-Agent": agent})
        return conn.getresponse().status
    finally:
        conn.close()


def test_bursts_and_traps_are_judged_across_server_processes(web, live_server):
    mails = send_tracked(web, ["ann@example.org", "bob@example.org", "cy@example.org"])
    ann, bob, cy = (mails[e] for e in ("ann@example.org", "bob@example.org", "cy@example.org"))
    one, two = live_server(workers=2, threads=1), live_server(workers=2, threads=1)
    # ann: three links, alternating between two servers (so at least two processes).
    for base, target in zip((one, two, one), LINKS[:3], strict=True):
        assert fetch(base, ann.clicks[target]) == 302
    # bob: three links at the same moment, on both servers at once.
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(fetch, (one, two, two), (bob.clicks[t] for t in LINKS[1:4])))
    assert answers == [302, 302, 302]
    # cy: a click, the trap on the other server, a click after it.
    assert fetch(one, cy.clicks[LINKS[0]]) == 302
    assert fetch(two, cy.trap) == 302
    assert fetch(one, cy.clicks[LINKS[3]]) == 302
    rows = stored_hits(web.engine)
    by = {
        who.subscriber_id: [r[2:4] for r in rows if r[0] == who.subscriber_id]
        for who in (ann, bob, cy)
    }
    assert by[ann.subscriber_id] == [("machine", "machine:burst")] * 3
    assert by[bob.subscriber_id] == [("machine", "machine:burst")] * 3
    assert by[cy.subscriber_id] == [("machine", "machine:trap")] * 3
    assert sum(r[4] for r in rows) == 9


def _children(pid: int) -> list[int]:
    """Worker processes of a gunicorn master (its direct children)."""
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry))
    return out


class Load:
    """Four threads fetching `urls` from `base` until stopped, counting the answered hits."""

    def __init__(self, base: str, urls: list[str]):
        self.base, self.urls = base, urls
        self.answered: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(n,)) for n in range(4)]

    def _run(self, offset: int) -> None:
        i = offset
        while not self.stop.is_set():
            url = self.urls[i % len(self.urls)]
            i += 7
            try:
                status = fetch(self.base, url)
            except OSError:  # between workers, or stopped: not answered, not counted
                self.stop.wait(0.01)
                continue
            if status in (200, 302):
                with self.lock:
                    self.answered[url] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.answered.values())

    def more_answered(self, what: str, n: int = 30) -> None:
        """Wait until `n` more hits have been answered than now."""
        goal = self.total() + n
        wait_until(lambda: self.total() >= goal, what=f"{n} more hits answered {what}")


def test_no_answered_hit_is_lost_on_worker_restarts_or_sigterm(web, live_server):
    """Hits go on while every worker is replaced (SIGHUP), one worker is told to stop and the
    server is told to stop; each step waits for the event (workers replaced, hits answered
    again), not a fixed time. Every answered hit is recorded."""
    from tests.support import web_server

    emails = [f"reader{i}@example.org" for i in range(12)]
    mails = send_tracked(web, emails)
    urls = [m.clicks[t] for m in mails.values() for t in LINKS] + [m.pixel for m in mails.values()]
    proc, base = web_server.start_gunicorn(web.settings, web.workdir, workers=2, threads=2)
    load = Load(base, urls)
    try:
        for t in load.threads:
            t.start()
        load.more_answered("before the reload")
        first = set(_children(proc.pid))
        os.kill(proc.pid, signal.SIGHUP)  # graceful reload: every worker replaced
        wait_until(lambda: _replaced(proc.pid, first), what="every worker replaced")
        load.more_answered("by the new workers")
        victim = _children(proc.pid)[0]
        os.kill(victim, signal.SIGTERM)  # one worker told to stop
        wait_until(lambda: _replaced(proc.pid, {victim}), what="the stopped worker replaced")
        load.more_answered("after the replacement")
        proc.send_signal(signal.SIGTERM)  # the server told to stop, mid-load
        proc.wait(timeout=30)
    finally:
        load.stop.set()
        for t in load.threads:
            t.join()
        web_server.stop(proc)
    recorded: Counter[tuple[int, int]] = Counter()
    for subscriber_id, link, _verdict, _reason, hits in stored_hits(web.engine):
        recorded[(subscriber_id, link)] += hits
    for url, n in load.answered.items():
        mail = next(m for m in mails.values() if url in (m.pixel, *m.clicks.values()))
        key = (mail.subscriber_id, 0 if url == mail.pixel else link_id(url))
        assert recorded[key] >= n, (url, recorded[key], n)
    with web.engine.connect() as conn:
        total = conn.execute(select(func.sum(tables.tracking_hits.c.hits))).scalar()
    assert total >= load.total()


def _replaced(master: int, gone: set[int]) -> bool:
    """Are none of the `gone` workers left, and two workers running again?"""
    now = set(_children(master))
    return not now & gone and len(now) == 2
