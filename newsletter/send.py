"""Sending an issue, top to bottom: read -> resolve lists -> render once -> snapshot the audience
into the ledger -> claim a batch -> re-check suppressions -> personalise -> deliver -> record.

`prepare` does everything that can fail on bad input before a single row is written (so the CLI
can show the count and ask); `execute` runs it. `run_worker` is the same loop for any running
send, for `newsletter worker` processes on other machines.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine, func, select

from newsletter import db, ledger, tokens
from newsletter.batches import Callback, Progress, build_template, deliver, run_worker
from newsletter.config import Settings
from newsletter.errors import SendError
from newsletter.models import Issue, Recipient, SendResult

__all__ = ["Progress", "SendOptions", "cancel", "execute", "prepare", "run_worker", "test_send"]


@dataclass(frozen=True)
class SendOptions:
    lists: tuple[str, ...] = ()
    backend: str = ""  # "" = settings.backend
    dry_run: bool = False
    rate: float | None = None  # messages/s; None = settings.rate
    limit: int | None = None  # at most this many recipients in this run
    resume: bool = False
    rerender: bool = False
    retry_failed: bool = False
    retry_unknown: bool = False
    workers: int = 1  # processes sharing this send (helpers run `helper_command`)


@dataclass
class Plan:
    """What `send` is about to do; shown to the user before anything is written."""

    issue: Issue
    lists: list[dict]
    backend: str
    options: SendOptions
    audience: int  # recipients that will be attempted in this run (best estimate)
    existing: ledger.SendRow | None = None
    notes: list[str] = field(default_factory=list)
    nothing_to_do: str = ""


def prepare(engine: Engine, settings: Settings, path: str | Path, options: SendOptions) -> Plan:
    from newsletter.issues import read_issue
    from newsletter.subscribers import get_list

    issue = read_issue(Path(path))  # IssueFileError names every problem
    slugs = options.lists or issue.lists or (settings.default_list,)
    lists = [get_list(engine, slug) for slug in slugs]  # StoreError for an unknown list
    backend = options.backend or settings.backend
    signer = tokens.signer_for(settings, allow_generated=backend == "outbox")  # no key: refuse
    plan = Plan(issue, lists, backend, options, 0)
    if signer.generated_key_path:
        plan.notes.append(
            f"NEWSLETTER_SECRET_KEY is not set: unsubscribe links are signed with "
            f"the generated key in {signer.generated_key_path}"
        )
    with db.reading(engine) as conn:
        plan.existing = existing = ledger.find_send(conn, issue.id, slugs)
        if existing is None:
            list_ids = [lst["id"] for lst in lists]
            if options.dry_run:  # exact, suppressions taken off (streams; no ledger rows)
                from newsletter.subscribers import audience_ids

                plan.audience = sum(1 for _ in audience_ids(conn, list_ids))
            else:  # fast; suppressed members are snapshotted and then skipped with a reason
                plan.audience = _audience_size(conn, list_ids)
            if plan.audience == 0:
                raise SendError(
                    f"no subscribed members in list(s) {', '.join(slugs)}; "
                    "nothing to send (add subscribers first)"
                )
            return plan
        counts = ledger.counts(conn, existing.id)
    retry = [
        s for s, on in (("failed", options.retry_failed), ("unknown", options.retry_unknown)) if on
    ]
    plan.audience = counts["queued"] + sum(counts[s] for s in retry)
    if existing.status == "done" and not retry:
        plan.nothing_to_do = (
            f"{issue.id} was already sent to {', '.join(slugs)} (send "
            f"#{existing.id}: {counts['sent']} sent); nothing sent twice"
        )
        return plan
    if existing.status == "cancelled" and not (options.resume or retry):
        raise SendError(
            f"send #{existing.id} of {issue.id} was cancelled ({counts['sent']} sent,"
            f" {counts['queued']} not sent); continue it with --resume"
        )
    live = ledger.live_workers(engine, existing.id)
    if not (live or options.resume or retry):
        raise SendError(
            f"send #{existing.id} of {issue.id} is unfinished ({counts['queued']} queued, "
            f"{counts['claimed'] + counts['unknown']} unknown); continue it with "
            f"`newsletter send {path} --resume` or stop it with --cancel"
        )
    if existing.source_hash != issue.source_hash:
        plan.notes.append(
            f"{issue.path} changed since send #{existing.id} started: "
            + (
                "the new version goes to the remaining recipients (--rerender)"
                if options.rerender
                else "keeping the stored version (pass --rerender to send the new one)"
            )
        )
    if live:
        plan.notes.append(
            f"joining send #{existing.id} (already running in {len(live)} "
            "process(es)) as another worker"
        )
    return plan


def execute(
    engine: Engine,
    settings: Settings,
    plan: Plan,
    on_progress: Callback | None = None,
    helper_command: Sequence[str] = (),
) -> Progress | None:
    """Run the plan; returns the final progress (None for a dry run or nothing to do)."""
    if plan.options.dry_run or plan.nothing_to_do:
        return None
    from newsletter.delivery import make_backend

    backend = make_backend(plan.backend, settings)  # BackendConfigError: nothing written yet
    worker = ledger.Worker(engine)
    try:
        send_id = _create_or_join(engine, settings, plan, worker)
        # Extra worker processes (`newsletter worker --once`) share the send through the
        # ledger's claims: a second CPU core for the per-recipient work.
        helpers = [
            subprocess.Popen([*helper_command, "--send", str(send_id)], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL)
            for _ in range(plan.options.workers - 1)
        ] if helper_command else []
        with engine.connect() as conn:
            queued_before = ledger.counts(conn, send_id)["queued"]
        try:
            progress = deliver(engine, settings, send_id, worker, backend,
                               plan.options.rate, plan.options.limit, on_progress)
        finally:
            codes = [h.wait() for h in helpers]
        if helpers:
            ledger.finish_if_complete(engine, send_id)
            with engine.connect() as conn:
                progress.counts = ledger.counts(conn, send_id)
            progress.this_run = queued_before - progress.counts["queued"]
        if any(codes):
            raise SendError(f"a helper worker exited with code {max(codes)}; its batch is "
                            f"listed by `newsletter status {plan.issue.id}`")
        return progress
    finally:
        backend.close()
        worker.close()


def _create_or_join(engine: Engine, settings: Settings, plan: Plan, worker: ledger.Worker) -> int:
    from newsletter.render import render_issue

    issue, opts = plan.issue, plan.options
    slugs = [lst["slug"] for lst in plan.lists]
    rendered = None
    if plan.existing is None or (opts.rerender and plan.existing.source_hash != issue.source_hash):
        rendered = render_issue(issue, settings, list_name=plan.lists[0].get("name", ""))
    with engine.begin() as conn:
        ledger.lock_issue(conn, issue.id)
        existing = ledger.find_send(conn, issue.id, slugs)  # a racing `send` may have won
        if existing is None:
            assert rendered is not None
            send_id = ledger.create_send(
                conn,
                issue_id=issue.id,
                list_slugs=slugs,
                list_ids=[lst["id"] for lst in plan.lists],
                backend=plan.backend,
                subject=rendered.subject,
                html=rendered.html,
                text_body=rendered.text,
                source_hash=issue.source_hash,
                options={"lists": slugs},
            )
        else:
            send_id = existing.id
            if rendered is not None:
                ledger.update_content(
                    conn,
                    send_id,
                    subject=rendered.subject,
                    html=rendered.html,
                    text_body=rendered.text,
                    source_hash=issue.source_hash,
                )
        ledger.join(conn, send_id, worker)
    ledger.recover(engine, send_id)  # rows of dead workers -> unknown (before any retry)
    retry = [s for s, on in (("failed", opts.retry_failed), ("unknown", opts.retry_unknown)) if on]
    if retry or opts.resume:
        with engine.begin() as conn:
            ledger.requeue(conn, send_id, retry)
            ledger.set_status(conn, send_id, "running")
    return send_id


def _audience_size(conn, list_ids: Sequence[int]) -> int:  # type: ignore[no-untyped-def]
    m = db.memberships
    return conn.execute(
        select(func.count(func.distinct(m.c.subscriber_id))).where(
            m.c.list_id.in_(list(list_ids)), m.c.status == "subscribed"
        )
    ).scalar_one()


def cancel(engine: Engine, issue_id: str, lists: Sequence[str] | None = None) -> int:
    """Stop the issue's unfinished send: workers stop claiming after their current batch."""
    with engine.begin() as conn:
        send = ledger.find_send(conn, issue_id, lists or None)
        if send is None or send.status in ("done", "cancelled"):
            raise SendError(f"{issue_id} has no unfinished send to cancel")
        ledger.set_status(conn, send.id, "cancelled")
        return send.id


