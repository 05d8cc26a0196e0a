"""The subscriber store on SQLite and PostgreSQL: addresses, lists, suppression rules, audience."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select

from newsletter.audience.addresses import InvalidAddress, parse
from newsletter.audience.consent import (
    ALREADY,
    CONFIRMED,
    confirm_from_link,
    resubscribe,
    set_membership_status,
)
from newsletter.audience.history import history
from newsletter.audience.lists import get_list, list_counts
from newsletter.audience.memberships import memberships_of
from newsletter.audience.recipients import audience_ids, blocked, live_memberships
from newsletter.audience.subscribers import (
    add_subscriber,
    clean_name,
    get_subscriber,
    remove_subscriber,
)
from newsletter.audience.suppressions import forget, suppress_address, suppressions_of
from newsletter.audience.unsubscribe import unsubscribe
from newsletter.db import tables
from newsletter.db.clock import utcnow
from newsletter.errors import StoreError
from tests.support.subscriber_store import count

CORPUS = [
    "ann@example.com",
    "Ann.Lee+news@Sub.Example.ORG",
    "o'brien@example.ie",
    "x@localhost",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@b",
    "a@-example.com",
    "a@example..com",
    "no-at-sign",
    "@example.com",
    "a@",
    "a b@example.com",
    "<a>@example.com",
    "a@example.com>",
    '"quoted local"@example.com',
    "üser@example.de",
    "user@bücher.de",
    "a@exa_mple.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 64 + ".com",
    "a@123.123.123.123",
    "a@example.test",
    "a@[127.0.0.1]",
    "user@xn--bcher-kva.de",
    "a{b}|~@example.com",
    "a@example.-com",
    "a@example.com-",
    "a@-a.b.com",
    "a@a.b.c.d.museum",
    "a@ab--cd.com",
    "a@x.local",
    "a@mail.onion",
    "a@EXAMPLE.COM",
    "a@example.com.",
    "a@example.c0m",
    "a@example.123",
    "a@a-.com",
    "a@" + ("a" * 60 + ".") * 4 + "com",
    "a@xn--nxasmq6b.com",
    "a@xn--abc.com",
    "a@localhost.",
    "a@ex ample.com",
    "a@exam\tple.com",
]


@pytest.mark.parametrize("raw", CORPUS)
def test_fast_validation_agrees_with_email_validator(raw):
    try:
        expected = validate_email(raw, check_deliverability=False)
    except EmailNotValidError:
        with pytest.raises(InvalidAddress):
            parse(raw)
        return
    got = parse(raw)
    assert got.email == raw
    assert got.key == f"{expected.local_part.lower()}@{expected.domain.lower()}"


def test_address_key_folds_case_but_keeps_what_was_given():
    a, b = parse("  Ann.Lee@EXAMPLE.com "), parse("ann.lee@example.COM")
    assert a.email == "Ann.Lee@EXAMPLE.com"
    assert a.key == b.key == "ann.lee@example.com"
    assert a.hash == parse("ANN.LEE@example.com").hash
    assert parse("ann+x@example.com").key != a.key  # tags are not folded


def test_unknown_list_names_known_ones_and_the_fix(store):
    with pytest.raises(StoreError) as err:
        get_list(store, "montly")
    assert str(err.value) == (
        "unknown list 'montly' (known: daily, weekly; "
        "create it with `newsletter lists create montly --name ...`)"
    )


def test_one_subscriber_per_address_whatever_the_case(store):
    first = _add(store, "Ann@Example.com", "weekly", name="Ann")
    again = _add(store, "ANN@example.COM", "daily")
    assert first["id"] == again["id"]
    assert count(store, "subscribers") == 1
    assert store_sub(store, "ann@example.com")["email"] == "Ann@Example.com"
    assert {m["slug"] for m in store_memberships(store, first["id"])} == {"daily", "weekly"}


def test_unsubscribe_is_idempotent_and_recorded(store):
    sub = _add(store, "bo@example.com", "weekly")
    weekly = store_list(store, "weekly")
    unsubscribe(store, sub["id"], weekly["id"], source="web")
    unsubscribe(store, sub["id"], weekly["id"], source="web")
    kinds = [e["kind"] for e in history(store, sub["id"])]
    assert kinds == ["subscribed", "unsubscribed"]
    assert count(store, "suppressions", list_id=weekly["id"]) == 1
    assert _audience(store, "weekly") == []


def test_unsubscribe_hashes_the_address_exactly_as_python_does(store):
    # PostgreSQL unsubscribes in one SQL statement that hashes the key on the server: the hash
    # must be the one every other path (audience, webhooks, forget) computes in Python.
    sub = _add(store, "Zoë.Ünal+News@Mail.Example.ORG", "weekly")
    weekly = store_list(store, "weekly")["id"]
    unsubscribe(store, sub["id"], weekly)
    x = tables.suppressions
    with store.connect() as conn:
        rows = conn.execute(select(x.c.address_hash, x.c.email, x.c.list_id)).all()
    assert rows == [
        (parse("zoë.ünal+news@mail.example.org").hash, "Zoë.Ünal+News@Mail.Example.ORG", weekly)
    ]
    suppress_address(store, "ZOË.ÜNAL+NEWS@mail.example.org", "unsubscribed", list_id=weekly)
    assert count(store, "suppressions") == 1


def test_unsubscribe_of_an_unknown_id_fails_and_writes_nothing(store):
    with pytest.raises(StoreError, match="no subscriber"):
        unsubscribe(store, 987654, None)
    assert count(store, "suppressions") == 0
    assert count(store, "subscriber_events") == 0


def test_suppression_wins_over_a_plain_add(store):
    sub = _add(store, "cy@example.com", "weekly")
    unsubscribe(store, sub["id"], store_list(store, "weekly")["id"])
    with pytest.raises(StoreError, match="--resubscribe"):
        _add(store, "CY@example.com", "weekly")
    assert _audience(store, "weekly") == []
    _add(store, "cy@example.com", "weekly", resubscribe_reason="signed up again on the site")
    assert [e for _, e, _ in _audience(store, "weekly")] == ["cy@example.com"]
    assert count(store, "suppressions") == 0
    assert history(store, sub["id"])[-2]["kind"] == "resubscribed"


def test_complaint_can_never_be_lifted(store):
    sub = _add(store, "dee@example.com", "weekly")
    suppress_address(store, "Dee@Example.com", "complained", source="sendgrid")
    with pytest.raises(StoreError, match="complained"):
        _add(store, "dee@example.com", "weekly", resubscribe_reason="they asked")
    with pytest.raises(StoreError, match="complained"):
        resubscribe(
            store, sub["id"], store_list(store, "weekly")["id"], source="web", reason="clicked"
        )
    unsubscribe(store, sub["id"], None, reason="unsubscribed")  # must not downgrade it
    assert [s["reason"] for s in suppressions_of(store, "dee@example.com")] == ["complained"]
    assert _audience(store, "weekly") == []


def test_web_resubscribe_lifts_only_a_per_list_unsubscribe(store):
    sub = _add(store, "eve@example.com", "weekly")
    weekly = store_list(store, "weekly")["id"]
    unsubscribe(store, sub["id"], weekly)
    resubscribe(store, sub["id"], weekly, source="web", reason="preferences page")
    assert len(_audience(store, "weekly")) == 1
    unsubscribe(store, sub["id"], None)
    with pytest.raises(StoreError, match="every list"):
        resubscribe(store, sub["id"], weekly, source="web", reason="preferences page")
    assert _audience(store, "weekly") == []


def test_bounce_is_lifted_only_by_explicit_new_consent(store):
    suppress_address(store, "fay@example.com", "bounced", source="smtp")  # unknown address
    with pytest.raises(StoreError, match="bounced"):
        _add(store, "fay@example.com", "weekly")
    _add(store, "fay@example.com", "weekly", resubscribe_reason="mailbox fixed, asked by phone")
    assert len(_audience(store, "weekly")) == 1


def test_audience_each_subscriber_once_in_id_order_minus_suppressions(store):
    ids = {n: _add(store, f"{n}@example.com", "weekly")["id"] for n in ("a", "b", "c", "d", "e")}
    for n in ("a", "b", "c"):
        _add(store, f"{n}@example.com", "daily")
    _add(store, "u@example.com", "weekly", status="unconfirmed")
    weekly, daily = store_list(store, "weekly")["id"], store_list(store, "daily")["id"]
    suppress_address(store, "b@example.com", "unsubscribed", list_id=weekly)  # still daily
    suppress_address(store, "c@example.com", "bounced")  # global
    unsubscribe(store, ids["d"], weekly)
    with store.connect() as conn:
        got = list(audience_ids(conn, [weekly, daily]))
        only_weekly = [i for i, _, _ in audience_ids(conn, [weekly])]
    assert [i for i, _, _ in got] == [ids["a"], ids["b"], ids["e"]]
    assert got[0][1] == "a@example.com"
    assert only_weekly == [ids["a"], ids["e"]]


def test_batch_recheck_drops_leavers_and_suppressed(store):
    ids = [_add(store, f"s{i}@example.com", "weekly")["id"] for i in range(4)]
    weekly = store_list(store, "weekly")["id"]
    unsubscribe(store, ids[1], weekly)
    suppress_address(store, "S2@example.com", "complained")
    with store.connect() as conn:
        # a suppression row written by someone else, without touching memberships
        conn.execute(
            tables.suppressions.insert().values(
                address_hash=parse("s3@example.com").hash,
                email=None,
                list_id=0,
                reason="manual",
                source="",
                created_at=utcnow(),
            )
        )
        conn.commit()
        rows = live_memberships(conn, [weekly], ids)  # what the sender re-reads per batch
        mailable = {r[0] for r in rows} - blocked(conn, [weekly], rows)
        assert set(ids) - mailable == {ids[1], ids[2], ids[3]}
        assert [i for i, _, _ in audience_ids(conn, [weekly])] == [ids[0]]


def test_double_opt_in_confirm(store):
    sub = _add(store, "gil@example.com", "weekly", status="unconfirmed")
    weekly = store_list(store, "weekly")["id"]
    assert _audience(store, "weekly") == []
    assert confirm_from_link(store, sub["id"], weekly, utcnow()) == CONFIRMED
    assert confirm_from_link(store, sub["id"], weekly, utcnow()) == ALREADY
    assert len(_audience(store, "weekly")) == 1


@pytest.mark.parametrize("how", ["forget", "remove"])
def test_ids_are_never_reused_after_the_newest_subscriber_goes(store, how):
    _add(store, "first@example.com", "weekly")
    newest = _add(store, "newest@example.com", "weekly")
    if how == "forget":
        forget(store, "newest@example.com")
    else:
        remove_subscriber(store, "newest@example.com")
    after = _add(store, "after@example.com", "weekly")
    assert after["id"] > newest["id"]


def test_names_are_one_clean_line():
    assert clean_name("  Ann\r\nBcc: x@example.com\x00 ") == "Ann Bcc: x@example.com"
    assert clean_name("\u202eevil\u2066 name\u2028two") == "evil name two"
    assert clean_name("Zoë   Ünal") == "Zoë Ünal"
    assert len(clean_name("x" * 500)) == 200


def test_preferences_membership_status(store):
    sub = _add(store, "hal@example.com", "weekly")
    daily = store_list(store, "daily")["id"]
    set_membership_status(store, sub["id"], daily, "subscribed", source="web")
    weekly = store_list(store, "weekly")["id"]
    set_membership_status(store, sub["id"], weekly, "unsubscribed", source="web")
    status = {m["slug"]: m["status"] for m in store_memberships(store, sub["id"])}
    assert status == {"daily": "subscribed", "weekly": "unsubscribed"}
    counts = {r["slug"]: (r["subscribed"], r["unsubscribed"]) for r in list_counts(store)}
    assert counts == {"daily": (1, 0), "weekly": (0, 1)}


def test_forget_erases_everything_but_the_hash(store):
    sub = _add(store, "Ivy@Example.com", "weekly", name="Ivy <b>Bold</b>")
    weekly = store_list(store, "weekly")["id"]
    unsubscribe(store, sub["id"], weekly)
    with store.begin() as conn:  # a past send to her, in the ledger
        send_id = conn.execute(
            tables.sends.insert().values(
                issue_id="i1",
                list_slugs=["weekly"],
                status="done",
                backend="outbox",
                subject="s",
                html="",
                text="",
                source_hash="x",
                options={},
                created_at=utcnow(),
            )
        ).inserted_primary_key[0]
        conn.execute(
            tables.deliveries.insert().values(
                send_id=send_id,
                subscriber_id=sub["id"],
                email="Ivy@Example.com",
                status="sent",
                attempts=1,
                detail="",
                provider_id="",
                updated_at=utcnow(),
            )
        )
    assert forget(store, "ivy@example.com") is True
    with store.connect() as conn:
        assert conn.execute(select(tables.deliveries.c.email)).scalar_one() == ""
    assert store_sub(store, "ivy@example.com") is None
    for table in ("subscribers", "memberships", "subscriber_events"):
        assert count(store, table) == 0
    with store.connect() as conn:
        rows = conn.execute(select(tables.suppressions)).mappings().all()
    assert {(r["list_id"], r["email"]) for r in rows} == {(0, None), (weekly, None)}
    assert all(r["address_hash"] == parse("ivy@example.com").hash for r in rows)
    assert any(r["list_id"] == 0 and r["reason"] == "manual" for r in rows)
    with pytest.raises(StoreError, match="suppressed"):
        _add(store, "ivy@example.com", "daily")
    assert forget(store, "nobody@example.com") is False
    assert count(store, "suppressions", list_id=0) == 2


# --- small helpers (keep the tests readable) ----------------------------------------------------


def _add(engine, email, slug, **kw):
    return add_subscriber(engine, email, slug, **kw)


def store_list(engine, slug):
    return get_list(engine, slug)


def store_sub(engine, email):
    return get_subscriber(engine, email)


def store_memberships(engine, sub_id):
    return memberships_of(engine, sub_id)


def _audience(engine, *slugs):
    ids = [get_list(engine, s)["id"] for s in slugs]
    with engine.connect() as conn:
        return list(audience_ids(conn, ids))
