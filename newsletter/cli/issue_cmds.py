"""Commands for editors: `new` starts an issue file, `check` lints issue files."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from newsletter.authoring.skeleton_text import SKELETON
from newsletter.cli.root import cli, settings_from
from newsletter.errors import NewsletterError, Problem
from newsletter.safe_text import one_line

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.models import Issue


def slugify(title: str, max_length: int = 60) -> str:
    """ASCII, lower-case, hyphenated; cut at a word boundary. 'issue' when nothing is left."""
    title = re.sub(r"['\u2019]", "", title)  # "Zoë's" -> "zoes", not "zoe-s"
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > max_length:
        slug = slug[:max_length].rsplit("-", 1)[0]
    return slug or "issue"


def skeleton(title: str, day: date) -> str:
    """The ready-to-edit issue text; the title is quoted as YAML (JSON strings are YAML)."""
    text = resources.files("newsletter.authoring").joinpath(SKELETON).read_text(encoding="utf-8")
    quoted = json.dumps(one_line(title), ensure_ascii=False)
    return text.replace("__TITLE__", quoted).replace("__DATE__", day.isoformat())


@cli.command()
@click.argument("title", required=False)
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date for the file name and front matter (default: today).",
)
@click.option(
    "--sequence",
    "sequence",
    metavar="NAME",
    default=None,
    help="Start the sequence sequences/NAME/ instead: sequence.toml and two steps.",
)
@click.pass_context
def new(ctx: click.Context, title: str | None, day: datetime | None, sequence: str | None) -> None:
    """Write a ready-to-edit issue file issues/YYYY-MM-DD-slug.md (or, with --sequence NAME, a
    welcome sequence in sequences/NAME/)."""
    settings = settings_from(ctx)
    if sequence is not None:
        if title is not None or day is not None:
            raise NewsletterError("--sequence NAME takes no title or --date: the steps have none")
        from newsletter.cli.sequence_files import new_sequence

        new_sequence(settings, sequence)
        return
    if title is None:
        raise NewsletterError(
            'no title: run newsletter new "Your title" (or newsletter new --sequence NAME)'
        )
    if not title.strip():
        raise NewsletterError('the title is empty: run newsletter new "Your title"')
    when = day.date() if day is not None else date.today()
    folder = Path(settings.issues_dir)
    path = folder / f"{when.isoformat()}-{slugify(title)}.md"
    if path.exists():
        raise NewsletterError(f"{path} already exists: edit it, or choose another title")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8", newline="\n") as handle:
            handle.write(skeleton(title, when))
    except FileExistsError:
        raise NewsletterError(f"{path} already exists: edit it, or choose another title") from None
    except OSError as exc:
        raise NewsletterError(f"{path}: cannot write the file: {exc.strerror}") from None
    click.echo(str(path))


def _targets(files: tuple[str, ...], settings: Settings) -> tuple[list[Path], list[Path]]:
    """(issue files, sequence folders) that `check` reads: all of both folders by default."""
    from newsletter.cli.sequence_files import default_sequences, split_names

    if not files:
        sequences = default_sequences(settings)
        return _issue_files((), settings.issues_dir, required=not sequences), sequences
    rest, sequences = split_names(files, settings)
    return (_issue_files(rest, settings.issues_dir) if rest else []), sequences


def _issue_files(files: tuple[str, ...], issues_dir: str, required: bool = True) -> list[Path]:
    if not files:
        folder = Path(issues_dir)
        if not required and not any(folder.glob("*.md")):
            return []  # there are sequences to check
        if not folder.is_dir():
            raise NewsletterError(
                f"{folder}/: no issues folder here; create one with "
                f'newsletter new "Title", or name the files to check'
            )
        found = sorted(folder.glob("*.md"))
        if not found:
            raise NewsletterError(f"{folder}/: no issue files (*.md) to check")
        return found
    paths: list[Path] = []
    for name in files:
        path = Path(name)
        if path.is_dir():
            paths += sorted(path.glob("*.md"))
        elif not path.is_file():
            raise NewsletterError(f"{path}: no such file")
        else:
            paths.append(path)
    return paths


def _line(problem: Problem) -> str:
    where = f"{problem.path}:{problem.line}" if problem.line > 0 else problem.path
    return f"{where}: {problem.severity}: {problem.message}"


@cli.command()
@click.argument("files", nargs=-1, type=click.Path())
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.pass_context
def check(ctx: click.Context, files: tuple[str, ...], strict: bool) -> None:
    """Validate and lint issue files and sequences (default: every *.md in the issues folder
    and every sequence in the sequences folder).

    Prints `file:line: error|warning|note: message` per problem; exits 1 on any error
    (with --strict, on any warning too; a note never fails it).
    """
    from newsletter.authoring.lint import check_files
    from newsletter.cli.sequence_files import sequence_problems

    settings = settings_from(ctx)
    paths, sequences = _targets(files, settings)
    problems = check_files(paths, settings)
    problems += _segment_problems(ctx, paths)
    found, step_files = sequence_problems(sequences, settings)
    problems += found
    listed, note = _list_problems(paths, sequences, settings)
    problems += listed
    for problem in problems:
        click.echo(_line(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    notes = len(problems) - errors - warnings
    checked = _checked(len(paths) + step_files, len(sequences))
    note = f"; {note}" if note else ""
    if not problems:
        click.echo(f"{checked} checked: no problems{note}")
        return
    click.echo(
        f"{checked} checked: {errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}"
        f"{f', {notes} note' + ('s' if notes != 1 else '') if notes else ''}{note}"
    )
    if errors or (strict and warnings):
        ctx.exit(1)


def _checked(files: int, sequences: int) -> str:
    """`3 files checked`, or with sequences `5 files (2 sequences) checked`."""
    text = f"{files} file{'s' if files != 1 else ''}"
    if sequences:
        text += f" ({sequences} sequence{'s' if sequences != 1 else ''})"
    return text


def _segment_problems(ctx: click.Context, paths: list[Path]) -> list[Problem]:
    """The front matter's `segment:` read as `send` reads it (named segments included)."""
    from newsletter.audience.segment_syntax import SegmentError
    from newsletter.audience.segments import read_segment
    from newsletter.authoring.issue_file import parse_issue
    from newsletter.cli.audience_cmds import named_from

    problems = []
    for path in paths:
        issue, _ = parse_issue(path)
        if issue is None or not issue.segment:
            continue
        try:
            read_segment(issue.segment, dict(named_from(ctx)))
        except SegmentError as exc:
            line = _key_line(path, "segment:")
            where = f"column {exc.at[1]}: " if exc.at[0] == 1 else ""
            problems.append(Problem(str(path), line, f"segment: {where}{exc.message}"))
    return problems


