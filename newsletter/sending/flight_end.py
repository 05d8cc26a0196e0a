"""How a flight that went wrong ends (`batches`): a database that stayed away names the journal
of what was delivered meanwhile; a fatal backend error pauses the send (or drops it when
nothing happened) and stops with the error."""

from __future__ import annotations

from sqlalchemy import Engine

from newsletter.errors import BackendConfigError, DatabaseUnavailable, RelayOutage
from newsletter.sending import ledger, sends
from newsletter.sending.inflight import Flight


def database_gone(flight: Flight, issue_id: str) -> DatabaseUnavailable:
    """The database stayed away: what was delivered meanwhile is in the journal."""
    journal = flight.recorder.journal
    kept = (
        f"; {journal.kept:,} delivered results are kept in {journal.path} and recorded by the "
        "next send, worker or send-due on this host"
        if journal.kept
        else ""
    )
    return DatabaseUnavailable(
        f"stopped: {flight.error}{kept}; continue with: newsletter send {issue_id} --resume"
    )


def stop_on_error(engine: Engine, send_id: int, error: BaseException) -> None:
    """Fatal (bad key, unreachable host): what the backend reported is recorded and what it
    never attempted is back in the queue (the flight did both); pause the send (or drop it
    if nothing happened), then stop with the error."""
    if isinstance(error, RelayOutage) or (
        isinstance(error, BackendConfigError) and not ledger.discard_if_untouched(engine, send_id)
    ):  # an outage keeps the send, however little went out: --resume continues it
        with engine.begin() as conn:
            sends.set_status(conn, send_id, "paused")
    raise error
