"""Segments (issue 24): the issue's examples give the hand-counted subscribers of
tests/support/segment_world.py on SQLite and PostgreSQL; errors are one line with a column."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from newsletter.audience.segment_syntax import SegmentError
from newsletter.audience.segments import (
    audience_count,
    audience_rows,
    left_out_untracked,
    read_segment,
    scope_for,
    unknown_attributes,
)
from newsletter.db import tables
from newsletter.db.clock import utcnow
from tests.support.segment_world import HANOI, World


def matching(world: World, expression: str | None) -> set[str]:
    segment = read_segment(expression) if expression else None
    with world.engine.connect() as conn:
        scope = scope_for(conn, [world.list_id], utcnow())
        rows = list(audience_rows(scope, segment))
        assert audience_count(scope, segment) == len(rows)
    return world.who(r[0] for r in rows)


def test_the_whole_list_leaves_out_suppressed_unsubscribed_and_unconfirmed(world: World) -> None:
    assert matching(world, None) == {"ann", "bob", "cat", "dan", "gus"}


def test_oslo_readers_who_did_not_click_in_the_last_three_sends(world: World) -> None:
    # ann clicked; dan opted out of tracking (unknown, so left out); gus's city is "oslo".
    expression = 'attributes.city = "Oslo" and not clicked in last 3 sends'
    assert matching(world, expression) == {"bob"}
    with world.engine.connect() as conn:
        scope = scope_for(conn, [world.list_id], utcnow())
        assert left_out_untracked(scope, read_segment(expression)) == 1  # dan


def test_domains_or_the_pro_plan(world: World) -> None:
    # gus's plan is "Pro" (text compares exactly); eve is suppressed, fay unsubscribed.
    expression = 'domain in ["example.com", "example.org"] or attributes.plan = "pro"'
    assert matching(world, expression) == {"ann", "bob", "cat", "dan"}


def test_resend_to_those_who_received_and_did_not_open(world: World) -> None:
    # ann clicked (an open), gus's row is unknown (never resent silently), dan opted out.
    expression = f'received "{HANOI}" and not opened issue "{HANOI}"'
    assert matching(world, expression) == {"bob", "cat"}


def test_subscribed_in_the_last_thirty_days(world: World) -> None:
    assert matching(world, "subscribed_at > 30 days ago") == {"ann", "cat"}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("attributes.age >= 30", {"ann", "dan"}),  # cat's "x" is no number; bob's " 29 " is 29
        ("attributes.age < 30", {"bob"}),
        ("not attributes.age >= 30", {"bob"}),  # not a number: neither it nor its `not`
        ("attributes.plan is not set", {"dan"}),
        ('attributes.plan != "pro"', {"bob", "gus"}),
        ('email ends with "@EXAMPLE.com"', {"ann", "dan"}),  # email: any case
        ('attributes.city contains "Sl"', set()),  # attributes: exact case
        ('attributes.city contains "sl"', {"ann", "bob", "dan", "gus"}),
        ('attributes.city starts with "O"', {"ann", "bob", "dan"}),
        ('email contains "%"', set()),  # a literal %, not a wildcard
        ("clicked", {"ann"}),
        ("opened", {"ann", "bob", "gus"}),  # a human click is an open; machine hits never count
        ("not opened", {"cat"}),  # dan opted out: left out of both
        ("bounced", set()),  # (the ledger says bounced; no bounce record in the window)
        (f'not received "{HANOI}"', set()),  # gus is unknown: not resent silently
        ('source = "cli" and (opened or bounced)', {"ann", "bob", "gus"}),
    ],
)
def test_comparisons(world: World, expression: str, expected: set[str]) -> None:
    assert matching(world, expression) == expected


def test_a_syntax_error_is_one_line_with_the_column() -> None:
    with pytest.raises(SegmentError) as caught:
        read_segment("attributes.age >=")
    assert caught.value.line == (
        "segment:1:18: error: expected a value after '>=' (example: attributes.age >= 30)"
    )


def test_an_unknown_field_says_did_you_mean() -> None:
    with pytest.raises(
        SegmentError, match=r"segment:1:1: error: unknown field 'emial' \(did you mean 'email'\?\)"
    ):
        read_segment('emial = "a@b.c"')


def test_a_never_sent_issue_is_an_error(world: World) -> None:
    with world.engine.connect() as conn, pytest.raises(SegmentError, match="was never sent"):
        list(
            audience_rows(
                scope_for(conn, [world.list_id], utcnow()), read_segment('received "nope"')
            )
        )


def test_an_unknown_attribute_is_a_warning_read_from_the_names_table(world: World) -> None:
    from newsletter.db import tables

    with world.engine.begin() as conn:
        conn.execute(tables.attribute_names.insert().values(name="city", created_at=utcnow()))
        assert unknown_attributes(
            conn, read_segment('attributes.city = "x" or attributes.ctiy = "y"').node
        ) == ["ctiy"]


def test_an_opted_out_reader_with_clicks_matches_neither_clicked_nor_its_not(world: World) -> None:
    """Hits recorded before the opt-out (or by a machine mistaken for them) never decide."""
    dan = world.ids["dan"]
    with world.engine.begin() as conn:
        conn.execute(
            tables.tracking_hits.insert().values(
                send_id=1, subscriber_id=dan, link_id=5, verdict="human", reason="human",
                first_at=utcnow(), last_at=utcnow(), hits=1,
            )
        )  # fmt: skip
    assert "dan" not in matching(world, "clicked") | matching(world, "not clicked")
    assert "dan" not in matching(world, "not (clicked or bounced)")
    assert matching(world, "clicked") == {"ann"}


def test_bytes_that_are_not_utf8_are_one_line_with_the_column(tmp_path) -> None:
    """A shell argument with a byte that is not UTF-8 reaches Python as a lone surrogate."""
    with pytest.raises(SegmentError, match=r"^segment:1:16: error: not UTF-8 text"):
        read_segment('attributes.x = "\udcff"')
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'n.db'}"}
    cli = [sys.executable, "-m", "newsletter"]
    subprocess.run([*cli, "lists", "create", "x", "--name", "X"], env=env, cwd=tmp_path, check=True)
    args = [*cli, "audience", "--list", "x", "--count"]
    done = subprocess.run(
        [os.fsencode(a) for a in args] + [b"--where", b'email = "\xff"'],
        env=env, capture_output=True, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode != 0 and b"Traceback" not in done.stderr
    assert b"segment:1:9: error: not UTF-8 text" in done.stderr
