"""A subject-line test in the front matter: `subjects:`, `preheaders:`, `ab_test:`, and what
`check` says about each with its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.authoring.issue_file import parse_issue
from newsletter.models import AbTest
from tests.support.issue_files import errors_at, minimal, problems_of, write

TEST = "ab_test:\n  share: 20%\n  wait: 4h\n"  # from line 4 + its offset


def _front(subjects: list[str], extra: str = TEST) -> str:
    items = "".join(f"  - {s}\n" for s in subjects)
    return minimal(f"subjects:\n{items}{extra}")


def test_subjects_and_ab_test_make_variants_with_a_first(tmp_path: Path) -> None:
    text = minimal(
        "subjects:\n  - First subject\n  - Second subject\npreheaders: [one, two]\n"
        "ab_test:\n  share: 20%\n  wait: 4h\n  metric: clicks\n  tie: best\n"
    ).replace("preheader: P\n", "")
    issue, problems = parse_issue(write(tmp_path, text))
    assert problems == [] and issue is not None
    assert issue.subject == "First subject" and issue.preheader == "one"
    assert issue.subjects == ("First subject", "Second subject")
    assert issue.preheaders == ("one", "two")
    assert issue.ab_test == AbTest(share=0.2, wait_seconds=4 * 3600, metric="clicks", tie="best")


def test_without_preheaders_every_variant_has_the_issue_preheader(tmp_path: Path) -> None:
    issue, _ = parse_issue(write(tmp_path, _front(["One", "Two", "Three"])))
    assert issue is not None and issue.preheaders == ("P", "P", "P")
    assert issue.ab_test == AbTest(share=0.2, wait_seconds=14400)


def test_one_variant_is_an_error_on_the_subjects_line(tmp_path: Path) -> None:
    assert errors_at(tmp_path, _front(["Only"])) == [
        (4, "'subjects' has one variant: a test needs two to four (or use 'subject')")
    ]


def test_five_variants_are_an_error(tmp_path: Path) -> None:
    errors = errors_at(tmp_path, _front(["A", "B", "C", "D", "E"]))
    assert errors == [(4, "'subjects' has 5 variants: a test takes two to four")]


def test_a_duplicate_subject_is_reported_on_its_own_line(tmp_path: Path) -> None:
    errors = errors_at(tmp_path, _front(["Same", "Other", "Same"]))
    assert errors == [(7, "duplicate subject (the same as line 5): make it differ")]


def test_subject_and_subjects_together_are_an_error(tmp_path: Path) -> None:
    text = minimal("subject: S\nsubjects:\n  - A\n  - B\n" + TEST)
    errors = errors_at(tmp_path, text)
    assert errors == [(5, "'subject' and 'subjects' together: keep one (A is first)")]


@pytest.mark.parametrize(
    ("share", "ok"),
    [("4%", False), ("5%", True), ("50%", True), ("51%", False), ("20", False), ("x", False)],
)
def test_share_is_from_5_to_50_percent(tmp_path: Path, share: str, ok: bool) -> None:
    errors = errors_at(tmp_path, _front(["A", "B"], f"ab_test:\n  share: {share}\n  wait: 4h\n"))
    expected = (
        []
        if ok
        else [
            (
                8,
                "'ab_test.share' is a percentage of the audience from 5% to 50% "
                f"(e.g. share: 20%), got {share!r}",
            )
        ]
    )
    assert errors == expected


@pytest.mark.parametrize(
    ("wait", "ok"),
    [("59m", False), ("1h", True), ("90m", True), ("7d", True), ("169h", False), ("soon", False)],
)
def test_wait_is_from_an_hour_to_a_week(tmp_path: Path, wait: str, ok: bool) -> None:
    errors = errors_at(tmp_path, _front(["A", "B"], f"ab_test:\n  share: 10%\n  wait: {wait}\n"))
    expected = (
        []
        if ok
        else [(9, f"'ab_test.wait' is from 1h to 7d, written like 90m, 4h or 2d, got {wait!r}")]
    )
    assert errors == expected


def test_preheaders_of_another_length_are_an_error(tmp_path: Path) -> None:
    text = _front(["A", "B"], "preheaders: [only one]\n" + TEST)
    assert errors_at(tmp_path, text) == [
        (
            7,
            "'preheaders' has 1 item(s) and 'subjects' 2: give one preheader per subject, "
            "in the same order",
        )
    ]


def test_unknown_metric_tie_and_key_are_errors_on_their_lines(tmp_path: Path) -> None:
    extra = "ab_test:\n  share: 10%\n  wait: 2h\n  metric: views\n  tie: last\n  wiat: 1\n"
    assert errors_at(tmp_path, _front(["A", "B"], extra)) == [
        (10, "'ab_test.metric' is opens or clicks, got 'views'"),
        (11, "'ab_test.tie' is first (variant A) or best, got 'last'"),
        (
            12,
            "unknown ab_test key 'wiat' (did you mean 'wait'?); valid keys: share, wait, "
            "metric, tie",
        ),
    ]


def test_subjects_without_ab_test_and_ab_test_without_subjects(tmp_path: Path) -> None:
    assert errors_at(tmp_path, _front(["A", "B"], "")) == [
        (4, "'subjects' needs 'ab_test:' (share: 20%, wait: 4h)")
    ]
    assert errors_at(tmp_path, minimal(TEST)) == [
        (4, "'ab_test' needs 'subjects:' with two to four variants")
    ]


def test_the_78_character_rule_applies_to_each_variant(tmp_path: Path) -> None:
    found = problems_of(tmp_path, _front(["Short", "x" * 79]))
    assert found == [
        (
            6,
            "warning",
            "subject is 79 characters; inboxes cut it near 78: shorten it (or set "
            "a shorter 'subject')",
        )
    ]


@given(st.text(max_size=30))
def test_hostile_ab_test_values_give_problems_never_exceptions(value: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        text = _front(["A", "B"], f"ab_test:\n  share: {value!r}\n  wait: {value!r}\n")
        issue, problems = parse_issue(write(Path(folder), text))
    assert (issue is None) == any(p.severity == "error" for p in problems)


def test_the_102_kb_rule_applies_to_each_variant(workdir: Path) -> None:
    from newsletter.authoring.lint import GMAIL_CLIP_BYTES, check_issue
    from newsletter.config import Settings

    long_preheader = "x" * (GMAIL_CLIP_BYTES + 1000)  # only variant B's email is too big
    text = _front(["A", "B"], f"preheaders: [short, {long_preheader}]\n" + TEST)
    path = workdir / "2019-03-01-big.md"
    path.write_text(text.replace("preheader: P\n", ""), encoding="utf-8")
    errors = [p for p in check_issue(path, Settings()) if p.severity == "error"]
    assert len(errors) == 1 and "over Gmail's 102,000-byte limit" in errors[0].message
    path.write_text(text.replace(long_preheader, "fine"), encoding="utf-8")
    assert [p for p in check_issue(path, Settings()) if p.severity == "error"] == []
