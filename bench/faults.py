"""Benchmark: what each production fault costs a send: sent, lost, doubled and `unknown`, and how
long the stop or the recovery took (issue 21). Default settings, SQLite, real processes:

- Ctrl-C during an SMTP send (replies 200 ms late), then `send --resume`: the stop's time from
  the signal to the exit, beside the same run's time for one reply (the floor of a stop that
  waits for what is on the network);
- SIGTERM to a `send` of two processes through the SendGrid stand-in (answers 250 ms late);
- the SMTP relay, then the SendGrid API, down for `--down` seconds in the middle of a send and
  back on the same port: the recovery time from its return to the next recorded message, beside
  the backoff step in force then (the target: within one step);
- PostgreSQL restarted (a private server, stopped and started) under a two-process SMTP send:
  the recovery time from its return to the next recorded message (target 5 s);
- the web app without its database: `bench/faults_web.py` (a private PostgreSQL stopped and
  started under gunicorn; target 5 s).

Lost = recipients neither delivered nor `unknown`; doubled = deliveries beyond one per address.
Usage: python bench/faults.py [--messages N] [--down S] [--db-down S] [--no-web]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sendrun import ISSUE, Project  # noqa: E402

from newsletter.db.engine import make_engine  # noqa: E402
from newsletter.sending import ledger  # noqa: E402
from newsletter.sending.sends import all_sends  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.private_postgres import PrivatePostgres, _bindir  # noqa: E402

SEND = ("send", ISSUE.stem, "--yes", "--list", "bench")


def counts(project: Project) -> dict[str, int]:
    engine = make_engine(project.url)
    try:
        with engine.connect() as conn:
            sends = all_sends(conn)
            return ledger.counts(conn, sends[0].id) if sends else {}
    finally:
        engine.dispose()


def spawn(project: Project, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "newsletter", *args]
    return subprocess.Popen(
        command, cwd=project.folder, env=project.env, text=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def until(condition, timeout: float = 300.0) -> float:  # type: ignore[no-untyped-def]
    """Poll `condition` every 20 ms; the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.02)
    return time.monotonic()


