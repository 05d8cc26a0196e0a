"""Hypothesis strategies for outside input: valid-looking values with hostile pieces in them
(line breaks, header syntax, encoded-word markers, quotes, NUL, formula starts, very long runs,
non-ASCII), not only random bytes."""

from __future__ import annotations

from hypothesis import strategies as st

HOSTILE = [
    "\r\n",
    "\n",
    "\r",
    "\r\nBcc: evil@example.com",
    "\nSubject: forged",
    "=?utf-8?b?",
    "?=",
    "=?utf-8?q?hi?=",
    '"',
    "\\",
    "<",
    ">",
    ",",
    ";",
    ":",
    "@",
    "(",
    ")",
    "'",
    " ",
    "  ",
    "\t",
    "\x00",
    "\x0b",
    "\x7f",
    "\u2028",
    "\x85",
    "é",
    "日本語",
    "😀",
    "\u200b",
    "=",
    "+",
    "-",
    "a" * 80,
    "ü" * 40,
    "__NL_NAME__",
    "__NL_EMAIL__",
]


def hostile_text(max_pieces: int = 12) -> st.SearchStrategy[str]:
    """Ordinary words and hostile pieces, joined."""
    piece = st.one_of(
        st.sampled_from(HOSTILE),
        st.text(min_size=1, max_size=12),
        st.from_regex(r"[A-Za-z]{1,10}", fullmatch=True),
    )
    return st.lists(piece, max_size=max_pieces).map("".join)


def header_values() -> st.SearchStrategy[str]:
    """Names, subjects and list names: hostile mixes, any text, and long single words."""
    return st.one_of(
        hostile_text(),
        st.text(max_size=120),
        st.text(alphabet=st.characters(codec="ascii"), max_size=300),
        st.integers(60, 1200).map(lambda n: "w" * n),
    )


# --- issue files ------------------------------------------------------------------------------

YAML_HOSTILE = [
    "!!python/object/apply:os.system ['true']",
    "&a [*a, *a]",
    "*undefined",
    "{a: 1",
    "[1, 2",
    '"unclosed',
    "'unclosed",
    "a: b: c",
    "\t",
    "---",
    "...",
    "~",
    "null",
    "2019-02-30",
    "2019-03-01T14:00:00",
    "2019-03-01T14:00:00+00:00",
    "9999-99-99T99:99:99Z",
    "[newsletter, Asia Weekly]",
    "[]",
    "|",
    ">-",
    "%YAML 1.1",
    "? complex",
    "- item",
    "1e999",
    "0x1F",
    "yes",
]
URLS = [
    "https://example.org/a",
    "javascript:alert(1)",
    "http://[::1",
    "https://exa mple.com/",
    "mailto:a@example.com",
    "__NL_VIEW_URL__",
    "//example.org",
    "https://example.org/" + "a" * 3000,
    "data:text/html,<script>",
    "",
]
FRONT_KEYS = ["title", "subject", "preheader", "date", "lists", "send_at", "titel", "Title", ""]
TAKEAWAY_KEYS = ["Speaker", "Role", "Link", "Image", "Image-Alt", "speaker", "Linkk", "image alt"]


def _value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(YAML_HOSTILE), st.sampled_from(URLS), hostile_text(6), st.text(max_size=30)
    )


@st.composite
def front_matter(draw: st.DrawFn) -> str:
    """YAML-looking `key: value` lines, hostile values, sometimes indented or nested."""
    lines = []
    if draw(st.booleans()):
        lines.append(f"title: {draw(_value())}")
    for _ in range(draw(st.integers(0, 6))):
        key = draw(st.sampled_from(FRONT_KEYS))
        indent = draw(st.sampled_from(["", "", "  ", "\t"]))
        lines.append(f"{indent}{key}: {draw(_value())}")
    return "\n".join(lines)


@st.composite
def takeaway(draw: st.DrawFn) -> str:
    """A `## ` section: a headline, `Key: value` fields, a Markdown body."""
    head = draw(st.one_of(hostile_text(4), st.just(""), st.just("#")))
    value = st.one_of(st.sampled_from(URLS), hostile_text(4))
    fields = [
        f"{draw(st.sampled_from(TAKEAWAY_KEYS))}: {draw(value)}"
        for _ in range(draw(st.integers(0, 5)))
    ]
    body = draw(
        st.lists(
            st.one_of(
                hostile_text(6),
                st.sampled_from(URLS).map(lambda u: f"[link]({u})"),
                st.sampled_from(URLS).map(lambda u: f"![alt]({u})"),
                st.just("```\n## not a heading\n"),
                st.just("<script>alert(1)</script>"),
                st.just("[]()"),
            ),
            max_size=4,
        )
    )
    return "\n".join([f"## {head}", *fields, "", *body])


