"""What `send-due` writes of the sequences it reads, so the web app never needs the folder:
each sequence (lists by id, `join`, `stop_on_unsubscribe`; `paused` is the database's own), and
its steps (place, delay, when first seen, when removed).

A changed list of steps moves the readers' cursors (`sequence_members.next_key`) once, here:
readers waiting for a removed step wait for the next step still there (the removed one is
skipped for them, and its queued ledger rows become `skipped`); readers who had every step get a
step added at the end. A step inserted before the one a reader waits for is not sent to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.errors import NewsletterError
from newsletter.sequences.model import Sequence

SEQ, STEPS, MEMBERS, D = (
    tables.sequences,
    tables.sequence_steps,
    tables.sequence_members,
    tables.deliveries,
)


@dataclass(frozen=True)
class StepRow:
    key: str
    position: int
    after_s: int
    first_seen_at: datetime
    send_id: int | None


@dataclass(frozen=True)
class Registered:
    """A sequence as the database has it after registration (live steps in order)."""

    name: str
    list_ids: tuple[int, ...]
    join: str
    stop_on_unsubscribe: bool
    paused: bool
    first_seen_at: datetime
    enrolled_to: datetime | None
    steps: tuple[StepRow, ...]

    def after(self, key: str) -> str | None:
        """The key of the step that follows `key` (None: `key` is the last)."""
        keys = [s.key for s in self.steps]
        i = keys.index(key)
        return keys[i + 1] if i + 1 < len(keys) else None

    @property
    def first_key(self) -> str | None:
        return self.steps[0].key if self.steps else None


def register(conn: Connection, seq: Sequence, list_ids: list[int], now: datetime) -> Registered:
    """Write `seq` as read now (first seen: now, the first time), keeping `paused`."""
    row = conn.execute(select(SEQ).where(SEQ.c.name == seq.name)).first()
    values: dict[str, Any] = {
        "list_ids": list_ids,
        "join": seq.join,
        "stop_on_unsubscribe": seq.stop_on_unsubscribe,
        "updated_at": now,
    }
    if row is None:
        conn.execute(SEQ.insert().values(name=seq.name, first_seen_at=now, paused=False, **values))
    elif _changed(row, values):
        conn.execute(update(SEQ).where(SEQ.c.name == seq.name).values(**values))
    _register_steps(conn, seq, now)
    return registered(conn, seq.name)


def _changed(row: Any, values: dict[str, Any]) -> bool:
    return any(getattr(row, k) != v for k, v in values.items() if k != "updated_at")


def _register_steps(conn: Connection, seq: Sequence, now: datetime) -> None:
    rows = {r.key: r for r in conn.execute(select(STEPS).where(STEPS.c.sequence == seq.name))}
    old_live = [r.key for r in sorted(rows.values(), key=lambda r: r.position) if not r.removed_at]
    new_live = [s.key for s in seq.steps]
    for position, step in enumerate(seq.steps, 1):
        after_s = int(step.after.total_seconds())
        old = rows.get(step.key)
        if old is None:
            conn.execute(
                STEPS.insert().values(
                    sequence=seq.name,
                    key=step.key,
                    position=position,
                    after_s=after_s,
                    first_seen_at=now,
                )
            )
        elif (old.position, old.after_s, old.removed_at) != (position, after_s, None):
            conn.execute(
                update(STEPS)
                .where(STEPS.c.sequence == seq.name, STEPS.c.key == step.key)
                .values(position=position, after_s=after_s, removed_at=None)
            )
    for key in old_live:
        if key not in new_live:
            conn.execute(
                update(STEPS)
                .where(STEPS.c.sequence == seq.name, STEPS.c.key == key)
                .values(removed_at=now)
            )
    if old_live != new_live:
        _move_cursors(conn, seq.name, old_live, new_live, rows, now)


def _move_cursors(
    conn: Connection,
    name: str,
    old_live: list[str],
    new_live: list[str],
    rows: dict[str, Any],
    now: datetime,
) -> None:
    """Readers waiting for a removed step wait for the next one still there; readers who had
    every step get the first one added after the last step they knew."""
    m = MEMBERS
    for i, key in enumerate(old_live):
        if key in new_live:
            continue
        following = next((k for k in old_live[i + 1 :] if k in new_live), None)
        conn.execute(
            update(m).where(m.c.sequence == name, m.c.next_key == key).values(next_key=following)
        )
        send_id = rows[key].send_id
        if send_id is not None:  # queued, never sent: skipped for those who had not had it
            conn.execute(
                update(D)
                .where(D.c.send_id == send_id, D.c.status == "queued")
                .values(status="skipped", detail="the step was removed", updated_at=now)
            )
    kept = [k for k in old_live if k in new_live]
    tail = new_live[new_live.index(kept[-1]) + 1 :] if kept else new_live
    if tail:
        conn.execute(
            update(m)
            .where(m.c.sequence == name, m.c.next_key.is_(None), m.c.left_at.is_(None))
            .values(next_key=tail[0])
        )


def registered(conn: Connection, name: str) -> Registered:
    row = conn.execute(select(SEQ).where(SEQ.c.name == name)).first()
    if row is None:
        raise NewsletterError(f"sequence {name!r} is not registered yet: send-due registers it")
    steps = conn.execute(
        select(STEPS)
        .where(STEPS.c.sequence == name, STEPS.c.removed_at.is_(None))
        .order_by(STEPS.c.position)
    )
    return Registered(
        name=row.name,
        list_ids=tuple(int(i) for i in row.list_ids),
        join=row.join,
        stop_on_unsubscribe=row.stop_on_unsubscribe,
        paused=row.paused,
        first_seen_at=as_utc(row.first_seen_at),  # type: ignore[arg-type]
        enrolled_to=as_utc(row.enrolled_to),
        steps=tuple(
            StepRow(s.key, s.position, s.after_s, as_utc(s.first_seen_at), s.send_id)  # type: ignore[arg-type]
            for s in steps
        ),
    )


def set_paused(engine: Engine, name: str, paused: bool) -> None:
    """`sequences pause NAME` / `resume NAME`: nothing of it is sent while paused."""
    with engine.begin() as conn:
        done = conn.execute(update(SEQ).where(SEQ.c.name == name).values(paused=paused)).rowcount
    if not done:
        raise NewsletterError(f"no sequence {name!r} is registered (send-due registers them)")
