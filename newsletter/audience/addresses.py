"""Email addresses: validate (syntax only, never DNS), normalise for comparison, hash.

Comparison rule. An address is stored exactly as given (surrounding blanks removed) and compared
through its *key*: the domain is case-insensitive (DNS says so) and the local part is compared
case-insensitively too. RFC 5321 lets a server treat `Ann` and `ann` as different mailboxes, but
no major provider does (Gmail, Outlook, Yahoo, iCloud all fold case), and treating them as two
subscribers would mail the same person twice and let an upper-case copy dodge an unsubscribe.
Provider-specific rules (Gmail's dots, `+tags`) are NOT folded: they are not universal, and
`ann+news@` is often a deliberate, separately filtered address.

The address hash (`Address.hash`, sha256 of the key) is what suppressions match on, so an
erased person stays suppressed without their address being kept.

Validation uses `email-validator` with deliverability checks off. Imports validate a million
rows, and the library spends ~35 us per call (~250 us for a new domain, in its IDNA checks); so
the common case -- an ASCII dot-atom local part at a plain ASCII host name -- is checked here
with the same rules the library applies to it (tests compare the two on a corpus), and anything
else (quoted or Unicode local parts, IDNA domains, over-long addresses) goes to the library.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from newsletter.db.derived import key_hash
from newsletter.errors import StoreError

# RFC 5322 atext, the characters email-validator accepts in an ASCII local part, as the body of
# a character class ("-" last: not a range); mail headers build their dot-atoms from it too.
ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_DOT_ATOM_LOCAL = re.compile(rf"[{ATEXT}]+(?:\.[{ATEXT}]+)*\Z")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_HOST = re.compile(rf"(?:{_LABEL}\.)+{_LABEL}\Z")
_RESERVED_LDH = re.compile(r"(?:^|\.)..--")  # "ab--" labels; also catches IDNA "xn--" ones
_MAX_LOCAL = 64
_MAX_DOMAIN = 253
_MAX_ADDRESS = 254


class InvalidAddress(ValueError):
    """Not a usable email address; the message says why (one line)."""


@dataclass(frozen=True)
class Address:
    email: str  # as given, blanks trimmed
    key: str  # normalised: compare and look up by this

    @property
    def hash(self) -> str:
        return hash_key(self.key)


def hash_key(key: str) -> str:
    return key_hash(key)  # one rule, shared with the subscribers.address_hash column


def parse(email: str) -> Address:
    """Validate `email` and return it with its comparison key. Raises InvalidAddress."""
    given = email.strip()
    if not given:
        raise InvalidAddress("empty address")
    local, at, domain = given.rpartition("@")
    if (
        at
        and len(local) <= _MAX_LOCAL
        and len(given) <= _MAX_ADDRESS
        and _DOT_ATOM_LOCAL.match(local)
    ):
        ok, value = _domain(domain)
        if not ok:
            raise InvalidAddress(value)
        return Address(given, f"{local.lower()}@{value}")
    try:
        result = validate_email(given, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(str(exc)) from None
    return Address(given, f"{result.local_part.lower()}@{result.domain.lower()}")


@lru_cache(maxsize=100_000)
def _domain(domain: str) -> tuple[bool, str]:
    """(True, normalised domain) or (False, reason)."""
    lower = domain.lower()
    if (
        len(lower) <= _MAX_DOMAIN
        and domain.isascii()
        and _PLAIN_HOST.match(lower)
        and lower[-1].isalpha()  # the library's "valid top-level domain" rule
        and not _RESERVED_LDH.search(lower)
        and not any(lower == d or lower.endswith("." + d) for d in SPECIAL_USE_DOMAIN_NAMES)
    ):
        return True, lower
    try:
        result = validate_email(f"x@{domain}", check_deliverability=False)
    except EmailNotValidError as exc:
        return False, str(exc)
    return True, result.domain.lower()


def require_valid(email: str) -> Address:
    """`parse`, with a bad address as a StoreError that names it (for store operations)."""
    try:
        return parse(email)
    except InvalidAddress as exc:
        raise StoreError(f"'{email}' is not a valid email address: {exc}") from None
