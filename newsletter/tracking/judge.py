"""People or machines: each hit is judged when it arrives, and only the verdict and its reason
are kept (never the IP address or the user agent).

From the request alone (`judge_request`): HEAD requests and link prefetches are machines, and so
are known scanner and proxy agents (`agents.toml`); a GET from anything else is a person unless
what the project already knows says otherwise (`decide`, fed the recipient's recent hits from
the database, so several server processes judge alike):

- the hidden trap link: only a machine follows it; its hit marks the recipient's hits within
  `tracking_scanner_window` seconds before or after it as machine (`machine:trap`);
- a burst: several distinct links of one message from one recipient within about 2 seconds
  (`machine:burst`), the earlier ones included.

Timing alone never makes a lone click a machine: discounting a real reader is worse than one
inflated count. A reader who clicked earlier keeps that human click even if a burst follows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from newsletter.tracking.agents import agent_reason

HUMAN = "human"
HEAD = "machine:head"
PREFETCH = "machine:prefetch"
AGENT = "machine:agent"
TRAP = "machine:trap"
BURST = "machine:burst"
BURST_LINKS = 3  # distinct links ...
BURST_WINDOW = timedelta(seconds=2)  # ... within this long
OPEN, LINK, TRAP_LINK = "open", "link", "trap"  # what a hit is on

# Headers that say "fetched ahead of time, not by a person": Chromium's Sec-Purpose and Purpose,
# Firefox's X-Moz, Safari's X-Purpose (see mautic/mautic#15844, MDN "Sec-Purpose").
_PREFETCH_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")
_PREFETCH_WORDS = ("prefetch", "preview", "prerender")


def is_machine(reason: str) -> bool:
    return reason.startswith("machine:")


def verdict_of(reason: str) -> str:
    return "machine" if is_machine(reason) else "human"


def judge_request(method: str, header: Callable[[str], str | None], *, is_open: bool) -> str:
    """What the request alone says: a `machine:*` reason (final), or `human` / `human:*`
    (a person, unless `decide` learns otherwise from the recipient's other hits)."""
    if method == "HEAD":
        return HEAD
    for name in _PREFETCH_HEADERS:
        value = (header(name) or "").lower()
        if value and any(word in value for word in _PREFETCH_WORDS):
            return PREFETCH
    return judge_agent(header("User-Agent"), is_open=is_open)


def judge_agent(agent: str | None, *, is_open: bool) -> str:
    """What a user agent says, for our own hits and a provider's events alike: a `machine:*`
    reason, or `human`. None or blank is a machine: every browser and mail client names
    itself."""
    if agent is None or not agent.strip():
        return AGENT
    return agent_reason(agent, is_open=is_open) or HUMAN


@dataclass(frozen=True)
class Seen:
    """One stored row of the recipient's recent hits on this send."""

    link_id: int  # 0: the open pixel
    kind: str  # open | link | trap
    verdict: str  # human | machine
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class Decision:
    reason: str  # for the hit being recorded
    convert: tuple[tuple[int, str], ...] = ()  # (link id, reason): human rows that become machine


def decide(
    kind: str, link_id: int, reason: str, at: datetime, recent: Sequence[Seen], window: timedelta
) -> Decision:
    """The final reason of a hit of `kind` on `link_id` judged `reason` from its request, and
    which of the recipient's human rows it turns into machine ones."""
    convert: dict[int, str] = {}
    if kind == TRAP_LINK:
        reason = TRAP
        for s in recent:
            if s.verdict == "human" and s.first_at >= at - window:
                convert[s.link_id] = TRAP
    elif not is_machine(reason) and any(
        s.kind == TRAP_LINK and s.last_at >= at - window for s in recent
    ):
        reason = TRAP
    if kind == LINK:
        others = {
            s.link_id
            for s in recent
            if s.kind == LINK and s.link_id != link_id and s.last_at >= at - BURST_WINDOW
        }
        if len(others) + 1 >= BURST_LINKS:
            reason = reason if is_machine(reason) else BURST
            for s in recent:
                if s.link_id in others and s.verdict == "human" and s.first_at >= at - BURST_WINDOW:
                    convert.setdefault(s.link_id, BURST)
    return Decision(reason, tuple(sorted(convert.items())))
