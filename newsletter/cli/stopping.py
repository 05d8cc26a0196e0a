"""Ctrl-C and SIGTERM for the commands that send (`send`, `worker`, `send-due`).

The first signal asks the process's sends to stop gracefully (`sending.stopping.STOP`): nothing
new starts, what is on the network finishes for up to `stop_timeout` and is recorded, what was
claimed ahead goes back to the queue; the command then prints one line and exits 130 (SIGINT)
or 143 (SIGTERM). A second signal exits at once: the crash path, where what was on the network
is in doubt and the next run's recovery says so.

A `send`'s helper processes hear of the stop from the terminal (Ctrl-C reaches the whole
process group), from systemd (every process of the unit's cgroup), or from the parent, which
forwards its stop as `FORWARDED`: that signal only ever asks for the graceful stop, so a helper
that gets both the terminal's signal and its parent's does not take the second for "at once".
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import click

from newsletter.sending.stopping import FORWARDED, STOP

_SIGNALS = (signal.SIGINT, signal.SIGTERM, FORWARDED)


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Inside, SIGINT/SIGTERM stop gracefully (then `stopped_exit`), twice at once."""
    fired, first = threading.Event(), [0]

    def handler(signum: int, _frame: FrameType | None) -> None:
        # Runs in the main thread between two bytecodes: only flags and a raw write here, the
        # stop itself runs in `watch` (its listeners take locks the main thread may hold).
        if first[0] and signum != FORWARDED:
            os.write(2, b"stopping at once: what was on the network is in doubt\n")
            os._exit(128 + signum)
        if not first[0]:
            first[0] = signal.SIGTERM if signum == FORWARDED else signum
            fired.set()

    def watch() -> None:
        fired.wait()
        if first[0]:
            click.echo(
                "stopping: finishing what is on the network (up to stop_timeout); "
                "a second Ctrl-C stops at once",
                err=True,
            )
            STOP.ask(first[0])

    previous = {sig: signal.signal(sig, handler) for sig in _SIGNALS}
    watcher = threading.Thread(target=watch, name="stop-watcher", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        fired.set()  # let the watcher end (it asks only if a signal came)


def stopped_exit(line: str) -> None:
    """After a graceful stop: `line` on stderr, exit 130 (SIGINT) or 143 (SIGTERM)."""
    click.echo(f"stopped: {line}", err=True)
    sys.exit(128 + (STOP.signal if STOP.signal in (signal.SIGINT, signal.SIGTERM) else 15))


def stop_line(counts: dict[str, int], resume: str) -> str:
    """`1,234 sent, 8,766 left; continue with: RESUME` (and how many are in doubt)."""
    left = counts.get("queued", 0) + counts.get("claimed", 0)
    unknown = counts.get("unknown", 0)
    doubt = f", {unknown:,} unknown (no answer by stop_timeout)" if unknown else ""
    return f"{counts.get('sent', 0):,} sent, {left:,} left{doubt}; continue with: {resume}"


def replay_journals(ctx: click.Context) -> None:
    """Before anything else, a sending command records what an earlier run on this host
    delivered but could not record (its database stayed away): `sending.journal`."""
    from newsletter.cli.root import engine_from, settings_from
    from newsletter.sending.journal import replay

    folder = settings_from(ctx).effective_state_dir
    if done := replay(engine_from(ctx), folder):
        click.echo(f"recorded {done:,} delivered result(s) from an earlier run's journal", err=True)
