"""Helpers for tests of issue files: write one, and list its problems as plain tuples.

Plain functions (no fixtures or hooks), so loading this module as a pytest plugin is harmless.
"""

from __future__ import annotations

from pathlib import Path

from newsletter.authoring.issue_file import parse_issue


def write(tmp_path: Path, text: str, name: str = "2019-03-01-test.md") -> Path:
    """`text` saved as UTF-8 in `tmp_path` under `name` (a dated id, as in issues/)."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[tuple[int, str, str]]:
    """Every problem in an issue file with this text, as (line, severity, message)."""
    _, problems = parse_issue(write(tmp_path, text))
    return [(p.line, p.severity, p.message) for p in problems]


def errors_at(tmp_path: Path, text: str) -> list[tuple[int, str]]:
    """The errors (not warnings) in an issue file with this text, as (line, message)."""
    return [(line, msg) for line, sev, msg in problems_of(tmp_path, text) if sev == "error"]


def minimal(front: str = "", body: str = "## Headline\nSpeaker: A\n\nBody.\n") -> str:
    """A clean issue: title and preheader (front matter lines 2-3, `front` from line 4), then
    `body` from line 5 (by default one takeaway with a speaker)."""
    return f"---\ntitle: T\npreheader: P\n{front}---\n{body}"
