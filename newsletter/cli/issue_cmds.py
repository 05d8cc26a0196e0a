"""Commands for editors: `new` starts an issue file, `check` lints issue files."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

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
@click.argument("title")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date for the file name and front matter (default: today).",
)
@click.pass_context
def new(ctx: click.Context, title: str, day: datetime | None) -> None:
    """Write a ready-to-edit issue file issues/YYYY-MM-DD-slug.md."""
    if not title.strip():
        raise NewsletterError('the title is empty: run newsletter new "Your title"')
    settings = settings_from(ctx)
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


def _issue_files(files: tuple[str, ...], issues_dir: str) -> list[Path]:
    if not files:
        folder = Path(issues_dir)
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
    """Validate and lint issue files (default: every *.md in the issues folder).

    Prints `file:line: error|warning: message` per problem; exits 1 on any error
    (with --strict, on any warning too).
    """
    from newsletter.authoring.lint import check_files

    settings = settings_from(ctx)
    paths = _issue_files(files, settings.issues_dir)
    problems = check_files(paths, settings)
    problems += _segment_problems(ctx, paths)
    listed, note = _list_problems(paths, settings)
    problems += listed
    for problem in problems:
        click.echo(_line(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    checked = f"{len(paths)} file{'s' if len(paths) != 1 else ''}"
    note = f"; {note}" if note else ""
    if not problems:
        click.echo(f"{checked} checked: no problems{note}")
        return
    click.echo(
        f"{checked} checked: {errors} error{'s' if errors != 1 else ''}, "
        f"{warnings} warning{'s' if warnings != 1 else ''}{note}"
    )
    if errors or (strict and warnings):
        ctx.exit(1)


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


def _list_problems(paths: list[Path], settings: Settings) -> tuple[list[Problem], str]:
    """An error for each list an issue names that the database does not have, or when its lists
    have different languages and it names none (`i18n.send_language`), and a note when the
    lists could not be checked. The database is opened read-only: never created or migrated."""
    from newsletter.audience.lists import list_counts
    from newsletter.authoring.issue_file import parse_issue
    from newsletter.db.engine import open_for_reading

    try:
        engine = open_for_reading(settings.effective_database_url)
    except NewsletterError as exc:
        reason = "no database yet" if "no database" in str(exc) else one_line(str(exc), 200)
        return [], f"lists not checked ({reason})"
    try:
        languages = {row["slug"]: row["language"] for row in list_counts(engine)}
    finally:
        engine.dispose()
    known, problems = sorted(languages), []
    for path in paths:
        issue, _ = parse_issue(path)
        if issue is None:
            continue
        line = _key_line(path, "lists:")
        slugs = issue.lists or (settings.default_list,)
        if all(slug in known for slug in slugs):
            problems += _language_problems(path, issue, [languages[s] for s in slugs], settings)
        for slug in slugs:
            if slug not in known:
                problems.append(
                    Problem(
                        str(path),
                        line,
                        f"unknown list '{slug}' (known: {', '.join(known) or 'none'}; create "
                        f"it with `newsletter lists create {slug} --name ...`)",
                    )
                )
    return problems, ""


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
