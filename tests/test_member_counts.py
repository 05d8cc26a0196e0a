"""`lists` and `subscribers export` tell bounced and complained members apart from people who
unsubscribed: after a first issue with hard bounces, an operator must not read "N people left"."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from newsletter.audience.suppressions import suppress_address
from newsletter.cli import cli
from newsletter.db.engine import make_engine


@pytest.fixture
def run(workdir, database_url):  # noqa: ANN001, ANN201
    runner = CliRunner()

    def invoke(*args: str):  # noqa: ANN202
        result = runner.invoke(cli, list(args), env={"DATABASE_URL": database_url})
        assert result.exit_code == 0, (result.output, result.stderr)
        return result

    invoke("lists", "create", "weekly", "--name", "Weekly news")
    for who in ("ann", "bo", "cy", "di", "ed"):
        invoke("subscribers", "add", f"{who}@example.com", "--list", "weekly")
    invoke("subscribers", "add", "fay@example.com", "--list", "weekly", "--unconfirmed")
    invoke("subscribers", "unsubscribe", "bo@example.com")
    engine = make_engine(database_url)
    suppress_address(engine, "CY@example.com", "bounced", source="test: hard 5.1.1")
    suppress_address(engine, "di@example.com", "bounced", source="test: hard 5.1.1")
    suppress_address(engine, "ed@example.com", "complained", source="test: abuse")
    engine.dispose()
    return invoke


def test_lists_counts_bounced_and_complained_apart(run) -> None:  # noqa: ANN001
    table = run("lists").stdout.splitlines()
    assert table[0].split() == [
        "list", "subscribed", "unconfirmed", "unsubscribed", "bounced", "complained", "name"
    ]  # fmt: skip
    assert table[1].split() == ["weekly", "1", "1", "1", "2", "1", "Weekly", "news"]
    (row,) = json.loads(run("lists", "--json").stdout)
    counts = {k: row[k] for k in ("subscribed", "unconfirmed", "unsubscribed")}
    assert counts == {"subscribed": 1, "unconfirmed": 1, "unsubscribed": 1}
    assert (row["bounced"], row["complained"]) == (2, 1)


def _export(run, status: str) -> list[tuple[str, str]]:  # noqa: ANN001
    out = run("subscribers", "export", "--list", "weekly", "--status", status).stdout
    return [(r["email"], r["status"]) for r in csv.DictReader(io.StringIO(out))]


def test_export_status_bounced_complained_and_all(run) -> None:  # noqa: ANN001
    assert _export(run, "bounced") == [("cy@example.com", "bounced"), ("di@example.com", "bounced")]
    assert _export(run, "complained") == [("ed@example.com", "complained")]
    assert _export(run, "unsubscribed") == [("bo@example.com", "unsubscribed")]
    assert _export(run, "all") == [
        ("ann@example.com", "subscribed"),
        ("bo@example.com", "unsubscribed"),
        ("cy@example.com", "bounced"),
        ("di@example.com", "bounced"),
        ("ed@example.com", "complained"),
        ("fay@example.com", "unconfirmed"),
    ]
