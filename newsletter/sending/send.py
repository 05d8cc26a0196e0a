"""Sending an issue, top to bottom: `plan.prepare` has read the issue, resolved its lists and
counted the audience; `execute` renders once, snapshots the audience into the ledger (or joins
the unfinished send), and runs the batch loop (`batches.deliver`), with helper processes when
asked. `cancel` stops a send."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, Engine

from newsletter.audience.lists import get_list
from newsletter.audience.segment_sql import compile_segment
from newsletter.authoring.render import render_issue
from newsletter.config import Settings
from newsletter.db.connection import reading
from newsletter.errors import SendError
from newsletter.sending import ab_store, ab_winner, ledger, sends, workers
from newsletter.sending.archive import archive_options
from newsletter.sending.batches import Callback, Progress, deliver
from newsletter.sending.delivery import make_backend
from newsletter.sending.plan import Plan
from newsletter.sending.stopping import FORWARDED, STOP
from newsletter.tracking.links import track_send


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
    processes = worker_count(settings, plan) if helper_command else 1
    if plan.backend == "smtp":  # at least one connection each
        processes = min(processes, settings.smtp_connections)
    rate = settings.rate if plan.options.rate is None else plan.options.rate
    rate /= processes  # --rate caps the whole send: each process takes its share
    # So do the SMTP connections: a relay caps them per client (Postfix: 50), and the send's
    # processes together never hold more than smtp_connections.
    shares = connection_shares(settings.smtp_connections, processes)
    settings = replace(settings, smtp_connections=shares[0])
    backend = make_backend(plan.backend, settings)  # BackendConfigError: nothing written yet
    worker = workers.Worker(engine, settings.db_outage_timeout)
    try:
        send_id = _create_or_join(engine, settings, plan, worker)
        helpers = _start_helpers(helper_command, send_id, rate, shares[1:])
        with reading(engine) as conn:
            queued_before = ledger.counts(conn, send_id)["queued"]
        try:
            with STOP.listening(lambda: _forward_stop(helpers)):
                progress = deliver(
                    engine,
                    settings,
                    send_id,
                    worker,
                    backend,
                    rate=rate,
                    limit=plan.options.limit,
                    on_progress=on_progress,
                )
        finally:
            codes = [h.wait() for h in helpers]
        if helpers or STOP.asked:  # the ledger has what every process did, and gave back
            ledger.finish_if_complete(engine, send_id)
            with reading(engine) as conn:
                progress.counts = ledger.counts(conn, send_id)
            progress.this_run = queued_before - progress.counts["queued"]
        if any(codes) and not STOP.asked:  # stopped helpers exit 143 (or die before starting)
            raise SendError(
                f"a helper worker exited with code {max(codes)}; its batch is "
                f"listed by `newsletter status {plan.issue.id}`"
            )
        return progress
    finally:
        backend.close()
        worker.close()


def _forward_stop(helpers: Sequence[subprocess.Popen[bytes]]) -> None:
    """This process stops gracefully: so do its helpers (however the signal reached it)."""
    for helper in helpers:
        if helper.poll() is None:
            helper.send_signal(FORWARDED)


def worker_count(settings: Settings, plan: Plan) -> int:
    """Processes for this send: as asked, else one per core (capped by `send_workers_max`)
    once the audience reaches `send_workers_from`; one for a small send or with --limit."""
    if plan.options.workers is not None:
        return plan.options.workers
    if plan.options.limit or plan.audience < settings.send_workers_from:
        return 1
    return max(1, min(os.cpu_count() or 1, settings.send_workers_max))


def connection_shares(connections: int, processes: int) -> list[int]:
    """`connections` split between `processes`, adding up to exactly `connections`."""
    base, extra = divmod(connections, processes)
    return [base + (1 if i < extra else 0) for i in range(processes)]


def _start_helpers(
    command: Sequence[str], send_id: int, rate: float, shares: Sequence[int]
) -> list[subprocess.Popen[bytes]]:
    """Extra worker processes (`newsletter worker --once`) share the send through the ledger's
    claims: more CPU cores for the per-recipient work. Each gets its share of the rate and of
    the SMTP connections."""
    if not command:
        return []
    pace = ["--rate", repr(rate)] if rate > 0 else []
    return [
        subprocess.Popen(
            [*command, "--send", str(send_id), *pace],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={**os.environ, "NEWSLETTER_SMTP_CONNECTIONS": str(share)},
        )
        for share in shares
    ]


def _create_or_join(engine: Engine, settings: Settings, plan: Plan, worker: workers.Worker) -> int:
    issue, opts = plan.issue, plan.options
    slugs = [lst["slug"] for lst in plan.lists]
    ids = [lst["id"] for lst in plan.lists]
    rendered = None
    public = archive_options(issue, plan.lists)["public"] and issue.archive
    if plan.existing is None or (opts.rerender and plan.existing.source_hash != issue.source_hash):
        rendered = render_issue(
            issue,
            settings,
            list_name=plan.lists[0].get("name", ""),
            published=public,
            language=plan.language,
        )
        if opts.subject:  # a follow-up's own subject
            rendered = replace(rendered, subject=opts.subject)
    testing = issue.ab_test is not None and not opts.again  # a follow-up is never a test
    with engine.begin() as conn:
        sends.lock_issue(conn, issue.id)
        existing = plan.existing or sends.find_send(  # a racing `send` may have won
            conn, issue.id, ids, followup=plan.followup
        )
        if opts.again and not opts.subject and rendered is not None:
            rendered = _winners_subject(conn, rendered, issue.id, ids)
        if existing is None:
            assert rendered is not None
            send_id = sends.create_send(
                conn,
                issue_id=issue.id,
                list_slugs=slugs,
                list_ids=ids,
                backend=plan.backend,
                subject=rendered.subject,
                html=rendered.html,
                text_body=rendered.text,
                source_hash=issue.source_hash,
                options={**_stored_options(plan), **archive_options(issue, plan.lists)},
                web_html=rendered.web_html,
                segment=_condition(conn, settings, plan),
                held=testing,  # a test: the sample is queued below
            )
        else:
            send_id = existing.id
            if rendered is not None:  # --rerender
                sends.update_content(conn, send_id, rendered, issue.source_hash)
        if rendered is not None:  # links stored and rewritten once per send (click tracking)
            track_send(conn, settings, issue, send_id, rendered.html)
        if existing is None and testing:  # variants stored, the sample queued, rest held
            name = plan.lists[0].get("name", "")
            ab_store.begin(conn, settings, issue, send_id, name, public, plan.language)
        elif existing is not None and (existing.status == "waiting" or opts.winner is not None):
            ab_winner.begin_winner_phase(conn, send_id, opts.winner, opts.now)
        workers.join(conn, send_id, worker)
    workers.recover(engine, send_id)  # rows of dead workers -> unknown (before any retry)
    if opts.retry or opts.resume:
        with engine.begin() as conn:
            ledger.requeue(conn, send_id, opts.retry)
            sends.set_status(conn, send_id, "running")
    return send_id


def _winners_subject(conn: Connection, rendered: Any, issue_id: str, ids: list[int]) -> Any:
    """A follow-up without --subject goes out with the subject its issue's own send ended with:
    after a subject-line test, the winner's."""
    own = sends.find_send(conn, issue_id, ids)
    return replace(rendered, subject=own.subject) if own is not None else rendered


