"""What `newsletter config` shows: every setting with its source, secrets as `****` (no
character of them), database URLs with their passwords masked (also in error messages), and
the values that empty settings stand for (the database, the bounce and unsubscribe
addresses), so nobody has to guess what "(empty)" means."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

from newsletter.config.settings import SECRET_ENV, Settings, setting_fields

# Settings whose empty value stands for one derived from others: (the property, how).
DERIVED = {
    "database_url": ("effective_database_url", "default"),
    "unsubscribe_mailto": ("effective_unsubscribe_mailto", "unsubscribe@<sender domain>"),
    "bounce_address": ("effective_bounce_address", "bounces@<sender domain>"),
}


def masked(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, value, source) for `newsletter config`: a secret shows as `****` (no character
    of it), a database URL with every password in it masked; an empty setting that stands
    for a derived value shows that value and how it was derived."""
    rows = []
    for name in setting_fields():
        raw = getattr(settings, name)
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        source = settings.sources.get(name, "default")
        if not value and name in DERIVED:
            prop, how = DERIVED[name]
            value = getattr(settings, prop)
            source = source if how == source else f"{source}: {how}"
        if name == "database_url" and value:
            value = mask_url(value)
        elif name in SECRET_ENV and value:
            value = MASK
        rows.append((name, value, source))
    return rows


MASK = "****"
# Query parameters of a database URL that hold secrets (libpq: password, sslpassword).
_SECRET_PARAM = re.compile(r"pass|secret|token|key|auth|cred", re.IGNORECASE)


def mask_url(url: str) -> str:
    """`url` with the password of its user part and every secret-looking query parameter
    (`password`, `sslpassword`, ...) replaced by `****`. Unsure where a password ends (an
    unescaped `@` in it), it masks up to the last `@`: too much rather than a character
    too little."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at >= 0:
        user, colon, _ = rest[:at].partition(":")
        rest = (f"{user}:{MASK}" if colon else user) + rest[at:]
    head, question, query = rest.partition("?")
    if question:
        params = []
        for param in re.split(r"([&;])", query):
            key, equals, _ = param.partition("=")
            secret = equals and _SECRET_PARAM.search(unquote_plus(key))
            params.append(f"{key}={MASK}" if secret else param)
        rest = head + question + "".join(params)
    return f"{scheme}{sep}{rest}"
