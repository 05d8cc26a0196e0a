"""`newsletter check`: everything wrong with an issue before it is sent.

Parse problems come from `issue_file.parse_issue`; when the file parses, it is rendered once to
check what only the final email shows (its size against Gmail's clipping limit, measured with
click and open tracking written in as a send writes them), and the project's templates are
checked for the postal address and the unsubscribe link (an email template that declares no
`color-scheme` gets a note). Text left from the `newsletter new` skeleton is a warning
(`skeleton_text`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter import i18n, models, tokens
from newsletter.authoring import placeholders, tracked_links
from newsletter.authoring.issue_file import parse_issue
from newsletter.authoring.placeholders import personalise
from newsletter.authoring.skeleton_text import skeleton_problems
from newsletter.config import Settings
from newsletter.errors import NewsletterError, Problem

if TYPE_CHECKING:
    import jinja2

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
    return models.Recipient(
        email="firstname.lastname@example.com",
        name="Firstname Lastname",
        unsubscribe_url=tokens.unsubscribe_url(settings, token),
        preferences_url=tokens.preferences_url(settings, token),
        view_url=tokens.view_url(settings, "2019-03-01-an-issue-id-of-typical-length"),
        tag="0" * tokens.TAG_LENGTH,
        return_tag="0" * tokens.TAG_LENGTH,
        link_tag="0" * tokens.TAG_LENGTH,  # the tracking token in tracked links and the pixel
    )


def as_sent(
    rendered: models.RenderedIssue, issue: models.Issue, settings: Settings
) -> models.RenderedIssue:
    """The email with click and open tracking written in as a send writes it (when on), with
    sample link ids as long as real ones: what Gmail measures is the HTML as sent."""
    clicks, opens = tracked_links.switches(issue, settings)
    if not (clicks or opens):
        return rendered
    ids = tracked_links.sample_ids(rendered.html, settings.site_url) if clicks else {}
    html = tracked_links.rewrite(
        rendered.html,
        settings.site_url,
        ids,
        trap_id=tracked_links.SAMPLE_ID_BASE + len(ids) if clicks else None,
        pixel=opens,
    )
    return replace(rendered, html=html)


def _render_problems(path: str | Path, issue: models.Issue, settings: Settings) -> list[Problem]:
    from newsletter.authoring.render import render_issue

    problems: list[Problem] = []
    # Each variant of a subject-line test is its own email: each must stay under the limit.
    pairs = list(zip(issue.subjects, issue.preheaders, strict=True))
    for subject, preheader in pairs or [(issue.subject, issue.preheader)]:
        variant = replace(issue, subject=subject, preheader=preheader)
        try:
            rendered = render_issue(variant, settings)
        except NewsletterError as exc:
            return [Problem(str(path), 0, f"cannot render: {exc}")]
        final = personalise(as_sent(rendered, issue, settings), _sample_recipient(settings))
        problems += [p for p in size_problems(path, final.html) if p not in problems]
    return problems


def template_problems(settings: Settings) -> list[Problem]:
    """Problems in the (custom) templates; the same for every issue, so check them once."""
    try:
        return check_templates(settings)
    except NewsletterError as exc:
        return [Problem(settings.templates_dir, 0, str(exc))]


def parsed_issue_problems(
    path: str | Path, issue: models.Issue, settings: Settings
) -> list[Problem]:
    """What only the rendered email shows (its size), text left from the skeleton and a
    language without a catalogue, for an issue (or a sequence step) that parsed without
    errors."""
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    problems = _render_problems(path, issue, settings) + skeleton_problems(path, text)
    return problems + language_problems(path, issue.language, text)


def check_issue(path: str | Path, settings: Settings, *, templates: bool = True) -> list[Problem]:
    """Every problem with one issue file (and, unless `templates=False`, with the templates)."""
    issue, problems = parse_issue(path)
    problems = list(problems)
    if issue is not None:
        problems += parsed_issue_problems(path, issue, settings)
    if templates:
        problems += template_problems(settings)
    return problems


def language_problems(path: str | Path, language: str, text: str = "") -> list[Problem]:
    """A warning when an issue's language has no shipped catalogue: its mail would carry the
    template's words (footer, links) in English."""
    if not language or i18n.has_catalogue(language):
        return []
    lines = text.splitlines()
    line = next((n for n, t in enumerate(lines, 1) if t.startswith("language:")), 0)
    shipped = ", ".join(i18n.SHIPPED)
    message = (
        f"language '{language}' has no catalogue (shipped: {shipped}): the words of the "
        "template (footer, links) stay in English; add one (README, Languages) or pick a "
        "shipped language"
    )
    return [Problem(str(path), line, message, "warning")]


