"""The tables of subject-line tests (revision 0010), beside `tables` (which re-exports them).

`send_variants`: each variant's content, stored with the send so that every worker and every
resumed run sends exactly the same bytes. `ab_tests`: the test's settings, its phases' times
and, once decided, the verdict with the figures it was decided on (shown later as they were).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
)

from newsletter.db.schema_base import Id, metadata

send_variants = Table(
    "send_variants",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("variant", Integer, primary_key=True),  # 0 = A
    Column("subject", Text, nullable=False),
    Column("preheader", Text, nullable=False),
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("tracked_html", Text, nullable=True),  # with tracked links and pixel (when on)
    Column("web_html", Text, nullable=False),  # the archive's page of this variant
)

ab_tests = Table(
    "ab_tests",
    metadata,
    Column("send_id", Id, ForeignKey("sends.id", ondelete="CASCADE"), primary_key=True),
    Column("share", Float, nullable=False),
    Column("wait_seconds", Integer, nullable=False),
    Column("metric", String(10), nullable=False),  # opens | clicks
    Column("tie", String(10), nullable=False),  # first | best
    Column("variants", Integer, nullable=False),
    Column("sample", Integer, nullable=False),  # readers in the test phase
    Column("tested_at", DateTime(timezone=True), nullable=True),  # the test phase fully sent
    Column("winner_due_at", DateTime(timezone=True), nullable=True),  # tested_at + wait
    Column("winner", Integer, nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("decided_by", String(10), nullable=True),  # verdict | hand
    Column("conclusive", Boolean, nullable=True),
    Column("p_value", Float, nullable=True),
    Column("figures", JSON, nullable=True),  # per variant, as they were at decision time
)
