"""`send-due`'s sequence pass, before any issue: register each sequence, enrol the readers who
joined, then for each step (under its own lock, so two runs never work one step at once and a
long issue send never holds back a welcome) queue the readers due and send through the ledger
and batch loop issues use (`sending.batches.deliver`: the same per-recipient guarantees,
suppressions re-checked per batch, unsubscribe headers, tracking, bounce tags)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from newsletter import tokens
from newsletter.audience.lists import get_list_by_id, list_ids_for
from newsletter.config import Settings
from newsletter.db.connection import reading
from newsletter.db.dialect import lock_for_transaction
from newsletter.errors import NewsletterError
from newsletter.sending import ledger, locks, workers
from newsletter.sending.batches import Callback, Progress, deliver
from newsletter.sending.delivery import make_backend
from newsletter.sending.stopping import STOP
from newsletter.sequences.enrol import enrol
from newsletter.sequences.model import Sequence, Step
from newsletter.sequences.registry import Registered, StepRow, register
from newsletter.sequences.screen import StepScreen
from newsletter.sequences.steps import enqueue, ensure_send, pending

Log = Callable[[str, bool], None]  # (line, is_problem)
# The CLI's pre-flight gate (settings half): raises NewsletterError when it refuses sending.
Gate = Callable[[], None]


def send_sequences(
    engine: Engine,
    settings: Settings,
    found: list[Sequence],
    *,
    now: datetime,
    max_late: timedelta,
    log: Log,
    verbose: bool = False,
    gate: Gate | None = None,
) -> bool:
    """Register, enrol and send every due step of `found`; False when something failed.
    `gate` is asked before a step is sent (the first time something is due)."""
    ok = True
    for seq in found:
        if STOP.asked:
            break
        try:
            reg = _register(engine, seq, now)
        except NewsletterError as exc:
            log(f"sequence {seq.name}: {exc}", True)
            ok = False
            continue
        if reg.paused:
            if verbose:
                log(f"sequence {seq.name}: paused; nothing sent", False)
            continue
        steps = {s.key: s for s in seq.steps}
        for row in reg.steps:
            if STOP.asked:
                break
            step = steps[row.key]
            ok = _run_step(engine, settings, reg, step, row, (now, max_late), log, gate) and ok
    return ok


def _register(engine: Engine, seq: Sequence, now: datetime) -> Registered:
    with engine.begin() as conn:
        lock_for_transaction(conn, f"sequence:{seq.name}")
        ids = list_ids_for(conn, seq.lists)
        if ids is None:
            raise NewsletterError(
                f"{seq.path / 'sequence.toml'}: lists: {', '.join(seq.lists)}: a list does not "
                "exist (create it with `newsletter lists create SLUG --name ...`, or fix the name)"
            )
        reg = register(conn, seq, ids, now)
        enrol(conn, reg, now)
    return reg


def _run_step(
    engine: Engine,
    settings: Settings,
    reg: Registered,
    step: Step,
    row: StepRow,
    clock: tuple[datetime, timedelta],  # (now, max_late)
    log: Log,
    gate: Gate | None,
) -> bool:
    (now, max_late), owner, name = clock, locks.new_owner(), f"send-due:{step.step_id}"
    ttl = locks.TTL + timedelta(seconds=settings.db_outage_timeout)
    holder = locks.acquire(engine, name, owner, ttl)
    if holder is not None:
        return True  # another run is on this step; it sends what is due
    try:
        lists = [lst for i in reg.list_ids if (lst := get_list_by_id(engine, i))]
        send_id = ensure_send(engine, settings, reg, step, lists)
        with engine.begin() as conn:
            enqueue(conn, reg, row, send_id, step.issue.source_hash, now)
        if not pending(engine, send_id):
            return True
        if gate is not None:
            gate()
        signer = tokens.signer_for(settings, allow_generated=settings.backend == "outbox")
        screen = StepScreen(reg.name, row, send_id, now, max_late, settings.site_url, signer)
        before = _counts(engine, send_id)
        _deliver(engine, settings, send_id, screen, locks.keeper(engine, name, owner, ttl))
        after = _counts(engine, send_id)
        this_run = {s: after[s] - before.get(s, 0) for s in after if after[s] > before.get(s, 0)}
        failed = this_run.get("failed", 0) + this_run.get("unknown", 0)
        summary = ", ".join(f"{n} {s}" for s, n in sorted(this_run.items()) if s != "queued")
        log(f"sequence step {step.step_id}: {summary or 'nothing sent'}", failed > 0)
        return failed == 0
    except NewsletterError as exc:
        log(f"sequence step {step.step_id}: {exc}", True)
        return False
    finally:
        locks.release(engine, name, owner)


def _counts(engine: Engine, send_id: int) -> dict[str, int]:
    with reading(engine) as conn:
        return ledger.counts(conn, send_id)


def _deliver(
    engine: Engine, settings: Settings, send_id: int, screen: StepScreen, keep: Callback
) -> Progress:
    backend = make_backend(settings.backend, settings)
    worker = workers.Worker(engine, settings.db_outage_timeout)
    try:
        with engine.begin() as conn:
            workers.join(conn, send_id, worker)
        workers.recover(engine, send_id)  # a killed run's rows: unknown, or back in the queue
        return deliver(engine, settings, send_id, worker, backend, on_progress=keep, screen=screen)
    finally:
        backend.close()
        worker.close()