@st.composite
def issue_files(draw: st.DrawFn) -> bytes:
    """A valid-looking issue file with hostile fields, in some encoding variant."""
    text = "\n".join(
        [
            draw(st.sampled_from(["---", "---", "--- ", "", "----"])),
            draw(front_matter()),
            draw(st.sampled_from(["---", "---", "...", "", "--"])),
            draw(hostile_text(8)),
            *draw(st.lists(takeaway(), max_size=4)),
        ]
    )
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    data = text.replace("\n", newline).encode("utf-8")
    variant = draw(st.sampled_from(["plain", "plain", "bom", "latin-1 byte", "truncated"]))
    if variant == "bom":
        data = b"\xef\xbb\xbf" + data
    elif variant == "latin-1 byte":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + b"\xe9" + data[at:]
    elif variant == "truncated" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


# --- CSV files -----------------------------------------------------------------------------------

GOOD_ADDRESSES = [f"{name}@example.com" for name in ("ann", "bo", "cy", "dee", "eve", "fay")]
BAD_ADDRESSES = [
    "",
    "not-an-address",
    "a@b",
    "a@example.test",
    "@example.com",
    "a@@example.com",
    "a b@example.com",
    "a@exa mple.com",
    "a\x00@example.com",
    "a\r\nb@example.com",
    "x" * 300 + "@example.com",
]
FORMULA_PREFIXES = ["", "", "", "=", "+", "-", "@", "\t", "\r", "'", "'=", "''+"]


@st.composite
def address_cells(draw: st.DrawFn) -> str:
    """Mostly real addresses (in any case, with a formula prefix or quote now and then)."""
    kind = draw(st.sampled_from(["good", "good", "good", "bad", "hostile"]))
    if kind == "good":
        address = draw(st.sampled_from(GOOD_ADDRESSES))
        if draw(st.booleans()):
            address = address.upper()
        prefix = draw(st.sampled_from(["", "", "=", "+", "-", "'", "'="]))
        return prefix + address
    if kind == "bad":
        return draw(st.sampled_from(BAD_ADDRESSES))
    return draw(hostile_text(4)) + "@example.com"


def cell_values() -> st.SearchStrategy[str]:
    """Names and attribute values: formula starts, NUL, line breaks, quotes, very long."""
    return st.one_of(
        st.tuples(st.sampled_from(FORMULA_PREFIXES), hostile_text(5)).map("".join),
        st.sampled_from(["", "N" * 201, "x" * 131_073, "\x00", '"', '""', "a,b", "\r\n"]),
        st.text(max_size=20),
    )


ATTRIBUTE_COLUMNS = ["city", "plan", "'=formula", "@handle", "status", "joined_at", "", "Name2"]


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[str, bool]:
    """(file text, structured): a header with `email`, `name` and attribute columns, rows of
    hostile cells written by a real CSV writer; now and then a raw line with broken quoting,
    too many fields, or blank. `structured` says whether every line came from the writer."""
    import csv
    import io

    extra = draw(st.lists(st.sampled_from(ATTRIBUTE_COLUMNS), max_size=3, unique=True))
    columns = ["email", "name", *extra]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(columns)
    structured = True
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["row", "row", "row", "row", "short", "raw", "blank"]))
        cells = [draw(address_cells()), *(draw(cell_values()) for _ in columns[1:])]
        if kind == "short":
            cells = cells[: draw(st.integers(1, len(cells)))]
        if kind == "raw":
            structured = False
            out.write(",".join(cells + draw(st.lists(st.just("more"), max_size=2))) + "\n")
        elif kind == "blank":
            out.write(draw(st.sampled_from(["\n", ",,\n", "  \n"])))
        else:
            writer.writerow(cells)
    return out.getvalue(), structured


# --- the error handling under test is not a catch-all ----------------------------------------


def catch_all_handlers(module: object) -> list[str]:
    """`file:line` of every handler in `module` that catches any exception (a bare except,
    Exception or BaseException), which could relabel a bug as a user's error."""
    import ast
    import inspect

    source = inspect.getsource(module)  # type: ignore[arg-type]
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ExceptHandler):
            continue
        names = []
        if node.type is None:
            names = ["bare"]
        else:
            for item in node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]:
                names.append(ast.unparse(item))
        if any(n in ("bare", "Exception", "BaseException") for n in names):
            found.append(f"{module.__name__}:{node.lineno}")  # type: ignore[attr-defined]
    return found
