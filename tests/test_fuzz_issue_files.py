"""Property tests: any issue file (valid-looking, with hostile front matter and takeaway fields,
odd line ends, stray bytes) gives an Issue or the project's own problems, never another
exception; and the parser's error handling is no catch-all that would hide one."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given

from newsletter.authoring import front_matter, issue_file, link_checks
from newsletter.authoring.issue_file import parse_issue, read_issue
from newsletter.errors import IssueFileError
from tests.support.strategies import catch_all_handlers, issue_files

SAMPLE = (
    Path(__file__).resolve().parents[1] / "issues" / "2019-03-01-hanoi-summit.md"
).read_bytes()


def _check(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "2019-03-01-fuzz.md"
        path.write_bytes(data)
        issue, problems = parse_issue(path)  # IssueFileError only for an unreadable file
        lines = data.count(b"\n") + data.count(b"\r") + 1
        for problem in problems:
            assert problem.path == str(path)
            assert 0 <= problem.line <= lines + 1, (problem, lines)
            assert problem.severity in ("error", "warning")
            assert problem.message and "\n" not in problem.message, problem
        errors = [p for p in problems if p.severity == "error"]
        assert (issue is None) == bool(errors)
        if issue is None:
            with pytest.raises(IssueFileError) as caught:
                read_issue(path)
            assert "\n" not in str(caught.value)
        else:
            assert issue.title and issue.subject
            assert all(t.headline and t.body_md.strip() for t in issue.takeaways)
            assert read_issue(path) == issue


@given(issue_files())
@example(SAMPLE)
@example(b"---\ntitle: !!python/object/apply:os.system ['true']\n---\nx\n")
@example(b"---\ntitle: &a [*a, *a]\nlists: &b [*b]\n---\nIntro\n")
@example(b"---\ntitle: T\n---\n## H\nLink: http://[::1\nImage: javascript:x\n\nBody\n")
def test_any_issue_file_gives_an_issue_or_its_problems(data: bytes) -> None:
    _check(data)


@given(issue_files())
def test_a_sample_issue_with_a_hostile_tail_still_parses_or_reports(data: bytes) -> None:
    """The real sample issue with generated sections after it."""
    body = data.partition(b"\n## ")[2]
    _check(SAMPLE + (b"\n## " + body if body else b""))


@pytest.mark.parametrize("module", [issue_file, front_matter, link_checks])
def test_the_issue_parser_has_no_catch_all_handler(module: object) -> None:
    assert catch_all_handlers(module) == []
