"""One definition of a send's outcomes (`sending.outcomes`): `status` and `report` say the same
sent, bounced and complained; rates divide by sent - bounced; SendGrid's delivery stage is a
column of the ledger (revision 0007), not words in its free text, and rows that a SendGrid
bounce once turned `failed` are bounces on both."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner
from sqlalchemy import insert, select, text

from newsletter.cli import cli
from newsletter.db import migrate, tables
from newsletter.db.engine import make_engine
from newsletter.sending.ledger_returns import apply_provider_event
from newsletter.sending.provider_events import apply_event, read_event
from tests.support.tracking import BROWSER, send_tracked

ISSUE_ID = "2026-02-01-tracked"
READERS = [f"s{i}@example.org" for i in range(1, 11)]


def _cli(database_url: str, *args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"], env={"DATABASE_URL": database_url})
    assert result.exit_code == 0, (result.output, result.stderr)
    data = json.loads(result.stdout)
    return data[0] if isinstance(data, list) else data


def test_status_and_report_agree_and_rates_leave_out_bounces(web, database_url) -> None:
    mails = send_tracked(web, READERS)
    path = mails["s1@example.org"].pixel.split("8000", 1)[1]
    assert web.client.get(path, headers={"User-Agent": BROWSER}).status_code == 200
    report = _cli(database_url, "report", ISSUE_ID)
    send_id = report["send_id"]
    for reader in ("s9", "s10"):
        raw = {"email": f"{reader}@example.org", "send_ref": f"send-{send_id}", "event": "bounce",
               "subscriber_id": str(mails[f"{reader}@example.org"].subscriber_id),
               "type": "bounce", "reason": "550 5.1.1 user unknown"}  # fmt: skip
        apply_event(web.engine, read_event(raw))
    report = _cli(database_url, "report", ISSUE_ID)
    status = _cli(database_url, "status", ISSUE_ID)
    assert (report["sent"], report["bounced"], report["complained"]) == (10, 2, 0)
    outcomes = status["outcomes"]
    assert (outcomes["sent"], outcomes["bounced"], outcomes["complained"]) == (10, 2, 0)
    assert report["open_rate"] == 0.125  # 1 person of the 8 whose mail did not bounce


def _old_send(engine) -> int:  # noqa: ANN001
    """A SendGrid send as revision 0005 stored it: stages in the ledger's free text."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        send_id = conn.execute(
            insert(tables.sends.c.id.table).values(
                issue_id=ISSUE_ID, list_slugs=["news"], status="done", backend="sendgrid",
                subject="S", html="<p>x</p>", text="x", source_hash="h", options={},
                created_at=now, started_at=now, finished_at=now,
            ).returning(tables.sends.c.id)
        ).scalar_one()  # fmt: skip
        rows = [
            (1, "sent", "sendgrid: delivered"),
            (2, "sent", "sendgrid: deferred: mailbox busy"),
            (3, "failed", "sendgrid: bounce: 550 5.1.1 user unknown"),
            (4, "sent", ""),
            (5, "failed", "sendgrid: 400 bad address; the note says sendgrid: delivered"),
        ]
        for sub, status, detail in rows:
            conn.execute(
                text(
                    "INSERT INTO deliveries (send_id, subscriber_id, email, status, attempts, "
                    "detail, provider_id, updated_at) VALUES (:s, :i, :e, :st, 1, :d, '', :u)"
                ),
                {"s": send_id, "i": sub, "e": f"r{sub}@example.org", "st": status, "d": detail,
                 "u": now},
            )  # fmt: skip
    return int(send_id)


def test_an_upgrade_moves_stages_into_their_column_and_old_bounces_to_bounced(
    database_url, workdir
) -> None:
    engine = make_engine(database_url, upgrade=False)
    migrate.upgrade(engine, "0005")
    send_id = _old_send(engine)
    migrate.upgrade(engine)
    d = tables.deliveries
    with engine.connect() as conn:
        rows = conn.execute(
            select(d.c.subscriber_id, d.c.status, d.c.stage).where(d.c.send_id == send_id)
        ).all()
    assert sorted(tuple(r) for r in rows) == [
        (1, "sent", "delivered"),
        (2, "sent", "deferred"),
        (3, "bounced", ""),
        (4, "sent", ""),
        (5, "failed", ""),
    ]
    engine.dispose()
    report = _cli(database_url, "report", ISSUE_ID)
    status = _cli(database_url, "status", ISSUE_ID)
    assert (report["sent"], report["delivered"], report["bounced"]) == (4, 1, 1)
    assert {k: status["outcomes"][k] for k in ("sent", "delivered", "bounced", "failed")} == {
        "sent": 4,
        "delivered": 1,
        "bounced": 1,
        "failed": 1,
    }


def test_provider_events_move_the_stage_column_forward_only(web, database_url) -> None:
    mails = send_tracked(web, READERS[:2])
    send_id = _cli(database_url, "report", ISSUE_ID)["send_id"]
    sub = mails["s1@example.org"].subscriber_id
    assert apply_provider_event(web.engine, send_id, sub, "delivered")
    assert not apply_provider_event(web.engine, send_id, sub, "deferred")  # never backwards
    d = tables.deliveries
    with web.engine.connect() as conn:
        stage = conn.execute(
            select(d.c.stage).where(d.c.send_id == send_id, d.c.subscriber_id == sub)
        ).scalar_one()
    assert stage == "delivered"
