"""The verdict of a subject-line test, from each variant's figures (people only).

The rate is the report's one definition: human opens (or clicks) over sent - bounced. The
leader is the variant with the highest rate (the earlier variant on equal rates); a two-sided
pooled two-proportion z-test of the leader against the runner-up gives the p-value (1 when
both counts are 0). At p < 0.05 the leader wins; otherwise the test is not conclusive and the
`tie` rule picks: `first` (variant A) or `best` (the leader anyway).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SIGNIFICANT = 0.05


@dataclass(frozen=True)
class Verdict:
    winner: int
    p_value: float
    conclusive: bool


def rate(people: int, reached: int) -> float:
    return people / reached if reached > 0 else 0.0


def p_value(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided pooled two-proportion z-test of x1/n1 against x2/n2."""
    if n1 <= 0 or n2 <= 0 or x1 + x2 == 0:
        return 1.0
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return 1.0
    z = abs(x1 / n1 - x2 / n2) / spread
    return math.erfc(z / math.sqrt(2))  # = 2 * (1 - Phi(|z|))


def decide(counts: list[tuple[int, int]], tie: str = "first") -> Verdict:
    """`counts`: (people, reached) per variant, A first."""
    order = sorted(range(len(counts)), key=lambda v: (-rate(*counts[v]), v))
    leader, runner_up = order[0], order[1]
    p = p_value(*counts[leader], *counts[runner_up])
    if p < SIGNIFICANT:
        return Verdict(leader, p, True)
    return Verdict(leader if tie == "best" else 0, p, False)
