"""A link never undoes a newer opt-out made another way (issue 20, point 4). The Resubscribe
button of an unsubscribe link undoes only the unsubscribe that the same link made, while
nothing newer happened to that membership; a preferences link may tick a list back only when
no opt-out of it came after the link was mailed, other than its own."""

from __future__ import annotations

import time

from newsletter.audience.unsubscribe import unsubscribe
from tests.support.waiting import wait_until


def _resubscribe(web, token: str):  # type: ignore[no-untyped-def]
    return web.client.post(f"/unsubscribe/{token}", data={"action": "resubscribe"})


def _next_second() -> None:
    """Tokens carry the second they were made: let the clock pass into the next one."""
    now = int(time.time())
    wait_until(lambda: int(time.time()) > now, what="the clock's next second")


def test_an_old_unsubscribe_link_cannot_undo_an_opt_out_on_the_preferences_page(web):
    ann = web.member("ann@example.org")
    old_link = web.token("unsubscribe", ann["id"])  # mailed in an earlier issue
    prefs = web.token("preferences", ann["id"], 0)
    saved = web.client.post(f"/preferences/{prefs}", data={"name": "Ann"})  # no list ticked
    assert saved.status_code == 200 and web.status(ann["id"]) == "unsubscribed"
    answer = _resubscribe(web, old_link)
    assert answer.status_code == 409
    assert "only undo the unsubscribe it made" in answer.get_data(as_text=True)
    assert web.status(ann["id"]) == "unsubscribed"


def test_an_old_unsubscribe_link_cannot_undo_the_operators_unsubscribe(web):
    ann = web.member("ann@example.org")
    old_link = web.token("unsubscribe", ann["id"])
    unsubscribe(web.engine, ann["id"], web.list["id"], source="cli")
    assert _resubscribe(web, old_link).status_code == 409
    assert web.status(ann["id"]) == "unsubscribed"


def test_a_link_undoes_its_own_unsubscribe_but_not_another_links(web):
    ann = web.member("ann@example.org")
    first, second = web.token("unsubscribe", ann["id"]), None
    _next_second()
    second = web.token("unsubscribe", ann["id"])  # another issue's link: another value
    assert first != second
    web.client.post(f"/unsubscribe/{second}", data={"action": "unsubscribe"})
    assert _resubscribe(web, first).status_code == 409  # not the link that unsubscribed
    assert web.status(ann["id"]) == "unsubscribed"
    assert _resubscribe(web, second).status_code == 200
    assert web.status(ann["id"]) == "subscribed"
    web.client.post(f"/unsubscribe/{second}", data={"List-Unsubscribe": "One-Click"})
    assert _resubscribe(web, second).status_code == 200  # its own one-click, too
    assert web.status(ann["id"]) == "subscribed"


def test_once_something_newer_happened_the_link_cannot_undo_even_its_own(web):
    ann = web.member("ann@example.org")
    link = web.token("unsubscribe", ann["id"])
    web.client.post(f"/unsubscribe/{link}", data={"action": "unsubscribe"})
    assert _resubscribe(web, link).status_code == 200
    unsubscribe(web.engine, ann["id"], web.list["id"], source="cli")  # then the operator
    assert _resubscribe(web, link).status_code == 409
    assert web.status(ann["id"]) == "unsubscribed"


def test_an_old_preferences_link_cannot_undo_a_newer_opt_out(web):
    ann = web.member("ann@example.org")
    old_prefs = web.token("preferences", ann["id"], 0)
    _next_second()
    link = web.token("unsubscribe", ann["id"])
    web.client.post(f"/unsubscribe/{link}", data={"action": "unsubscribe"})
    list_id = str(web.list["id"])
    refused = web.client.post(f"/preferences/{old_prefs}", data={"list": list_id})
    assert refused.status_code == 409 and web.status(ann["id"]) == "unsubscribed"
    assert "after this link was mailed" in refused.get_data(as_text=True)
    _next_second()
    new_prefs = web.token("preferences", ann["id"], 0)  # in a later issue: may tick it back
    assert web.client.post(f"/preferences/{new_prefs}", data={"list": list_id}).status_code == 200
    assert web.status(ann["id"]) == "subscribed"


def test_a_preferences_link_undoes_its_own_opt_out(web):
    ann = web.member("ann@example.org")
    prefs = web.token("preferences", ann["id"], 0)
    _next_second()
    web.client.post(f"/preferences/{prefs}", data={"name": "Ann"})  # unticked: unsubscribed
    back = web.client.post(f"/preferences/{prefs}", data={"list": str(web.list["id"])})
    assert back.status_code == 200 and web.status(ann["id"]) == "subscribed"
