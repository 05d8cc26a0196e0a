"""The user-agent rules of `agents.toml` (the one list of scanner and proxy agents, with its
sources): which agent makes a hit a machine, or marks a proxy that fetches for a reader."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "agents.toml"
APPLIES = ("opens", "clicks", "both")


@dataclass(frozen=True)
class Rule:
    reason: str
    applies: str  # opens | clicks | both
    exact: frozenset[str]
    contains: tuple[str, ...]  # lower case
    sources: tuple[str, ...]


def load(path: Path = DATA) -> list[Rule]:
    """The rules of the data file, checked (a broken file is a bug: it fails loudly)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    rules = []
    for i, raw in enumerate(data.get("rule", [])):
        rule = Rule(
            reason=str(raw["reason"]),
            applies=str(raw["applies"]),
            exact=frozenset(str(x).strip() for x in raw.get("exact", [])),
            contains=tuple(str(x).lower() for x in raw.get("contains", [])),
            sources=tuple(str(x) for x in raw.get("sources", [])),
        )
        if (
            rule.applies not in APPLIES
            or not rule.reason.startswith(("machine:", "human:"))
            or not (rule.exact or rule.contains)
            or not rule.sources
        ):
            raise ValueError(f"{path}: rule {i + 1} is incomplete: {raw!r}")
        rules.append(rule)
    return rules


@lru_cache(maxsize=1)
def _rules() -> tuple[Rule, ...]:
    return tuple(load())


def agent_reason(agent: str, *, is_open: bool) -> str | None:
    """The reason the first matching rule gives this agent (for an open or a click), or None."""
    kind = "opens" if is_open else "clicks"
    trimmed = agent.strip()
    lowered = trimmed.lower()
    for rule in _rules():
        if rule.applies not in (kind, "both"):
            continue
        if trimmed in rule.exact or any(part in lowered for part in rule.contains):
            return rule.reason
    return None
