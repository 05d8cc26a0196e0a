"""`newsletter check`: everything wrong with an issue before it is sent.

Parse problems come from `issues.parse_issue`; when the file parses, it is rendered once to
check what only the final email shows (its size against Gmail's clipping limit), and the
project's templates are checked for the postal address and the unsubscribe link.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from newsletter import models
from newsletter.config import Settings
from newsletter.errors import NewsletterError, Problem
from newsletter.issues import parse_issue

GMAIL_CLIP_BYTES = 102_000  # Gmail hides everything after this many bytes of HTML
SIZE_WARNING_BYTES = 90_000  # close enough that a longer unsubscribe URL could tip it over


def size_problems(path: str | Path, html: str) -> list[Problem]:
    """An error when the final HTML would be clipped by Gmail, a warning when it is close."""
    size = len(html.encode("utf-8"))
    if size > GMAIL_CLIP_BYTES:
        return [
            Problem(
                str(path),
                1,
                f"final HTML is {size:,} bytes, over Gmail's "
                f"{GMAIL_CLIP_BYTES:,}-byte limit (Gmail clips it): shorten "
                f"the issue or split it in two",
            )
        ]
    if size > SIZE_WARNING_BYTES:
        return [
            Problem(
                str(path),
                1,
                f"final HTML is {size:,} bytes, close to Gmail's "
                f"{GMAIL_CLIP_BYTES:,}-byte clipping limit",
                "warning",
            )
        ]
    return []


def _sample_recipient(settings: Settings) -> models.Recipient:
    """Values as long as real ones, so the measured size is the size subscribers get."""
    token = "x" * 96
    site = settings.site_url.rstrip("/")
    return models.Recipient(
        email="firstname.lastname@example.com",
        name="Firstname Lastname",
        unsubscribe_url=f"{site}/unsubscribe/{token}",
        preferences_url=f"{site}/preferences/{token}",
        view_url=f"{site}/issues/{token}",
    )


def _render_problems(path: str | Path, issue: models.Issue, settings: Settings) -> list[Problem]:
    from newsletter.render import personalise, render_issue

    try:
        rendered = render_issue(issue, settings)
    except NewsletterError as exc:
        return [Problem(str(path), 0, f"cannot render: {exc}")]
    final = personalise(rendered, _sample_recipient(settings))
    return size_problems(path, final.html)


def template_problems(settings: Settings) -> list[Problem]:
    """Problems in the (custom) templates; the same for every issue, so check them once."""
    from newsletter.render import check_templates

    try:
        return check_templates(settings)
    except NewsletterError as exc:
        return [Problem(settings.templates_dir, 0, str(exc))]


def check_issue(path: str | Path, settings: Settings, *, templates: bool = True) -> list[Problem]:
    """Every problem with one issue file (and, unless `templates=False`, with the templates)."""
    issue, problems = parse_issue(path)
    problems = list(problems)
    if issue is not None:
        problems += _render_problems(path, issue, settings)
    if templates:
        problems += template_problems(settings)
    return problems


def check_files(paths: Iterable[str | Path], settings: Settings) -> list[Problem]:
    """Problems with the templates (once) and each file, in file then line order.

    A file that cannot be read raises IssueFileError (from parse_issue).
    """
    problems = template_problems(settings)
    for path in paths:
        found = check_issue(path, settings, templates=False)
        problems += sorted(found, key=lambda p: (p.line, p.severity != "error"))
    return problems