def check_files(paths: Iterable[str | Path], settings: Settings) -> list[Problem]:
    """Problems with the templates (once) and each file, in file then line order.

    A file that cannot be read raises IssueFileError (from parse_issue).
    """
    problems = template_problems(settings)
    for path in paths:
        found = check_issue(path, settings, templates=False)
        problems += sorted(found, key=lambda p: (p.line, p.severity != "error"))
    return problems


def check_templates(settings: Settings) -> list[Problem]:
    """Problems with the project's templates: syntax errors, email templates that lack the
    postal address or the unsubscribe placeholder (every bulk email must carry both), and a
    note for an email template that declares no `color-scheme` (dark mode)."""
    from newsletter.authoring import render

    env = render.environment(settings)
    context = render.template_context(_sample_issue(), settings, "")
    problems: list[Problem] = []
    for name in (render.EMAIL_TEMPLATE, render.TEXT_TEMPLATE, render.WEB_TEMPLATE):
        rendered = _render_template(env, name, context)
        if isinstance(rendered, Problem):
            problems.append(rendered)
        elif name != render.WEB_TEMPLATE:
            where, out = rendered
            problems += _required_parts(where, out, settings)
            if name == render.EMAIL_TEMPLATE and "color-scheme" not in out:
                problems.append(Problem(where, 1, _NO_COLOR_SCHEME, "note"))
    return problems


_NO_COLOR_SCHEME = (
    "declares no color-scheme, so dark-mode mail apps recolour it as they guess; add "
    '<meta name="color-scheme" content="light dark"> and a dark palette (as the default '
    'template does), or content="light only" to ask for the light one'
)


def _sample_issue() -> models.Issue:
    """A small issue with every part filled in, to render the templates with."""
    return models.Issue(
        id="template-check",
        path=Path("template-check.md"),
        title="Template check",
        subject="Template check",
        preheader="",
        date=None,
        lists=(),
        send_at=None,
        intro_md="Intro.",
        takeaways=(models.Takeaway("Headline", "Speaker", "Role", "Body."),),
        source_hash="",
    )


def _render_template(
    env: jinja2.Environment, name: str, context: dict[str, object]
) -> tuple[str, str] | Problem:
    """(the template's file name, its output), or the Problem that stops it rendering."""
    import jinja2

    try:
        template = env.get_template(name)
        out = template.render(context)
    except jinja2.TemplateSyntaxError as exc:
        return Problem(
            exc.filename or name, exc.lineno or 0, f"template syntax error: {exc.message}"
        )
    except jinja2.TemplateError as exc:
        return Problem(name, 0, f"template cannot render: {exc}")
    return template.filename or name, out


def _required_parts(where: str, out: str, settings: Settings) -> list[Problem]:
    """Errors for an email template's output `out` that lacks the postal address or the
    unsubscribe link (every bulk email must carry both)."""
    problems: list[Problem] = []
    address = settings.postal_address
    if address not in out and escape(address) not in out:
        problems.append(
            Problem(
                where,
                1,
                "no postal address: add {{ settings.postal_address "
                "}} (every bulk email must show it)",
            )
        )
    if placeholders.UNSUBSCRIBE_URL not in out:
        problems.append(
            Problem(
                where,
                1,
                "no unsubscribe link: add {{ unsubscribe_url }} (every bulk email must carry it)",
            )
        )
    return problems
