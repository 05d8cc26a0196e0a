"""Which column of a members CSV is which, and how its columns are separated.

People move here with another provider's export, so the header is read as those exports write
it: every column name is normalised to lower case with `_` (`First Name` -> `first_name`,
`MEMBER_RATING` -> `member_rating`), which is also the attribute name it is stored under; the
address, name, first-name and last-name columns are found under the names Mailchimp
(`Email Address`, `First Name`, `Last Name`), Substack (`email`, `name`), Buttondown
(`email_address`) and ConvertKit (`first_name`, `email`) use. Without a name column, the name
is first and last name joined. The summary says which column was taken for what. A status
column (this tool's export `status`, ConvertKit's `state`, Buttondown's `subscriber_type`) that
says a person left makes their row a suppression (`LEFT`): an export of everyone, the people
who unsubscribed included, never subscribes them again.

The delimiter is sniffed from the header: the first of `,`, `;`, tab and `|` that splits it
into a header with an address column. A file where none does is refused with the delimiter it
was read with (and the one it seems to use, if any).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from newsletter.safe_text import one_line

DELIMITERS = (",", ";", "\t", "|")
EMAIL_NAMES = ("email", "email_address", "e_mail", "e_mail_address", "emailaddress", "mail")
NAME_NAMES = ("name", "full_name", "fullname", "display_name")
FIRST_NAMES = ("first_name", "firstname", "fname", "given_name")
LAST_NAMES = ("last_name", "lastname", "lname", "surname", "family_name")
STATUS_NAMES = ("status", "state", "subscriber_type", "subscription_status")
IGNORED = {"status", "joined_at"}  # written by export, not attributes
# A status column's values that say the person left, as this tool's own export and other
# providers' write them (normalised), and the suppression each becomes.
LEFT = {
    **dict.fromkeys(
        ("unsubscribed", "unsubscribe", "cancelled", "canceled", "removed", "opted_out"),
        "unsubscribed",
    ),
    **dict.fromkeys(("bounced", "cleaned", "hard_bounce", "undeliverable"), "bounced"),
    **dict.fromkeys(("complained", "complaint", "spam", "spam_complaint"), "complained"),
}
NOT_STORED = {"optin_ip", "confirm_ip", "ip_address", "signup_ip"}  # IP addresses: not kept

_NON_WORD = re.compile(r"[\W_]+")


def normalise(header: str) -> str:
    """A column name as an attribute name: lower case, each run of other characters one `_`,
    none at either end (`" First Name "` -> `first_name`). Normalising twice changes nothing."""
    return _NON_WORD.sub("_", header.lower()).strip("_")


def shown_delimiter(delimiter: str) -> str:
    """A delimiter as a message names it."""
    return "tab" if delimiter == "\t" else f"'{delimiter}'"


@dataclass(frozen=True)
class Columns:
    """Where things are in each row, and what the summary says about it."""

    names: list[str]  # per position: the normalised name ("" = not imported)
    delimiter: str
    email: int
    name: int | None = None
    first: int | None = None
    last: int | None = None
    status: int | None = None  # a column that may say the person left (LEFT)
    attrs: list[tuple[int, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_email(names: list[str]) -> int | None:
    """The position of the address column: the first of EMAIL_NAMES present."""
    for wanted in EMAIL_NAMES:
        if wanted in names:
            return names.index(wanted)
    return None


def plan(raw: list[str], delimiter: str, sniffed: bool) -> Columns:
    """The layout of a header (`raw`: its cells, formula quotes removed), which has an address
    column (`find_email`). Raises ValueError naming the clash when two columns normalise to
    the same name."""
    names = [normalise(c) for c in raw]
    clash = next((n for n, k in Counter(n for n in names if n).items() if k > 1), None)
    if clash:
        both = [_quoted(raw[i]) for i, n in enumerate(names) if n == clash][:2]
        raise ValueError(
            f"column '{clash}' appears twice in the header (as {' and '.join(both)}): "
            "rename or remove one"
        )
    email = find_email(names)
    assert email is not None
    pick = {key: _first_of(names, options) for key, options in _ROLES.items()}
    status = _first_of(names, STATUS_NAMES)
    roles = {email, pick["name"]}
    canonical = {pick["first"]: "first_name", pick["last"]: "last_name"}
    attrs = [
        (i, canonical.get(i, n))
        for i, n in enumerate(names)
        if n and i not in roles and n not in IGNORED and n not in NOT_STORED
    ]
    columns = Columns(
        names, delimiter, email, pick["name"], pick["first"], pick["last"], status, attrs
    )
    columns.notes.extend(_notes(raw, columns, sniffed))
    return columns


_ROLES = {"name": NAME_NAMES, "first": FIRST_NAMES, "last": LAST_NAMES}


def _first_of(names: list[str], options: tuple[str, ...]) -> int | None:
    return next((names.index(o) for o in options if o in names), None)


def _notes(raw: list[str], c: Columns, sniffed: bool) -> list[str]:
    """One short line each: the delimiter when not a comma, the columns taken for the address
    and the name when not `email` and `name`, attribute names that differ from the header,
    columns left out. Nothing for a file in this tool's own shape."""
    notes = [f"columns separated by {shown_delimiter(c.delimiter)} (sniffed)"] if sniffed else []
    took = []
    if raw[c.email].strip() != "email":
        took.append(f"email from {_quoted(raw[c.email])}")
    if c.name is not None and raw[c.name].strip() != "name":
        took.append(f"name from {_quoted(raw[c.name])}")
    elif c.name is None and (c.first is not None or c.last is not None):
        parts = [_quoted(raw[i]) for i in (c.first, c.last) if i is not None]
        took.append(f"name from {' + '.join(parts)}")
    if took:
        notes.append("; ".join(took))
    renamed = [f"{_quoted(raw[i])} -> {n}" for i, n in c.attrs if raw[i].strip() != n]
    if renamed:
        notes.append("attribute names in lower_snake case: " + ", ".join(renamed))
    if c.status is not None:
        notes.append(
            f"rows whose {_quoted(raw[c.status])} says they left (unsubscribed, cancelled, "
            "bounced, cleaned, complained...) become suppressions, never members"
        )
    dropped = [_quoted(raw[i]) for i, n in enumerate(c.names) if n in NOT_STORED]
    if dropped:
        notes.append(f"not stored (IP addresses): {', '.join(dropped)}")
    return notes


def _quoted(header: str) -> str:
    """A column's name as written, for a message: one line, at most 60 characters."""
    return f"'{one_line(header, 60)}'"


_MAY_SEPARATE = frozenset("!#$%&*+/:;<=>?^`|~,")  # punctuation a column name rarely holds


def suspected_delimiter(line: str) -> str | None:
    """The character a one-column header seems to be separated by (the most frequent
    punctuation in it that an address or a column name would not hold), or None."""
    counts = Counter(ch for ch in line if ch in _MAY_SEPARATE)
    return counts.most_common(1)[0][0] if counts else None
