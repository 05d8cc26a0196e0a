"""Benchmark: what one hostile message costs `newsletter mailbox` (issue 20, point 3).

Each message is classified alone (`mailbox.classify.classify`, what a run does per message),
best of five, in this process. Three hostile messages beside a same-run baseline:

- baseline: a Postfix DSN captured from the lab (about 30 KB, the whole original returned);
- parts:    1.4 MB of 200,000 empty MIME parts (took 19 s before the limits);
- header:   one header folded over 1.2 MB (took 4 s, growing with the square of its size);
- nested:   multiparts nested 50 deep.

Target: each hostile message set aside in under 0.5 s.

    python bench/mailbox_limits.py
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from newsletter.mailbox.classify import classify  # noqa: E402
from newsletter.tokens import Signer  # noqa: E402
from tests.support.mailroom import CORPUS, LAB_KEY, empty_parts, folded_header, nested  # noqa: E402  # noqa: E402


def best_of(make: Callable[[], object], runs: int = 5) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        make()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    signer = Signer([LAB_KEY])
    cases = {
        "baseline (a 30 KB Postfix DSN)": (
            CORPUS / "postfix-lab-unknown-user-ghost2.eml"
        ).read_bytes(),
        "200,000 empty MIME parts": empty_parts(200_000),
        "a header folded over 1.2 MB": folded_header(1_200_000),
        "multiparts nested 50 deep": nested(50),
    }
    for name, data in cases.items():
        verdict = classify(data, signer)
        seconds = best_of(lambda data=data: classify(data, signer))
        what = verdict.kind + (f" ({verdict.reason})" if verdict.reason else "")
        print(f"{name:34} {len(data) / 1e6:5.2f} MB  {seconds * 1000:8.2f} ms  {what}")


if __name__ == "__main__":
    main()
