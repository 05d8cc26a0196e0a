"""Parsing issue files: every field, every error with its line, unicode, encodings."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from newsletter.authoring.issue_file import parse_issue, read_issue
from tests.support.issue_files import minimal, write

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "issues" / "2019-03-01-hanoi-summit.md"

FULL = """\
---
title: The title
subject: "The subject: with a colon"
preheader: The preheader
date: 2019-03-02
lists: [newsletter, asia-weekly]
send_at: 2019-03-01T14:00:00+01:00
---
The *intro* paragraph.

## First headline
Speaker: Ada Lovelace
Role: Analyst, Engines Ltd
Link: https://example.com/ada
Image: https://example.com/ada.png
Image-Alt: A portrait of Ada

First **body**.

Second paragraph.

## Second headline ##
speaker: Bob
IMAGE-ALT: ignored without image

Only body.
"""


def test_every_field_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path, FULL)
    issue, problems = parse_issue(path)
    assert issue is not None
    assert [p.message for p in problems if p.severity == "error"] == []
    assert issue.id == "2019-03-01-test"
    assert issue.path == path
    assert issue.title == "The title"
    assert issue.subject == "The subject: with a colon"
    assert issue.preheader == "The preheader"
    assert issue.date == date(2019, 3, 2)
    assert issue.lists == ("newsletter", "asia-weekly")
    assert issue.send_at == datetime(2019, 3, 1, 13, 0, tzinfo=UTC)
    assert issue.send_at.utcoffset() == timedelta(hours=1)
    assert issue.intro_md == "The *intro* paragraph."
    assert issue.source_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    first, second = issue.takeaways
    assert first.headline == "First headline"
    assert first.speaker == "Ada Lovelace"
    assert first.role == "Analyst, Engines Ltd"
    assert first.link == "https://example.com/ada"
    assert first.image == "https://example.com/ada.png"
    assert first.image_alt == "A portrait of Ada"
    assert first.body_md == "First **body**.\n\nSecond paragraph."
    assert first.line == 11
    # keys are case-insensitive; closing #s are not part of the headline
    assert second.headline == "Second headline"
    assert second.speaker == "Bob"
    assert second.role == "" and second.link == "" and second.image == ""
    assert second.body_md == "Only body."
    assert second.line == 22
    # Image-Alt without Image is only a warning
    assert (24, "warning") in [(p.line, p.severity) for p in problems]


def test_defaults(tmp_path: Path) -> None:
    issue = read_issue(write(tmp_path, "---\ntitle: Just a title\n---\nIntro only.\n"))
    assert issue.subject == "Just a title"
    assert issue.preheader == ""
    assert issue.lists == ()
    assert issue.send_at is None
    assert issue.date == date(2019, 3, 1)  # from the file name
    assert issue.takeaways == ()


def test_sample_issue_is_clean() -> None:
    issue, problems = parse_issue(SAMPLE)
    assert problems == []
    assert issue is not None
    assert issue.id == "2019-03-01-hanoi-summit"
    assert issue.date == date(2019, 3, 1)
    assert issue.lists == ("newsletter",)
    assert issue.send_at == datetime(2019, 3, 1, 14, 0, tzinfo=UTC)
    assert len(issue.takeaways) == 5
    assert all(t.speaker and t.role and t.link.startswith("https://") for t in issue.takeaways)
    assert [t.speaker for t in issue.takeaways] == [
        "Daniel Russel",
        "Lindsey Ford",
        "June Park",
        "Jieun Baek",
        "Sylvia Kim",
    ]


def test_unicode_subject_headlines_and_bodies(tmp_path: Path) -> None:
    text = (
        '---\ntitle: Ünïcödé 🎉\nsubject: "Café, naïveté & 🚀 — שלום עולם"\n'
        "preheader: مرحبا بالعالم\n---\nIntro 😀 avec accents: é à ü.\n\n"
        "## Zoë's headline 🎯 — עברית\nSpeaker: José Ñúñez\nRole: Directrice générale\n\n"
        "Body with emoji 👩‍💻 and Arabic: السلام عليكم.\n"
    )
    issue = read_issue(write(tmp_path, text))
    assert issue.title == "Ünïcödé 🎉"
    assert issue.subject == "Café, naïveté & 🚀 — שלום עולם"
    assert issue.preheader == "مرحبا بالعالم"
    assert issue.intro_md == "Intro 😀 avec accents: é à ü."
    (takeaway,) = issue.takeaways
    assert takeaway.headline == "Zoë's headline 🎯 — עברית"
    assert takeaway.speaker == "José Ñúñez"
    assert takeaway.body_md == "Body with emoji 👩‍💻 and Arabic: السلام عليكم."


@pytest.mark.parametrize(
    "encode",
    [
        lambda s: ("\ufeff" + s).encode("utf-8"),
        lambda s: s.replace("\n", "\r\n").encode("utf-8"),
        lambda s: ("\ufeff" + s.replace("\n", "\r\n")).encode("utf-8"),
    ],
    ids=["bom", "crlf", "bom+crlf"],
)
def test_bom_and_crlf_files(tmp_path: Path, encode) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "2019-03-01-test.md"
    path.write_bytes(encode(FULL))
    issue, problems = parse_issue(path)
    assert issue is not None
    assert issue.takeaways[0].body_md == "First **body**.\n\nSecond paragraph."
    assert issue.takeaways[1].line == 22
    assert [(p.line, p.severity) for p in problems] == [(24, "warning")]


def test_heading_inside_code_fence_is_not_a_takeaway(tmp_path: Path) -> None:
    body = "Intro\n\n```\n## not a heading\n```\n\n## Real\nSpeaker: A\n\nBody.\n"
    issue = read_issue(write(tmp_path, minimal(body=body)))
    assert [t.headline for t in issue.takeaways] == ["Real"]
    assert "## not a heading" in issue.intro_md
