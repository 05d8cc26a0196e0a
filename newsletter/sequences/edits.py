"""`check`'s warning about a step edited after readers got it: they keep the version they got
(each ledger row records it in `deliveries.version`) and are never sent the step again; the
readers still to come get the new text. Read from the database as it is, never written."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from newsletter.db import tables
from newsletter.db.connection import reading
from newsletter.errors import Problem
from newsletter.sequences.model import Step

D, STEPS = tables.deliveries, tables.sequence_steps
GOT_IT = ("sent", "bounced", "complained")  # accepted by the relay: `sending.outcomes`' sent


def edited_after_sending(engine: Engine, steps: list[Step]) -> list[Problem]:
    """A warning for each step whose file is not the version some readers got."""
    problems = []
    with reading(engine) as conn:
        for step in steps:
            send_id = conn.execute(
                select(STEPS.c.send_id).where(
                    STEPS.c.sequence == step.sequence, STEPS.c.key == step.key
                )
            ).scalar()
            if send_id is None:
                continue
            readers = conn.execute(
                select(func.count()).where(
                    D.c.send_id == send_id,
                    D.c.status.in_(GOT_IT),
                    D.c.version.is_not(None),
                    D.c.version != step.issue.source_hash,
                )
            ).scalar_one()
            if readers:
                problems.append(
                    Problem(
                        str(step.issue.path),
                        1,
                        f"the text changed after {readers:,} reader{'s' if readers != 1 else ''}"
                        " got this step: they keep the version they got and never get it "
                        "again; readers still to come get this text",
                        "warning",
                    )
                )
    return problems
