"""`send_at` with an IANA zone name: resolved with zoneinfo, the spring-forward gap an error, the
autumn overlap the first occurrence with a note from `check`, `schedule` in local time and
UTC, `send-due` at the right UTC moment."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from newsletter.authoring.send_time import local_time, overlap_note, parse_send_at
from newsletter.cli import cli
from tests.support.issue_files import errors_at, minimal, problems_of

BERLIN_WINTER = "2026-12-07T09:00 Europe/Berlin"
GAP = "2027-03-28T02:30 Europe/Berlin"  # clocks go from 02:00 to 03:00
OVERLAP = "2026-10-25T02:30 Europe/Berlin"  # 02:00-03:00 happens twice


def _utc(text: str) -> datetime:
    when = parse_send_at(text)
    assert isinstance(when, datetime), when
    return when.astimezone(UTC)


def test_a_zone_name_is_resolved_with_zoneinfo():
    assert _utc(BERLIN_WINTER) == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
    assert _utc("2026-07-07T09:00 Europe/Berlin") == datetime(2026, 7, 7, 7, 0, tzinfo=UTC)
    assert _utc("2026-07-07 09:00 America/New_York") == datetime(2026, 7, 7, 13, 0, tzinfo=UTC)
    assert _utc("2026-07-07T09:00 UTC") == datetime(2026, 7, 7, 9, 0, tzinfo=UTC)
    assert _utc("2026-07-07T09:00:00+02:00") == datetime(2026, 7, 7, 7, 0, tzinfo=UTC)


def test_a_time_in_the_spring_forward_gap_is_an_error(tmp_path: Path):
    assert errors_at(tmp_path, minimal(f"send_at: {GAP}\n")) == [
        (
            4,
            f"send_at '{GAP}' never happens: clocks in Europe/Berlin jump from +01:00 to "
            "+02:00 that night, skipping it; pick a time outside the gap",
        )
    ]


def test_a_time_in_the_autumn_overlap_is_the_first_and_check_notes_it(tmp_path: Path):
    assert _utc(OVERLAP) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert problems_of(tmp_path, minimal(f"send_at: {OVERLAP}\n")) == [
        (
            4,
            "warning",
            "send_at 2026-10-25T02:30 Europe/Berlin happens twice (clocks go back that "
            "night): the first is taken, 00:30 UTC; for the second (01:30 UTC) write "
            "2026-10-25T02:30+01:00 Europe/Berlin",
        )
    ]


def test_an_offset_before_the_zone_picks_the_second_occurrence():
    second = parse_send_at("2026-10-25T02:30+01:00 Europe/Berlin")
    assert isinstance(second, datetime)
    assert second.astimezone(UTC) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert "the second is taken, 01:30 UTC" in (overlap_note(second) or "")
    assert overlap_note(parse_send_at(BERLIN_WINTER)) is None  # type: ignore[arg-type]
    wrong = parse_send_at("2026-12-07T09:00+05:00 Europe/Berlin")
    assert wrong == (
        "send_at '2026-12-07T09:00+05:00 Europe/Berlin': Europe/Berlin is not at +05:00 then "
        "(it is at +01:00); write one of the two, not both"
    )


def test_an_unknown_zone_says_what_was_meant():
    assert parse_send_at("2026-12-07T09:00 Europe/Berln") == (
        "send_at '2026-12-07T09:00 Europe/Berln': unknown time zone 'Europe/Berln' (did you "
        "mean 'Europe/Berlin'?): use an IANA name like Europe/Berlin"
    )
    for name in ("../../etc/passwd", "Europe/", "/Europe/Berlin"):
        message = parse_send_at(f"2026-12-07T09:00 {name}")
        assert isinstance(message, str) and "unknown time zone" in message


@given(st.text(max_size=60))
def test_any_send_at_text_is_a_moment_or_one_line_of_why_not(text: str):
    when = parse_send_at(text)
    if isinstance(when, str):
        assert when.startswith("send_at") and "\n" not in when.replace(text, "")
    else:
        assert when.utcoffset() is not None
        assert overlap_note(when) is None or "happens twice" in (overlap_note(when) or "")


def test_local_time_is_shown_in_the_issues_zone():
    when = parse_send_at(BERLIN_WINTER)
    assert isinstance(when, datetime)
    assert local_time(when) == "2026-12-07 09:00 CET Europe/Berlin"


def _issue(folder: Path, stem: str, send_at: str) -> None:
    (folder / f"{stem}.md").write_text(
        minimal(f"send_at: {send_at}\nlists: [weekly]\n"), encoding="utf-8"
    )


@pytest.fixture
def run(workdir: Path, database_url: str):
    runner = CliRunner()

    def invoke(*args: str, code: int = 0):
        result = runner.invoke(cli, list(args), env={"DATABASE_URL": database_url})
        assert result.exit_code == code, (result.output, result.stderr)
        return result

    invoke("lists", "create", "weekly", "--name", "Weekly")
    (workdir / "issues").mkdir()
    return invoke


def test_schedule_shows_local_and_utc_time_and_the_zone_decides_when(run, workdir: Path):
    _issue(workdir / "issues", "2026-12-07-berlin", BERLIN_WINTER)
    _issue(workdir / "issues", "2026-10-25-overlap", OVERLAP)
    before = run("schedule", "--now", "2026-12-07T07:59:00Z").stdout.splitlines()
    assert before[0].startswith(
        "2026-10-25-overlap  2026-10-25 00:30 UTC  (2026-10-25 02:30 CEST Europe/Berlin)"
    )
    assert before[1].startswith(
        "2026-12-07-berlin  2026-12-07 08:00 UTC  (2026-12-07 09:00 CET Europe/Berlin)  waiting"
    )
    after = run("schedule", "--now", "2026-12-07T08:00:00Z").stdout.splitlines()
    assert "2026-12-07-berlin  2026-12-07 08:00 UTC" in after[1] and "waiting" not in after[1]


def test_check_reports_the_gap_and_notes_the_overlap(run, workdir: Path):
    _issue(workdir, "gap", GAP)
    _issue(workdir, "overlap", OVERLAP)
    gap = run("check", "gap.md", code=1)
    assert "gap.md:4: error: send_at '2027-03-28T02:30 Europe/Berlin' never happens" in gap.output
    overlap = run("check", "overlap.md")
    assert "overlap.md:4: warning: send_at 2026-10-25T02:30 Europe/Berlin happens twice" in (
        overlap.output
    )
    run("check", "--strict", "overlap.md", code=1)  # --strict makes the writer choose
