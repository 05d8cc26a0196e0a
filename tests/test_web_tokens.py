"""Token forgery: every kind of wrong token gets the same neutral 404 and changes nothing;
rotated keys keep accepting tokens signed with an old key."""

from __future__ import annotations

import dataclasses

from newsletter import tokens
from newsletter.web import create_app


def _neutral(client) -> bytes:  # type: ignore[no-untyped-def]
    response = client.get("/no-such-page-at-all")
    assert response.status_code == 404
    return response.get_data()


def _rejected(web, token: str) -> None:  # type: ignore[no-untyped-def]
    neutral = _neutral(web.client)
    for method in (web.client.get, web.client.post):
        response = method(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert response.status_code == 404
        assert response.get_data() == neutral  # same page as any unknown URL


def test_altered_truncated_other_subscriber_and_other_list_tokens_fail(web):
    from newsletter.audience.lists import create_list

    ann = web.member("ann@example.org")
    bob = web.member("bob@example.org")
    daily = create_list(web.engine, "daily", "Daily")
    web.member("ann@example.org", slug="daily")
    good = web.token("unsubscribe", ann["id"])
    payload, stamp, signature = good.split(".")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    bob_payload = web.token("unsubscribe", bob["id"]).split(".")[0]
    daily_payload = web.token("unsubscribe", ann["id"], daily["id"]).split(".")[0]
    forged = [
        f"{payload}.{stamp}.{flipped}",  # altered signature
        good[:-5],  # truncated
        good[: len(good) // 2],
        f"{bob_payload}.{stamp}.{signature}",  # ann's signature on bob's id
        f"{daily_payload}.{stamp}.{signature}",  # ann's signature on another list
        web.token("preferences", ann["id"]),  # right person, wrong purpose
        tokens.Signer(["some-other-key-entirely-0123456789"]).make(
            "unsubscribe", ann["id"], web.list["id"]
        ),
        "not-a-token",
        web.token("unsubscribe", 999_999),  # genuine signature, unknown subscriber
    ]
    for token in forged:
        _rejected(web, token)
    assert web.suppressions() == []
    assert web.status(ann["id"]) == web.status(bob["id"]) == "subscribed"
    assert (
        web.client.post(f"/unsubscribe/{good}", data={"List-Unsubscribe": "One-Click"}).status_code
        == 200
    )


def test_rotated_keys_still_accept_old_tokens(web):
    ann = web.member("ann@example.org")
    old_token = web.token("unsubscribe", ann["id"])
    rotated = dataclasses.replace(
        web.settings,
        secret_key="the-brand-new-key-0123456789abcdef",
        old_secret_keys=web.settings.secret_key,
    )
    client = create_app(rotated, web.engine).test_client()
    assert client.get(f"/unsubscribe/{old_token}").status_code == 200
    new_token = tokens.signer_for(rotated, allow_generated=False).make(
        "unsubscribe", ann["id"], web.list["id"]
    )
    assert new_token != old_token and client.get(f"/unsubscribe/{new_token}").status_code == 200
    # Once the old key is dropped from the list, its tokens stop working.
    dropped = dataclasses.replace(rotated, old_secret_keys="")
    assert (
        create_app(dropped, web.engine).test_client().get(f"/unsubscribe/{old_token}").status_code
        == 404
    )


def test_an_old_token_never_acts_on_whoever_comes_after(web):
    """Forget the newest subscriber and add another: the forgotten person's links must not
    unsubscribe, show or change the new one (ids are never handed out twice)."""
    from newsletter.audience.suppressions import forget
    from tests.support.subscriber_store import snapshot

    web.member("ann@example.org")
    bob = web.member("bob@example.org", name="Bob")  # the newest
    old = {p: web.token(p, bob["id"], 0 if p == "preferences" else None) for p in tokens.PURPOSES}
    forget(web.engine, "bob@example.org")
    cat = web.member("cat@example.org", name="Cat")
    assert cat["id"] != bob["id"]
    before = snapshot(web.engine)
    one_click = web.client.post(
        f"/unsubscribe/{old['unsubscribe']}", data={"List-Unsubscribe": "One-Click"}
    )
    assert one_click.status_code == 404
    assert web.client.get(f"/preferences/{old['preferences']}").status_code == 404
    renamed = web.client.post(
        f"/preferences/{old['preferences']}", data={"action": "unsubscribe-all", "name": "X"}
    )
    assert renamed.status_code == 404
    assert web.client.post(f"/confirm/{old['confirm']}").status_code == 404
    assert snapshot(web.engine) == before
    assert web.status(cat["id"]) == "subscribed"
