"""Click and open tracking written into a send's HTML: a pure text rewrite, done once per send.

Every http(s) `<a href>` of the HTML becomes `<site_url>/c/<link id>/__NL_TRACK__`, where the id
names a stored link (the redirect reads its target from the database, never from the URL) and
the placeholder is filled per recipient by `placeholders` like any other. Left alone: links that
are already per-recipient placeholders (unsubscribe, preferences, view in browser), links into
the site's own pages, and URLs holding a placeholder. Optionally a hidden trap link (only a
machine follows it) and a 1x1 open pixel go in just before `</body>`.

`tracking` calls `rewrite` with the ids it stored; `lint` with sample ids of realistic length, to
measure the HTML as subscribers get it. The text part and the web copy are never rewritten.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping

from newsletter.authoring.placeholders import TRACK
from newsletter.config import Settings
from newsletter.models import Issue
from newsletter.safe_text import holds_controls
from newsletter.tokens import site_link

# An anchor's href attribute: (everything before the value, quote, value).
_HREF = re.compile(r"(<a\b[^>]*?\bhref\s*=\s*)([\"'])(.*?)\2", re.I | re.S)
_BODY_END = re.compile(r"</body\s*>", re.I)
_OWN_PAGES = ("/unsubscribe/", "/preferences/", "/archive", "/c/", "/o/")
SAMPLE_ID_BASE = 4 * 10**18  # lint's sample link ids: 19 digits, as long as the random ids


def click_url(site_url: str, link_id: int) -> str:
    return site_link(site_url, f"/c/{link_id}/{TRACK}")


def open_url(site_url: str) -> str:
    return site_link(site_url, f"/o/{TRACK}.gif")


_BLANK = re.compile(r"\s")


def _trackable(url: str, site_url: str) -> bool:
    if not url.lower().startswith(("http://", "https://")) or "__NL" in url:
        return False
    if _BLANK.search(url) or holds_controls(url):  # never a valid URL, nor a header value
        return False
    return not any(url.startswith(site_link(site_url, page)) for page in _OWN_PAGES)


def trackable_urls(page: str, site_url: str) -> list[str]:
    """The distinct targets of the trackable links of `page`, in order of first appearance."""
    seen: dict[str, None] = {}
    for match in _HREF.finditer(page):
        url = html.unescape(match.group(3)).strip()
        if _trackable(url, site_url):
            seen.setdefault(url, None)
    return list(seen)


def trap_markup(site_url: str, trap_id: int) -> str:
    """A link no person sees or reaches: hidden (also from Outlook), out of the tab order and
    from screen readers, so only a program that fetches every href follows it."""
    return (
        '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all;" '
        'aria-hidden="true">'
        f'<a href="{click_url(site_url, trap_id)}" tabindex="-1" aria-hidden="true" '
        'style="color:transparent;text-decoration:none;">&#8203;</a></div>'
    )


def pixel_markup(site_url: str) -> str:
    return (
        f'<img src="{open_url(site_url)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0;">'
    )


def rewrite(
    page: str,
    site_url: str,
    link_ids: Mapping[str, int],
    *,
    trap_id: int | None = None,
    pixel: bool = False,
) -> str:
    """`page` with every link in `link_ids` (target -> stored id) pointing at its tracked URL,
    then the trap link and the open pixel (when asked) before `</body>`."""

    def swap(match: re.Match[str]) -> str:
        url = html.unescape(match.group(3)).strip()
        link_id = link_ids.get(url) if _trackable(url, site_url) else None
        if link_id is None:
            return match.group(0)
        quote = match.group(2)
        return f"{match.group(1)}{quote}{click_url(site_url, link_id)}{quote}"

    out = _HREF.sub(swap, page) if link_ids else page
    extra = (trap_markup(site_url, trap_id) if trap_id is not None else "") + (
        pixel_markup(site_url) if pixel else ""
    )
    if not extra:
        return out
    ends = list(_BODY_END.finditer(out))
    if not ends:
        return out + extra
    at = ends[-1].start()
    return out[:at] + extra + out[at:]


def sample_ids(page: str, site_url: str) -> dict[str, int]:
    """Made-up link ids as long as real ones will be, for measuring the HTML as sent."""
    return {url: SAMPLE_ID_BASE + i for i, url in enumerate(trackable_urls(page, site_url))}


def switches(issue: Issue, settings: Settings) -> tuple[bool, bool]:
    """(track clicks, track opens) for this issue: its front matter wins over the settings."""
    clicks = settings.track_clicks if issue.track_clicks is None else issue.track_clicks
    opens = settings.track_opens if issue.track_opens is None else issue.track_opens
    return clicks, opens
