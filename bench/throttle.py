"""Benchmark: a whole `newsletter send` through a relay that throttles, on DEFAULT settings: the
Postfix lab's second listener (127.0.0.1:2527) allows 10 connections and 500 messages per 10 s
per client, loopback included. Printed beside the limit's own time, N / 50 s (target: at most
1.3 times it), with what the ledger says. Nothing is asserted.

    bash ../shared/labs/postfix-lab.sh      # as root, once: starts the lab
    python bench/throttle.py [--messages 2000]
"""

from __future__ import annotations

import argparse
import json
import pwd
import secrets
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from sendrun import ROOT, Project, timed_send

LAB = ROOT.parent / "shared" / "labs" / "postfix-lab.sh"


def lab() -> dict[str, str]:
    out = subprocess.run(["bash", str(LAB)], capture_output=True, text=True, check=True).stdout
    pairs = (line.removeprefix("export ").partition("=") for line in out.splitlines())
    return {name: shlex.split(value)[0] for name, _, value in pairs if value}


def tidy(run: str) -> int:
    """Remove this run's messages from the lab's Maildirs (other tests share them)."""
    gone = 0
    for n in range(1, 6):
        for path in (Path(pwd.getpwnam(f"reader{n}").pw_dir) / "Maildir" / "new").iterdir():
            try:
                if f"+b{run}n".encode() in path.read_bytes()[:4096]:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                continue
    return gone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    n, env, run = args.messages, lab(), secrets.token_hex(3)
    domain = env["LAB_RCPT_DOMAIN"]
    limit = int(env["LAB_THROTTLE_MESSAGES"]) / int(env["LAB_THROTTLE_UNIT_S"])
    toml = (
        f'backend = "smtp"\nsmtp_port = {env["LAB_THROTTLED_PORT"]}\n'
        f'sender_address = "news@{domain}"\n'
    )
    work = Path(tempfile.mkdtemp(prefix="bench-throttle-"))
    try:
        project = Project.create(
            work / "p", n, toml, {}, address=lambda i: f"reader{1 + i % 5}+b{run}n{i}@{domain}"
        )
        sent = timed_send(project, "--list", "bench")
        summary = json.loads(sent.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    own = n / limit
    print(
        f"throttled Postfix ({env['LAB_THROTTLE_CONNECTIONS']} connections, "
        f"{env['LAB_THROTTLE_MESSAGES']} messages per {env['LAB_THROTTLE_UNIT_S']} s), "
        f"`newsletter send` of {n:,} on default settings:"
    )
    print(
        f"  {sent.seconds:.1f} s start to exit, beside the limit's own {own:.1f} s: "
        f"{sent.seconds / own:.2f}x (target <= 1.3x); peak memory {sent.peak_mb:.0f} MB; "
        f"ledger {summary['counts']}"
    )
    print(f"  (removed {tidy(run)} delivered messages of this run from the lab's Maildirs)")


if __name__ == "__main__":
    main()
