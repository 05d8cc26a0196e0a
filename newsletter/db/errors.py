"""The one translation of SQLAlchemy's errors (and so its drivers') into the project's
`StoreError`: what was being done, the error's kind and the driver's own words, never the SQL
or its parameters (they hold addresses). The original stays the `__context__`, for the web
app's log line (`web.security.describe_failure`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError

from newsletter.errors import StoreError


def store_error(doing: str, exc: Exception) -> StoreError:
    """`doing: ErrorKind: the driver's words` as a StoreError (raise it `from None`)."""
    cause = getattr(exc, "orig", None) or exc
    return StoreError(f"{doing}: {type(exc).__name__}: {cause}")


@contextmanager
def translated(doing: str) -> Iterator[None]:
    """Any SQLAlchemy error inside becomes `store_error(doing, ...)`."""
    try:
        yield
    except SQLAlchemyError as exc:
        raise store_error(doing, exc) from None
