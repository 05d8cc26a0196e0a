"""What a check finds: pass, warn, fail or info, the evidence (the record it read) and, for
warn and fail, the exact fix (the record to publish, or the setting to change)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PASS, WARN, FAIL, INFO = "pass", "warn", "fail", "info"


@dataclass(frozen=True)
class Finding:
    area: str  # SPF, DKIM, DMARC, MX, message, info
    check: str  # what was checked, a few words
    status: str  # PASS | WARN | FAIL | INFO
    evidence: str  # what was read
    fix: str = ""  # for WARN and FAIL: what to publish or set

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def could_not_check(area: str, check: str, trouble: str) -> Finding:
    """A lookup that timed out or failed: a warning, never a pass and never a crash."""
    return Finding(
        area,
        check,
        WARN,
        f"could not check: {trouble}",
        "run doctor again; if it persists, ask your DNS host why the name server does not answer",
    )


def txt(name: str, value: str) -> str:
    """A record to publish, as a zone-file line."""
    return f'{name}. TXT "{value}"'
