"""`check`'s warning about a step edited after readers got it: `send-due` sends the new text
to the readers still to come and never resends it to anyone (`steps.ensure_send`), so the
readers who had it keep the version they got (`deliveries.version`)."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.errors import Problem
from newsletter.sequences.model import Sequence

D, S, STEPS = tables.deliveries, tables.sends, tables.sequence_steps


def edited_after_sent(engine: Engine, found: list[Sequence]) -> list[Problem]:
    """A warning for each step whose file differs from the version its send went out with,
    while readers already got that version."""
    problems = []
    with reading(engine) as conn:
        for seq in found:
            stored: dict[str, str] = dict(
                conn.execute(
                    select(STEPS.c.key, S.c.source_hash)
                    .join(S, S.c.id == STEPS.c.send_id)
                    .where(STEPS.c.sequence == seq.name)
                ).all()
            )
            for step in seq.steps:
                version = stored.get(step.key)
                if version is None or version == step.issue.source_hash:
                    continue
                got = conn.execute(
                    select(func.count())
                    .select_from(D)
                    .join(STEPS, STEPS.c.send_id == D.c.send_id)
                    .where(
                        STEPS.c.sequence == seq.name,
                        STEPS.c.key == step.key,
                        D.c.status == "sent",
                    )
                ).scalar_one()
                if got:
                    problems.append(_warning(step.issue.path, got))
    return problems


def _warning(path: object, got: int) -> Problem:
    return Problem(
        str(path),
        1,
        f"the text changed after {got} reader(s) got this step: they keep the version they "
        "had (nothing is sent twice); readers still to come get this one",
        "warning",
    )
