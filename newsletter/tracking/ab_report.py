"""A subject-line test in `report` (text, `--json`, `--html`): one row per variant with its
subject, recipients, people and machines who opened and clicked, and rates (of sent - bounced,
the report's one definition), then the test: its phase, and once decided the verdict with the
figures and p-value stored at decision time, shown exactly as they were."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from newsletter.db import tables
from newsletter.db.clock import as_utc
from newsletter.tracking.ab_figures import variant_figures

A, V = tables.ab_tests, tables.send_variants
LETTERS = "ABCD"


def _rate(part: int, reached: int) -> float | None:
    return round(part / reached, 4) if reached > 0 else None


def _named(figures: list[dict[str, Any]], subjects: dict[int, str]) -> list[dict[str, Any]]:
    out = []
    for f in figures:
        v = int(f["variant"])
        reached = int(f.get("reached", f["recipients"] - f.get("bounced", 0)))
        out.append(
            {
                "variant": LETTERS[v],
                "subject": subjects.get(v, ""),
                "recipients": f["recipients"],
                "bounced": f.get("bounced", 0),
                "opens": f["opens"],
                "clicks": f["clicks"],
                "open_rate": _rate(f["opens"]["human"], reached),
                "click_rate": _rate(f["clicks"]["human"], reached),
            }
        )
    return out


def ab_section(conn: Connection, send_id: int) -> dict[str, Any] | None:
    """The send's test for the report, or None for a send without one."""
    test = conn.execute(select(A).where(A.c.send_id == send_id)).first()
    if test is None:
        return None
    subjects = {
        int(r.variant): r.subject
        for r in conn.execute(select(V.c.variant, V.c.subject).where(V.c.send_id == send_id))
    }
    phase = "winner" if test.winner is not None else "waiting" if test.tested_at else "testing"
    return {
        "variants": _named(variant_figures(conn, send_id, test.variants), subjects),
        "ab_test": {
            "phase": phase,
            "metric": test.metric,
            "share": test.share,
            "sample": test.sample,
            "winner_due_at": as_utc(test.winner_due_at),
            "winner": LETTERS[test.winner] if test.winner is not None else None,
            "decided_by": test.decided_by,
            "decided_at": as_utc(test.decided_at),
            "conclusive": test.conclusive,
            "p_value": test.p_value,
            "at_decision": _named(test.figures, subjects) if test.figures else None,
        },
    }


def verdict_line(test: dict[str, Any]) -> str:
    """One line saying where the test stands, or what was decided and how sure it was."""
    if test["winner"] is None:
        due = test["winner_due_at"]
        if due is None:
            return f"testing {test['sample']:,} readers; the winner is due after the wait"
        return f"test phase sent; winner due at {due:%Y-%m-%d %H:%M} UTC"
    if test["decided_by"] == "hand":
        return f"winner {test['winner']}, chosen by hand (p = {test['p_value']:.3g})"
    sure = "" if test["conclusive"] else "not conclusive, "
    return f"winner {test['winner']} on people's {test['metric']} ({sure}p = {test['p_value']:.3g})"
