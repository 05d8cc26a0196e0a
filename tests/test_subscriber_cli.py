"""`newsletter lists ...` and `newsletter subscribers ...` through the real command line."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from newsletter.cli import cli


@pytest.fixture
def run(workdir, database_url):
    runner = CliRunner()

    def invoke(*args: str, ok: bool = True, input: str | None = None):
        result = runner.invoke(cli, list(args), env={"DATABASE_URL": database_url}, input=input)
        if ok:
            assert result.exit_code == 0, (result.output, result.stderr)
        return result

    invoke("lists", "create", "weekly", "--name", "Weekly news")
    invoke.database_url = database_url  # type: ignore[attr-defined]
    return invoke


def test_lists_table_and_json(run):
    run("subscribers", "add", "ann@example.com", "--list", "weekly", "--name", "Ann")
    run("subscribers", "add", "bo@example.com", "--list", "weekly", "--unconfirmed")
    table = run("lists").stdout
    assert table.splitlines()[0].split() == [
        "list",
        "subscribed",
        "unconfirmed",
        "unsubscribed",
        "bounced",
        "complained",
        "name",
    ]
    assert table.splitlines()[1].split() == ["weekly", "1", "1", "0", "0", "0", "Weekly", "news"]
    data = json.loads(run("lists", "--json").stdout)
    assert [(d["slug"], d["subscribed"], d["unconfirmed"]) for d in data] == [("weekly", 1, 1)]


def test_unknown_list_is_one_line_and_exit_1(run):
    result = run("subscribers", "add", "ann@example.com", "--list", "montly", ok=False)
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: unknown list 'montly' (known: weekly; create it with "
        "`newsletter lists create montly --name ...`)"
    ]


@pytest.mark.parametrize(
    ("option", "value", "what"),
    [
        ("--reply-to", "not-an-address", "reply-to address"),
        ("--reply-to", "ed@example.com\r\nBcc: all@example.net", "reply-to address"),
        ("--reply-to", "Editor <ed@example.com>", "reply-to address"),
        ("--from-address", "news@", "from address"),
        ("--from-address", "news@example.com, other@example.net", "from address"),
    ],
)
def test_lists_create_refuses_a_sender_or_reply_to_that_is_no_address(run, option, value, what):
    result = run("lists", "create", "daily", "--name", "Daily", option, value, ok=False)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: list {what} '")
    assert "is not an email address" in lines[0] and "editor@example.com" in lines[0]
    assert "daily" not in run("lists").stdout  # nothing written


def test_lists_create_keeps_valid_addresses_trimmed(run):
    run(
        "lists", "create", "daily", "--name", "Daily",
        "--from-address", " news@example.com ", "--reply-to", "Ed@Example.com",
    )  # fmt: skip
    from newsletter.audience.lists import get_list
    from newsletter.db.engine import make_engine

    engine = make_engine(run.database_url)
    row = get_list(engine, "daily")
    engine.dispose()
    assert (row["from_address"], row["reply_to"]) == ("news@example.com", "Ed@Example.com")


@pytest.mark.parametrize("name", ["Daily\nBcc: x@example.com", "D" * 201])
def test_lists_create_refuses_a_name_that_is_not_one_short_line(run, name):
    result = run("lists", "create", "daily", "--name", name, ok=False)
    assert result.exit_code == 1 and result.stderr.startswith("error: list name ")


def test_invalid_address_is_refused(run):
    result = run("subscribers", "add", "ann@", "--list", "weekly", ok=False)
    assert result.exit_code == 1 and "'ann@' is not a valid email address" in result.stderr


def test_unsubscribe_show_and_resubscribe(run):
    run("subscribers", "add", "Ann@Example.com", "--list", "weekly", "--name", "Ann")
    assert (
        "unsubscribed from 'weekly'"
        in run("subscribers", "unsubscribe", "ann@example.com", "--list", "weekly").stdout
    )
    refused = run("subscribers", "add", "ann@example.com", "--list", "weekly", ok=False)
    assert "--resubscribe" in refused.stderr
    shown = json.loads(run("subscribers", "show", "ANN@example.com", "--json").stdout)
    assert shown["subscriber"]["email"] == "Ann@Example.com"
    assert [m["status"] for m in shown["memberships"]] == ["unsubscribed"]
    assert [s["reason"] for s in shown["suppressions"]] == ["unsubscribed"]
    assert [e["kind"] for e in shown["history"]] == ["subscribed", "unsubscribed"]
    run(
        "subscribers",
        "add",
        "ann@example.com",
        "--list",
        "weekly",
        "--resubscribe",
        "asked again by email on 2026-11-20",
    )
    text = run("subscribers", "show", "ann@example.com").stdout
    assert "list weekly: subscribed" in text
    assert "resubscribed  cli: asked again by email on 2026-11-20" in text


def test_import_reports_bad_lines_and_summary(run, workdir):
    (workdir / "people.csv").write_text(
        "email,name\nann@example.com,Ann\nbad,B\nANN@example.com,A\n"
    )
    dry = run("subscribers", "import", "people.csv", "--list", "weekly", "--dry-run")
    assert "would add 1," in dry.stdout and "[dry run]" in dry.stdout
    result = run("subscribers", "import", "people.csv", "--list", "weekly")
    assert result.stderr.startswith("people.csv:3: error: 'bad': ")
    assert (
        "added 1, updated 0, unchanged 0, skipped 1 duplicates and 0 suppressed, rejected 1"
        in result.stdout
    )
    data = json.loads(
        run("subscribers", "import", "people.csv", "--list", "weekly", "--json").stdout
    )
    assert (data["added"], data["unchanged"], data["problems"][0]["line"]) == (0, 1, 3)


def test_import_of_unreadable_file_fails_cleanly(run, workdir):
    (workdir / "x.csv").write_text("name\nAnn\n")
    result = run("subscribers", "import", "x.csv", "--list", "weekly", ok=False)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: x.csv:1: no 'email' column")


def test_export_to_stdout_and_file(run, workdir):
    (workdir / "in.csv").write_text(
        "email,name,city\nann@example.com,Ann,Oslo\nbo@example.com,Bo,\n"
    )
    run("subscribers", "import", "in.csv", "--list", "weekly")
    run("subscribers", "unsubscribe", "bo@example.com")
    rows = list(
        csv.DictReader(io.StringIO(run("subscribers", "export", "--list", "weekly").stdout))
    )
    assert [(r["email"], r["city"]) for r in rows] == [("ann@example.com", "Oslo")]
    run("subscribers", "export", "--list", "weekly", "--status", "all", "-o", "out.csv")
    emails = [r["email"] for r in csv.DictReader((workdir / "out.csv").open(encoding="utf-8"))]
    assert emails == ["ann@example.com", "bo@example.com"]


def test_remove_and_forget(run):
    run("subscribers", "add", "ann@example.com", "--list", "weekly", "--name", "Ann")
    assert (
        "removed ann@example.com from 'weekly'"
        in run("subscribers", "remove", "ann@example.com", "--list", "weekly").stdout
    )
    run("subscribers", "add", "ann@example.com", "--list", "weekly")  # remove is not suppression
    aborted = run("subscribers", "forget", "ann@example.com", input="n\n", ok=False)
    assert aborted.exit_code == 1
    assert (
        "forgot ann@example.com" in run("subscribers", "forget", "ann@example.com", "--yes").stdout
    )
    shown = json.loads(run("subscribers", "show", "ann@example.com", "--json").stdout)
    assert shown["subscriber"] is None and shown["history"] == []
    assert [(s["reason"], s["email"]) for s in shown["suppressions"]] == [("manual", None)]
    assert run("subscribers", "add", "ann@example.com", "--list", "weekly", ok=False).exit_code == 1
