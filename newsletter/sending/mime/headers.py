"""Header lines for mail: one safe line per value, RFC 2047 encoded-words, folding,
display-name + address pairs, dot-atom text and the List-Unsubscribe value. Nothing here can
turn a value into a new header line: every value goes through `safe_text.one_line` before
anything is encoded."""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable

from newsletter.audience.addresses import ATEXT
from newsletter.safe_text import one_line

_SPECIALS = set('()<>[]:;@\\,."')
_ATOM = re.compile(f"[{ATEXT}]+")
_NOT_DOT_ATOM = re.compile(f"[^.{ATEXT}]+")
_NOT_IN_ADDRESS = re.compile(r'[\s<>",;]+')  # what would end an address or start another
_NOT_IN_URL = re.compile(r"[\s<>]+")


def bare_address(value: str) -> str:
    """`value` with whatever could end the address or start another removed (blanks, angle
    brackets, quotes, commas, semicolons): for a From, Reply-To or return path we were given."""
    return _NOT_IN_ADDRESS.sub("", value)


def dot_atom(value: str, empty: str) -> str:
    """`value` as dot-atom text (a Message-ID's parts, a VERP tag, a List-Id): each run of other
    characters becomes "-", no dot at either end; `empty` when nothing is left."""
    return _NOT_DOT_ATOM.sub("-", value).strip(".") or empty


def list_unsubscribe(urls: Iterable[str], separator: str = ",\r\n ") -> str:
    """The List-Unsubscribe value: each URL in angle brackets, stripped of what would end it.
    The default separator folds the line for a message; APIs take ", "."""
    return separator.join("<" + _NOT_IN_URL.sub("", u) + ">" for u in urls if u)


def encoded_word(text: str) -> str:
    """One RFC 2047 base64 encoded-word of UTF-8 `text`."""
    return "=?utf-8?b?" + binascii.b2a_base64(text.encode(), newline=False).decode() + "?="


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
    return "\r\n ".join(encoded_word(w) for w in words)


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
    value = one_line(value)
    if value.isascii() and "=?" not in value and max(map(len, value.split(" "))) < 70:
        return fold(f"{name}: {value}")
    return f"{name}: {encode_words(value, len(name) + 2)}"


MAX_DISPLAY_NAME = 64  # longer names are cut in headers (bodies keep them whole)


def phrase(name: str, used: int) -> str:
    """A non-ASCII display name: runs of words that need it become ONE encoded-word each,
    separated by plain atoms. Python's address parser inserts a space between adjacent
    encoded-words (RFC 2047 says to drop it), so adjacent ones are never produced."""
    parts: list[str] = []
    run: list[str] = []
    for token in name.split():
        if _ATOM.fullmatch(token) and "=?" not in token:
            if run:
                parts.append(encoded_word(" ".join(run)))
                run = []
            parts.append(token)
        else:
            run.append(token)
    if run:
        parts.append(encoded_word(" ".join(run)))
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
    value = one_line(value)
    name, lt, ident = value.rpartition("<")
    if not lt:
        name, ident = "", value
    ident = dot_atom(ident.rstrip(">").strip(), "list")[:255]
    name = name.strip()[:MAX_LIST_NAME].strip()
    if not name:
        return f"<{ident}>"
    if name.isascii() and "=?" not in name and max(map(len, name.split(" "))) < 60:
        return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + f'" <{ident}>'
    return encode_words(name, len("List-Id: ")).replace("\r\n ", " ") + f" <{ident}>"


def address(name: str, email: str, header: str = "") -> str:
    """``"Display Name" <addr>``: the phrase quoted or encoded, the address stripped of junk."""
    email = bare_address(email)
    name = one_line(name, MAX_DISPLAY_NAME)
    if not name:
        return f"<{email}>"
    if name.isascii() and "=?" not in name:
        if any(c in _SPECIALS for c in name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        gap = " " if len(header) + len(name) + len(email) + 5 <= 76 else "\r\n "
        return f"{name}{gap}<{email}>"
    return f"{phrase(name, len(header) + 2)}\r\n <{email}>"
