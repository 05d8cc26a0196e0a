"""The Markdown after an issue's front matter: the intro, then one `## ` heading per takeaway
(a heading inside a code fence is text), with `Key: value` fields right under each heading
(keys case-insensitive) and its body below them."""

from __future__ import annotations

import re

from newsletter.authoring.front_matter import Report
from newsletter.authoring.link_checks import check_image_address, check_markdown, url_problem
from newsletter.errors import did_you_mean
from newsletter.models import Takeaway

TAKEAWAY_KEYS = {
    "speaker": "Speaker",
    "role": "Role",
    "link": "Link",
    "image": "Image",
    "image-alt": "Image-Alt",
}

_HEADING = re.compile(r"^##(?:[ \t]+(.*?))?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*(?: [A-Za-z0-9_-]+)?)[ \t]*:(?:[ \t]+(.*)|[ \t]*)$")


def split_sections(
    lines: list[str], first: int, error: Report, warn: Report
) -> tuple[str, list[Takeaway], int]:
    """(intro, takeaways, number of `## ` headings) from the Markdown after the front matter,
    which starts on file line `first`; every problem goes to `error` or `warn` with its line."""
    sections: list[tuple[int, str | None, list[str]]] = [(first, None, [])]
    fence = ""
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = ""
        elif opened:
            fence = opened.group(1)
        elif heading := _HEADING.match(line):
            sections.append((first + index, heading.group(1) or "", []))
            continue
        sections[-1][2].append(line)

    intro_lines = sections[0][2]
    check_markdown("\n".join(intro_lines), first, error, warn)
    intro = "\n".join(intro_lines).strip("\n")
    takeaways = [_takeaway(at, head or "", body, error, warn) for at, head, body in sections[1:]]
    return intro, [t for t in takeaways if t is not None], len(sections) - 1


def _fields(lines: list[str], line: int, error: Report) -> tuple[dict[str, tuple[str, int]], int]:
    """The `Key: value` lines right under the heading on `line`: {key: (value, line)}, and how
    many lines they take."""
    fields: dict[str, tuple[str, int]] = {}
    index = 0
    while index < len(lines) and (m := _FIELD.match(lines[index])):
        raw_key, value, at = m.group(1), (m.group(2) or "").strip(), line + 1 + index
        key = re.sub(r"[ _]", "-", raw_key.lower())
        index += 1
        if key not in TAKEAWAY_KEYS:
            names = list(TAKEAWAY_KEYS.values())
            error(
                at,
                f"unknown takeaway key '{raw_key}'{did_you_mean(raw_key, names)}; valid "
                f"keys: {', '.join(names)} (leave a blank line before the body)",
            )
        elif key in fields:
            error(at, f"duplicate '{TAKEAWAY_KEYS[key]}' (first on line {fields[key][1]})")
        elif not value:
            error(at, f"'{TAKEAWAY_KEYS[key]}' is empty: give a value or remove the line")
        else:
            fields[key] = (value, at)
    return fields, index


def _takeaway(
    line: int, headline: str, lines: list[str], error: Report, warn: Report
) -> Takeaway | None:
    headline = re.sub(r"[ \t]+#+$", "", headline).strip()
    if not headline:
        error(line, "takeaway heading has no headline: write it after '## '")
    fields, index = _fields(lines, line, error)
    body_lines = lines[index:]
    check_markdown("\n".join(body_lines), line + 1 + index, error, warn)
    body = "\n".join(body_lines).strip("\n")
    label = f"takeaway '{headline}'" if headline else "takeaway"
    if not body.strip():
        error(line, f"{label} has no body: write a paragraph under its fields")
    if "speaker" not in fields:
        warn(line, f"{label} has no Speaker: add 'Speaker: Name' under the heading")
    if "link" in fields and (reason := url_problem(fields["link"][0], allow_mailto=False)):
        error(fields["link"][1], f"{TAKEAWAY_KEYS['link']} {reason}")
    if "image" in fields:
        check_image_address(fields["image"][0], fields["image"][1], error, warn, "Image")
    if "image" in fields and "image-alt" not in fields:
        error(
            fields["image"][1],
            "Image has no alt text: add 'Image-Alt: what the image shows' under it",
        )
    if "image-alt" in fields and "image" not in fields:
        warn(
            fields["image-alt"][1],
            "Image-Alt without Image: add 'Image: https://...' or remove the line",
        )
    if not headline or not body.strip():
        return None
    return Takeaway(
        headline=headline,
        speaker=fields.get("speaker", ("", 0))[0],
        role=fields.get("role", ("", 0))[0],
        body_md=body,
        link=fields.get("link", ("", 0))[0],
        image=fields.get("image", ("", 0))[0],
        image_alt=fields.get("image-alt", ("", 0))[0],
        line=line,
    )