def _list_problems(
    paths: list[Path], sequences: list[Path], settings: Settings
) -> tuple[list[Problem], str]:
    """An error for each list an issue or a sequence names that the database does not have, or
    when an issue's lists have different languages and it names none (`i18n.send_language`), a
    warning for each step edited after readers got it, and a note when the database could not
    be read. The database is opened read-only: never created or migrated by a check."""
    from newsletter.audience.lists import list_counts
    from newsletter.authoring.issue_file import parse_issue
    from newsletter.cli.sequence_files import sequence_lists
    from newsletter.db.engine import open_for_reading

    try:
        engine = open_for_reading(settings.effective_database_url)
    except NewsletterError as exc:
        reason = "no database yet" if "no database" in str(exc) else one_line(str(exc), 200)
        return [], f"lists not checked ({reason})"
    try:
        languages = {row["slug"]: row["language"] for row in list_counts(engine)}
        edited = _edited_steps(engine, sequences)
    finally:
        engine.dispose()
    known, problems = sorted(languages), []
    named: list[tuple[str, int, tuple[str, ...]]] = []
    for path in paths:
        issue, _ = parse_issue(path)
        if issue is None:
            continue
        slugs = issue.lists or (settings.default_list,)
        named.append((str(path), _key_line(path, "lists:"), slugs))
        if all(slug in known for slug in slugs):
            problems += _language_problems(path, issue, [languages[s] for s in slugs], settings)
    problems += [
        Problem(
            where,
            line,
            f"unknown list '{slug}' (known: {', '.join(known) or 'none'}; create "
            f"it with `newsletter lists create {slug} --name ...`)",
        )
        for where, line, slugs in named + sequence_lists(sequences)
        for slug in slugs or (settings.default_list,)
        if slug not in known
    ]
    return problems + edited, ""


def _edited_steps(engine: Any, sequences: list[Path]) -> list[Problem]:
    """Steps whose text changed after readers got them (a warning: never resent)."""
    from newsletter.sequences.files import read_sequence
    from newsletter.sequences.versions import edited_after_sent

    found = [s for path in sequences if (s := read_sequence(path).sequence) is not None]
    return edited_after_sent(engine, found) if found else []


def _language_problems(
    path: Path, issue: Issue, list_languages: list[str], settings: Settings
) -> list[Problem]:
    """The send's one language: lists that disagree are an error; a language from the lists
    with no catalogue, a warning (the issue's own is `lint`'s)."""
    from newsletter import i18n
    from newsletter.authoring.lint import language_problems

    try:
        language = i18n.send_language(issue.language, list_languages, settings.language)
    except ValueError as exc:
        return [Problem(str(path), _key_line(path, "lists:"), str(exc))]
    if issue.language or language == settings.language:
        return []
    return language_problems(path, language)


def _key_line(path: Path, key: str) -> int:
    """The line of a front matter key like `lists:` (0, the file, when it is not there)."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith(key):
            return number
    return 0
