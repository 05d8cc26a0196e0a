"""A small, hand-counted world for segment tests: eight people on list `weekly`, three tracked
sends with human and machine hits, a suppression, an opt-out. The expected answers of the
issue's examples are worked out by hand in tests/test_segments.py from this table:

| who | weekly | attributes | joined | ledger, hits |
| --- | --- | --- | --- | --- |
| ann@example.com | subscribed | city Oslo, plan pro, age 34 | 10 days | A sent, human click |
| bob@example.org | subscribed | city Oslo, plan free, age " 29 " | 40 days | A sent, B human open |
| cat@other.net | subscribed | city Bergen, plan pro, age x | 5 days | A bounced, C machine |
| dan@example.com | subscribed | city Oslo, age 41.5 | 100 days | A sent, opted out |
| eve@example.com | subscribed | city Oslo | 1 day | suppressed (manual) |
| fay@example.net | unsubscribed | city Oslo, plan pro | - |  |
| gus@sample.com | subscribed | city oslo, plan Pro | (none) | A unknown, human open |
| hal@sample.org | unconfirmed | city Oslo | - |  |

Sends: A = #1 "2019-03-01-hanoi-summit", B = #2 "i2", C = #3 "i3", all to weekly, tracked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine, update

from newsletter.db import tables
from newsletter.db.clock import utcnow

PEOPLE = {
    "ann": ("ann@example.com", {"city": "Oslo", "plan": "pro", "age": "34"}, 10),
    "bob": ("bob@example.org", {"city": "Oslo", "plan": "free", "age": " 29 "}, 40),
    "cat": ("cat@other.net", {"city": "Bergen", "plan": "pro", "age": "x"}, 5),
    "dan": ("dan@example.com", {"city": "Oslo", "age": "41.5"}, 100),
    "eve": ("eve@example.com", {"city": "Oslo"}, 1),
    "fay": ("fay@example.net", {"city": "Oslo", "plan": "pro"}, None),
    "gus": ("gus@sample.com", {"city": "oslo", "plan": "Pro"}, None),
    "hal": ("hal@sample.org", {"city": "Oslo"}, None),
}
HANOI = "2019-03-01-hanoi-summit"


@dataclass
class World:
    engine: Engine
    ids: dict[str, int]  # person -> subscriber id
    list_id: int
    names: dict[int, str]  # subscriber id -> person

    def who(self, ids: object) -> set[str]:
        return {self.names[int(i)] for i in ids}  # type: ignore[attr-defined]


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def build_world(engine: Engine) -> World:
    from newsletter.audience.lists import create_list
    from newsletter.audience.subscribers import add_subscriber
    from newsletter.audience.suppressions import suppress_address

    lst = create_list(engine, "weekly", "Weekly")
    create_list(engine, "daily", "Daily")
    ids = {}
    for person, (email, _, _) in PEOPLE.items():
        status = "unconfirmed" if person == "hal" else "subscribed"
        ids[person] = add_subscriber(engine, email, "weekly", status=status)["id"]
    now = utcnow()
    s, m = tables.subscribers, tables.memberships
    with engine.begin() as conn:
        for person, (_, attrs, days) in PEOPLE.items():
            conn.execute(update(s).where(s.c.id == ids[person]).values(attributes=attrs))
            since = None if days is None else now - timedelta(days=days)
            conn.execute(
                update(m).where(m.c.subscriber_id == ids[person]).values(subscribed_at=since)
            )
        conn.execute(update(m).where(m.c.subscriber_id == ids["fay"]).values(status="unsubscribed"))
    suppress_address(engine, "eve@example.com", "manual")
    _sends(engine, ids, lst["id"])
    return World(engine, ids, lst["id"], {v: k for k, v in ids.items()})


def _sends(engine: Engine, ids: dict[str, int], list_id: int) -> None:
    now = utcnow()
    with engine.begin() as conn:
        for send_id, issue in ((1, HANOI), (2, "i2"), (3, "i3")):
            conn.execute(
                tables.sends.insert().values(
                    issue_id=issue, list_slugs=["weekly"], list_ids=[list_id], status="done",
                    backend="outbox", subject=issue, html="", text="", source_hash="",
                    options={}, created_at=now,
                )
            )  # fmt: skip
            # ids 1, 2, 3 in the fresh database (the sequence moves on, as for a real send)
            conn.execute(
                tables.tracked_sends.insert().values(
                    send_id=send_id, clicks=True, opens=True, html=""
                )
            )
        ledger = {"ann": "sent", "bob": "sent", "cat": "bounced", "dan": "sent", "gus": "unknown"}
        conn.execute(
            tables.deliveries.insert(),
            [
                {"send_id": 1, "subscriber_id": ids[p], "email": PEOPLE[p][0], "status": st,
                 "attempts": 1, "detail": "", "provider_id": "", "updated_at": now}
                for p, st in ledger.items()
            ],
        )  # fmt: skip
        hits = [("ann", 1, 5, "human"), ("bob", 2, 0, "human"), ("cat", 3, 7, "machine"),
                ("gus", 1, 0, "human")]  # fmt: skip
        conn.execute(
            tables.tracking_hits.insert(),
            [
                {"send_id": send, "subscriber_id": ids[p], "link_id": link, "verdict": verdict,
                 "reason": verdict, "first_at": now, "last_at": now, "hits": 1}
                for p, send, link, verdict in hits
            ],
        )  # fmt: skip
        conn.execute(
            tables.tracking_optouts.insert().values(subscriber_id=ids["dan"], created_at=now)
        )
