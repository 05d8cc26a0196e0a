"""The pre-flight gate of every send path (`send`, `send-due`, `test-send`), in the CLI and not
in `sending.plan.prepare`: what it refuses is about the operator's set-up, and a library caller
(tests, benchmarks) drives the engine directly.

On every backend `check`'s errors refuse the send, with `check`'s own lines; its warnings are
printed. On smtp and sendgrid, mail reaches real readers, so the shipped placeholders, a site
they cannot reach, addresses that cannot receive mail (`config.preflight`) and text left from
the `newsletter new` skeleton refuse it too. `--force-preflight` sends anyway (the send records
it in its options); the outbox keeps its zero-set-up defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import SendError

if TYPE_CHECKING:
    from newsletter.config import Settings

FORCE_FLAG = "--force-preflight"
FORCE_HELP = "Send even though the pre-flight checks refuse it (recorded with the send)."


@dataclass
class Verdict:
    lines: list[str] = field(default_factory=list)  # in file order, then the settings
    errors: int = 0

    def add(self, line: str, refused: bool) -> None:
        self.lines.append(line)
        self.errors += refused


def verdict(settings: Settings, path: Path, backend: str) -> Verdict:
    """Every line the gate prints for a send of the issue at `path` through `backend`."""
    from newsletter.authoring.lint import check_issue
    from newsletter.authoring.skeleton_text import is_skeleton_problem
    from newsletter.config.preflight import REAL_BACKENDS, real_send_findings

    found = Verdict()
    real = backend in REAL_BACKENDS
    for problem in sorted(check_issue(path, settings), key=lambda p: (p.path, p.line)):
        refused = problem.severity == "error" or (real and is_skeleton_problem(problem))
        line = str(problem).replace(": warning: ", ": error: ", 1) if refused else str(problem)
        found.add(line, refused)
    for finding in real_send_findings(settings, backend):
        found.add(str(finding), finding.severity == "error")
    return found


def preflight(
    settings: Settings,
    path: Path,
    backend: str,
    *,
    force: bool,
    say: Callable[[str], None],
) -> None:
    """Print the gate's lines with `say`; raise SendError when it refuses (unless `force`)."""
    found = verdict(settings, path, backend)
    for line in found.lines:
        say(line)
    if not found.errors:
        return
    count = f"{found.errors} problem{'s' if found.errors != 1 else ''}"
    if force:
        say(f"warning: {FORCE_FLAG}: sending {path.stem} despite {count}")
        return
    raise SendError(
        f"pre-flight: {count} above stop this send of {path.stem} via {backend}; fix them, or "
        f"pass {FORCE_FLAG} to send anyway"
    )


def settings_gate(settings: Settings, *, force: bool, say: Callable[[str], None]) -> None:
    """The settings half of the gate, for mail that is no issue (`subscribers
    confirm-request`): refuse the shipped placeholders on smtp and sendgrid."""
    from newsletter.config.preflight import real_send_findings

    refused = 0
    for finding in real_send_findings(settings, settings.backend):
        say(str(finding))
        refused += finding.severity == "error"
    if refused and not force:
        raise SendError(
            f"pre-flight: {refused} problem(s) above stop these mails via {settings.backend}; "
            f"fix them, or pass {FORCE_FLAG} to send anyway"
        )
