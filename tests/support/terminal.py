"""`newsletter ...` run on a real pseudo-terminal, as a person at a shell would see it."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from tests.support.sending import cli_environment

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def on_terminal(
    args: list[str],
    env: dict[str, str],
    cwd: Path,
    *,
    answers: dict[str, bytes] | None = None,
    stdout: int | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """Run `newsletter ARGS` with stdin, stderr and (unless `stdout` is given) stdout on a pty;
    type answers[prompt] when the output shows prompt. Returns (exit code, everything printed
    on the pty, ANSI codes removed)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "newsletter", *args],
        stdin=follower,
        stdout=follower if stdout is None else stdout,
        stderr=follower,
        cwd=cwd,
        env={**cli_environment(env), "COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(follower)
    out, pending = b"", dict(answers or {})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            for prompt in list(pending):
                if prompt in out.decode(errors="replace"):
                    os.write(leader, pending.pop(prompt))
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=10)
    os.close(leader)
    return code, ANSI.sub("", out.decode(errors="replace"))