def _stored_options(plan: Plan) -> dict[str, Any]:
    """What the send keeps beside its content: lists by id, and its segment (shown by `status`
    and `report`; with the subject, a follow-up's identity)."""
    slugs = [lst["slug"] for lst in plan.lists]
    options: dict[str, Any] = {
        "lists": slugs,
        "force_preflight": plan.options.force_preflight,
        "language": plan.language,  # the token pages of this send speak it (`web.language`)
    }
    if plan.segment is not None:
        options.update(segment=plan.segment.normal, segment_given=plan.segment.given)
    if plan.followup is not None:
        options.update(kind="followup", subject=plan.options.subject)
    return options


def _condition(conn: Connection, settings: Settings, plan: Plan) -> Any:
    if plan.segment is None:
        return None
    return compile_segment(plan.segment.node, plan.scope(conn, settings))


def cancel(
    engine: Engine, issue_id: str, lists: Sequence[str] | None = None, send_id: int | None = None
) -> int:
    """Stop the issue's unfinished send (its latest, follow-ups included; or send `send_id`;
    or its own send to `lists`): workers stop claiming after their current batch."""
    list_ids = [get_list(engine, slug)["id"] for slug in lists] if lists else None
    with engine.begin() as conn:
        if list_ids and send_id is None:
            send = sends.find_send(conn, issue_id, list_ids)
        else:
            send = sends.latest_send(conn, issue_id, send_id)
        if send is None or send.status in ("done", "cancelled"):
            raise SendError(f"{issue_id} has no unfinished send to cancel")
        sends.set_status(conn, send.id, "cancelled")
        return send.id
