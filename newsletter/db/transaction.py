"""Transactions with SQLAlchemy errors translated into StoreError at the boundary."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from newsletter.db.connection import reading
from newsletter.errors import StoreError


class connect_to:
    """Use a given Connection as is, or open a read-only one on an Engine."""

    def __init__(self, bind: Engine | Connection):
        self.bind, self.conn = bind, None

    def __enter__(self) -> Connection:
        if isinstance(self.bind, Connection):
            return self.bind
        self.conn = reading(self.bind)  # used for reads only
        return self.conn

    def __exit__(self, *exc: Any) -> None:
        if self.conn is not None:
            self.conn.close()


class begin:
    """engine.begin() with SQLAlchemy errors translated at the boundary."""

    def __init__(self, engine: Engine):
        self.cm = engine.begin()

    def __enter__(self) -> Connection:
        try:
            return self.cm.__enter__()
        except SQLAlchemyError as exc:
            raise StoreError(f"database unavailable: {exc.__class__.__name__}: {exc}") from None

    def __exit__(self, *exc: Any) -> bool | None:
        try:
            return self.cm.__exit__(*exc)
        except SQLAlchemyError as e:
            raise StoreError(f"database write failed: {e.__class__.__name__}: {e}") from None
