"""The project's own error tree.

Library exceptions (smtplib, sendgrid, mjml, premailer, SQLAlchemy, YAML) never leave the module
that calls the library: they are translated into one of these, whose message says what the user
can do. The CLI prints ``str(error)`` as one line and exits 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from newsletter.models import SendResult


class NewsletterError(Exception):
    """Base of every error a user can cause or fix. The message is one actionable line."""


class ConfigError(NewsletterError):
    """Bad or missing configuration (file, environment, secret)."""


@dataclass(frozen=True)
class Problem:
    """One finding about an input file: where, what, and how to fix it."""

    path: str
    line: int
    message: str
    severity: str = "error"  # "error" | "warning" | "note" (never fails a command)

    @property
    def where(self) -> str:
        """`file:line`, or just `file` for a problem with the file as a whole (line 0)."""
        return f"{self.path}:{self.line}" if self.line else self.path

    def __str__(self) -> str:
        return f"{self.where}: {self.severity}: {self.message}"


def did_you_mean(
    word: str, choices: Iterable[str], *, compared: Callable[[str], str] = str.lower
) -> str:
    """ " (did you mean 'x'?)" naming the closest of `choices`, or "" when none is close: the
    hint of every "unknown ..." message. Words are compared as `compared` makes them (by
    default ignoring case; the choice is shown as given)."""
    import difflib

    by_form = {compared(choice): choice for choice in choices}
    match = difflib.get_close_matches(compared(word), list(by_form), n=1)
    return f" (did you mean '{by_form[match[0]]}'?)" if match else ""


class IssueFileError(NewsletterError):
    """An issue file that cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        first = errors[0] if errors else problems[0]
        more = f" (and {len(errors) - 1} more; run `newsletter check`)" if len(errors) > 1 else ""
        super().__init__(f"{first.where}: {first.message}{more}")
        # What the CLI prints: `FILE:LINE: error: message`, as `check` writes every problem.
        self.line = f"{first.where}: {first.severity}: {first.message}{more}"


class RenderError(NewsletterError):
    """A template or the MJML/CSS pipeline failed."""


class StoreError(NewsletterError):
    """The database is unreachable, or a stored object is missing (unknown list, address...)."""


class DatabaseUnavailable(StoreError):
    """The database cannot do the work right now (server down or restarting, a network blip,
    a lock held too long, a full disk): nothing half-done was kept, and the same request can
    succeed later. The web app answers 503 with Retry-After."""


class DiskFull(DatabaseUnavailable):
    """The disk holding a file we write (the SQLite database, the outbox) is full. `path` names
    the file or folder; the message says so and what to do."""

    def __init__(self, path: str, what: str = "the SQLite database"):
        self.path = path
        super().__init__(
            f"{path}: the disk holding {what} is full: free some space, then run the command "
            "again (a send continues with `newsletter send ISSUE --resume`)"
        )


class ImportFileError(NewsletterError):
    """A CSV file that cannot be imported at all (unreadable, no email column)."""


class TokenError(NewsletterError):
    """A signed token that is forged, altered, expired or for someone else."""


class SendError(NewsletterError):
    """A send that cannot start or must stop (empty audience, unfinished send, cancelled...)."""


# --- delivery: the backend contract's closed family -------------------------------------------


class DeliveryError(NewsletterError):
    """Base of errors raised by delivery backends."""


class BackendConfigError(DeliveryError):
    """Fatal for the whole send: bad API key (401/403), missing secret, unreachable host.

    `results` lists the recipients of the failing batch that the backend did finish before it
    stopped; the others were never attempted."""

    def __init__(self, message: str, results: Sequence[SendResult] = ()):
        super().__init__(message)
        self.results = list(results)


class RelayOutage(BackendConfigError):
    """The server refused every message (or every connection) for `outage_timeout`: the send
    pauses, and `send --resume` continues it."""