def smtp_sink(record: Path, port: int, latency_ms: int = 0) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.support.smtp_sink", "--fast", "--port", str(port)]
    command += ["--record", str(record), "--envelopes-only", "--latency-ms", str(latency_ms)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # type: ignore[union-attr]  # "listening on PORT"
    return proc


def standin(port: int, summary: Path, delay_ms: int = 0) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tests.support.sendgrid_standin", "--port", str(port)]
    command += ["--summary", str(summary), "--delay-ms", str(delay_ms), "--validate-every", "50"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()  # type: ignore[union-attr]
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


def delivered(record: Path) -> Counter[str]:
    found: Counter[str] = Counter()
    for line in record.read_text().splitlines():
        found.update(json.loads(line)["rcpt_tos"])
    return found


def row(name: str, sent: int, lost: int, doubled: int, unknown: int, timing: str) -> str:
    return f"{name:<34} {sent:>7,} {lost:>5} {doubled:>7} {unknown:>7}  {timing}"


def smtp_outcome(name: str, project: Project, record: Path, n: int, timing: str) -> str:
    c, got = counts(project), delivered(record)
    doubled = sum(v - 1 for v in got.values() if v > 1)
    unknown_delivered = len(got) - c.get("sent", 0)  # `unknown` whose end did arrive
    lost = n - len(got) - (c.get("unknown", 0) - unknown_delivered)
    return row(name, c.get("sent", 0), lost, doubled, c.get("unknown", 0), timing)


def ctrl_c(work: Path, n: int) -> str:
    record, port = work / "ctrlc.jsonl", free_port()
    project = Project.create(work / "ctrlc", n, f'backend = "smtp"\nsmtp_port = {port}\n', {})
    sink = smtp_sink(record, port, latency_ms=200)
    try:
        proc = spawn(project, *SEND)
        until(lambda: counts(project).get("sent", 0) >= n // 10)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=120)
        stopped = time.monotonic() - signalled
        code = proc.returncode
    finally:
        stop(sink)
    sink = smtp_sink(record, port)
    try:
        subprocess.run(
            [sys.executable, "-m", "newsletter", *SEND, "--resume"],
            cwd=project.folder, env=project.env, capture_output=True, check=True,
        )  # fmt: skip
    finally:
        stop(sink)
    timing = f"stop {stopped:.2f} s (exit {code}; one reply: 0.20 s)"
    return smtp_outcome("Ctrl-C (SMTP), then --resume", project, record, n, timing)


def sigterm_two_processes(work: Path, n: int) -> str:
    port, summary = free_port(), work / "sigterm.json"
    toml = f'backend = "sendgrid"\nsendgrid_api_host = "http://127.0.0.1:{port}"\n'
    env = {"SENDGRID_API_KEY": "SG.test-key", "NEWSLETTER_BATCH_SIZE": "100"}
    project = Project.create(work / "sigterm", n, toml, env)
    api = standin(port, summary, delay_ms=250)
    try:
        proc = spawn(project, *SEND, "--workers", "2")
        until(lambda: counts(project).get("sent", 0) >= n // 10)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        stopped, code = time.monotonic() - signalled, proc.returncode
        subprocess.run(
            [sys.executable, "-m", "newsletter", *SEND, "--resume"],
            cwd=project.folder, env=project.env, capture_output=True, check=True,
        )  # fmt: skip
    finally:
        stop(api)
    s, c = json.loads(summary.read_text()), counts(project)
    doubled = s["accepted"] - s["subscriber_ids_unique"]
    lost = n - s["subscriber_ids_unique"] - c.get("unknown", 0)
    timing = f"stop {stopped:.2f} s (exit {code}; one answer: 0.25 s)"
    name = "SIGTERM, 2 processes (SendGrid)"
    return row(name, c.get("sent", 0), lost, doubled, c.get("unknown", 0), timing)


def outage(
    project: Project, n: int, down: float, service: Callable[[bool], subprocess.Popen[str]]
) -> str:
    """A send while `service(first)` runs; it goes away for `down` seconds once a tenth is
    sent, then comes back; the recovery time from its return to the next recorded message."""
    running = service(True)
    proc = spawn(project, *SEND)
    until(lambda: counts(project).get("sent", 0) >= n // 10)
    stop(running)
    went = time.monotonic()
    time.sleep(down)  # the outage (a benchmark may wait out a fault it stages)
    before = counts(project).get("sent", 0)
    running = service(False)
    back = time.monotonic()
    try:
        resumed = until(lambda: counts(project).get("sent", 0) > before or proc.poll() is not None)
        proc.communicate(timeout=300)
    finally:
        stop(running)
    if counts(project).get("sent", 0) == before:  # all it had left was on the network
        return f"nothing left to send after the outage (down {back - went:.0f} s)"
    return f"recovered {resumed - back:.2f} s after its return (down {back - went:.0f} s)"


def smtp_down(work: Path, n: int, down: float) -> str:
    record, port = work / "down.jsonl", free_port()
    project = Project.create(work / "smtpdown", n, f'backend = "smtp"\nsmtp_port = {port}\n', {})
    timing = outage(project, n, down, lambda _first: smtp_sink(record, port, latency_ms=20))
    return smtp_outcome(f"SMTP relay down {down:g} s", project, record, n, timing)


def sendgrid_down(work: Path, n: int, down: float) -> str:
    port, first, then = free_port(), work / "sgdown-first.json", work / "sgdown.json"
    toml = f'backend = "sendgrid"\nsendgrid_api_host = "http://127.0.0.1:{port}"\n'
    env = {"SENDGRID_API_KEY": "SG.test-key", "NEWSLETTER_BATCH_SIZE": "100"}
    project = Project.create(work / "sgdown", n, toml, env)
    timing = outage(
        project, n, down, lambda is_first: standin(port, first if is_first else then, delay_ms=50)
    )
    accepted = sum(json.loads(f.read_text())["accepted"] for f in (first, then))
    c = counts(project)
    # the two stand-ins saw disjoint requests: a double shows as more accepted than sent
    doubled = accepted - c.get("sent", 0) - c.get("unknown", 0)
    lost = n - c.get("sent", 0) - c.get("unknown", 0)
    name = f"SendGrid down {down:g} s"
    return row(name, c.get("sent", 0), lost, max(0, doubled), c.get("unknown", 0), timing)


def postgres_restart(work: Path, n: int, down: float) -> str:
    """A two-process SMTP send on a private PostgreSQL server (initdb), stopped as a restart
    for an upgrade stops it once a tenth is sent, and started again `down` seconds later: the
    recovery time from the server's return to the next recorded message (target 5 s)."""
    bindir = _bindir()
    if bindir is None:
        return "PostgreSQL restart: skipped, no PostgreSQL server binaries (initdb)"
    root = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
    server = PrivatePostgres(bindir, root)
    server.init()
    server.start()
    record, port = work / "pg.jsonl", free_port()
    sink = smtp_sink(record, port, latency_ms=20)
    try:
        two = {"NEWSLETTER_SEND_WORKERS_FROM": "1000", "NEWSLETTER_SEND_WORKERS_MAX": "2"}
        toml = f'backend = "smtp"\nsmtp_port = {port}\n'
        project = Project.create(work / "pg", n, toml, two, url=server.create_database())
        proc = spawn(project, *SEND)
        until(lambda: counts(project).get("sent", 0) >= n // 10)
        server.stop()
        time.sleep(down)  # the outage (a benchmark may wait out a fault it stages)
        server.start()
        back = time.monotonic()
        before = counts(project).get("sent", 0)
        resumed = until(lambda: counts(project).get("sent", 0) > before or proc.poll() is not None)
        proc.communicate(timeout=600)
        timing = f"recovered {resumed - back:.2f} s after its return (down {down:g} s)"
        return smtp_outcome("PostgreSQL restart, 2 processes", project, record, n, timing)
    finally:
        stop(sink)
        with contextlib.suppress(RuntimeError):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--down", type=float, default=20.0, help="seconds a service is down")
    parser.add_argument("--db-down", type=float, default=5.0, help="seconds PostgreSQL is down")
    parser.add_argument("--no-web", action="store_true", help="skip bench/faults_web.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        work = Path(tmp)
        print(f"{args.messages:,} recipients a fault, default settings, SQLite unless named")
        print(f"{'fault':<34} {'sent':>7} {'lost':>5} {'doubled':>7} {'unknown':>7}  time")
        print(ctrl_c(work, args.messages), flush=True)
        print(sigterm_two_processes(work, args.messages), flush=True)
        print(smtp_down(work, args.messages, args.down), flush=True)
        print(sendgrid_down(work, args.messages, args.down), flush=True)
        print(postgres_restart(work, args.messages, args.db_down), flush=True)
    print("backoff after failed tries: 0.5 s doubling up to 30 s, jittered (target: one step)")
    if not args.no_web:
        print("\nthe web app without its database (bench/faults_web.py):", flush=True)
        subprocess.run([sys.executable, str(ROOT / "bench" / "faults_web.py")], check=False)


if __name__ == "__main__":
    main()
