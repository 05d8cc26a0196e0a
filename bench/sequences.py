"""Sequences at scale (issue 26), the real `newsletter` commands as processes on default
settings (outbox backend), each figure beside its same-run baseline:

(a) 100,000 readers in a sequence, nothing due: `send-due` with the sequences folder, and the
    same run on the same database without it (target: at most 1 s more). Also the worst case:
    the same readers subscribed within the last minutes (enrolment re-reads what is within its
    look-back, `sequences.enrol.LOOKBACK`).
(b) 10,000 readers due for one step (the sample issue as the welcome step: the same message):
    `send-due`'s send rate, and `newsletter send` of that issue to 10,000 readers in the same
    run (target: at least 0.8x); four rounds, each on a fresh
    database, issue first in two and step first in the other two, the disk synced before each.

    PYTHONPATH=. python bench/sequences.py [--readers 100000] [--due 10000]

Each part on a fresh SQLite file in a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from loadgen import readers  # noqa: E402
from sqlalchemy import text, update  # noqa: E402

from newsletter.config import Settings  # noqa: E402
from newsletter.db import tables  # noqa: E402
from newsletter.db.clock import utcnow  # noqa: E402
from newsletter.db.engine import make_engine  # noqa: E402
from newsletter.sequences.enrol import enrol  # noqa: E402
from newsletter.sequences.files import load_sequences  # noqa: E402
from newsletter.sequences.registry import register  # noqa: E402
from newsletter.sequences.steps import ensure_send  # noqa: E402

ISSUE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"
STEP = "---\ntitle: {title}\nafter: {after}\n---\nHello {{{{ name }}}}, this is {title}.\n"


def _as_step(issue: str) -> str:
    """The sample issue as a step (the same message as the baseline's): `after: 0h` in place
    of what a step may not have."""
    kept = [
        line for line in issue.splitlines() if not line.startswith(("lists:", "send_at:", "date:"))
    ]
    kept.insert(1, "after: 0h")
    return "\n".join(kept) + "\n"


def project(folder: Path, url: str) -> dict[str, str]:
    (folder / "issues").mkdir(parents=True, exist_ok=True)
    seq = folder / "sequences" / "welcome"
    seq.mkdir(parents=True, exist_ok=True)
    (seq / "sequence.toml").write_text('lists = ["news"]\njoin = "everyone"\n', encoding="utf-8")
    (seq / "01-welcome.md").write_text(
        _as_step(ISSUE.read_text(encoding="utf-8")), encoding="utf-8"
    )
    (seq / "02-tips.md").write_text(STEP.format(title="Tips", after="2d"), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    return {**env, "DATABASE_URL": url, "NEWSLETTER_SECRET_KEY": "bench-secret-0123456789abcdef"}


def cli(folder: Path, env: dict[str, str], *args: str, **extra: str) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "newsletter", *args],
        cwd=folder,
        env={**env, "PYTHONPATH": str(ROOT), **extra},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"newsletter {' '.join(args)} failed: {done.stderr[-2000:]}")
    return seconds


def idle(folder: Path, url: str, n: int, recent: bool) -> tuple[float, float]:
    """(median send-due without the folder, with it) over 3 runs each, nothing due."""
    env = project(folder, url)
    engine = make_engine(url)
    readers(engine, n)
    m = tables.memberships
    if not recent:  # readers who joined a month ago, not within enrolment's look-back
        with engine.begin() as conn:
            conn.execute(update(m).values(subscribed_at=utcnow() - timedelta(days=30)))
    # Everyone in the sequence and past step 1 (sent), step 2 due in two days: nothing due.
    cli(folder, env, "send-due", NEWSLETTER_SEQUENCES_DIR="none-here")  # migrations done

    (seq,) = load_sequences(folder / "sequences")
    now = utcnow()
    with engine.begin() as conn:
        reg = register(conn, seq, [1], now)
        enrol(conn, reg, now)
    settings = Settings(database_url=url, secret_key="x" * 32)
    send_id = ensure_send(engine, settings, reg, seq.steps[0], [{"id": 1, "slug": "news"}])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deliveries (send_id, subscriber_id, email, status, attempts, detail,"
                " provider_id, updated_at, version) SELECT :s, subscriber_id, 'x', 'sent', 1, '',"
                " '', :t, 'v' FROM sequence_members"
            ),
            {"s": send_id, "t": now},
        )
        conn.execute(text("UPDATE sequence_members SET next_key = '02-tips'"))
    engine.dispose()
    without, with_ = [], []
    for _ in range(3):
        without.append(cli(folder, env, "send-due", NEWSLETTER_SEQUENCES_DIR="none-here"))
        with_.append(cli(folder, env, "send-due"))
    return statistics.median(without), statistics.median(with_)


def due(folder: Path, url: str, n: int, step_first: bool) -> tuple[float, float]:
    """(seconds of `send` of an issue to n readers, of `send-due` sending a step to the same
    readers), one after the other on one database, in the order asked."""
    env = project(folder, url)
    engine = make_engine(url)
    readers(engine, n)
    engine.dispose()
    timings = {}
    for what in ("step", "issue") if step_first else ("issue", "step"):
        shutil.rmtree(folder / "outbox", ignore_errors=True)
        os.sync()  # the files of the run before are on disk: neither run pays for the other's
        if what == "issue":
            timings[what] = cli(folder, env, "send", str(ISSUE), "--list", "news", "--yes")
        else:  # registers, enrols everyone, sends the welcome
            timings[what] = cli(folder, env, "send-due")
        _outbox_holds(folder, n)
    return timings["issue"], timings["step"]


def _outbox_holds(folder: Path, n: int) -> None:
    found = sum(1 for _ in (folder / "outbox" / "new").iterdir())
    if found != n:
        raise SystemExit(f"the outbox holds {found} messages, not {n}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, recent in (("a", False), ("a-recent", True)):
            url = f"sqlite:///{root / name}.db"
            without, with_ = idle(root / name, url, args.readers, recent)
            label = "joined 30 days ago" if not recent else "joined minutes ago"
            print(f"(a) {args.readers:,} readers in a sequence, nothing due ({label}):")
            print(f"    send-due without the sequences folder (baseline) {without:6.2f} s")
            print(
                f"    send-due with it                                 {with_:6.2f} s"
                f"  ({with_ - without:+.2f} s; target at most +1 s)"
            )
        rounds = [
            due(root / f"b{i}", f"sqlite:///{root / f'b{i}'}.db", args.due, i % 2 == 1)
            for i in range(4)
        ]
        issue = statistics.median(r[0] for r in rounds)
        step = statistics.median(r[1] for r in rounds)
        print(f"(b) {args.due:,} readers, outbox backend (medians of 4 rounds, order alternated):")
        print(
            f"    newsletter send of an issue (baseline) {issue:6.2f} s  {args.due / issue:7.0f}/s"
        )
        print(
            f"    send-due of a step                     {step:6.2f} s  {args.due / step:7.0f}/s"
            f"  ({issue / step:.2f}x; target at least 0.8x)"
        )
        print(
            "    rounds (issue s, step s): " + ", ".join(f"({a:.2f}, {b:.2f})" for a, b in rounds)
        )


if __name__ == "__main__":
    main()
