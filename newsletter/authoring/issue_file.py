"""Read an issue file: YAML front matter (`front_matter`), an intro, then one `## ` heading per
takeaway (`takeaways`).

`parse_issue` collects every problem (errors and warnings) with its 1-based line in the file;
`read_issue` returns the Issue or raises IssueFileError. YAML exceptions never leave here.
Format::

    ---
    title: ...            (required; subject defaults to it)
    ---
    Intro Markdown.

    ## Headline
    Speaker: Name         (Key: value fields right under the heading, keys case-insensitive)
    Role: ...

    Body Markdown.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from newsletter.authoring import ab_front
from newsletter.authoring.front_matter import parse_front_matter
from newsletter.authoring.readers import check_expressions
from newsletter.authoring.send_time import overlap_note
from newsletter.authoring.takeaways import split_sections
from newsletter.errors import IssueFileError, Problem
from newsletter.models import Issue

SUBJECT_MAX = 78  # longer subjects are cut in most inbox lists
MAX_ISSUE_BYTES = 5_000_000  # refused before parsing: no YAML or Markdown work on a huge file

_DATE_PREFIX = re.compile(r"^(\d{4}-\d{2}-\d{2})")


@dataclass
class _Report:
    path: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message, "error"))

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.path, line, message, "warning"))

    @property
    def failed(self) -> bool:
        return any(p.severity == "error" for p in self.problems)


PACKAGED_ISSUES = Path(__file__).resolve().parent.parent / "default_issue"


def resolve_issue(ref: str, issues_dir: str | Path) -> Path:
    """ISSUE is a path, or an issue id in `issues_dir` (or the packaged sample issue)."""
    candidates = [Path(ref), Path(issues_dir) / f"{ref}.md", PACKAGED_ISSUES / f"{ref}.md"]
    for path in candidates:
        if path.is_file():
            return path
    fix = f"give a file path or the id of a file in {issues_dir}/"
    raise whole_file_error(ref, f"no such issue: {fix} (e.g. 2019-03-01-hanoi-summit)")


def whole_file_error(path: str | Path, message: str) -> IssueFileError:
    """An IssueFileError about the file as a whole (line 0): `path: message`."""
    return IssueFileError([Problem(str(path), 0, message)])


def read_issue(path: str | Path) -> Issue:
    """The Issue in `path`; raises IssueFileError (carrying every problem) on any error."""
    issue, problems = parse_issue(path)
    if issue is None:
        raise IssueFileError(sorted(problems, key=lambda p: p.line))
    return issue


def parse_issue(path: str | Path) -> tuple[Issue | None, list[Problem]]:
    """(Issue, problems); the Issue is None when any problem is an error.

    A file that cannot be read at all raises IssueFileError (line 0) instead.
    """
    parsed = parse_issue_file(path)
    return parsed.issue, parsed.problems


@dataclass(frozen=True)
class ParsedFile:
    """A file in the issue format, read: the Issue (None on any error), every problem, and the
    front matter as {key: (value, line)} (empty when it could not be read)."""

    issue: Issue | None
    problems: list[Problem]
    front: dict[str, tuple[object, int]]


def parse_issue_file(
    path: str | Path, *, extra_keys: tuple[str, ...] = (), plain_body: bool = False
) -> ParsedFile:
    """`parse_issue` for files in the issue format that are not issues (a sequence's steps):
    `extra_keys` are front matter keys allowed besides the issue's (their values are returned
    as written, in `front`), and `plain_body` drops the "no takeaways" warning.

    A file that cannot be read at all raises IssueFileError (line 0).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_ISSUE_BYTES + 1)
    except FileNotFoundError:
        raise whole_file_error(path, "no such issue file (check the name and folder)") from None
    except IsADirectoryError:
        raise whole_file_error(path, "is a folder, not an issue file") from None
    except OSError as exc:
        raise whole_file_error(path, f"cannot read the file: {exc.strerror}") from None
    if len(data) > MAX_ISSUE_BYTES:
        raise whole_file_error(
            path,
            f"the file is over {MAX_ISSUE_BYTES // 1_000_000} MB; an issue is text (put images "
            "on a web server and link them with Image: https://...)",
        )
    report = _Report(str(path))
    front: dict[str, tuple[object, int]] = {}
    issue = _parse(path, data, report, _Options(extra_keys, plain_body, front))
    return ParsedFile(issue, sorted(report.problems, key=lambda p: p.line), front)


@dataclass(frozen=True)
class _Options:
    extra_keys: tuple[str, ...]
    plain_body: bool
    front: dict[str, tuple[object, int]]  # filled with the front matter read


