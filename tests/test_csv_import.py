"""CSV import and export on SQLite and PostgreSQL: messy input, suppression, concurrency."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter.audience.csv_export import export_csv
from newsletter.audience.csv_import import import_csv
from newsletter.audience.lists import get_list
from newsletter.audience.memberships import memberships_of
from newsletter.audience.recipients import audience_ids
from newsletter.audience.subscribers import add_subscriber, get_subscriber
from newsletter.audience.suppressions import suppress_address
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.errors import ImportFileError
from tests.support.subscriber_store import count, snapshot

MESSY = (
    "\ufeffEmail,Name,City\r\n"  # 1: BOM, capitalised header
    "ann@example.com,Ann,Oslo\r\n"  # 2: added
    "not-an-address,Bad,X\r\n"  # 3: rejected
    '"bo@example.com","Lee, Bo",Rome\r\n'  # 4: added, quoted comma
    "ANN@EXAMPLE.COM,Ann Again,Oslo\r\n"  # 5: duplicate of line 2
    "\r\n"  # 6: empty line, ignored
    "cy@example.com,<b>Cy</b> & co,\r\n"  # 7: added, HTML kept as given
    ",No Address,Paris\r\n"  # 8: rejected
    "dee@example,Dee,\r\n"  # 9: rejected (no dot in domain)
    '"eve@example.com","Eve ""E""\r\nSmith",Lyon\r\n'  # 10-11: added, quoted line break
    "fay@example.com,Fay,Nice,extra\r\n"  # 12: rejected, too many fields
    "gus@example.com,Gus\r\n"  # 13: added, missing trailing field
    "Unsub@Example.com,Un,\r\n"  # 14: suppressed (unsubscribed before)
    "comp@example.com,Comp,\r\n"  # 15: suppressed (complained, never a subscriber)
)
EXPECTED = {
    "added": 5,
    "updated": 0,
    "unchanged": 0,
    "duplicates": 1,
    "suppressed": 2,
    "rejected": 4,
    "left": 0,
}


@pytest.fixture
def messy(store, tmp_path):
    sub = add_subscriber(store, "unsub@example.com", "weekly")
    unsubscribe(store, sub["id"], get_list(store, "weekly")["id"])
    suppress_address(store, "comp@example.com", "complained", source="webhook")
    path = tmp_path / "messy.csv"
    path.write_bytes(MESSY.encode("utf-8"))
    return path


def test_messy_csv_gives_exact_counts_and_error_lines(store, messy):
    report = import_csv(store, messy, "weekly")
    assert report.counts() == EXPECTED
    assert [(p.line, p.message.split(":")[0]) for p in report.problems] == [
        (3, "'not-an-address'"),
        (8, "no email address"),
        (9, "'dee@example'"),
        (12, "4 fields but the header has 3 (quote values that contain commas)"),
    ]
    assert all(p.path == str(messy) for p in report.problems)
    people = {
        s["email"]: s
        for s in (
            get_subscriber(store, e)
            for e in ("ann@example.com", "bo@example.com", "cy@example.com", "eve@example.com")
        )
    }
    assert people["ann@example.com"]["name"] == "Ann"  # the first of the duplicates wins
    assert people["ann@example.com"]["attributes"] == {"city": "Oslo"}
    assert people["bo@example.com"]["name"] == "Lee, Bo"
    assert people["cy@example.com"]["name"] == "<b>Cy</b> & co"
    assert people["cy@example.com"]["attributes"] == {}
    assert people["eve@example.com"]["name"] == 'Eve "E" Smith'  # a quoted line break: one line
    statuses = {
        m["status"]
        for s in ("unsub@example.com",)
        for m in memberships_of(store, get_subscriber(store, s)["id"])
    }
    assert statuses == {"unsubscribed"}
    assert get_subscriber(store, "comp@example.com") is None
    assert count(store, "memberships", status="subscribed") == 5


def test_reimport_changes_nothing(store, messy):
    import_csv(store, messy, "weekly")
    before = snapshot(store)
    again = import_csv(store, messy, "weekly")
    assert again.counts() == {**EXPECTED, "added": 0, "unchanged": 5}
    assert snapshot(store) == before


def test_dry_run_reports_without_writing(store, messy):
    before = snapshot(store)
    report = import_csv(store, messy, "weekly", dry_run=True)
    assert report.counts() == EXPECTED
    assert snapshot(store) == before


def test_small_chunks_give_the_same_result(store, messy):
    assert import_csv(store, messy, "weekly", chunk_size=2).counts() == EXPECTED


def test_changed_rows_are_updated_and_empty_cells_keep_values(store, tmp_path):
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("email,name,city,plan\nann@example.com,Ann,Oslo,pro\nbo@example.com,Bo,,\n")
    second.write_text("email,name,city,plan\nANN@example.com,Ann Lee,,\nbo@example.com,Bo,,\n")
    import_csv(store, first, "weekly")
    report = import_csv(store, second, "weekly")
    assert (report.updated, report.unchanged, report.added) == (1, 1, 0)
    ann = get_subscriber(store, "ann@example.com")
    assert (ann["email"], ann["name"]) == ("ann@example.com", "Ann Lee")
    assert ann["attributes"] == {"city": "Oslo", "plan": "pro"}


def test_suppression_wins_over_import(store, tmp_path):
    path = tmp_path / "list.csv"
    path.write_text("email\nann@example.com\nbo@example.com\n")
    import_csv(store, path, "weekly")
    weekly = get_list(store, "weekly")["id"]
    unsubscribe(store, get_subscriber(store, "ann@example.com")["id"], weekly)
    suppress_address(store, "BO@example.com", "bounced")
    report = import_csv(store, path, "weekly")
    assert (report.suppressed, report.added) == (2, 0)
    with store.connect() as conn:
        assert list(audience_ids(conn, [weekly])) == []
    # another list: the per-list unsubscribe does not apply there, the global bounce does
    other = import_csv(store, path, "daily")
    assert (other.added, other.suppressed) == (1, 1)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            b"name,city\nAnn,Oslo\n",
            r"bad\.csv:1: no 'email' column \(header has: name, city; read with ','",
        ),
        (
            b"email,name\nann@example.com,Ann\nbo@example.com,Bo\nce@example.com,C\xe9line\n",
            r"bad\.csv:4: not UTF-8 text \(byte 0xe9\)",
        ),
        (b"", r"bad\.csv: empty file"),
        (b"email,name,Email\nx@example.com,a,b\n", "column 'email' appears twice"),
    ],
)
def test_unreadable_file_writes_nothing(store, tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_csv(store, path, "weekly")
    assert count(store, "subscribers") == 0


def test_missing_file_is_one_clear_error(store, tmp_path):
    with pytest.raises(ImportFileError, match="nope.csv: cannot read: No such file"):
        import_csv(store, tmp_path / "nope.csv", "weekly")


def test_export_round_trips(store, messy, tmp_path):
    import_csv(store, messy, "weekly")
    out = io.StringIO()
    assert export_csv(store, "weekly", out) == 5
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["email"] for r in rows] == [
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
        "eve@example.com",
        "gus@example.com",
    ]
    assert list(rows[0]) == ["email", "name", "status", "joined_at", "city"]
    assert (rows[2]["name"], rows[2]["city"]) == ("<b>Cy</b> & co", "")
    everyone = io.StringIO()
    assert export_csv(store, "weekly", everyone, status=None) == 6
    assert "Unsub@Example.com,Un,unsubscribed" not in everyone.getvalue()  # stored as first given
    assert "unsub@example.com,,unsubscribed" in everyone.getvalue()
    path = tmp_path / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    report = import_csv(store, path, "daily")
    assert (report.added, report.rejected) == (5, 0)
    assert get_subscriber(store, "ann@example.com")["attributes"] == {"city": "Oslo"}


def test_two_imports_at_once_add_each_address_once(store, database_url, tmp_path):
    emails = [f"user{i:05d}@example{i % 7}.com" for i in range(12000)]
    forward, backward = tmp_path / "forward.csv", tmp_path / "backward.csv"
    forward.write_text("email,name\n" + "".join(f"{e},F\n" for e in emails))
    backward.write_text("email,name\n" + "".join(f"{e.upper()},F\n" for e in reversed(emails)))
    root = Path(__file__).resolve().parents[1]  # the code under test, not an install
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONPATH": str(root)}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "newsletter",
                "subscribers",
                "import",
                str(p),
                "--list",
                "weekly",
                "--json",
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in (forward, backward)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    assert count(store, "subscribers") == len(emails)
    weekly = get_list(store, "weekly")["id"]
    assert count(store, "memberships", list_id=weekly) == len(emails)
    import json

    added = sum(json.loads(out)["added"] for out, _ in results)
    assert added == len(emails)
