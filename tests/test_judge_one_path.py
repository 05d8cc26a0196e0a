"""Provider events and our own hits are judged through one function (`judge.judge_agent`): an
empty or missing user agent is a machine on both paths, since every browser and mail client
names itself."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from newsletter.cli import cli
from newsletter.sending.provider_events import apply_event, read_event
from newsletter.tracking.judge import AGENT, HUMAN, judge_agent
from tests.support.tracking import BROWSER, send_tracked, stored_hits


@pytest.mark.parametrize("agent", ["", "   ", None])
def test_an_empty_agent_is_a_machine_whichever_path(agent) -> None:  # noqa: ANN001
    assert judge_agent(agent, is_open=True) == AGENT
    assert judge_agent(agent, is_open=False) == AGENT
    assert judge_agent(BROWSER, is_open=False) == HUMAN


@pytest.mark.parametrize("useragent", ["", None])
def test_a_sendgrid_open_without_an_agent_counts_as_a_machine(web, database_url, useragent) -> None:  # noqa: ANN001, E501
    mails = send_tracked(web, ["s1@example.org", "s2@example.org"])
    result = CliRunner().invoke(
        cli, ["report", "2026-02-01-tracked", "--json"], env={"DATABASE_URL": database_url}
    )
    send_id = json.loads(result.stdout)["send_id"]
    sub = mails["s1@example.org"].subscriber_id
    raw = {"email": "s1@example.org", "send_ref": f"send-{send_id}", "event": "open",
           "subscriber_id": str(sub), "timestamp": 1700000000}  # fmt: skip
    if useragent is not None:
        raw["useragent"] = useragent
    apply_event(web.engine, read_event(raw), web.settings)
    assert [(row[0], row[2], row[3]) for row in stored_hits(web.engine)] == [
        (sub, "machine", AGENT)
    ]
