"""`send-due`: find issues whose `send_at` has passed and start or resume their sends, once.

Safe to run from cron every minute, concurrently and on several machines: each issue's send is
guarded by a database lock (`locks`), and the ledger makes a joined or resumed send deliver
to nobody twice. An issue more than `max_late` past its `send_at` and never started is reported,
not sent: a restored backup or a long outage must not mail last month's issue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from newsletter.audience.lists import list_ids_for
from newsletter.authoring.issue_file import parse_issue
from newsletter.config import Settings
from newsletter.db.clock import utcnow
from newsletter.db.connection import reading
from newsletter.errors import ConfigError, NewsletterError
from newsletter.models import Issue
from newsletter.sending import ab_phase, locks, notices, sends
from newsletter.sending.plan import SendOptions, prepare
from newsletter.sending.send import execute
from newsletter.sending.stopping import STOP
from newsletter.times import parse_duration as parse_duration  # its home is the kernel now

# What send-due does with an issue now.
INVALID = "invalid"  # the file has errors: reported, skipped (exit non-zero)
WAITING = "waiting"  # send_at still ahead
DUE = "due"  # send_at passed, never started: start it
RESUME = "resume"  # a send was started and is unfinished: resume it
STALE = "stale"  # more than max_late past send_at and never started: reported, not sent
DONE = "done"  # already sent
CANCELLED = "cancelled"  # cancelled by an operator: left alone


@dataclass(frozen=True)
class Entry:
    path: Path
    issue: Issue | None
    state: str
    detail: str
    now: datetime | None = None  # `--now` (only): a subject-line test's wait runs on its clock

    @property
    def issue_id(self) -> str:
        return self.path.stem

    @property
    def send_at(self) -> datetime | None:
        return self.issue.send_at if self.issue else None


def plan(
    engine: Engine,
    settings: Settings,
    issues_dir: Path,
    now: datetime,
    max_late: timedelta,
    *,
    pretend: bool = False,
) -> list[Entry]:
    """Every scheduled (or broken) issue file with what send-due would do now, oldest first.
    `pretend`: `now` is `--now`'s, and a subject-line test's wait runs on that clock."""
    if not issues_dir.is_dir():
        raise ConfigError(f"{issues_dir}: issues folder not found (check --issues or issues_dir)")
    entries: list[Entry] = []
    for path in sorted(issues_dir.glob("*.md")):
        try:
            issue, problems = parse_issue(path)
        except NewsletterError as exc:
            entries.append(Entry(path, None, INVALID, str(exc)))
            continue
        errors = [p for p in problems if p.severity == "error"]
        if issue is None or errors:
            more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
            entries.append(Entry(path, None, INVALID, f"{errors[0]}{more}"))
            continue
        if issue.send_at is None:
            continue
        entry = _entry(engine, settings, issue, now, max_late)
        entries.append(replace(entry, now=now) if pretend else entry)
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(entries, key=lambda e: (e.send_at or far, e.issue_id))


def _entry(
    engine: Engine, settings: Settings, issue: Issue, now: datetime, max_late: timedelta
) -> Entry:
    slugs = issue.lists or (settings.default_list,)
    with reading(engine) as conn:
        ids = list_ids_for(conn, slugs)  # None: a list that does not exist was never sent to
        existing = sends.find_send(conn, issue.id, ids) if ids is not None else None
        others = [] if existing else sends.all_sends(conn, issue.id)
    assert issue.send_at is not None
    if others:  # sent to other lists (the demo's sample issue): nothing to say, nothing to do
        other = others[-1]
        lists = ", ".join(other.list_slugs)
        return Entry(issue.path, issue, DONE, f"sent to {lists} (send #{other.id})")
    if existing is not None:
        if existing.status == "waiting":
            return _winner_entry(engine, issue, existing.id, now, max_late)
        if existing.status == "done":
            return Entry(issue.path, issue, DONE, f"sent (send #{existing.id})")
        if existing.status == "cancelled":
            return Entry(issue.path, issue, CANCELLED, f"send #{existing.id} was cancelled")
        return Entry(issue.path, issue, RESUME, f"send #{existing.id} is unfinished")
    if issue.send_at > now:
        return Entry(issue.path, issue, WAITING, f"due in {_human(issue.send_at - now)}")
    late = now - issue.send_at
    if late > max_late:
        return Entry(
            issue.path,
            issue,
            STALE,
            f"{_human(late)} past send_at (more than max_late {_human(max_late)}): not sent "
            f"automatically; send it by hand with `newsletter send {issue.path}` or move send_at",
        )
    return Entry(issue.path, issue, DUE, f"due since {_human(late)}")


def _winner_entry(
    engine: Engine, issue: Issue, send_id: int, now: datetime, max_late: timedelta
) -> Entry:
    """A subject-line test between its phases: silent until the winner is due (test phase sent
    + wait), then resumed; `max_late` counts again from that moment."""
    with reading(engine) as conn:
        state = ab_phase.state_of(conn, send_id)
    due = state.winner_due_at if state else None
    if due is None or due > now:
        left = f"in {_human(due - now)}" if due else "after the test phase"
        return Entry(issue.path, issue, WAITING, f"send #{send_id}: winner due {left}")
    if now - due > max_late:
        return Entry(
            issue.path,
            issue,
            STALE,
            f"send #{send_id}: winner due {_human(now - due)} ago (more than max_late "
            f"{_human(max_late)}): not sent automatically; send it by hand with "
            f"`newsletter send {issue.path} --resume` (or --winner)",
        )
    return Entry(issue.path, issue, RESUME, f"send #{send_id}: winner due")


def _human(delta: timedelta) -> str:
    """`2d3h`, `5h12m`, `7m`, `30s`: the two largest units."""
    seconds = max(int(delta.total_seconds()), 0)
    parts: list[str] = []
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m"), (1, "s")):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts[:2])


Log = Callable[[str, bool], None]  # (line, is_problem)
# The CLI's pre-flight gate: prints its lines, raises NewsletterError when it refuses the send.
Gate = Callable[[Path], None]


def send_due(
    engine: Engine,
    settings: Settings,
    entries: list[Entry],
    *,
    dry_run: bool,
    log: Log,
    verbose: bool = False,
    gate: Gate | None = None,
    force_preflight: bool = False,
    now: datetime | None = None,
    named: tuple[tuple[str, str], ...] = (),
) -> bool:
    """Start or resume every due send, oldest first, each after `gate` let it through. An
    issue's `segment:` counts relative times back from `now` and may use the `named` segments.
    Returns False when something failed."""
    segments = {"now": now, "named": named}
    ok = True
    for entry in entries:
        if STOP.asked:
            break
        if entry.state == INVALID:
            log(f"skipped {entry.path}: {entry.detail}", True)
            ok = False
        elif entry.state == STALE:
            if verbose or dry_run or notices.first_time(engine, f"stale:{entry.issue_id}"):
                log(f"not sending {entry.issue_id}: {entry.detail}", False)
        elif entry.state in (DUE, RESUME):
            run = _run_one(
                engine,
                settings,
                entry,
                dry_run=dry_run,
                log=log,
                gate=gate,
                force=force_preflight,
                segments=segments,
            )
            ok = run and ok
        elif verbose:
            log(f"{entry.issue_id}: {entry.state}: {entry.detail}", False)
    return ok


def _run_one(
    engine: Engine,
    settings: Settings,
    entry: Entry,
    *,
    dry_run: bool,
    log: Log,
    gate: Gate | None,
    force: bool,
    segments: dict[str, Any],
) -> bool:
    owner = locks.new_owner()
    name = f"send-due:{entry.issue_id}"
    # The lock outlives a database outage the send waits out (db_outage_timeout), and more.
    ttl = locks.TTL + timedelta(seconds=settings.db_outage_timeout)
    holder = None if dry_run else locks.acquire(engine, name, owner, ttl)
    if holder is not None:
        log(f"{entry.issue_id}: already being sent by {holder}; leaving it to that run", False)
        return True
    try:
        if gate is not None:
            gate(entry.path)
        options = SendOptions(
            resume=entry.state == RESUME, dry_run=dry_run, force_preflight=force, **segments
        )
        plan = prepare(engine, settings, entry.path, options)
        if plan.nothing_to_do:
            log(f"{entry.issue_id}: {plan.nothing_to_do}", False)
            return True
        verb = "would send" if dry_run else ("resuming" if entry.state == RESUME else "sending")
        lists = ", ".join(lst["slug"] for lst in plan.lists)
        log(
            f"{verb} {entry.issue_id} ({entry.detail}) to {lists}: {plan.audience} recipients",
            False,
        )
        for note in plan.notes:
            log(f"{entry.issue_id}: {note}", False)
        if dry_run:
            return True
        started = utcnow()
        progress = execute(engine, settings, plan, locks.keeper(engine, name, owner, ttl))
        if progress and entry.now:  # a test phase that ended now: its wait runs on --now's clock
            ab_phase.shift_clock(engine, progress.send_id, started, entry.now - started)
        counts = progress.counts if progress else {}
        if STOP.asked:
            _stopped(entry, counts, log)
            return True
        failed = counts.get("failed", 0) + counts.get("unknown", 0)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()) if n)
        log(f"finished {entry.issue_id}: {summary or 'nothing left to send'}", failed > 0)
        return failed == 0
    except NewsletterError as exc:
        log(f"{entry.issue_id}: {exc}", True)
        return False
    finally:
        if not dry_run:
            locks.release(engine, name, owner)


def _stopped(entry: Entry, counts: dict[str, int], log: Log) -> None:
    left = counts.get("queued", 0) + counts.get("claimed", 0)
    log(
        f"stopped {entry.issue_id}: {counts.get('sent', 0)} sent, {left} left; the next run "
        "continues it",
        False,
    )
