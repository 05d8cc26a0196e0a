"""SendGrid path at scale: N subscribers in the database -> the real `newsletter send` command
(ledger, claims, suppression re-checks, tokens, backend) -> a local SendGrid stand-in process.

Prints wall time, recipients/s and the send process's peak memory, next to two baselines
measured in the same run: a raw INSERT ... SELECT of N ledger rows, and the stand-in alone
receiving pre-built 1000-recipient payloads over one connection. By default the send runs four
times in the run, click and open tracking off, on, on, off (`--tracking both|on|off`), and
prints the ratio of the time with tracking on to the time with it off.

    python bench/send.py                 # 1,000,000 subscribers, SQLite
    python bench/send.py --n 100000 --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from newsletter.audience.lists import create_list  # noqa: E402
from newsletter.db import tables  # noqa: E402
from newsletter.db.clock import utcnow  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402

KEY = "SG.bench-key"


def populate(engine, n: int) -> int:  # type: ignore[no-untyped-def]
    list_id = create_list(engine, "bench", "Bench")["id"]
    now = utcnow()
    chunk = 50_000
    for start in range(0, n, chunk):
        ids = range(start + 1, min(n, start + chunk) + 1)
        with engine.begin() as conn:
            conn.execute(
                insert(tables.subscribers),
                [
                    {
                        "id": i,
                        "email": f"user{i}@example.com",
                        "email_key": f"user{i}@example.com",
                        "name": f"User {i}",
                        "attributes": {},
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(tables.memberships),
                [
                    {
                        "subscriber_id": i,
                        "list_id": list_id,
                        "status": "subscribed",
                        "source": "b",
                        "created_at": now,
                        "updated_at": now,
                    }
                    for i in ids
                ],
            )
    return list_id


def baseline_insert(engine, list_id: int) -> float:  # type: ignore[no-untyped-def]
    """Raw INSERT ... SELECT of every member into a scratch copy of the ledger table."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE scratch AS SELECT * FROM deliveries WHERE 1 = 0"))
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scratch (send_id, subscriber_id, email, status, attempts, detail, "
                "provider_id, updated_at) SELECT 0, s.id, s.email, 'queued', 0, '', '', "
                "s.updated_at FROM subscribers s JOIN memberships m ON m.subscriber_id = s.id "
                "WHERE m.list_id = :l AND m.status = 'subscribed'"
            ),
            {"l": list_id},
        )
    took = time.perf_counter() - t
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE scratch"))
    return took


