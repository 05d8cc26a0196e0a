"""The judge on its own: what a request alone says, and what a recipient's recent hits add
(trap window, bursts); the one data file of scanner and proxy agents, with its sources."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.tracking import agents, judge
from newsletter.tracking.judge import LINK, OPEN, TRAP_LINK, Seen, decide, judge_request
from tests.support.tracking import APPLE_PROXY, BROWSER, GMAIL_PROXY, SCANNER

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=60)


def headers(**values: str):  # type: ignore[no-untyped-def]
    named = {k.replace("_", "-").lower(): v for k, v in values.items()}
    return lambda name: named.get(name.lower())


@pytest.mark.parametrize(
    "method,hdrs,is_open,reason",
    [
        ("GET", headers(User_Agent=BROWSER), False, "human"),
        ("HEAD", headers(User_Agent=BROWSER), False, "machine:head"),
        ("GET", headers(User_Agent=BROWSER, Sec_Purpose="prefetch"), False, "machine:prefetch"),
        ("GET", headers(User_Agent=BROWSER, Purpose="prefetch"), True, "machine:prefetch"),
        ("GET", headers(User_Agent=BROWSER, X_Moz="prefetch"), False, "machine:prefetch"),
        ("GET", headers(User_Agent=SCANNER), False, "machine:agent"),
        ("GET", headers(User_Agent="curl/8.5.0"), True, "machine:agent"),
        ("GET", headers(), False, "machine:agent"),  # no agent at all: no browser
        ("GET", headers(User_Agent=APPLE_PROXY), True, "machine:apple-proxy"),
        ("GET", headers(User_Agent=APPLE_PROXY), False, "machine:agent"),
        ("GET", headers(User_Agent=GMAIL_PROXY), True, "human:gmail-proxy"),
        (
            "GET",
            headers(User_Agent="Mozilla/4.0 (compatible; ms-office; MSOffice 16)"),
            True,
            "human",
        ),
    ],
)
def test_what_the_request_alone_says(method, hdrs, is_open, reason):
    assert judge_request(method, hdrs, is_open=is_open) == reason


def seen(link_id: int, kind: str, seconds_ago: float, verdict: str = "human") -> Seen:
    at = T0 - timedelta(seconds=seconds_ago)
    return Seen(link_id, kind, verdict, at, at)


def test_a_lone_click_is_human_however_soon_after_delivery():
    assert decide(LINK, 1, "human", T0, [], WINDOW).reason == "human"
    # An open a moment before and the same link clicked twice: still one reader.
    recent = [seen(0, OPEN, 0.5), seen(1, LINK, 0.3)]
    assert decide(LINK, 1, "human", T0, recent, WINDOW).reason == "human"
    # Two distinct links within 2 s is a fast reader, not yet a burst.
    assert decide(LINK, 2, "human", T0, [seen(1, LINK, 0.5)], WINDOW).reason == "human"


def test_a_burst_of_distinct_links_within_two_seconds_is_a_machine_with_the_earlier_ones():
    recent = [seen(1, LINK, 1.5), seen(2, LINK, 0.4), seen(0, OPEN, 0.2)]
    decision = decide(LINK, 3, "human", T0, recent, WINDOW)
    assert decision.reason == "machine:burst"
    assert decision.convert == ((1, "machine:burst"), (2, "machine:burst"))  # not the open
    # Spread over more than 2 seconds, it is a reader going through the issue.
    slow = [seen(1, LINK, 5), seen(2, LINK, 2.5)]
    assert decide(LINK, 3, "human", T0, slow, WINDOW).reason == "human"


def test_a_reader_who_clicked_earlier_keeps_that_click_when_a_burst_follows():
    earlier = Seen(1, LINK, "human", T0 - timedelta(hours=1), T0 - timedelta(seconds=1))
    decision = decide(LINK, 3, "human", T0, [earlier, seen(2, LINK, 0.5)], WINDOW)
    assert decision.reason == "machine:burst" and decision.convert == ((2, "machine:burst"),)


def test_the_trap_marks_the_recipients_hits_within_the_window_before_and_after():
    recent = [seen(0, OPEN, 30), seen(1, LINK, 20), seen(2, LINK, 90)]
    decision = decide(TRAP_LINK, 9, "human", T0, recent, WINDOW)
    assert decision.reason == "machine:trap"
    assert decision.convert == ((0, "machine:trap"), (1, "machine:trap"))  # not the older one
    after = [seen(9, TRAP_LINK, 40, "machine")]
    assert decide(LINK, 3, "human", T0, after, WINDOW).reason == "machine:trap"
    assert decide(OPEN, 0, "human:gmail-proxy", T0, after, WINDOW).reason == "machine:trap"
    long_after = [seen(9, TRAP_LINK, 61, "machine")]
    assert decide(LINK, 3, "human", T0, long_after, WINDOW).reason == "human"


def test_a_machine_reason_from_the_request_is_kept():
    after = [seen(9, TRAP_LINK, 5, "machine")]
    assert decide(LINK, 3, "machine:head", T0, after, WINDOW).reason == "machine:head"


def test_the_agent_list_is_one_data_file_with_sources_for_every_rule():
    rules = agents.load()
    assert rules and all(
        r.sources and all(s.startswith("https://") for s in r.sources) for r in rules
    )
    package = Path(judge.__file__).parent.parent
    data_files = [p for p in package.rglob("*") if p.suffix in (".toml", ".json", ".txt", ".csv")]
    # one file for the agents (doctor's free-mail domains are a data file of their own)
    about_agents = [
        p for p in data_files if "agent" in p.name or p.parent == Path(judge.__file__).parent
    ]
    assert [p.name for p in about_agents] == ["agents.toml"]


def test_a_broken_rule_in_the_data_file_fails_loudly(tmp_path):
    bad = tmp_path / "agents.toml"
    bad.write_text('[[rule]]\ncontains = ["x"]\nreason = "machine:agent"\napplies = "both"\n')
    with pytest.raises(ValueError, match="rule 1 is incomplete"):
        agents.load(bad)
