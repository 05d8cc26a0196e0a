"""Header lines for mail: one safe line per value, RFC 2047 encoded-words, folding, and
display-name + address pairs. Nothing here can turn a value into a new header line: CR, LF and
other control characters become spaces before anything is encoded."""

from __future__ import annotations

import binascii
import re

from newsletter.authoring.placeholders import header_safe

_SPECIALS = set('()<>[]:;@\\,."')


def encode_words(text: str, first_line_used: int) -> str:
    """RFC 2047 base64 encoded-words, folded so that no line exceeds 76 characters."""
    words: list[str] = []
    budget = max(75 - first_line_used - 12, 9)
    chunk = ""
    for char in text:
        candidate = chunk + char
        # base64 length of n bytes is 4*ceil(n/3)
        if chunk and 4 * -(-len(candidate.encode()) // 3) > budget:
            words.append(chunk)
            chunk, budget = char, 75 - 1 - 12
        else:
            chunk = candidate
    if chunk:
        words.append(chunk)
    return "\r\n ".join(
        "=?utf-8?b?" + binascii.b2a_base64(w.encode(), newline=False).decode() + "?=" for w in words
    )


def fold(line: str) -> str:
    """Fold an ASCII header line at spaces so that lines stay within 76 characters where a
    space allows it. Every space is kept (a fold turns it into CRLF + that space); a fold
    never starts a line of only white space, nor comes right after ``Name:`` (parsers would
    keep that space as part of the value)."""
    words = line.split(" ")
    out: list[str] = []
    current = words[0] + " " + words[1] if len(words) > 1 else words[0]
    for word in words[2:]:
        if word and len(current) + 1 + len(word) > 76:
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}"
    out.append(current)
    return "\r\n".join(out)


def header_text(name: str, value: str) -> str:
    """``Name: value`` for unstructured text (Subject): ASCII as is, otherwise encoded."""
    value = header_safe(value)
    if value.isascii() and "=?" not in value and max(map(len, value.split(" "))) < 70:
        return fold(f"{name}: {value}")
    return f"{name}: {encode_words(value, len(name) + 2)}"


MAX_DISPLAY_NAME = 64  # longer names are cut in headers (bodies keep them whole)
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")


def _ew(text: str) -> str:
    return "=?utf-8?b?" + binascii.b2a_base64(text.encode(), newline=False).decode() + "?="


def phrase(name: str, used: int) -> str:
    """A non-ASCII display name: runs of words that need it become ONE encoded-word each,
    separated by plain atoms. Python's address parser inserts a space between adjacent
    encoded-words (RFC 2047 says to drop it), so adjacent ones are never produced."""
    parts: list[str] = []
    run: list[str] = []
    for token in name.split():
        if _ATOM.fullmatch(token) and "=?" not in token:
            if run:
                parts.append(_ew(" ".join(run)))
                run = []
            parts.append(token)
        else:
            run.append(token)
    if run:
        parts.append(_ew(" ".join(run)))
    out, line = parts[0], used + len(parts[0])
    for part in parts[1:]:
        if line + 1 + len(part) > 76:
            out, line = out + "\r\n " + part, 1 + len(part)
        else:
            out, line = out + " " + part, line + 1 + len(part)
    return out


MAX_LIST_NAME = 200  # the lists.name column


def list_id(value: str) -> str:
    """The List-Id value (RFC 2919), on one line, from ``Name <label.domain>``: the name as a
    quoted-string (ASCII) or encoded-words (anything else, and text that looks like an
    encoded-word), cut at MAX_LIST_NAME; the id reduced to dot-atom characters. Fold it with
    `fold` for a message; APIs take it as it is."""
    value = header_safe(value)
    name, lt, ident = value.rpartition("<")
    if not lt:
        name, ident = "", value
    ident = _NOT_DOT_ATOM.sub("-", ident.rstrip(">").strip()).strip(".")[:255] or "list"
    name = name.strip()[:MAX_LIST_NAME].strip()
    if not name:
        return f"<{ident}>"
    if name.isascii() and "=?" not in name and max(map(len, name.split(" "))) < 60:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{ident}>'
    return encode_words(name, len("List-Id: ")).replace("\r\n ", " ") + f" <{ident}>"


_NOT_DOT_ATOM = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+")


def address(name: str, email: str, header: str = "") -> str:
    """``"Display Name" <addr>``: the phrase quoted or encoded, the address stripped of junk."""
    email = re.sub(r"[\s<>\",;]+", "", email)
    name = header_safe(name)[:MAX_DISPLAY_NAME]
    if not name:
        return f"<{email}>"
    if name.isascii() and "=?" not in name:
        if any(c in _SPECIALS for c in name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        gap = " " if len(header) + len(name) + len(email) + 5 <= 76 else "\r\n "
        return f"{name}{gap}<{email}>"
    return f"{phrase(name, len(header) + 2)}\r\n <{email}>"
