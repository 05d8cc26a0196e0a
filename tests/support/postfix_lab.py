"""The Postfix lab beside the project (../shared/labs/postfix-lab.sh): a real Postfix on
127.0.0.1:2526, a second listener on 2527 that throttles like a busy relay, local Maildirs for
reader1..reader5 at lab.example. The `lab` fixture starts it (root only) and gives its exports;
the lab is shared by everything on the machine, so tests pick out their own messages by tags."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

LAB = Path(__file__).resolve().parents[3] / "shared" / "labs" / "postfix-lab.sh"


@pytest.fixture
def lab() -> dict[str, str]:
    if not LAB.exists() or os.geteuid() != 0:
        why = f"the Postfix lab needs {LAB} and root"
        if os.environ.get("NEWSLETTER_TEST_REQUIRE_MAIL_SERVERS"):
            pytest.fail(why)
        pytest.skip(why)
    started = subprocess.run(
        ["bash", str(LAB)], capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    assert started.returncode == 0, started.stderr[-2000:]
    exports = {}
    for line in started.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        exports[name] = shlex.split(value)[0] if value else ""
    return exports
