"""What operators read of the sequences: each one from the folder beside its registration in the
database (`newsletter sequences`), per step how many readers got it, are waiting for it, or
were skipped; the steps of a registered sequence with their sends (`report NAME`); and
pausing or resuming one.

Sent and skipped are the ledger's outcome totals of the step's one send (`sending.outcomes`, as
`status` and `report` count them). Waiting: readers still in the sequence whose cursor has not
passed the step (their next step is it or an earlier one) and who are still subscribed to the
sequence's lists (`send-due` lets the others leave when their next step falls due), plus the
step's ledger rows queued or in flight. One grouped query per sequence, through the index on
(sequence, next_key, joined_at).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, select

from newsletter.audience.lists import all_lists
from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.sending.outcomes import outcome_totals
from newsletter.sequences.enrol import has_left
from newsletter.sequences.model import Sequence
from newsletter.sequences.registry import set_paused
from newsletter.sequences.step_file import delay_text

SEQ, STEPS, MEMBERS, M = (
    tables.sequences,
    tables.sequence_steps,
    tables.sequence_members,
    tables.memberships,
)


class UnknownSequence(LookupError):
    """`pause`/`resume` of a name no sequence has, or one `send-due` never registered."""


def overview(engine: Engine | None, found: list[Sequence]) -> list[dict[str, Any]]:
    """Every sequence of the folder (`found`) and every registered one, by name, with its
    steps and their counts. A sequence not registered yet (all of them without a database:
    `engine` None) has no counts (None)."""
    if engine is None:
        return [_sequence(None, s.name, s, None, {}) for s in sorted(found, key=lambda s: s.name)]
    slugs = {int(lst["id"]): lst["slug"] for lst in all_lists(engine)}
    by_name = {seq.name: seq for seq in found}
    with reading(engine) as conn:
        rows = {r.name: r for r in conn.execute(select(SEQ))}
        out = [
            _sequence(conn, name, by_name.get(name), rows.get(name), slugs)
            for name in sorted(set(by_name) | set(rows))
        ]
    return out


def _sequence(
    conn: Connection | None, name: str, seq: Sequence | None, row: Any, slugs: dict[int, str]
) -> dict[str, Any]:
    if seq is not None:
        lists, join, stop = list(seq.lists), seq.join, seq.stop_on_unsubscribe
    else:
        lists = [slugs.get(int(i), f"#{i}") for i in row.list_ids]
        join, stop = row.join, row.stop_on_unsubscribe
    out: dict[str, Any] = {
        "name": name,
        "in_folder": seq is not None,
        "registered": row is not None,
        "paused": bool(row.paused) if row is not None else None,
        "lists": lists,
        "join": join,
        "stop_on_unsubscribe": stop,
        "members": None,
        "left": None,
    }
    stored: list[dict[str, Any]] = []
    if conn is not None and row is not None:
        stored = step_rows(conn, name)
        out["members"], out["left"] = _member_counts(conn, name)
    out["steps"] = _steps(conn, name, row, seq, stored)
    return out


def step_rows(conn: Connection, name: str) -> list[dict[str, Any]]:
    """The registered steps of `name`, removed ones too, in order: key, position, after_s,
    removed_at, send_id."""
    rows = conn.execute(
        select(STEPS.c.key, STEPS.c.position, STEPS.c.after_s, STEPS.c.removed_at, STEPS.c.send_id)
        .where(STEPS.c.sequence == name)
        .order_by(STEPS.c.removed_at.is_not(None), STEPS.c.position, STEPS.c.key)
    )
    return [dict(r._mapping) for r in rows]


def _steps(
    conn: Connection | None, name: str, row: Any, seq: Sequence | None, stored: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The folder's steps in order, then registered steps the folder no longer has."""
    waiting = _waiting_by_position(conn, row) if conn is not None and row is not None else {}
    known = {s["key"]: s for s in stored}
    keys = [step.key for step in seq.steps] if seq is not None else []
    keys += [s["key"] for s in stored if s["key"] not in keys]
    afters = {step.key: step.after for step in seq.steps} if seq is not None else {}
    out = []
    for key in keys:
        reg = known.get(key)
        after = afters.get(key, timedelta(seconds=reg["after_s"]) if reg else timedelta(0))
        step: dict[str, Any] = {
            "key": key,
            "step_id": f"{name}/{key}",
            "after": delay_text(after),
            "in_folder": key in afters,
            "removed": bool(reg and reg["removed_at"] is not None),
            "sent": None,
            "waiting": None,
            "skipped": None,
        }
        if conn is not None and reg is not None:
            step.update(_step_counts(conn, reg, waiting))
        out.append(step)
    return out


def _step_counts(conn: Connection, reg: dict[str, Any], waiting: dict[int, int]) -> dict[str, int]:
    ahead = 0
    if reg["removed_at"] is None:
        ahead = sum(n for position, n in waiting.items() if position <= reg["position"])
    if reg["send_id"] is None:
        return {"sent": 0, "waiting": ahead, "skipped": 0}
    totals = outcome_totals(conn, reg["send_id"], "")
    return {
        "sent": totals.sent,
        "waiting": ahead + totals.queued + totals.claimed,
        "skipped": totals.skipped,
    }


def _waiting_by_position(conn: Connection, row: Any) -> dict[int, int]:
    """position of the next step -> readers still in the sequence waiting for it."""
    found = conn.execute(
        select(STEPS.c.position, func.count())
        .select_from(
            MEMBERS.join(
                STEPS,
                and_(STEPS.c.sequence == MEMBERS.c.sequence, STEPS.c.key == MEMBERS.c.next_key),
            )
        )
        .where(
            MEMBERS.c.sequence == row.name,
            MEMBERS.c.left_at.is_(None),
            ~has_left([int(i) for i in row.list_ids], row.stop_on_unsubscribe),
        )
        .group_by(STEPS.c.position)
    )
    return {int(position): int(n) for position, n in found}


def _member_counts(conn: Connection, name: str) -> tuple[int, int]:
    """(readers in the sequence, readers who left it)."""
    left = func.count(MEMBERS.c.left_at)
    total, gone = conn.execute(select(func.count(), left).where(MEMBERS.c.sequence == name)).one()
    return int(total) - int(gone or 0), int(gone or 0)


def set_sequence_paused(engine: Engine, name: str, paused: bool, in_folder: list[str]) -> None:
    """Pause or resume a registered sequence; UnknownSequence (saying which case) otherwise."""
    with reading(engine) as conn:
        known = conn.execute(select(SEQ.c.name).where(SEQ.c.name == name)).first() is not None
    if not known:
        if name in in_folder:
            raise UnknownSequence(
                f"sequence '{name}' is not registered yet: the next `newsletter send-due` "
                "registers it, then it can be paused"
            )
        with reading(engine) as conn:
            names = sorted(conn.execute(select(SEQ.c.name)).scalars())
        shown = ", ".join(sorted(set(names) | set(in_folder))) or "none"
        raise UnknownSequence(f"no sequence '{name}' (known: {shown})")
    set_paused(engine, name, paused)


def welcome_on_its_way(engine: Engine, list_id: int) -> bool:
    """Whether list `list_id` has a registered sequence that is not paused: a reader who just
    confirmed gets its first step on the next `send-due` (the confirmation page says so)."""
    with reading(engine) as conn:
        found = conn.execute(select(SEQ.c.list_ids).where(SEQ.c.paused.is_(False))).scalars()
        return any(int(list_id) in {int(i) for i in ids or ()} for ids in found)
