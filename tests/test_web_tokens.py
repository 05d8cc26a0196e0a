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
