"""Moving from another provider: its export's column names and delimiter, attribute names in
lower_snake case, and past opt-outs and bounces brought in as suppressions (`--as`), which
mail nobody and which no later import undoes. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from newsletter.audience.csv_import import import_csv
from newsletter.audience.lists import get_list
from newsletter.audience.memberships import memberships_of
from newsletter.audience.recipients import audience_ids
from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.suppressions import suppress_address, suppressions_of
from newsletter.cli import cli
from newsletter.db import tables
from newsletter.errors import ImportFileError
from tests.support.subscriber_store import count


def _file(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


MAILCHIMP = (
    "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,TAGS\r\n"
    'ann@example.com,Ann,Lee,2,2024-01-02 10:00:00,192.0.2.1,"vip,early"\r\n'
    "bo@example.com,Bo,,1,2024-02-03 11:00:00,,\r\n"
)


def test_a_mailchimp_export_imports_with_first_and_last_names(store, tmp_path):
    report = import_csv(store, _file(tmp_path, MAILCHIMP), "weekly")
    assert (report.added, report.rejected) == (2, 0), report.problems
    ann = get_subscriber(store, "ann@example.com")
    assert ann["name"] == "Ann Lee"
    assert ann["attributes"] == {
        "first_name": "Ann",
        "last_name": "Lee",
        "member_rating": "2",
        "optin_time": "2024-01-02 10:00:00",
        "tags": "vip,early",
    }  # the IP address is not kept
    assert get_subscriber(store, "bo@example.com")["name"] == "Bo"
    assert report.notes == [
        "email from 'Email Address'; name from 'First Name' + 'Last Name'",
        "attribute names in lower_snake case: 'First Name' -> first_name, 'Last Name' -> "
        "last_name, 'MEMBER_RATING' -> member_rating, 'OPTIN_TIME' -> optin_time, "
        "'TAGS' -> tags",
        "not stored (IP addresses): 'OPTIN_IP'",
    ]


@pytest.mark.parametrize(
    ("header", "row", "took", "name", "attributes"),
    [
        (  # Substack
            "email,active_subscription,expiry,plan,email_disabled,created_at",
            "ann@example.com,true,,free,false,2024-03-01",
            [],
            "",
            {"active_subscription": "true", "plan": "free", "email_disabled": "false",
             "created_at": "2024-03-01"},
        ),
        (  # Buttondown
            "email_address,notes,tags,creation_date,subscriber_type",
            "ann@example.com,met at PyCon,python,2024-03-01,regular",
            ["email from 'email_address'"],
            "",
            {"notes": "met at PyCon", "tags": "python", "creation_date": "2024-03-01",
             "subscriber_type": "regular"},
        ),
        (  # ConvertKit
            "first_name,email,created_at,tags",
            "Ann,ann@example.com,2024-03-01,python",
            ["name from 'first_name'"],
            "Ann",
            {"first_name": "Ann", "created_at": "2024-03-01", "tags": "python"},
        ),
        (  # a hand-made file: Full Name, E-mail
            "E-mail,Full Name,Given Name",
            "ann@example.com,Ann Lee,Ann",
            ["email from 'E-mail'; name from 'Full Name'"],
            "Ann Lee",
            {"first_name": "Ann"},
        ),
    ],
)  # fmt: skip
def test_other_providers_column_names_are_recognised(
    store, tmp_path, header, row, took, name, attributes
):
    report = import_csv(store, _file(tmp_path, f"{header}\n{row}\n"), "weekly")
    assert (report.added, report.rejected) == (1, 0), report.problems
    ann = get_subscriber(store, "ann@example.com")
    assert (ann["name"], ann["attributes"]) == (name, attributes)
    assert report.notes[: len(took)] == took


@pytest.mark.parametrize(("delimiter", "shown"), [(";", "';'"), ("\t", "tab"), ("|", "'|'")])
def test_a_semicolon_tab_or_bar_separated_file_is_sniffed(store, tmp_path, delimiter, shown):
    text = delimiter.join(["Email", "Name", "City"]) + "\n"
    text += delimiter.join(["ann@example.com", "Lee, Ann", "Oslo"]) + "\n"
    report = import_csv(store, _file(tmp_path, text), "weekly")
    assert (report.added, report.rejected) == (1, 0), report.problems
    ann = get_subscriber(store, "ann@example.com")
    assert (ann["name"], ann["attributes"]) == ("Lee, Ann", {"city": "Oslo"})
    assert report.notes[0] == f"columns separated by {shown} (sniffed)"


def test_a_file_whose_delimiter_cannot_be_sniffed_names_the_delimiter(store, tmp_path):
    path = _file(tmp_path, "email:name\nann@example.com:Ann\n")
    with pytest.raises(ImportFileError) as caught:
        import_csv(store, path, "weekly")
    message = str(caught.value)
    assert message.startswith(f"{path}:1: no 'email' column (header has: email:name; read with ','")
    assert message.endswith("are the columns separated by ':'? import with --delimiter ':'")
    assert count(store, "subscribers") == 0
    report = import_csv(store, path, "weekly", delimiter=":")
    assert (report.added, get_subscriber(store, "ann@example.com")["name"]) == (1, "Ann")


def test_a_wrong_delimiter_given_is_named(store, tmp_path):
    path = _file(tmp_path, "email,name\nann@example.com,Ann\n")
    with pytest.raises(ImportFileError, match="read with ';' as the delimiter"):
        import_csv(store, path, "weekly", delimiter=";")


def test_two_columns_with_one_lower_snake_name_are_refused(store, tmp_path):
    path = _file(tmp_path, "email,First Name,first_name\nann@example.com,Ann,A\n")
    with pytest.raises(ImportFileError, match=r":1: column 'first_name' appears twice"):
        import_csv(store, path, "weekly")


def _audience(store, slug: str) -> list[int]:
    """The ids a send to the list would mail now."""
    with store.connect() as conn:
        return [row[0] for row in audience_ids(conn, [get_list(store, slug)["id"]])]


def test_import_as_unsubscribed_suppresses_for_the_list_only(store, tmp_path):
    member = add_subscriber(store, "ann@example.com", "weekly")
    add_subscriber(store, "ann@example.com", "daily")
    text = "Email Address,First Name\nann@example.com,Ann\nnew@example.com,New\n"
    report = import_csv(store, _file(tmp_path, text), "weekly", as_reason="unsubscribed")
    assert (report.added, report.updated, report.unchanged) == (2, 0, 0)
    assert _audience(store, "weekly") == []  # nobody left to mail on the list
    assert _audience(store, "daily") == [member["id"]]  # the other list is untouched
    assert get_subscriber(store, "new@example.com") is None  # no subscriber, no name kept
    [held] = suppressions_of(store, "new@example.com")
    assert (held["reason"], held["list_id"]) == ("unsubscribed", get_list(store, "weekly")["id"])
    again = import_csv(store, _file(tmp_path, "email\nnew@example.com\n", "again.csv"), "weekly")
    assert (again.added, again.suppressed) == (0, 1)  # a later import never undoes it
    assert _audience(store, "weekly") == []


@pytest.mark.parametrize("reason", ["bounced", "complained"])
def test_import_as_bounced_or_complained_suppresses_for_every_list(store, tmp_path, reason):
    ann = add_subscriber(store, "ann@example.com", "weekly")
    add_subscriber(store, "ann@example.com", "daily")
    path = _file(tmp_path, "email\nANN@example.com\ngone@example.com\n")
    report = import_csv(store, path, "weekly", as_reason=reason)
    assert report.added == 2
    assert _audience(store, "weekly") == _audience(store, "daily") == []
    assert {m["status"] for m in memberships_of(store, ann["id"])} == {"unsubscribed"}
    for email in ("ann@example.com", "gone@example.com"):
        [held] = suppressions_of(store, email)
        assert (held["reason"], held["list_id"]) == (reason, 0)
    e = tables.subscriber_events
    with store.connect() as conn:
        kinds = conn.execute(select(e.c.kind, e.c.detail)).all()
    assert (reason, "import:people.csv") in kinds  # the member's history says why
    later = import_csv(store, _file(tmp_path, "email\ngone@example.com\n", "b.csv"), "daily")
    assert (later.added, later.suppressed) == (0, 1)


def test_import_as_makes_a_weaker_suppression_stronger_and_never_weaker(store, tmp_path):
    suppress_address(store, "ann@example.com", "bounced")
    suppress_address(store, "bo@example.com", "complained")
    path = _file(tmp_path, "email\nann@example.com\nbo@example.com\n")
    report = import_csv(store, path, "weekly", as_reason="complained")
    assert (report.added, report.updated, report.unchanged) == (0, 1, 1)
    assert suppressions_of(store, "ann@example.com")[0]["reason"] == "complained"
    weaker = import_csv(store, path, "weekly", as_reason="bounced")
    assert (weaker.added, weaker.updated, weaker.unchanged) == (0, 0, 2)
    assert [s["reason"] for s in suppressions_of(store, "ann@example.com")] == ["complained"]


def test_import_as_with_dry_run_writes_nothing(store, tmp_path):
    add_subscriber(store, "ann@example.com", "weekly")
    path = _file(tmp_path, "email\nann@example.com\nbo@example.com\n")
    report = import_csv(store, path, "weekly", as_reason="bounced", dry_run=True)
    assert report.added == 2
    assert count(store, "suppressions") == 0
    assert len(_audience(store, "weekly")) == 1


@pytest.fixture
def run(workdir, database_url):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), env={"DATABASE_URL": database_url})
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    invoke("lists", "create", "weekly", "--name", "Weekly news")
    return invoke


def test_cli_import_as_says_what_it_did_and_mails_nobody(run, workdir):
    (workdir / "unsub.csv").write_text("Email Address\nann@example.com\n", encoding="utf-8")
    result = run("subscribers", "import", "unsub.csv", "--list", "weekly", "--as", "unsubscribed")
    assert result.stdout.splitlines()[:2] == [
        "unsub.csv: email from 'Email Address'",
        "unsub.csv: only the addresses are kept (--as): no names, no attributes",
    ]
    assert result.stdout.splitlines()[2].startswith(
        "unsub.csv: suppressed 1 as unsubscribed (mailed nobody), made 0 stronger, "
        "0 already were, skipped 0 duplicates, rejected 0"
    )
    assert not (workdir / "outbox").exists()
    shown = run("subscribers", "show", "ann@example.com")
    assert shown.stdout.startswith("suppressed for list 1: unsubscribed (import:unsub.csv, ")
    assert len(shown.stdout.splitlines()) == 1  # no subscriber was created
    both = run(
        "subscribers", "import", "unsub.csv", "--list", "weekly", "--as", "bounced",
        "--unconfirmed", code=2,
    )  # fmt: skip
    assert "--as and --unconfirmed" in both.stderr


def test_cli_delimiter_option_and_its_error(run, workdir):
    (workdir / "p.csv").write_text("email:name\nann@example.com:Ann\n", encoding="utf-8")
    refused = run("subscribers", "import", "p.csv", "--list", "weekly", code=1)
    assert refused.stderr.count("\n") == 1 and "--delimiter ':'" in refused.stderr
    run("subscribers", "import", "p.csv", "--list", "weekly", "--delimiter", ":")
    bad = run("subscribers", "import", "p.csv", "--list", "weekly", "--delimiter", "ab", code=2)
    assert "one character" in bad.stderr


def test_cli_export_excel_writes_a_bom_and_imports_back(run, workdir):
    (workdir / "p.csv").write_text("email,name\nann@example.com,Zoë\n", encoding="utf-8")
    run("subscribers", "import", "p.csv", "--list", "weekly")
    run("subscribers", "export", "--list", "weekly", "--excel", "-o", "x.csv")
    data = (workdir / "x.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfemail,name,status,joined_at\r\n")
    assert "Zoë".encode() in data
    plain = run("subscribers", "export", "--list", "weekly")
    assert plain.stdout.startswith("email,")  # no BOM without --excel
    to_stdout = run("subscribers", "export", "--list", "weekly", "--excel")
    assert to_stdout.stdout.startswith("\ufeffemail,")
    again = run("subscribers", "import", "x.csv", "--list", "weekly")
    assert "unchanged 1" in again.stdout
    both = run("subscribers", "export", "--list", "weekly", "--excel", "--raw", code=2)
    assert "choose one" in both.stderr


def test_rows_whose_status_says_they_left_become_suppressions_never_members(store, tmp_path):
    """An export of everyone (this tool's `--status all`, ConvertKit's `state`, Buttondown's
    `subscriber_type`) holds the people who left: they are never subscribed again."""
    text = (
        "email,first_name,state\n"
        "ann@example.com,Ann,active\n"
        "bo@example.com,Bo,cancelled\n"
        "cy@example.com,Cy,bounced\n"
        "di@example.com,Di,complained\n"
    )
    report = import_csv(store, _file(tmp_path, text), "weekly")
    assert (report.added, report.left, report.rejected) == (1, 3, 0)
    assert any("says they left" in note for note in report.notes)
    ann = get_subscriber(store, "ann@example.com")
    assert _audience(store, "weekly") == [ann["id"]]
    assert ann["attributes"] == {"first_name": "Ann", "state": "active"}
    assert get_subscriber(store, "bo@example.com") is None  # nothing kept but the suppression
    weekly = get_list(store, "weekly")["id"]
    held = {
        e: suppressions_of(store, e)[0] for e in ("bo@", "cy@", "di@") for e in [e + "example.com"]
    }
    assert [(h["reason"], h["list_id"]) for h in held.values()] == [
        ("unsubscribed", weekly), ("bounced", 0), ("complained", 0),
    ]  # fmt: skip


def test_an_export_of_everyone_imports_elsewhere_without_mailing_who_left(store, tmp_path):
    from newsletter.audience.csv_export import export_csv
    from newsletter.audience.unsubscribe import unsubscribe

    add_subscriber(store, "ann@example.com", "weekly")
    bo = add_subscriber(store, "bo@example.com", "weekly")
    unsubscribe(store, bo["id"], get_list(store, "weekly")["id"])
    suppress_address(store, "ann@example.com", "bounced")
    add_subscriber(store, "cy@example.com", "weekly")
    out = tmp_path / "all.csv"
    with out.open("w", encoding="utf-8", newline="") as f:
        export_csv(store, "weekly", f, None)
    report = import_csv(store, out, "daily")
    assert (report.added, report.left) == (1, 2)
    cy = get_subscriber(store, "cy@example.com")
    assert _audience(store, "daily") == [cy["id"]]
