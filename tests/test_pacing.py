"""What the workers of one send learn about their relay travels through the database: each
writes its own pace, reads the others' and heeds them; `status`'s summary adds them up; a
worker that leaves takes its row with it."""

from __future__ import annotations

from newsletter.sending import pacing, sends, workers
from newsletter.sending.delivery.base import Backend, Pace
from newsletter.sending.recording import Store
from tests.support.sending import populate


class Learning(Backend):
    """A backend that has learned `mine` and keeps what its peers said."""

    def __init__(self, mine: Pace):
        super().__init__()
        self.mine, self.heard = mine, list[list[Pace]]()

    def send(self, template, recipients):  # noqa: ANN001, ANN201
        raise AssertionError("not used")

    def pace(self) -> Pace:
        return self.mine

    def heed(self, peers: list[Pace]) -> None:
        self.heard.append(peers)


def _send(engine) -> int:  # noqa: ANN001
    lst = populate(engine, "weekly", 3)
    with engine.begin() as conn:
        return sends.create_send(
            conn,
            issue_id="2019-03-01-hanoi-summit",
            list_slugs=["weekly"],
            list_ids=[lst["id"]],
            backend="smtp",
            subject="s",
            html="h",
            text_body="t",
            source_hash="x",
            options={},
        )


def test_workers_share_their_pace_through_the_database(engine) -> None:
    send_id = _send(engine)
    throttled = Pace(sessions=3, limit=4, rate=25.0, throttled=True, throttled_s=2.0, refusals=5)
    calm = Pace(sessions=6, limit=6, rate=0.0, throttled=False, throttled_s=0.0, refusals=0)
    a, b = workers.Worker(engine), workers.Worker(engine)
    learner_a, learner_b = Learning(throttled), Learning(calm)
    store_a = Store(engine, send_id, a, learner_a)
    store_b = Store(engine, send_id, b, learner_b)
    store_a.share_pace_if_due()
    store_b.share_pace_if_due()
    assert learner_b.heard == [[throttled]]  # B heard what A learned, and A only
    with engine.connect() as conn:
        whole = pacing.of_send(conn, send_id)
    assert whole is not None
    assert (whole.sessions, whole.limit, whole.refusals, whole.throttled) == (9, 10, 5, True)
    assert whole.rate == 0.0  # one of them is not limited: neither is the whole send
    a.close()
    with engine.connect() as conn:
        assert pacing.peers(conn, send_id, b.id) == []  # A left with its row
    b.close()
    with engine.connect() as conn:
        assert pacing.of_send(conn, send_id) is None


def test_a_backend_with_nothing_to_share_writes_no_pace(engine) -> None:
    send_id = _send(engine)

    class Quiet(Learning):
        def pace(self) -> None:  # type: ignore[override]
            return None

    worker = workers.Worker(engine)
    Store(engine, send_id, worker, Quiet(Pace(0, 0, 0.0, False, 0.0, 0))).share_pace_if_due()
    with engine.connect() as conn:
        assert pacing.of_send(conn, send_id) is None
    worker.close()
