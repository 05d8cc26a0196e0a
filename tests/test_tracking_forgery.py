"""Engagement cannot be forged from a copied link (issue 20, point 5): a send's link ids cannot
be walked from one known id to find the trap link, and the pixel records no open for a send
made with `track_opens: false`."""

from __future__ import annotations

import re
from itertools import combinations
from pathlib import Path

from tests.support.tracking import BROWSER, TRACKED_ISSUE, link_id, send_tracked, stored_hits

NO_OPENS = TRACKED_ISSUE.replace("lists: [news]\n", "lists: [news]\ntrack_opens: false\n")


def test_link_ids_are_not_guessable_from_one_another(web):
    mails = send_tracked(web, ["ann@example.org"])
    ann = mails["ann@example.org"]
    ids = [link_id(url) for url in [*ann.clicks.values(), ann.trap]]
    assert len(set(ids)) == len(ids) == 5
    assert min(ids) > 2**32  # not a counter
    assert min(abs(a - b) for a, b in combinations(ids, 2)) > 2**20  # no walk from one to the next


def test_the_pixel_records_no_open_for_a_send_without_open_tracking(web):
    member = web.member("ann@example.org", "Ann")
    web.send_issue(NO_OPENS, name="2026-02-02-no-opens")
    [eml] = (Path(web.settings.outbox_dir) / "new").glob(f"*.{member['id']}.eml")
    raw = eml.read_bytes().decode("ascii", "replace").replace("=\r\n", "").replace("=3D", "=")
    assert "/o/" not in raw  # no pixel was sent
    token = re.search(r"/c/\d+/([0-9a-f]{32})", raw).group(1)  # the reader's link token
    answer = web.client.get(f"/o/{token}.gif", headers={"User-Agent": BROWSER})
    assert answer.status_code == 200  # the image is still answered: nothing to learn from it
    assert stored_hits(web.engine) == []
