"""Checks on the Markdown inside an issue: link targets, link text, image alt text, raw HTML.

Reports through callbacks `error(line, message)` / `warn(line, message)` with 1-based file lines,
so the issue parser keeps one list of problems.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from newsletter.authoring.placeholders import PREFERENCES_URL, UNSUBSCRIBE_URL, VIEW_URL
from newsletter.authoring.readers import check_expressions

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

    from newsletter.models import Issue

Report = Callable[[int, str], None]

_PLACEHOLDER_URLS = (UNSUBSCRIBE_URL, PREFERENCES_URL, VIEW_URL)
_HOST = re.compile(r"^[\w-]+(\.[\w-]+)*\.[\w-]{2,}\.?$|^\[[0-9a-fA-F:.]+\]$", re.UNICODE)
_FIX = "write the full address, like https://example.com/page"


def url_problem(url: str, *, allow_mailto: bool = True) -> str | None:
    """Why `url` is not a usable absolute link in an email ('' / None when it is fine)."""
    if url in _PLACEHOLDER_URLS:
        return None
    if any(ch.isspace() for ch in url):
        return f"'{url}' contains a space: {_FIX} (spaces encoded as %20)"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return f"'{url}' is not a valid URL: {_FIX}"
    scheme = parts.scheme.lower()
    if allow_mailto and scheme == "mailto":
        return None if "@" in parts.path else f"'{url}' has no email address after 'mailto:'"
    if scheme not in ("http", "https"):
        kinds = "http(s) or mailto" if allow_mailto else "http(s)"
        return f"'{url}' is not an absolute {kinds} URL: {_FIX}"
    if host := local_host(url):
        return (
            f"'{url}' is on {host}, an address of this machine or network that readers "
            "cannot reach: use a public address, like https://example.com/page"
        )
    host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0] if parts.netloc else ""
    if not host or not _HOST.match(host):
        return f"'{url}' has no valid host name: {_FIX}"
    return None


def local_host(url: str) -> str:
    """The host of `url` when readers cannot reach it: `localhost` (or a name under it) or an
    IP address (a literal is a machine of yours, not a site); else ''."""
    import ipaddress

    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
    if host == "localhost" or host.endswith(".localhost"):
        return host
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return ""
    return host


def check_image_address(
    src: str, at: int, error: Report, warn: Report, label: str = "image"
) -> None:
    """An image's address: a local host is allowed for `preview` (a warning that says `send`
    refuses it), plain http draws a warning (the archive's CSP allows only https images),
    anything else that is not an http(s) address is an error."""
    if host := local_host(src):
        warn(
            at,
            f"{label} '{src}' is on {host}, a local address: `preview` shows it on this "
            "machine, but readers cannot load it, so `send` refuses the issue; put the image "
            "on a public https:// address before sending",
        )
        return
    if reason := url_problem(src, allow_mailto=False):
        error(at, f"{label} {reason}")
    elif urlsplit(src).scheme.lower() == "http":
        warn(
            at,
            f"{label} '{src}' is plain http: the web archive's Content-Security-Policy blocks "
            "it (only https images load there) and mail apps may flag it; use https://",
        )


def local_images(issue: Issue) -> list[tuple[str, str]]:
    """(src, host) of every image of the issue that is on a local host (`local_host`)."""
    sources = [t.image for t in issue.takeaways if t.image]
    for text in (issue.intro_md, *(t.body_md for t in issue.takeaways)):
        for token in _parser().parse(text):
            for child in token.children or ():
                if child.type == "image":
                    sources.append(str(child.attrs.get("src", "")))
    return [(src, host) for src in sources if (host := local_host(src))]


def shown_as_text(url: str) -> bool:
    """Whether the renderer refuses `url` (a normalised href or src) as a link or image target:
    markdown-it's own check (javascript:, vbscript:, file:, and data: other than a few image
    types, in any case), so the reader sees the Markdown `[text](url)` as plain text."""
    from markdown_it.common.normalize_url import validateLink

    return not validateLink(url)


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # html=True only to find raw HTML: the renderer escapes it, so readers would see the tags.
    parser = MarkdownIt("commonmark", {"html": True})
    # Keep every link and image, even those the renderer drops (its parser, in markdown.py,
    # keeps markdown-it's validateLink), so the check can see them and say why.
    parser.validateLink = lambda url: True
    return parser


def _line_of(needle: str, lines: list[str], start: int, base: int) -> int:
    """The 1-based file line within a block that contains `needle` (else the block's first).

    `needle` is a normalised URL, so when it is not in the source as written, look for it again
    with entities and %-escapes decoded and letter case ignored.
    """
    for same in (lambda text: needle in text, lambda text: _loose(needle) in _loose(text)):
        for offset, text in enumerate(lines[start:]):
            if needle and same(text):
                return base + start + offset
    return base + start


def _loose(text: str) -> str:
    return unquote(html.unescape(text)).lower()


def check_markdown(text: str, first_line: int, error: Report, warn: Report) -> None:
    """Report bad links, images and reader values in Markdown that starts at file line
    `first_line`."""
    if not text.strip():
        return
    check_expressions(text, first_line, error)
    lines = text.split("\n")
    for token in _parser().parse(text):
        start = token.map[0] if token.map else 0
        if token.type == "html_block":
            warn(first_line + start, "raw HTML is shown as plain text in the email: use Markdown")
        if token.type == "inline" and token.children:
            _check_inline(token.children, lines, start, first_line, error, warn)


def _check_inline(
    children: list[Token], lines: list[str], start: int, base: int, error: Report, warn: Report
) -> None:
    link: tuple[str, int, list[str]] | None = None  # href, line, visible text so far
    for child in children:
        if child.type == "link_open":
            href = str(child.attrs.get("href", ""))
            at = _line_of(href, lines, start, base)
            link = (href, at, []) if _check_link(href, at, error, warn) else None
        elif child.type == "link_close" and link is not None:
            if not "".join(link[2]).strip():
                error(link[1], f"link to '{link[0]}' has no visible text: write [text]({link[0]})")
            link = None
        elif child.type == "image":
            src = str(child.attrs.get("src", ""))
            _check_image(src, child.content, _line_of(src, lines, start, base), error, warn)
            if link is not None:
                link[2].append(child.content)
        elif child.type == "html_inline" and not child.content.startswith("</"):
            warn(
                _line_of(child.content, lines, start, base),
                f"raw HTML '{child.content}' is shown as plain text in the email: use Markdown",
            )
        elif link is not None and child.type in ("text", "code_inline"):
            link[2].append(child.content)


def _check_link(href: str, at: int, error: Report, warn: Report) -> bool:
    """Report a bad link target; False when the renderer shows the link as plain text."""
    if "{{" in unquote(href):
        error(
            at,
            f"link '{unquote(href)}': a reader value cannot go in a link's address (it would "
            "not be URL-encoded); put it in the text",
        )
        return False
    if shown_as_text(href):
        # A warning, not an error: nothing harmful reaches the reader, who only loses the link
        # (and sees the `[text](...)` Markdown instead).
        warn(
            at,
            f"link '{href}' is not an http(s) or mailto link: readers will see its Markdown as "
            f"plain text, not a link; link to a web page (https://...) instead",
        )
        return False
    if reason := url_problem(href):
        error(at, f"link {reason}")
    return True


def _check_image(src: str, alt: str, at: int, error: Report, warn: Report) -> None:
    if shown_as_text(src):
        # An error, like any image that is not at an http(s) address (url_problem): readers
        # would see the `![alt](...)` Markdown as plain text where the picture should be.
        error(
            at,
            f"image '{src}' is not an http(s) image: readers will see its Markdown as plain "
            f"text, not the image; use an image at an https:// address instead",
        )
        return
    check_image_address(src, at, error, warn)
    if not alt.strip():
        error(at, f"image '{src}' has no alt text: write ![what it shows]({src})")
