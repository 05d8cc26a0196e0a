"""Just enough MIME to read a report, straight from the bytes.

A bounce from Postfix returns the whole original message (~30 KB); parsing all of it with the
`email` package costs about 2 ms. A report needs much less: the top headers, the MIME structure
(found by searching for boundaries, never decoding bodies), the report part's fields and the
headers of the returned message. Header text is decoded as UTF-8, else Latin-1 (8-bit
diagnostics happen), never raising: every value from a mailbox is hostile, and a bad one must
not stop a run.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

_HEAD_END = re.compile(rb"\r?\n\r?\n")
_PARAM = re.compile(r';\s*([A-Za-z0-9_.*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]*)')
MAX_DEPTH = 4  # multipart and message/rfc822 nesting followed at most this deep
MAX_PARTS = 50  # parts looked at in one message
RETURNED_TYPES = (
    "message/rfc822",
    "text/rfc822-headers",
    "message/rfc822-headers",
    "message/global",
    "message/global-headers",
)


def text_of(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def head_end(data: bytes, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """(end of the header block, start of the body) of the entity at `start`."""
    end = len(data) if end is None else end
    if data.startswith(b"\r\n", start) or data.startswith(b"\n", start):  # no headers at all
        return start, start + (2 if data.startswith(b"\r\n", start) else 1)
    found = _HEAD_END.search(data, start, end)
    return (found.start(), found.end()) if found else (end, end)


def fields(raw: bytes) -> dict[str, list[str]]:
    """Header fields, names lower-cased, continuation lines unfolded, in order. Linear in the
    size of `raw`: a field's folded lines are gathered, then joined once."""
    pieces: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for line in text_of(raw).splitlines():
        if line[:1] in (" ", "\t"):
            if current is not None:
                current.append(line.strip())
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if not sep or not key or " " in key:
            current = None
            continue
        current = [value.strip()]
        pieces.append((key, current))
    out: dict[str, list[str]] = {}
    for key, parts in pieces:
        out.setdefault(key, []).append(" ".join(parts))
    return out


def first(found: dict[str, list[str]], name: str) -> str:
    values = found.get(name)
    return values[0] if values else ""


def content_type(value: str) -> tuple[str, dict[str, str]]:
    """('multipart/report', {'report-type': 'delivery-status', 'boundary': ...})."""
    kind = value.split(";", 1)[0].strip().lower() or "text/plain"
    params = {}
    for key, raw in _PARAM.findall(value):
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        params[key.lower()] = raw
    return kind, params


@dataclass
class Part:
    """One leaf of the MIME tree: its type, headers and where its body lies in the data."""

    kind: str
    headers: dict[str, list[str]]
    start: int
    end: int
    inside_report: str = ""  # the report-type of the multipart/report holding it, if any


@dataclass
class Scan:
    data: bytes
    headers: dict[str, list[str]]  # the top-level ones
    kind: str
    report_type: str = ""  # of the first multipart/report found, at any depth
    parts: list[Part] = field(default_factory=list)
    truncated: bool = False  # `data` is only the start of the message

    def complete(self, part: Part) -> bool:
        """Whether the part ends inside `data` (always, unless the data was cut short)."""
        return not self.truncated or part.end < len(self.data)

    def body(self, part: Part, limit: int = 65536) -> bytes:
        """The part's body (at most `limit` bytes of it), base64 or quoted-printable decoded
        (some servers encode their report parts)."""
        raw = self.data[part.start : min(part.end, part.start + limit)]
        encoding = first(part.headers, "content-transfer-encoding").lower()
        try:
            if encoding == "base64":
                return binascii.a2b_base64(raw)
            if encoding == "quoted-printable":
                return binascii.a2b_qp(raw)
        except (binascii.Error, ValueError):
            return raw
        return raw


def scan(data: bytes, *, truncated: bool = False) -> Scan:
    """The top headers and every leaf part (multipart and message/rfc822 are followed).
    `truncated`: `data` is the start of a longer message (parts may be cut short)."""
    top_end, body = head_end(data)
    headers = fields(data[:top_end])
    kind, params = content_type(first(headers, "content-type"))
    result = Scan(data, headers, kind, truncated=truncated)
    _walk(result, kind, params, headers, body, len(data), 0, "")
    return result


def _walk(
    result: Scan,
    kind: str,
    params: dict[str, str],
    headers: dict[str, list[str]],
    start: int,
    end: int,
    depth: int,
    report: str,
) -> None:
    if len(result.parts) >= MAX_PARTS:
        return
    if kind.startswith("multipart/") and params.get("boundary") and depth < MAX_DEPTH:
        if kind == "multipart/report":
            report = params.get("report-type", "").lower()
            result.report_type = result.report_type or report
        for p_start, p_end in _split(result.data, start, end, params["boundary"]):
            h_end, b_start = head_end(result.data, p_start, p_end)
            p_headers = fields(result.data[p_start:h_end])
            p_kind, p_params = content_type(first(p_headers, "content-type"))
            if "content-type" not in p_headers and kind == "multipart/digest":
                p_kind = "message/rfc822"
            _walk(result, p_kind, p_params, p_headers, b_start, p_end, depth + 1, report)
        return
    result.parts.append(Part(kind, headers, start, end, report))
    # A message inside is followed only until a report is found (a forwarded bounce): the
    # original returned by a report needs no more than its headers.
    if kind in ("message/rfc822", "message/global") and depth < MAX_DEPTH and not report:
        inner_end, inner_body = head_end(result.data, start, end)
        inner = fields(result.data[start:inner_end])
        inner_kind, inner_params = content_type(first(inner, "content-type"))
        if inner_kind.startswith("multipart/"):
            _walk(result, inner_kind, inner_params, inner, inner_body, end, depth + 1, "")


def _split(data: bytes, start: int, end: int, boundary: str) -> list[tuple[int, int]]:
    """(start, end) of each body part between the delimiters of `boundary`."""
    delimiter = b"--" + boundary.encode("latin-1", "replace")
    spans: list[tuple[int, int]] = []
    at = start if data.startswith(delimiter, start) else data.find(b"\n" + delimiter, start, end)
    while at != -1 and len(spans) < MAX_PARTS:
        at += 0 if data.startswith(delimiter, at) else 1
        after = at + len(delimiter)
        if data.startswith(b"--", after):
            break  # the close delimiter
        line_end = data.find(b"\n", after, end)
        if line_end == -1:
            break
        following = data.find(b"\n" + delimiter, line_end, end)
        part_end = end if following == -1 else following
        if part_end > line_end + 1 and data[part_end - 1 : part_end] == b"\r":
            part_end -= 1
        spans.append((line_end + 1, part_end))
        at = following
    return spans


def field_blocks(raw: bytes) -> list[dict[str, list[str]]]:
    """The blocks of a delivery-status or feedback-report body (blank-line separated)."""
    text = text_of(raw).replace("\r\n", "\n")
    return [fields(block.encode("utf-8")) for block in re.split(r"\n\s*\n", text) if block.strip()]


def returned_headers(found: Scan, part: Part) -> dict[str, list[str]]:
    """The header fields of a returned message (message/rfc822 or text/rfc822-headers)."""
    if first(part.headers, "content-transfer-encoding").lower() in ("base64", "quoted-printable"):
        body = found.body(part)
        return fields(body[: head_end(body)[0]])
    h_end, _ = head_end(found.data, part.start, part.end)
    return fields(found.data[part.start : min(h_end, part.start + 65536)])
