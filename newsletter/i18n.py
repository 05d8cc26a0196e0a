"""Languages: the gettext catalogues every string a subscriber sees comes from, and the rules
that pick one language for a send.

Catalogues live in `newsletter/locales/<lang>/LC_MESSAGES/messages.po` (and the compiled
`.mo` beside it, committed; a test keeps it up to date) and ship as package data. Templates
use Jinja2's `i18n` extension (`{% trans %}`, `_()`, `ngettext`); each render passes the
callables of its language in the context (`template_values`), so one environment serves
every language at once. Babel is imported on first use only (start-up stays small).
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

LOCALES = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"
SHIPPED = ("de", "en", "es", "fr", "vi")  # complete catalogues (tests/test_languages.py)
FALLBACK = "en"


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "marked, translated later"
    """Marks a string for `pybabel extract` where it is defined; translated where shown."""
    return message


def normalise(code: str) -> str | None:
    """A language tag as written in settings, lists and front matter (`fr`, `pt-BR`,
    `pt_BR`) -> its canonical form (`fr`, `pt-BR`); None when Babel knows no such language."""
    from babel import Locale, UnknownLocaleError

    code = (code or "").strip()
    if not code or len(code) > 35:
        return None
    try:
        locale = Locale.parse(code.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    return str(locale).replace("_", "-")


def has_catalogue(language: str) -> bool:
    """A shipped catalogue serves `language` (itself or its base language: `fr-CA` -> `fr`)."""
    return any(_mo(code).is_file() for code in _chain(language))


def _mo(code: str) -> Path:
    return LOCALES / code / "LC_MESSAGES" / f"{DOMAIN}.mo"


def _chain(language: str) -> list[str]:
    """The catalogues to look in, most specific first: `pt-BR` -> [pt_BR, pt]."""
    code = (language or FALLBACK).replace("-", "_")
    return [code] if "_" not in code else [code, code.split("_")[0]]


@lru_cache(maxsize=32)
def translations(language: str) -> gettext_module.NullTranslations:
    """The compiled catalogue of a language (a null one, English, when none ships). Read with
    the standard library's `gettext` (plural rules from the `.mo` header): importing Babel's
    own loader would add a fifth to a build's start-up."""
    return gettext_module.translation(DOMAIN, str(LOCALES), _chain(language), fallback=True)


def gettext(language: str, message: str) -> str:
    return translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    return translations(language).ngettext(singular, plural, n)


@lru_cache(maxsize=32)
def direction(language: str) -> str:
    """`rtl` for a language written right to left (Arabic, Hebrew...), else `ltr`."""
    from babel import Locale, UnknownLocaleError

    try:
        locale = Locale.parse((language or FALLBACK).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return "ltr"
    return "rtl" if locale.character_order == "right-to-left" else "ltr"


def format_date(language: str, value: date | None, format: str = "medium") -> str:
    """A date in the language's own words (Babel's `long`: mail, `medium`: pages)."""
    from babel import UnknownLocaleError
    from babel.dates import format_date as babel_date

    if value is None:
        return ""
    try:
        return str(babel_date(value, format=format, locale=_chain(language)[0]))
    except (UnknownLocaleError, ValueError, TypeError, LookupError):  # a setting Babel lacks
        return str(babel_date(value, format=format, locale=FALLBACK))


def template_values(language: str) -> dict[str, Any]:
    """What a template rendered in `language` gets: the i18n extension's `gettext`,
    `ngettext` and `_`, `format_date(value, "long")`, and `lang` / `dir` for the root element."""
    language = language or FALLBACK
    get: Callable[[str], str] = partial(gettext, language)
    return {
        "gettext": get,
        "_": get,
        "ngettext": partial(ngettext, language),
        "format_date": lambda value, format="medium": format_date(language, value, format),
        "lang": language,
        "dir": direction(language),
    }


def install(env: Any) -> None:
    """Add the i18n extension to a Jinja environment (English until a render passes its
    language's callables, see `template_values`); `{% trans %}` blocks are trimmed."""
    env.add_extension("jinja2.ext.i18n")
    env.policies["ext.i18n.trimmed"] = True
    env.install_null_translations(newstyle=False)


def send_language(issue_language: str, list_languages: Sequence[str], default: str) -> str:
    """A send's one language: the issue's `language:`, else the one its lists share, else the
    `language` setting. ValueError when the lists disagree and the issue names none."""
    if issue_language:
        return issue_language
    default = default or FALLBACK
    named = sorted({lang or default for lang in list_languages})  # none set: the setting's
    if len(named) > 1:
        raise ValueError(
            f"the lists of this issue have different languages ({', '.join(named)}): "
            "add 'language: ...' to the front matter to choose the one it is written in"
        )
    return named[0] if named else default


def for_list(issue_language: str, the_list: Mapping[str, Any] | None, default: str) -> str:
    """The language of an issue sent to one list (a proof, `build`, `preview`)."""
    lists = [str(the_list.get("language") or "")] if the_list else []
    return send_language(issue_language, lists, default)
