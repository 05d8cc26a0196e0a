"""Per-recipient placeholders: the closed set, the reader placeholders (`readers`: a field of
the subscriber, with its fallback), each value escaped for where it lands, and the one
substitution routine.

The issue is rendered once with placeholders in it (plain ASCII words that MJML, premailer and
URL quoting leave alone); per recipient only these are replaced, in ONE pass over the template,
so a value that itself looks like a placeholder (a name of `__NL_EMAIL__`) stays literal.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from newsletter.authoring import readers
from newsletter.models import Personalised, Recipient, RenderedIssue
from newsletter.safe_text import one_line

NAME = "__NL_NAME__"
EMAIL = "__NL_EMAIL__"
UNSUBSCRIBE_URL = "__NL_UNSUBSCRIBE_URL__"
PREFERENCES_URL = "__NL_PREFERENCES_URL__"
VIEW_URL = "__NL_VIEW_URL__"
# The recipient's tracking token (their opaque signed send+subscriber tag) in the tracked click
# and open URLs that `tracked_links.rewrite` writes into a send's HTML: `/c/<link>/__NL_TRACK__`.
TRACK = "__NL_TRACK__"
PLACEHOLDERS = (NAME, EMAIL, UNSUBSCRIBE_URL, PREFERENCES_URL, VIEW_URL, TRACK)
PLACEHOLDER_RE = re.compile("|".join([*(re.escape(p) for p in PLACEHOLDERS), readers.PATTERN]))

NO_TRACK = "-"  # the token of a message outside any send (a proof): links work, nothing counts


def placeholder_values(recipient: Recipient, reader_keys: tuple[str, ...] = ()) -> dict[str, str]:
    """Each placeholder's raw value for one recipient (escape per context before use): the
    closed set, and the reader placeholders `reader_keys` (`readers.value`). The name is the
    bare name, '' when unknown: a fallback is the template's (`reader("name", "there")`)."""
    values = {
        NAME: recipient.name.strip(),
        EMAIL: recipient.email,
        UNSUBSCRIBE_URL: recipient.unsubscribe_url,
        PREFERENCES_URL: recipient.preferences_url,
        VIEW_URL: recipient.view_url,
        TRACK: recipient.link_tag or NO_TRACK,
    }
    for key in reader_keys:
        values[key] = readers.value(key, recipient.name, recipient.email, recipient.attributes)
    return values


@lru_cache(maxsize=16)
def readers_in(*texts: str) -> tuple[str, ...]:
    """The distinct reader placeholders of `texts`, in order of first appearance."""
    found = re.findall(readers.PATTERN, "\x00".join(texts))
    return tuple(dict.fromkeys(found))


class Values(NamedTuple):  # made per recipient: a tuple is the cheapest to build
    """One recipient's placeholder values, each escaped for HTML, text and header contexts."""

    html: dict[str, str]
    text: dict[str, str]
    header: dict[str, str]


@dataclass(frozen=True)
class Used:
    """The placeholders each context of a message holds (see `used_in`)."""

    html: tuple[str, ...]
    text: tuple[str, ...]
    header: tuple[str, ...]
    readers: tuple[str, ...] = ()  # the reader placeholders of all three


def used_in(html: str, text: str, header: str) -> Used:
    return Used(
        tuple(k for k in PLACEHOLDERS if k in html) + readers_in(html),
        tuple(k for k in PLACEHOLDERS if k in text) + readers_in(text),
        tuple(k for k in PLACEHOLDERS if k in header) + readers_in(header),
        readers_in(html, text, header),
    )


def values_for(
    recipient: Recipient,
    reader_keys: tuple[str, ...] = (),
    *,
    made_inert: bool = False,
    used: Used | None = None,
) -> Values:
    """HTML gets `html.escape` (safe in text and in quoted attributes), text the raw value,
    headers `one_line` (no value starts a header). `made_inert`: each value first goes through
    `inert`, for a provider that substitutes on its side; `used`: only the placeholders each
    context holds are escaped for it (a per-recipient saving for a provider's request), and
    its reader placeholders are filled (`reader_keys` are those of the closed set's caller)."""
    if used is not None:
        reader_keys = used.readers
    raw = placeholder_values(recipient, reader_keys)
    if made_inert:
        raw = {k: inert(v) for k, v in raw.items()}
    if used is None:
        return Values(
            html={k: html.escape(v, quote=True) for k, v in raw.items()},
            text=raw,
            header={k: one_line(v) for k, v in raw.items()},
        )
    return Values(
        html={k: html.escape(raw[k], quote=True) for k in used.html},
        text={k: raw[k] for k in used.text},
        header={k: one_line(raw[k]) for k in used.header},
    )


@lru_cache(maxsize=16)
def split(template: str) -> tuple[str, ...]:
    """[literal, placeholder, literal, ...]: split once per template, reused per person."""
    return tuple(re.split(f"({PLACEHOLDER_RE.pattern})", template))


def fill(template: str, values: dict[str, str]) -> str:
    """Replace every placeholder of `template` by its value, in one pass."""
    parts = list(split(template))
    parts[1::2] = [values[p] for p in parts[1::2]]
    return "".join(parts)


_INERT = "_\u200c_NL"  # a zero-width non-joiner between the underscores: looks the same


def inert(value: str) -> str:
    """`value` with any placeholder-like `__NL...` run broken, for substitution done by others
    (SendGrid substitutes on its side, in an order we do not control): it reads the same, and
    no key of ours can match inside it."""
    return value.replace("__NL", _INERT) if "__NL" in value else value


def personalise(rendered: RenderedIssue, recipient: Recipient) -> Personalised:
    """Swap the placeholders for one recipient's values, escaped per context (see `values_for`).
    A reader without a value gets the placeholder's fallback ("there": "Hi there,")."""
    values = values_for(recipient, readers_in(rendered.subject, rendered.html, rendered.text))
    return Personalised(
        subject=fill(rendered.subject, values.header),
        html=fill(rendered.html, values.html),
        text=fill(rendered.text, values.text),
    )
