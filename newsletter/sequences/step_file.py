"""One step of a sequence: a Markdown file in the issue format with `after:` in its front
matter, the delay from the moment a reader joined (`0h`, `2d`, `1w`, `90m`, `1d12h`).

A step is read by the issue reader (`authoring.issue_file`), with `after` allowed and a plain
body (no takeaways) fine. A step has no `date:` in its file name and needs none. Front matter
that makes no sense on a per-reader clock is an error: a subject-line test (`subjects:`,
`preheaders:`, `ab_test:`), `send_at:`, `lists:` (the sequence's `sequence.toml` names them),
`segment:` and `archive:` (steps are never in the archive).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from newsletter.authoring.issue_file import parse_issue_file
from newsletter.errors import ConfigError, Problem
from newsletter.sequences.model import Step
from newsletter.times import parse_duration

AFTER = "after"
MAX_AFTER = timedelta(days=3660)  # ten years: further is a typo, and fits the seconds column
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
MAX_KEY = 100  # a step id `NAME/KEY` stays well inside a send's issue id column

# Front matter an issue has and a step must not, with what to do instead.
NOT_IN_A_STEP = {
    "subjects": "a step has one subject: a reader's own clock leaves no test phase (use "
    "'subject:')",
    "preheaders": "a step has one preheader: no subject-line test in a sequence (use 'preheader:')",
    "ab_test": "a step cannot be a subject-line test: each reader gets it on their own clock",
    "send_at": "a step goes out 'after:' the reader joined, not at a date: remove 'send_at'",
    "lists": "a step goes to its sequence's lists: name them in sequence.toml",
    "segment": "a step goes to every member of its sequence: remove 'segment'",
    "archive": "steps are never in the archive: remove 'archive'",
}
_DELAY = re.compile(r"^(?:\d{1,9}\s*[wdhm]\s*)+$")  # minutes, hours, days, weeks
_FIX = "write the delay since the reader joined, e.g. after: 0h, 2d, 1w, 90m or 1d12h"


def read_step(
    path: Path, sequence: str, lists: tuple[str, ...]
) -> tuple[Step | None, list[Problem]]:
    """(Step, problems) of one step file; the Step is None when any problem is an error.

    The Issue inside is the file as an issue would be read, with the step id as its id, the
    sequence's lists as its lists and `archive` off. A file that cannot be read at all gives
    one problem (line 0)."""
    from newsletter.errors import IssueFileError

    problems: list[Problem] = []
    if not KEY_PATTERN.match(path.stem) or len(path.stem) > MAX_KEY:
        problems.append(
            Problem(
                str(path),
                0,
                f"a step's file name is letters, digits, '-' and '_' (at most {MAX_KEY}) "
                "before .md, e.g. 02-tips.md: rename it",
            )
        )
    try:
        parsed = parse_issue_file(path, extra_keys=(AFTER,), plain_body=True)
    except IssueFileError as exc:
        return None, problems + exc.problems
    ours = [
        Problem(str(path), parsed.front[key][1], f"'{key}': {why}")
        for key, why in NOT_IN_A_STEP.items()
        if key in parsed.front
    ]
    taken = {p.line for p in ours}  # the issue reader's own words on those lines say less
    problems += [p for p in parsed.problems if p.line not in taken] + ours
    after = _after(path, parsed.front, problems)
    if parsed.issue is None or after is None or any(p.severity == "error" for p in problems):
        return None, sorted(problems, key=lambda p: p.line)
    step_id = f"{sequence}/{path.stem}"
    issue = replace(parsed.issue, id=step_id, lists=lists, archive=False)
    return Step(sequence, path.stem, after, issue), sorted(problems, key=lambda p: p.line)


def _after(
    path: Path, front: dict[str, tuple[object, int]], problems: list[Problem]
) -> timedelta | None:
    """The step's delay, or None after adding the problem with it."""
    if not front:
        return None  # the front matter could not be read: its problem is reported already
    if AFTER not in front:
        problems.append(Problem(str(path), 1, f"missing 'after:': {_FIX}"))
        return None
    value, line = front[AFTER]
    if value is None:
        problems.append(Problem(str(path), line, f"'after:' is one value, not a list: {_FIX}"))
        return None
    text = str(value).strip()
    if not text:
        problems.append(Problem(str(path), line, f"'after:' is empty: {_FIX}"))
        return None
    if text.isdigit():
        problems.append(
            Problem(str(path), line, f"'after: {text}' has no unit (m, h, d or w): {_FIX}")
        )
        return None
    delay = None
    if _DELAY.match(text):
        try:
            delay = parse_duration(text, "after")
        except (ConfigError, OverflowError):
            delay = None
    if delay is None or delay > MAX_AFTER:
        shown = text if len(text) <= 40 else text[:37] + "..."
        reason = "is more than ten years" if delay is not None else "is not a delay"
        problems.append(Problem(str(path), line, f"'after: {shown}' {reason}: {_FIX}"))
        return None
    return delay


def delay_text(delay: timedelta) -> str:
    """A delay as `after:` writes it at its shortest: `0h`, `90m` -> `1h30m`, `2d`, `1w2d`."""
    minutes = int(delay.total_seconds()) // 60
    out = ""
    for unit, size in (("w", 7 * 24 * 60), ("d", 24 * 60), ("h", 60), ("m", 1)):
        if minutes >= size:
            out += f"{minutes // size}{unit}"
            minutes %= size
    return out or "0h"
