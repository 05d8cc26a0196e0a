"""Recording a hit on PostgreSQL, where several server processes write at once.

Each recipient of a send has a state row (`tracking_recipients`: a version and the time of
their last hit). Every recorded hit updates it, so concurrent hits of one recipient queue on
that row lock, and each sees what the one before it wrote:

- a hit with nothing recent beside it (the usual case) claims the row only if the recipient's
  last hit is older than the judging window, and stores itself in the SAME autocommitted
  statement: one round trip, like the one-click unsubscribe;
- otherwise the recent hits are read with the version, judged, and written only if the
  version is still the one read (else read and judge again). Rewriting earlier rows takes a
  transaction: on the same pool connection (`transaction_on`), so a request holds one
  connection at most, however many threads a burst of a scanner's hits keeps busy.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import Connection, Engine

from newsletter.db.driver_sql import Sql
from newsletter.db.transaction import autocommit, transaction_on
from newsletter.tracking.hit_rows import (
    READ_SQL,
    Hit,
    State,
    convert,
    hit_params,
    read_state,
    state_of,
    store,
)
from newsletter.tracking.judge import Decision, decide

log = logging.getLogger(__name__)
MAX_TRIES = 20  # optimistic rounds before recording without the version check

# Hits are committed without waiting for the disk flush (synchronous_commit off, for these
# writes only): visible to every process at once and kept through any crash or restart of the
# app, like SQLite's WAL with synchronous=NORMAL; a crash of the database server itself may lose
# the last fraction of a second. That wait (~3 ms a commit here) would otherwise cap the redirect.
# set_config(..., true) sets it for the statement's own transaction; FROM quick makes it run.
_QUICK = "quick AS (SELECT set_config('synchronous_commit', 'off', true))"

# Claim the recipient's state row (a CTE named `claim`): when their last hit is older than
# :since (no recent hit: nothing to re-judge), or when its version is still :version.
_CLAIM_IF_QUIET = """
claim AS (
    INSERT INTO tracking_recipients (subscriber_id, send_id, version, last_at)
    SELECT :sub, :send, 1, :at FROM quick
    WHERE NOT EXISTS (SELECT 1 FROM tracking_optouts WHERE subscriber_id = :sub)
      AND NOT EXISTS (SELECT 1 FROM tracking_totals WHERE send_id = :send)
      -- (not even try, so no row lock and no commit to wait for, if recent as far as we see)
      AND NOT EXISTS (SELECT 1 FROM tracking_recipients
                      WHERE subscriber_id = :sub AND send_id = :send AND last_at >= :since)
    ON CONFLICT (subscriber_id, send_id) DO UPDATE
    SET version = tracking_recipients.version + 1,
        last_at = GREATEST(tracking_recipients.last_at, EXCLUDED.last_at)
    WHERE tracking_recipients.last_at < :since
    RETURNING 1
)"""
_CLAIM_IF_VERSION = """
claim AS (
    INSERT INTO tracking_recipients (subscriber_id, send_id, version, last_at)
    SELECT :sub, :send, 1, :at FROM quick
    ON CONFLICT (subscriber_id, send_id) DO UPDATE
    SET version = tracking_recipients.version + 1,
        last_at = GREATEST(tracking_recipients.last_at, EXCLUDED.last_at)
    WHERE tracking_recipients.version = :version
    RETURNING 1
)"""
# Store the hit if the recipient was claimed (a CTE named `stored`).
_STORE = """
stored AS (
    INSERT INTO tracking_hits
        (send_id, subscriber_id, link_id, verdict, reason, first_at, last_at, hits)
    SELECT :send, :sub, :link, :verdict, :reason, :at, :at, 1 FROM claim
    ON CONFLICT (send_id, subscriber_id, link_id, verdict) DO UPDATE
    SET hits = tracking_hits.hits + 1,
        first_at = LEAST(tracking_hits.first_at, EXCLUDED.first_at),
        last_at = GREATEST(tracking_hits.last_at, EXCLUDED.last_at)
    RETURNING 1
)"""
# A first try: store a hit with nothing recent beside it; either way, answer with the
# recipient's state as READ_SQL reads it, to judge the hit if it was not stored.
_QUIET = Sql(
    f"WITH {_QUICK}, {_CLAIM_IF_QUIET}, {_STORE}\n"
    f"SELECT (SELECT count(*) FROM stored) AS stored, state.* FROM ({READ_SQL}) AS state"
)
# Store a judged hit if nobody came between (nothing to re-judge).
_VERSIONED = Sql(f"WITH {_QUICK}, {_CLAIM_IF_VERSION}, {_STORE} SELECT 1 FROM stored")
# The same claim alone, in a transaction that also rewrites earlier rows.
_CLAIM = Sql(f"WITH {_QUICK}, {_CLAIM_IF_VERSION} SELECT 1 FROM claim")


def record(engine: Engine, hit: Hit, window: timedelta) -> str:
    """Judge and store one hit; the stored reason, or '' when nothing was recorded."""
    reason = decide(hit.kind, hit.link_id, hit.reason, hit.at, [], window).reason
    with autocommit(engine) as conn:
        rows = _QUIET.run(conn, **hit_params(hit, reason, window)).all()
        if rows and rows[0].stored:
            return reason
        state = state_of(conn, rows)
        return _judged(conn, hit, window, state) if state else ""


def _judged(conn: Connection, hit: Hit, window: timedelta, state: State | None) -> str:
    """Judge against `state`, and write if no other hit of the recipient came between (else
    read and judge again); `conn` autocommits, earlier rows are rewritten in a transaction."""
    decision = Decision(hit.reason)
    for _ in range(MAX_TRIES):
        if state is None:
            return ""
        decision = decide(hit.kind, hit.link_id, hit.reason, hit.at, state.recent, window)
        params = {**hit_params(hit, decision.reason, window), "version": state.version}
        if not decision.convert:
            if _VERSIONED.run(conn, **params).first() is not None:
                return decision.reason
        else:
            with transaction_on(conn):
                if _CLAIM.run(conn, **params).first() is not None:
                    convert(conn, params, decision, state)
                    store(conn, params)
                    return decision.reason
        state = read_state(conn, hit, window)  # another hit of this recipient came first
    log.warning("tracking: recipient %s contended; hit recorded unjudged", hit.subscriber_id)
    store(conn, hit_params(hit, decision.reason, window))  # one statement: atomic as it is
    return decision.reason
