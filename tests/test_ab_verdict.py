"""The verdict of a subject-line test: rates over sent - bounced, a pooled two-proportion
z-test, and the rule for a test that is not conclusive."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from newsletter.tracking.ab_verdict import Verdict, decide, p_value


def test_p_value_matches_a_hand_computed_z_test() -> None:
    # 60/500 against 40/500: pooled 0.1, se = sqrt(0.1 * 0.9 * 2 / 500) = 0.018974, z = 2.1082
    z = (0.12 - 0.08) / math.sqrt(0.1 * 0.9 * (2 / 500))
    assert p_value(60, 500, 40, 500) == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(z / 2**0.5))))
    assert p_value(60, 500, 40, 500) == pytest.approx(0.035, abs=0.001)


def test_p_value_is_1_when_both_counts_are_0() -> None:
    assert p_value(0, 100, 0, 120) == 1.0
    assert p_value(0, 0, 0, 0) == 1.0


def test_a_clear_leader_wins_conclusively() -> None:
    assert decide([(40, 500), (60, 500)]) == Verdict(1, pytest.approx(0.035, abs=0.001), True)


def test_no_significance_falls_back_to_variant_a_by_default() -> None:
    verdict = decide([(50, 500), (55, 500)])
    assert verdict.winner == 0 and not verdict.conclusive and verdict.p_value > 0.05


def test_no_significance_with_tie_best_takes_the_higher_rate_anyway() -> None:
    verdict = decide([(50, 500), (55, 500)], tie="best")
    assert verdict.winner == 1 and not verdict.conclusive


def test_the_rate_uses_the_reached_readers_not_the_counts() -> None:
    # B has fewer openers but far fewer reached (a bounce-heavy half): its rate is higher.
    assert decide([(100, 1000), (90, 300)]).winner == 1


def test_the_leader_is_tested_against_the_runner_up_among_four() -> None:
    verdict = decide([(10, 400), (80, 400), (75, 400), (5, 400)])
    assert verdict == Verdict(0, pytest.approx(p_value(80, 400, 75, 400)), False)


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=2, max_size=4))
def test_verdict_is_always_a_variant_with_a_probability(pairs: list[tuple[int, int]]) -> None:
    counts = [(min(x, n), n) for x, n in pairs]
    verdict = decide(counts)
    assert 0 <= verdict.winner < len(counts) and 0.0 <= verdict.p_value <= 1.0
    assert verdict.conclusive == (verdict.p_value < 0.05)
