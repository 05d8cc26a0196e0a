"""Render an issue once: Jinja2 -> MJML -> mjml-python -> premailer, plus text and web page.

The only home of Jinja2/MJML/premailer calls. The output keeps the per-recipient placeholders
of `placeholders`, which `placeholders.personalise` swaps in one pass per part.

CSS handling: `<mj-style inline="inline">` blocks are taken out of the MJML before compiling
and handed to premailer to inline (mjml-python ignores that attribute); every `<style>` that
MJML itself emits (resets, `@media` column rules, Thunderbird fixes) is marked
`data-premailer="ignore"`, so premailer leaves it byte for byte, `!important` included.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsletter import i18n, models
from newsletter.authoring import markdown, placeholders, readers
from newsletter.errors import RenderError
from newsletter.tokens import site_link

if TYPE_CHECKING:
    import jinja2

    from newsletter.config import Settings

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent / "default_templates"
EMAIL_TEMPLATE = "email.mjml.j2"
TEXT_TEMPLATE = "email.txt.j2"
WEB_TEMPLATE = "web.html.j2"

_INLINE_STYLE = re.compile(r"<mj-style\s+inline=\"inline\"\s*>(.*?)</mj-style>", re.S | re.I)
_STYLE_OPEN = re.compile(r"<style\b", re.I)


@lru_cache(maxsize=8)
def _environment(templates_dir: str, listing: tuple[str, ...]) -> jinja2.Environment:
    """One environment per project templates folder: its files first, then the defaults.
    `listing` is part of the cache key: Jinja's auto_reload notices edited files but not a
    newly added override, so a new file in the folder means a new environment."""
    import jinja2

    loader = jinja2.ChoiceLoader(
        [jinja2.FileSystemLoader(templates_dir), jinja2.FileSystemLoader(str(DEFAULT_TEMPLATES))]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("mjml.j2", "html.j2"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=True,  # `preview` picks up edited templates
    )
    i18n.install(env)  # each render passes its language's gettext (`template_context`)
    env.filters["wrap"] = markdown.wrap
    env.globals["reader"] = readers.reader  # {{ reader("first_name", "there") }}
    return env


def environment(settings: Settings) -> jinja2.Environment:
    folder = Path(settings.templates_dir).resolve()
    try:
        listing = tuple(sorted(os.listdir(folder)))
    except OSError:  # no project templates: defaults only
        listing = ()
    return _environment(str(folder), listing)


def template_context(
    issue: models.Issue, settings: Settings, list_name: str, language: str = ""
) -> dict[str, Any]:
    """`language`: the send's (`i18n.send_language`); default the issue's, else the setting."""
    from markupsafe import Markup

    language = language or issue.language or settings.language or i18n.FALLBACK
    takeaways = []
    for t in issue.takeaways:
        body_html, body_text = markdown.to_html_and_text(t.body_md)
        takeaways.append(
            {
                "headline": t.headline,
                "speaker": t.speaker,
                "role": t.role,
                "link": t.link,
                "image": t.image,
                "image_alt": t.image_alt,
                "body_md": t.body_md,
                "body_html": Markup(body_html),
                "body_text": body_text,
            }
        )
    intro_html, intro_text = markdown.to_html_and_text(issue.intro_md)
    return {
        "issue": issue,
        "settings": settings,
        **i18n.template_values(language),
        "language": language,
        "list_name": list_name or (issue.lists[0] if issue.lists else settings.default_list),
        "intro_html": Markup(intro_html),
        "intro_text": intro_text,
        "takeaways": takeaways,
        "name": placeholders.NAME,
        "email": placeholders.EMAIL,
        "unsubscribe_url": placeholders.UNSUBSCRIBE_URL,
        "preferences_url": placeholders.PREFERENCES_URL,
        "view_url": placeholders.VIEW_URL,
        "archive_url": site_link(settings.site_url, "/archive"),
        "home_url": site_link(settings.site_url, "/"),
        "published": True,  # the send goes to the web archive (see render_issue)
    }


def _render_template(env: jinja2.Environment, name: str, context: dict[str, Any]) -> str:
    import jinja2

    try:
        return env.get_template(name).render(context)
    except jinja2.TemplateSyntaxError as exc:
        raise RenderError(
            f"{exc.filename or name}:{exc.lineno}: template syntax error: {exc.message}"
        ) from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(
            f"template {exc.name} not found (looked in the templates folder and the defaults)"
        ) from None
    except jinja2.UndefinedError as exc:
        raise RenderError(
            f"{name}: {exc.message}; check the variable names in the template "
            f"against the list at its top"
        ) from None


def _compile_mjml(mjml: str, template: str) -> str:
    """MJML -> HTML, then inline the `mj-style inline` CSS with premailer."""
    from mjml import mjml2html

    inline_css = "\n".join(m.group(1) for m in _INLINE_STYLE.finditer(mjml))
    mjml = _INLINE_STYLE.sub("", mjml)
    try:
        compiled = mjml2html(mjml, fonts={})
    except ValueError as exc:
        raise RenderError(f"{template}: invalid MJML: {exc}") from None
    compiled = _STYLE_OPEN.sub('<style data-premailer="ignore"', compiled)
    if not inline_css.strip():
        return compiled.replace(' data-premailer="ignore"', "")
    return _inline(compiled, inline_css, template)


class _OnFirstUse:
    """Stands in for a module: `load` imports it on first use, if ever. (`load` names the module
    literally, so the layer test sees the import.)"""

    def __init__(self, load: Callable[[], Any]):
        self._load = load

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)


def _import_premailer() -> Any:
    """premailer imports `requests` at its top (a third of its import time) and cssutils imports
    `urllib.request` (ssl, http.client: a tenth of a build's start-up), but they use them only
    to fetch external stylesheets, which we never allow (allow_network=False). Import premailer
    with placeholders in their place, then give it stand-ins that load the real ones on first
    use. (importlib.util.LazyLoader cannot: an `import` statement touches `__spec__`.)"""
    import importlib
    import sys
    import types
    import urllib

    if "premailer.premailer" in sys.modules:
        import premailer

        return premailer
    stubs = [n for n in ("requests", "urllib.request") if n not in sys.modules]
    for name in stubs:
        sys.modules[name] = types.ModuleType(name)
    try:
        import premailer
        import premailer.premailer
    finally:
        for name in stubs:
            del sys.modules[name]
    if "requests" in stubs:
        requests = _OnFirstUse(lambda: importlib.import_module("requests"))
        premailer.premailer.requests = requests  # type: ignore[attr-defined]
    if "urllib.request" in stubs:
        request = _OnFirstUse(lambda: importlib.import_module("urllib.request"))
        urllib.request = request  # type: ignore[assignment]
    return premailer


@lru_cache(maxsize=1)
def _premailer() -> type:
    """premailer, quieted, with its per-stylesheet parse memoised.

    premailer re-parses and re-serialises the same CSS with cssutils on every call (about half
    of a build); the result depends only on the CSS text and our fixed options, so it is cached.
    """
    import logging

    Premailer = _import_premailer().Premailer  # noqa: N806 - a class (imports cssutils)
    import cssutils

    cssutils.log.setLevel(logging.CRITICAL)
    cache: dict[tuple[str, int], tuple[list, list]] = {}

    # premailer ships no type hints: its class is `Any` to mypy, which refuses it as a base.
    class CachingPremailer(Premailer):  # type: ignore[misc]
        def _parse_style_rules(self, css_body: str, ruleset_index: int) -> tuple[list, list]:
            key = (css_body, ruleset_index)
            if key not in cache:
                if len(cache) > 64:
                    cache.clear()
                cache[key] = super()._parse_style_rules(css_body, ruleset_index)
            rules, leftover = cache[key]
            return list(rules), list(leftover)

    return CachingPremailer


def _inline(html: str, css: str, template: str) -> str:
    try:
        out = _premailer()(
            html,
            css_text=css,
            allow_network=False,
            strip_important=False,
            remove_classes=False,
            disable_validation=True,
            cache_css_parsing=True,
            disable_leftover_css=False,
        ).transform()
    except Exception as exc:  # premailer raises bare lxml/cssutils errors
        raise RenderError(f"{template}: CSS inlining failed: {exc}") from None
    # Style tags inside Outlook conditional comments were never parsed: drop the marker there.
    out = out.replace(' data-premailer="ignore"', "")
    if not out.lstrip().lower().startswith("<!doctype"):
        out = "<!doctype html>" + out
    return out


PROOF_SUBJECT_TEMPLATE = "test_subject.txt.j2"  # a test-send's subject ("[TEST] ...")


def render_line(settings: Settings, name: str, **values: Any) -> str:
    """A one-line template of the templates folder (a subject), rendered and made one line."""
    from newsletter.safe_text import one_line

    return one_line(_render_template(environment(settings), name, values).strip())


def render_issue(
    issue: models.Issue,
    settings: Settings,
    *,
    list_name: str = "",
    published: bool = True,
    language: str = "",
) -> models.RenderedIssue:
    """Render HTML, text and web page once, in `language` (see `template_context`); the email
    parts keep the placeholders. `published`: the send will be in the web archive; the
    templates leave out the "view in browser" links of one that will not."""
    env = environment(settings)
    context = {**template_context(issue, settings, list_name, language), "published": published}
    html = _compile_mjml(_render_template(env, EMAIL_TEMPLATE, context), EMAIL_TEMPLATE)
    text = _render_template(env, TEXT_TEMPLATE, context).strip() + "\n"
    web_context = {
        **context,
        "name": "",
        "email": "",
        "unsubscribe_url": "",
        "preferences_url": "",
        "view_url": "",
    }
    web_html = readers.with_fallbacks(_render_template(env, WEB_TEMPLATE, web_context), escape)
    return models.RenderedIssue(
        issue_id=issue.id,
        subject=readers.to_placeholders(issue.subject),
        preheader=issue.preheader,
        html=html,
        text=text,
        web_html=web_html,
        list_name=context["list_name"],
    )
