"""Checks on the Markdown inside an issue: link targets, link text, image alt text, raw HTML.

Reports through callbacks `error(line, message)` / `warn(line, message)` with 1-based file lines,
so the issue parser keeps one list of problems.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from newsletter.models import PREFERENCES_URL, UNSUBSCRIBE_URL, VIEW_URL

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

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
    host = parts.netloc.rpartition("@")[2].rsplit(":", 1)[0] if parts.netloc else ""
    if not host or not _HOST.match(host):
        return f"'{url}' has no valid host name: {_FIX}"
    return None


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # html=True only to find raw HTML: the renderer escapes it, so readers would see the tags.
    return MarkdownIt("commonmark", {"html": True})


def _line_of(needle: str, lines: list[str], start: int, base: int) -> int:
    """The 1-based file line within a block that contains `needle` (else the block's first)."""
    for offset, text in enumerate(lines[start:]):
        if needle and needle in text:
            return base + start + offset
    return base + start


def check_markdown(text: str, first_line: int, error: Report, warn: Report) -> None:
    """Report bad links and images in Markdown that starts at file line `first_line`."""
    if not text.strip():
        return
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
            link = (href, _line_of(href, lines, start, base), [])
            if reason := url_problem(href):
                error(link[1], f"link {reason}")
        elif child.type == "link_close" and link is not None:
            if not "".join(link[2]).strip():
                error(link[1], f"link to '{link[0]}' has no visible text: write [text]({link[0]})")
            link = None
        elif child.type == "image":
            src = str(child.attrs.get("src", ""))
            at = _line_of(src, lines, start, base)
            if reason := url_problem(src, allow_mailto=False):
                error(at, f"image {reason}")
            if not child.content.strip():
                error(at, f"image '{src}' has no alt text: write ![what it shows]({src})")
            if link is not None:
                link[2].append(child.content)
        elif child.type == "html_inline" and not child.content.startswith("</"):
            warn(
                _line_of(child.content, lines, start, base),
                f"raw HTML '{child.content}' is shown as plain text in the email: use Markdown",
            )
        elif link is not None and child.type in ("text", "code_inline"):
            link[2].append(child.content)
