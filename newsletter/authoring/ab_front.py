"""A subject-line test in the front matter: `subjects:` (and `preheaders:`), two to four
variants with A first, and `ab_test:` (share, wait, metric, tie). Each problem is reported on
its own line of the file, as the rest of the front matter is.

    subjects: [First subject, Second subject]
    ab_test: {share: 20%, wait: 4h, metric: opens}
"""

from __future__ import annotations

import re
from collections.abc import Callable

from newsletter.errors import did_you_mean
from newsletter.models import AbTest
from newsletter.safe_text import one_line

Report = Callable[[int, str], None]
Meta = dict[str, tuple[object, int]]

VARIANTS_MIN, VARIANTS_MAX = 2, 4
SHARE_MIN, SHARE_MAX = 0.05, 0.50
WAIT_MIN, WAIT_MAX = 3600, 7 * 86400
AB_KEYS = ("share", "wait", "metric", "tie")
METRICS = ("opens", "clicks")
TIES = ("first", "best")
LETTERS = "ABCD"
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400}
_WAIT = re.compile(r"^(\d+(?:\.\d+)?)\s*(m|min|h|d)$")
_SHARE = re.compile(r"^(\d+(?:\.\d+)?)\s*%$")


def variant_list(key: str, node: object, line: int, error: Report) -> list[tuple[str, int]]:
    """`subjects:` or `preheaders:`: [(text, line)], one line per item."""
    import yaml

    if not isinstance(node, yaml.SequenceNode):
        error(line, f"'{key}' is a list, one variant a line ('  - First subject'), A first")
        return []
    found: list[tuple[str, int]] = []
    for item in node.value:
        where = item.start_mark.line + 2
        if not isinstance(item, yaml.ScalarNode) or not str(item.value).strip():
            error(where, f"each of '{key}' is one line of text")
            continue
        found.append((one_line(str(item.value).strip()), where))
    return found


def ab_settings(node: object, line: int, error: Report) -> AbTest | None:
    """`ab_test:` as a mapping of share, wait, metric and tie; None after reporting."""
    import yaml

    if not isinstance(node, yaml.MappingNode):
        error(line, "'ab_test' takes 'share: 20%', 'wait: 4h' and 'metric: opens' (or clicks)")
        return None
    values: dict[str, tuple[str, int]] = {}
    for key_node, value_node in node.value:
        key, where = str(key_node.value), key_node.start_mark.line + 2
        if key not in AB_KEYS:
            error(
                where,
                f"unknown ab_test key '{key}'{did_you_mean(key, AB_KEYS)}; "
                f"valid keys: {', '.join(AB_KEYS)}",
            )
        elif not isinstance(value_node, yaml.ScalarNode):
            error(where, f"'ab_test.{key}' must be a single value")
        else:
            values[key] = (str(value_node.value).strip(), where)
    return _ab_test(values, line, error)


def _ab_test(values: dict[str, tuple[str, int]], line: int, error: Report) -> AbTest | None:
    ok = True
    for key in ("share", "wait"):
        if key not in values:
            error(line, f"'ab_test' needs '{key}' (e.g. share: 20%, wait: 4h)")
            ok = False
    share = _share(*values.get("share", ("20%", line)), error) if "share" in values else None
    wait = _wait(*values.get("wait", ("4h", line)), error) if "wait" in values else None
    metric, metric_line = values.get("metric", ("opens", line))
    if metric not in METRICS:
        error(metric_line, f"'ab_test.metric' is opens or clicks, got {metric!r}")
        ok = False
    tie, tie_line = values.get("tie", ("first", line))
    if tie not in TIES:
        error(tie_line, f"'ab_test.tie' is first (variant A) or best, got {tie!r}")
        ok = False
    if not ok or share is None or wait is None:
        return None
    return AbTest(share=share, wait_seconds=wait, metric=metric, tie=tie)


def _share(text: str, line: int, error: Report) -> float | None:
    m = _SHARE.match(text)
    share = float(m.group(1)) / 100 if m else None
    if share is None or not SHARE_MIN <= share <= SHARE_MAX:
        error(
            line,
            f"'ab_test.share' is a percentage of the audience from 5% to 50% "
            f"(e.g. share: 20%), got {text!r}",
        )
        return None
    return share


def _wait(text: str, line: int, error: Report) -> int | None:
    m = _WAIT.match(text.lower())
    seconds = int(float(m.group(1)) * _UNITS[m.group(2)]) if m else None
    if seconds is None or not WAIT_MIN <= seconds <= WAIT_MAX:
        error(
            line,
            f"'ab_test.wait' is from 1h to 7d, written like 90m, 4h or 2d, got {text!r}",
        )
        return None
    return seconds


def variants(
    meta: Meta, subject: tuple[str, int], preheader: str, error: Report
) -> tuple[tuple[str, ...], tuple[str, ...], AbTest | None]:
    """(subjects, preheaders, test) after the checks across keys; ((), (), None) without a
    test. `subject` is the issue's `subject:` (text, line; line 0 when not given)."""
    raw_subjects = items(meta, "subjects")
    raw_preheaders = items(meta, "preheaders")
    test, test_line = meta.get("ab_test", (None, 0))
    if "subjects" in meta and subject[1]:
        error(meta["subjects"][1], "'subject' and 'subjects' together: keep one (A is first)")
    if not raw_subjects:
        if "preheaders" in meta:
            error(meta["preheaders"][1], "'preheaders' needs 'subjects' (one preheader each)")
        if "ab_test" in meta:
            error(test_line, "'ab_test' needs 'subjects:' with two to four variants")
        return (), (), None
    _check_subjects(raw_subjects, meta["subjects"][1], error)
    if "preheaders" in meta and len(raw_preheaders) != len(raw_subjects):
        error(
            meta["preheaders"][1],
            f"'preheaders' has {len(raw_preheaders)} item(s) and 'subjects' "
            f"{len(raw_subjects)}: give one preheader per subject, in the same order",
        )
    if "ab_test" not in meta:
        error(meta["subjects"][1], "'subjects' needs 'ab_test:' (share: 20%, wait: 4h)")
    subjects = tuple(text for text, _ in raw_subjects)
    preheaders = tuple(text for text, _ in raw_preheaders) or (preheader,) * len(subjects)
    return subjects, preheaders, test if isinstance(test, AbTest) else None


def items(meta: Meta, key: str) -> list[tuple[str, int]]:
    value = meta.get(key, ([], 0))[0]
    return value if isinstance(value, list) else []


def _check_subjects(found: list[tuple[str, int]], line: int, error: Report) -> None:
    if len(found) < VARIANTS_MIN:
        error(line, "'subjects' has one variant: a test needs two to four (or use 'subject')")
    if len(found) > VARIANTS_MAX:
        error(line, f"'subjects' has {len(found)} variants: a test takes two to four")
    seen: dict[str, int] = {}
    for text, where in found:
        if text in seen:
            error(where, f"duplicate subject (the same as line {seen[text]}): make it differ")
        seen.setdefault(text, where)


def letter(variant: int) -> str:
    """A variant's name in messages: 0 -> A."""
    return LETTERS[variant]