def start_standin(port_file: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.sendgrid_standin",
            "--api-key",
            KEY,
            "--validate-every",
            "100",
            "--summary",
            str(port_file),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    return proc, int(line.split()[-1])


def stop_standin(proc: subprocess.Popen, summary: Path) -> dict:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    return json.loads(summary.read_text())


def baseline_standin(port: int, n: int) -> float:
    """The stand-in alone: pre-built 1000-recipient bodies posted back to back."""
    body = json.dumps(
        {
            "from": {"email": "newsletter@example.com"},
            "subject": "s",
            "content": [
                {"type": "text/plain", "value": "x" * 3000},
                {"type": "text/html", "value": "<p>" + "x" * 20000 + "</p>"},
            ],
            "personalizations": [
                {
                    "to": [{"email": f"user{i}@example.com"}],
                    "substitutions": {"__NL_UNSUBSCRIBE_URL__": "https://e.org/u/" + "t" * 80},
                    "headers": {"List-Unsubscribe": "<https://e.org/u/" + "t" * 80 + ">"},
                    "custom_args": {"send_id": "0", "subscriber_id": str(i)},
                }
                for i in range(1000)
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port)
    t = time.perf_counter()
    for _ in range(n // 1000):
        conn.request(
            "POST",
            "/v3/mail/send",
            body,
            {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        conn.getresponse().read()
    return time.perf_counter() - t


def one_send(
    work: Path,
    issues: Path,
    url: str,
    args: argparse.Namespace,
    summary: Path,
    tracking: bool,
    number: int,
) -> float:
    """One `newsletter send` of a copy of the sample issue (a new issue id, so the ledger lets
    it go to the same audience again) with click and open tracking on or off; its wall time."""
    proc, port = start_standin(summary)
    name = f"2019-03-01-hanoi-summit-{number}-tracking-{'on' if tracking else 'off'}.md"
    issue = shutil.copy(ROOT / "issues" / "2019-03-01-hanoi-summit.md", issues / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(
        DATABASE_URL=url,
        SENDGRID_API_KEY=KEY,
        NEWSLETTER_SECRET_KEY="b" * 32,
        NEWSLETTER_SENDGRID_API_HOST=f"http://127.0.0.1:{port}",
        NEWSLETTER_BATCH_SIZE="1000",
        NEWSLETTER_TRACK_CLICKS=str(tracking).lower(),
        NEWSLETTER_TRACK_OPENS=str(tracking).lower(),
        PYTHONPATH=str(ROOT),
    )
    out_file, err_file = work / "send.out", work / "send.err"
    t = time.perf_counter()
    with open(out_file, "wb") as out, open(err_file, "wb") as err:
        prof = ["-m", "cProfile", "-o", str(Path(args.profile).resolve())] * bool(args.profile)
        send = subprocess.Popen(
            [
                sys.executable,
                *prof,
                "-m",
                "newsletter",
                "send",
                str(issue),
                "--list",
                "bench",
                "--backend",
                "sendgrid",
                "--yes",
                "--json",
                "--workers",
                str(args.workers),
            ],
            cwd=work,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(send.pid, 0)  # rusage of this one process
    wall = time.perf_counter() - t
    peak_mb = usage.ru_maxrss / 1024  # the main send process (each helper is similar)
    got = stop_standin(proc, summary)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"send failed: {err_file.read_text()[-2000:]}")
    result = json.loads(out_file.read_text())
    print(
        f"send command, tracking {'on' if tracking else 'off'}: {args.n:,} recipients in "
        f"{wall:.1f} s = {args.n / wall:,.0f} recipients/s with {args.workers} worker "
        f"process(es), peak memory {peak_mb:.0f} MB per process; ledger {result['counts']}"
    )
    print(
        f"stand-in accepted {got['accepted']:,} ({got['subscriber_ids_unique']:,} "
        f"distinct) in {got['requests']:,} requests, {got['rejected']} rejected"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--workers", type=int, default=2, help="`send --workers` (processes)")
    parser.add_argument("--profile", default="", help="write a cProfile of the send process here")
    parser.add_argument(
        "--tracking",
        choices=["both", "on", "off"],
        default="both",
        help="click and open tracking in the send; both: off, on, on, off, compared in one run",
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-send-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    if url.startswith("postgres"):
        engine = make_engine(url, upgrade=False)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA IF EXISTS bench_send CASCADE"))
            conn.execute(text("CREATE SCHEMA bench_send"))
        engine.dispose()
        url += ("&" if "?" in url else "?") + "options=-csearch_path%3Dbench_send"
    engine = make_engine(url)
    try:
        t = time.perf_counter()
        list_id = populate(engine, args.n)
        print(f"setup: {args.n:,} subscribers loaded in {time.perf_counter() - t:.1f} s")
        raw = baseline_insert(engine, list_id)
        print(f"baseline, raw INSERT ... SELECT of {args.n:,} ledger rows: {raw:.2f} s")

        summary = work / "standin.json"
        proc, port = start_standin(summary)
        alone = baseline_standin(port, min(args.n, 200_000))
        stop_standin(proc, summary)
        sent_alone = min(args.n, 200_000)
        print(
            f"baseline, stand-in alone with pre-built payloads: {sent_alone / alone:,.0f} "
            f"recipients/s ({sent_alone:,} in {alone:.1f} s)"
        )

        issues = work / "issues"
        issues.mkdir()
        # both: off, on, on, off (each send meets a ledger grown by the ones before it, so the
        # order ABBA cancels that drift); the same audience, in one run.
        modes = {"both": [False, True, True, False], "on": [True], "off": [False]}
        walls: dict[bool, float] = {}
        for i, tracking in enumerate(modes[args.tracking]):
            wall = one_send(work, issues, url, args, summary, tracking, i)
            walls[tracking] = walls.get(tracking, 0.0) + wall
        if len(walls) == 2:
            print(
                f"tracking on / off: {walls[True] / walls[False]:.3f} of the time "
                f"({(walls[True] / walls[False] - 1) * 100:+.1f}%, sums of two sends each)"
            )
    finally:
        engine.dispose()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
