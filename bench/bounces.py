"""Benchmark: `newsletter mailbox` on a Maildir of full-size returned mail (100,000 by default).

Every message is shaped like the DSN Postfix writes (it returns the whole original message:
about 30 KB each, made from a DSN captured from the Postfix lab with its tag replaced): hard,
soft and blocked bounces, delay notices and ARF complaints, about recipients of five sends to
20,000 subscribers on SQLite. Two figures, measured in the same run, each in its own child
process with its wall time and peak RSS (ru_maxrss from wait4):

- baseline: a Python loop that only reads every file of the Maildir once;
- mailbox:  `newsletter mailbox DIR --json` on the default settings (two reading processes).

    python bench/bounces.py [--messages 100000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CAPTURE = ROOT / "tests" / "fixtures" / "bounces" / "postfix-lab-unknown-user-ghost2.eml"
CAPTURED_TAG = "c1a3b75132b4127c2efd9dbccc6874b6"
KEY = "bench-secret-key-0123456789abcdef"
SENDS = 5

BASELINE = """
import os, sys
n = size = 0
for folder in ("new", "cur"):
    with os.scandir(os.path.join(sys.argv[1], folder)) as entries:
        for entry in entries:
            with open(entry.path, "rb") as f:
                size += len(f.read())
            n += 1
print(n, size)
"""

# (share, Status, Diagnostic-Code) of the failed DSNs; the rest are delays and complaints
KINDS = [
    (0.60, "5.1.1", 'X-Postfix; unknown user: "reader{n}"'),
    (0.15, "5.2.2", "smtp; 552 5.2.2 <reader{n}@example.org>: mailbox full"),
    (0.10, "5.7.1", "smtp; 550 5.7.1 client host blocked using zen.spamhaus.org"),
]


def _database(url: str, subscribers: int) -> None:
    """A list of `subscribers` and SENDS finished sends to all of them (rows `sent`)."""
    from sqlalchemy import insert

    from newsletter.db import tables
    from newsletter.db.clock import utcnow
    from newsletter.db.engine import make_engine

    engine = make_engine(url)
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(insert(tables.lists).values(id=1, slug="news", name="News", created_at=now))
        people = [
            {"id": i, "email": f"reader{i}@example.org", "email_key": f"reader{i}@example.org",
             "name": "", "attributes": {}, "created_at": now, "updated_at": now}
            for i in range(1, subscribers + 1)
        ]  # fmt: skip
        conn.execute(insert(tables.subscribers), people)
        conn.execute(
            insert(tables.memberships),
            [{"subscriber_id": p["id"], "list_id": 1, "status": "subscribed", "source": "bench",
              "created_at": now, "updated_at": now} for p in people],
        )  # fmt: skip
        for send_id in range(1, SENDS + 1):
            conn.execute(
                insert(tables.sends).values(
                    id=send_id, issue_id=f"issue-{send_id}", list_slugs=["news"], status="done",
                    backend="smtp", subject="s", html="h", text="t", source_hash="x", options={},
                    created_at=now,
                )
            )  # fmt: skip
            conn.execute(
                insert(tables.deliveries),
                [{"send_id": send_id, "subscriber_id": p["id"], "email": p["email"],
                  "status": "sent", "attempts": 1, "detail": "250 ok", "provider_id": "",
                  "updated_at": now} for p in people],
            )  # fmt: skip
    engine.dispose()


def _message(template: str, tag: str, n: int, rnd: random.Random) -> str:
    text = template.replace(CAPTURED_TAG, tag).replace("ghost2", f"reader{n}")
    draw, acc = rnd.random(), 0.0
    for share, status, diagnostic in KINDS:
        acc += share
        if draw < acc:
            return text.replace("Status: 5.1.1", f"Status: {status}").replace(
                f'X-Postfix; unknown user: "reader{n}"', diagnostic.format(n=n)
            )
    if draw < 0.93:
        return text.replace("Action: failed", "Action: delayed").replace("5.1.1", "4.4.1")
    report = "Feedback-Type: abuse\nUser-Agent: BenchFBL/1.0\nVersion: 1\n\nX-Ignored: x"
    return text.replace("report-type=delivery-status", "report-type=feedback-report").replace(
        "Content-Type: message/delivery-status",
        "Content-Type: message/feedback-report\n\n" + report,
    )


def _maildir(box: Path, messages: int) -> int:
    from newsletter.tokens import Signer

    signer = Signer([KEY])
    template = CAPTURE.read_text(encoding="utf-8")
    rnd = random.Random(13)
    subscribers = -(-messages // SENDS)
    for sub in ("new", "cur", "tmp"):
        (box / sub).mkdir(parents=True)
    size = 0
    for i in range(messages):
        send_id, n = i // subscribers + 1, i % subscribers + 1
        tag = signer.recipient_tag(send_id, n, purpose="return-path")
        data = _message(template, tag, n, rnd).encode()
        (box / "new" / f"{1700000000 + i}.M{i}P1.bench").write_bytes(data)
        size += len(data)
    return size


def _child(args: list[str], env: dict[str, str]) -> tuple[float, float, float, str]:
    """(wall seconds, CPU seconds, peak RSS in MB, stdout) of one child process (with the
    processes it started and waited for)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            sys.exit(f"{' '.join(args[:4])} failed: {err.read().decode()[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--keep", default="", help="work in this folder and keep it")
    parser.add_argument("--prepare", default="", help=argparse.SUPPRESS)  # the child's job
    opts = parser.parse_args()
    if opts.prepare:
        work = Path(opts.prepare)
        _database(f"sqlite:///{work / 'bench.db'}", -(-opts.messages // SENDS))
        size = _maildir(work / "Maildir", opts.messages)
        print(f"  {size / opts.messages / 1024:.1f} KB a message, {size / 2**30:.2f} GB in all")
        return
    work = Path(opts.keep or tempfile.mkdtemp(prefix="nl-bench-bounces-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        url = f"sqlite:///{work / 'bench.db'}"
        print(f"preparing {opts.messages:,} messages in {work} ...", flush=True)
        # in a child, so that this process stays small: a child's peak RSS starts at its
        # parent's size when it is forked
        prepare = [sys.executable, __file__, "--messages", str(opts.messages), "--prepare"]
        subprocess.run([*prepare, str(work)], check=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
        env.update(DATABASE_URL=url, NEWSLETTER_SECRET_KEY=KEY, PYTHONPATH=str(ROOT))
        base = _child([sys.executable, "-c", BASELINE, str(work / "Maildir")], env)
        cmd = [sys.executable, "-m", "newsletter", "mailbox", str(work / "Maildir"), "--json"]
        run = _child(cmd, env)
        report = json.loads(run[3])
        assert report["read"] == opts.messages, report["summary"]
        for label, (wall, cpu, rss, _) in (
            ("baseline (read every file once)", base),
            ("newsletter mailbox", run),
        ):
            print(
                f"{label:<32} {wall:6.1f} s wall {cpu:6.1f} s CPU  peak RSS {rss:5.0f} MB  "
                f"{opts.messages / wall:8,.0f} messages/s"
            )
        print(f"  mailbox / baseline: {run[0] / base[0]:.1f}x the wall time")
        print(f"  {report['summary']}")
    finally:
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
