"""500 one-click unsubscribes in parallel against a real server process (gunicorn)."""

from __future__ import annotations

import http.client
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from newsletter.audience.addresses import parse
from newsletter.db import tables
from newsletter.db.clock import utcnow

N = 500


def _seed(web) -> list[str]:  # type: ignore[no-untyped-def]
    """N subscribed members of 'news' (inserted in bulk), and one unsubscribe token each."""
    now = utcnow()
    with web.engine.begin() as conn:
        for i in range(N):
            addr = parse(f"reader{i}@example.org")
            conn.execute(
                tables.subscribers.insert().values(
                    email=addr.email,
                    email_key=addr.key,
                    name="",
                    attributes={},
                    created_at=now,
                    updated_at=now,
                )
            )
        ids = list(
            conn.execute(
                select(tables.subscribers.c.id).order_by(tables.subscribers.c.id)
            ).scalars()
        )
        conn.execute(
            tables.memberships.insert(),
            [
                {
                    "subscriber_id": i,
                    "list_id": web.list["id"],
                    "status": "subscribed",
                    "source": "test",
                    "created_at": now,
                    "updated_at": now,
                }
                for i in ids
            ],
        )
    return [web.token("unsubscribe", i) for i in ids]


def _one_click(base: str, token: str) -> int:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request(
            "POST",
            f"/unsubscribe/{token}",
            body="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.slow
def test_500_parallel_one_click_posts_are_all_recorded(web, live_server):
    tokens = _seed(web)
    base = live_server(workers=2, threads=16)
    with ThreadPoolExecutor(max_workers=100) as pool:
        statuses = list(pool.map(lambda t: _one_click(base, t), tokens))
    assert statuses == [200] * N
    x, m = tables.suppressions, tables.memberships
    with web.engine.connect() as conn:
        recorded = conn.execute(
            select(func.count())
            .select_from(x)
            .where(x.c.list_id == web.list["id"], x.c.source == "web:one-click")
        ).scalar_one()
        left = conn.execute(
            select(func.count()).select_from(m).where(m.c.status == "unsubscribed")
        ).scalar_one()
    assert recorded == N and left == N
