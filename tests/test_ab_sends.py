"""Subject-line tests sent for real through the outbox, on both databases: the test share,
its even split chosen by a hash in SQL, the held rest, the wait, the verdict on people only
(Apple-proxy opens for one variant, browser opens for the other), the winner to everyone
else, `--winner`, and nobody getting two variants."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.errors import SendError
from newsletter.sending import ab_phase, ledger
from newsletter.sending.ab_sample import MODULUS, MULTIPLIER, sample_size
from newsletter.sending.plan import SendOptions, prepare
from newsletter.sending.send import execute
from tests.support.tracking import APPLE_PROXY, BROWSER, TRACKED_ISSUE, parse_mail

SUBJECTS = ("The tracked issue", "Four links you should follow")
AB_ISSUE = TRACKED_ISSUE.replace(
    "subject: The tracked issue\n",
    f"subjects:\n  - {SUBJECTS[0]}\n  - {SUBJECTS[1]}\n"
    "ab_test:\n  share: 20%\n  wait: 4h\n  metric: opens\n",
)
NAME = "2026-03-01-ab"


def _members(web: Any, n: int) -> list[int]:
    return [web.member(f"reader{i}@example.org")["id"] for i in range(n)]


def _send(web: Any, text: str = AB_ISSUE, **options: Any) -> Any:
    path = web.workdir / "issues" / f"{NAME}.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    plan = prepare(web.engine, web.settings, path, SendOptions(**options))
    return execute(web.engine, web.settings, plan)


def _rows(web: Any) -> dict[int, tuple[str, int | None]]:
    d = tables.deliveries
    with web.engine.connect() as conn:
        return {
            r[0]: (r[1], r[2])
            for r in conn.execute(select(d.c.subscriber_id, d.c.status, d.c.variant))
        }


def _mailed(web: Any) -> dict[int, list[str]]:
    """subscriber id -> the subjects they were mailed, from the outbox."""
    found: dict[int, list[str]] = {}
    for eml in sorted(Path(web.settings.outbox_dir, "new").glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(eml.read_bytes())
        sid = int(eml.name.rsplit(".", 2)[-2])
        found.setdefault(sid, []).append(str(message["Subject"]))
    return found


def _state(web: Any, send_id: int) -> ab_phase.AbState:
    with web.engine.connect() as conn:
        state = ab_phase.state_of(conn, send_id)
    assert state is not None
    return state


def test_the_test_phase_sends_exactly_the_share_split_evenly_and_holds_the_rest(web):
    ids = _members(web, 101)
    progress = _send(web)
    rows = _rows(web)
    statuses = Counter(status for status, _ in rows.values())
    assert sample_size(101, 0.2) == 20
    assert statuses == {"sent": 20, "held": 81}
    assert Counter(v for s, v in rows.values() if s == "sent") == {0: 10, 1: 10}
    # The sample is the first 20 by the hash, computed here in Python the same way.
    order = sorted(ids, key=lambda i: ((i * MULTIPLIER + progress.send_id) % MODULUS, i))
    assert sorted(i for i, (s, _) in rows.items() if s == "sent") == sorted(order[:20])
    assert [rows[i][1] for i in order[:20]] == [0, 1] * 10  # dealt in turn, A first
    mailed = _mailed(web)
    assert {i: s for i, (s, _) in rows.items() if s == "sent"}.keys() == mailed.keys()
    for sid, subjects in mailed.items():
        assert subjects == [SUBJECTS[rows[sid][1]]]  # one message, its own variant's subject
    state = _state(web, progress.send_id)
    assert state.phase == "waiting" and state.sample == 20
    assert state.winner_due_at == state.tested_at + timedelta(hours=4)
    with web.engine.connect() as conn:
        assert ledger.counts(conn, progress.send_id)["held"] == 81
        send = conn.execute(select(tables.sends.c.status)).scalar_one()
    assert send == "waiting"


def test_the_sample_is_the_share_of_the_snapshot_less_suppressed_readers(web):
    from newsletter.audience.addresses import hash_key
    from newsletter.audience.suppressions import insert_suppression

    ids = _members(web, 30)
    with web.engine.begin() as conn:  # suppressed, memberships untouched: never mailable
        for i in range(5):
            insert_suppression(conn, hash_key(f"reader{i}@example.org"), None, 0, "manual", "t")
    _send(web)
    rows = _rows(web)
    sent = {i: v for i, (s, v) in rows.items() if s == "sent"}
    assert sample_size(25, 0.2) == 5 and len(sent) == 5  # 20% of 25, not of 30
    assert Counter(sent.values()) == {0: 3, 1: 2}
    assert not set(sent) & set(ids[:5])
    assert all(rows[i][0] == "held" for i in ids[:5])


def test_an_odd_sample_gives_variant_a_the_extra_reader(web):
    _members(web, 50)  # 25% of 50 = 12.5 -> 13
    _send(web, AB_ISSUE.replace("share: 20%", "share: 25%"))
    sent = Counter(v for s, v in _rows(web).values() if s == "sent")
    assert sent == {0: 7, 1: 6}


def test_before_the_wait_is_over_resume_says_when_the_winner_is_due(web):
    _members(web, 20)
    progress = _send(web)
    due = _state(web, progress.send_id).winner_due_at
    with pytest.raises(SendError, match=r"test phase sent; winner due at "):
        _send(web, resume=True)
    assert due is not None and sum(1 for s, _ in _rows(web).values() if s == "held") == 16


def _open(web: Any, eml_for: dict[int, Path], sid: int, agent: str) -> None:
    mail = parse_mail(eml_for[sid], sid)
    path = mail.pixel.split("8000", 1)[1]
    assert web.client.get(path, headers={"User-Agent": agent}).status_code == 200


def test_people_choose_the_winner_and_the_machine_heavy_variant_loses(web):
    _members(web, 100)
    progress = _send(web)  # 20 in the test: 10 A, 10 B
    rows = _rows(web)
    eml_for = {
        int(p.name.rsplit(".", 2)[-2]): p
        for p in Path(web.settings.outbox_dir, "new").glob("*.eml")
    }
    a = [i for i, (s, v) in rows.items() if s == "sent" and v == 0]
    b = [i for i, (s, v) in rows.items() if s == "sent" and v == 1]
    for sid in a:  # every A reader "opened": Apple's proxy fetched the pixel
        _open(web, eml_for, sid, APPLE_PROXY)
    for sid in b[:7]:  # 7 of 10 B readers opened in a browser
        _open(web, eml_for, sid, BROWSER)
    later = utcnow() + timedelta(hours=5)
    _send(web, resume=True, now=later)
    state = _state(web, progress.send_id)
    assert state.winner == 1 and state.decided_by == "verdict" and state.conclusive
    figures = {f["variant"]: f for f in state.figures or []}
    assert figures[0]["opens"] == {"human": 0, "machine": 10}
    assert figures[1]["opens"] == {"human": 7, "machine": 0}
    mailed = _mailed(web)
    after = _rows(web)
    assert Counter(s for s, _ in after.values()) == {"sent": 100}
    assert all(len(subjects) == 1 for subjects in mailed.values())  # nobody got two
    assert len(mailed) == 100
    for sid, (_, variant) in after.items():
        if sid not in a and sid not in b:  # the rest: only the winner
            assert variant == 1 and mailed[sid] == [SUBJECTS[1]]
    with web.engine.connect() as conn:  # the send, and the archive, are the winner's version
        status, subject = conn.execute(select(tables.sends.c.status, tables.sends.c.subject)).one()
    assert (status, subject) == ("done", SUBJECTS[1])


def test_no_significance_sends_variant_a_and_says_so(web):
    _members(web, 40)
    progress = _send(web)
    _send(web, resume=True, now=utcnow() + timedelta(hours=5))  # nobody opened: p = 1
    state = _state(web, progress.send_id)
    assert (state.winner, state.conclusive, state.p_value) == (0, False, 1.0)
    assert {v for s, v in _rows(web).values()} == {0, 1}
    assert sum(1 for s, v in _rows(web).values() if v == 0) == 36  # 4 in the test + 32 held


def test_winner_by_hand_overrides_and_is_accepted_once(web):
    _members(web, 30)
    progress = _send(web)  # 6 in the test
    _send(web, winner=1)  # before the wait is over: by hand
    state = _state(web, progress.send_id)
    assert (state.winner, state.decided_by) == (1, "hand")
    assert Counter(v for _, v in _rows(web).values()) == {1: 27, 0: 3}
    with pytest.raises(SendError, match=r"winner \(B\) was already decided"):
        _send(web, winner=0)


def test_an_unsubscribe_during_the_wait_is_honoured(web):
    from newsletter.audience.unsubscribe import unsubscribe

    ids = _members(web, 30)
    _send(web)
    held = [i for i, (s, _) in _rows(web).items() if s == "held"]
    unsubscribe(web.engine, held[0], web.list["id"])
    _send(web, winner=0)
    assert _rows(web)[held[0]][0] == "skipped"
    assert held[0] not in _mailed(web) and len(ids) == 30


def test_people_who_join_during_the_wait_are_not_included(web):
    _members(web, 20)
    _send(web)
    late = web.member("late@example.org")["id"]
    _send(web, winner=0)
    assert late not in _rows(web) and late not in _mailed(web)
    assert len(_mailed(web)) == 20


def test_a_follow_up_of_a_test_goes_out_with_the_winners_subject_and_no_test(web):
    _members(web, 30)
    _send(web)
    _send(web, winner=1)  # B, by hand: the rest get B
    before = _mailed(web)
    assert sum(len(s) for s in before.values()) == 30
    follow = _send(web, again=True, where=f'received "{NAME}"')
    after = _mailed(web)
    new = [s[-1] for sid, s in after.items() if len(s) == len(before.get(sid, [])) + 1]
    assert len(new) == 30 and set(new) == {SUBJECTS[1]}  # everyone once, the winner's subject
    d = tables.deliveries
    with web.engine.connect() as conn:
        rows = conn.execute(
            select(d.c.status, d.c.variant).where(d.c.send_id == follow.send_id)
        ).all()
    assert {r.status for r in rows} == {"sent"} and {r.variant for r in rows} == {None}
