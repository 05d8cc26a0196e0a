"""Which language a page speaks, and its words (`_`) for the views.

- Pages behind a token (unsubscribe, preferences, confirm): the language of the token's send
  where it names one (kept in `sends.options`, read once per process and app: a send's
  language never changes), else its list's (from the row the page reads anyway), else the
  `language` setting (`for_target`). The one-click POST renders no page and reads neither.
- `/subscribe/<list>` and its confirmation mail: the list's (`for_list`).
- Everything else (bare `/subscribe`, `/`, the archive index, the neutral 404 and every error
  page): the best of `Accept-Language` among the shipped catalogues, else the setting; those
  answers say `Vary: Accept-Language` (`from_request`).

Templates get the chosen language's `gettext`, `ngettext`, `_`, `format_date`, `lang` and `dir`
from a context processor (`install`).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, has_request_context, request

from newsletter import i18n
from newsletter.i18n import N_
from newsletter.sending.sends import send_language
from newsletter.web.context import context

# Strings a later page uses (the confirmation page's, issue 27): in every catalogue already.
PENDING = (N_("Your welcome mail is on its way."),)

SENDS_KEPT = 10_000  # send languages this process remembers (`WebContext.send_languages`)


def use(language: str) -> None:
    """This request (or mail) speaks `language` ('' : the setting's)."""
    g.language = language or context().settings.language or i18n.FALLBACK


def from_request() -> str:
    """The reader's `Accept-Language` among the shipped catalogues, else the setting."""
    fallback = context().settings.language or i18n.FALLBACK
    if not has_request_context():
        return fallback
    g.vary_language = True
    return best_shipped([value for value, _q in request.accept_languages]) or fallback


def best_shipped(wanted: list[str]) -> str:
    """The first of the reader's languages (best first) that a catalogue serves, itself or by
    its base language (`fr-CH` -> `fr`); '' for none."""
    for value in wanted:
        code = value.replace("_", "-").lower()
        for candidate in (code, code.split("-")[0]):
            if candidate in i18n.SHIPPED:
                return candidate
    return ""


def neutral() -> None:
    """The neutral pages (404, errors) never speak a token's language: they reveal nothing."""
    g.language = from_request()


def current() -> str:
    return g.get("language") or from_request()


def for_list(the_list: dict[str, Any] | None) -> None:
    use((the_list or {}).get("language") or "")


def for_target(the_list: dict[str, Any] | None, send_id: int = 0) -> None:
    """A token page: its send's language, else its list's, else the setting's."""
    use((send_id and _send_language(send_id)) or (the_list or {}).get("language") or "")


def _send_language(send_id: int) -> str:
    """Read once per process and app (a dict's get and set are atomic under the GIL)."""
    known = context().send_languages
    found = known.get(send_id)
    if found is None:
        found = send_language(context().engine, send_id)
        if len(known) >= SENDS_KEPT:
            known.clear()
        known[send_id] = found
    return found


def _(message: str, **values: Any) -> str:
    """`message` in the current language, with `%(name)s` values filled in."""
    text = i18n.gettext(current(), message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int) -> str:
    return i18n.ngettext(current(), singular, plural, n)


def install(app: Flask) -> None:
    i18n.install(app.jinja_env)
    app.context_processor(lambda: i18n.template_values(current()))
    app.after_request(_vary)


def _vary(response: Response) -> Response:
    if g.get("vary_language"):
        response.vary.add("Accept-Language")
    return response