def _parse(path: Path, data: bytes, report: _Report, options: _Options) -> Issue | None:
    lines = _decode(data, report)
    if lines is None:
        return None
    end = _front_matter_end(lines, report)
    if end is None:
        return None
    meta = parse_front_matter(lines[1:end], report.error, options.extra_keys)
    intro_md, takeaways, headings = split_sections(
        lines[end + 1 :], end + 2, report.error, report.warn
    )
    if meta is None:
        return None
    options.front.update(meta)
    _check_sections(intro_md, headings, end, report, options.plain_body)
    title, subject, preheader = _headers(meta, report)
    subjects, preheaders, ab_test = ab_front.variants(
        meta, _text(meta, "subject"), preheader, report.error
    )
    if subjects:
        subject, preheader = subjects[0], preheaders[0]
        for text, line in ab_front.items(meta, "subjects")[1:]:
            _check_subject(text, line, report)
    issue_date = _issue_date(meta, path)
    value, send_at_line = meta.get("send_at", (None, 0))
    send_at = value if isinstance(value, datetime) else None
    if note := overlap_note(send_at):  # the autumn hour that happens twice
        report.warn(send_at_line, note)
    if report.failed:
        return None
    return Issue(
        id=path.stem,
        path=path,
        title=title,
        subject=subject,
        preheader=preheader,
        date=issue_date,
        lists=tuple(meta.get("lists", ((), 0))[0]),
        send_at=send_at,
        intro_md=intro_md,
        takeaways=tuple(takeaways),
        source_hash=hashlib.sha256(data).hexdigest(),
        track_clicks=_switch(meta, "track_clicks"),
        track_opens=_switch(meta, "track_opens"),
        archive=_switch(meta, "archive") is not False,
        language=str(meta.get("language", ("", 0))[0] or ""),
        segment=str(meta.get("segment", ("", 0))[0] or ""),
        subjects=subjects,
        preheaders=preheaders,
        ab_test=ab_test,
    )


def _decode(data: bytes, report: _Report) -> list[str] | None:
    """The file's lines (any line ending, no BOM); None after reporting bytes that are not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        report.error(data[: exc.start].count(b"\n") + 1, "not valid UTF-8: save the file as UTF-8")
        return None
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _front_matter_end(lines: list[str], report: _Report) -> int | None:
    """The index of the line that closes the front matter; None after reporting it missing."""
    if lines[0].strip() != "---":
        report.error(1, "no front matter: start the file with a '---' line, 'title: ...', '---'")
        return None
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        report.error(1, "front matter is not closed: add a '---' line after its last key")
    return end


def _check_sections(
    intro_md: str, headings: int, end: int, report: _Report, plain_body: bool
) -> None:
    """An issue needs content, and is meant to have takeaways (`end`: the closing '---')."""
    if not intro_md.strip() and not headings:
        report.error(
            end + 1, "empty issue: write an intro or a '## ' takeaway after the front matter"
        )
    elif not headings and not plain_body:
        report.warn(
            end + 2,
            "no takeaways: add a '## Headline' section (with 'Speaker: Name' and a "
            "paragraph) after the intro",
        )


def _headers(meta: dict[str, tuple[object, int]], report: _Report) -> tuple[str, str, str]:
    """(title, subject, preheader); the subject defaults to the title."""
    title, title_line = _text(meta, "title")
    subject, subject_line = _text(meta, "subject")
    if "subjects" in meta:  # variant A: checked with the others
        subject, subject_line = next(iter(ab_front.items(meta, "subjects")), ("", 0))
    if not subject:
        subject, subject_line = title, title_line or 1
    _check_subject(subject, subject_line, report)
    preheader = _text(meta, "preheader")[0]
    if not preheader and "preheaders" not in meta:
        report.warn(
            1, "no preheader: add 'preheader: ...' (the preview line shown after the subject)"
        )
    return title, subject, preheader


def _check_subject(subject: str, line: int, report: _Report) -> None:
    """The rules every subject (each variant of a test) follows."""
    check_expressions(subject, line, report.error)  # {{ first_name }} in a subject
    if len(subject) > SUBJECT_MAX:
        report.warn(
            line,
            f"subject is {len(subject)} characters; inboxes cut it near "
            f"{SUBJECT_MAX}: shorten it (or set a shorter 'subject')",
        )


def _issue_date(meta: dict[str, tuple[object, int]], path: Path) -> date | None:
    """The front matter's `date`, else the YYYY-MM-DD the file name starts with (if valid)."""
    value = meta.get("date", (None, 0))[0]
    if isinstance(value, date):
        return value
    if not (m := _DATE_PREFIX.match(path.stem)):
        return None
    try:
        return date.fromisoformat(m.group(1))
    except ValueError:
        return None


def _switch(meta: dict[str, tuple[object, int]], key: str) -> bool | None:
    value = meta.get(key, (None, 0))[0]
    return value if isinstance(value, bool) else None


def _text(meta: dict[str, tuple[object, int]], key: str) -> tuple[str, int]:
    value, line = meta.get(key, ("", 0))
    return (value if isinstance(value, str) else ""), line