def test_send(
    settings: Settings, path: str | Path, addresses: Sequence[str], backend_name: str = ""
) -> list[SendResult]:
    """Send the issue to `addresses` only, subject prefixed "[TEST] ", outside the ledger."""
    from newsletter.delivery import make_backend
    from newsletter.issues import read_issue
    from newsletter.render import render_issue

    issue = read_issue(Path(path))
    backend_name = backend_name or settings.backend
    signer = tokens.signer_for(settings, allow_generated=backend_name == "outbox")
    rendered = render_issue(issue, settings)
    row = ledger.SendRow(
        0,
        issue.id,
        issue.lists,
        "test",
        backend_name,
        rendered.subject,
        rendered.html,
        rendered.text,
        issue.source_hash,
        {},
    )
    slug = issue.lists[0] if issue.lists else settings.default_list
    template = build_template(settings, row, [{"slug": slug, "name": slug}], "[TEST] ")
    unsub = signer.make("unsubscribe", 0, 0)
    recipients = [
        Recipient(
            email=a,
            subscriber_id=0,
            view_url=tokens.view_url(settings, issue.id),
            unsubscribe_url=tokens.unsubscribe_url(settings, unsub),
            unsubscribe_mailto=tokens.unsubscribe_mailto(settings, unsub),
            preferences_url=tokens.preferences_url(settings, signer.make("preferences", 0, 0)),
        )
        for a in addresses
    ]
    backend = make_backend(backend_name, settings)
    try:
        return backend.send(template, recipients)
    finally:
        backend.close()
