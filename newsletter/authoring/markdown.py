"""Issue Markdown to HTML (for the email and web page) and to wrapped plain text (text part).

CommonMark via markdown-it-py with raw HTML disabled: an editor's `<script>` shows as text.
The text rendering keeps what a reader of the plain-text part needs: paragraphs wrapped near
72 columns, list bullets, and every link written out as "text (url)".
"""

from __future__ import annotations

import textwrap
from functools import lru_cache
from typing import TYPE_CHECKING

from newsletter.authoring import readers

if TYPE_CHECKING:
    from markdown_it import MarkdownIt
    from markdown_it.token import Token

WIDTH = 72


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "typographer": False})


def to_html_and_text(markdown: str, width: int = WIDTH) -> tuple[str, str]:
    """Both renderings from one parse (the render pipeline needs both). Reader values
    (`{{ first_name | default("there") }}`) come out as their placeholders."""
    parser = _parser()
    marked, found = readers.mark(markdown)
    tokens = parser.parse(marked)
    html = parser.renderer.render(tokens, parser.options, {}).strip()
    return readers.unmark(html, found), readers.unmark(_tokens_to_text(tokens, width), found)


def _inline_text(token: Token) -> str:
    """Flatten an inline token: links as "text (url)", emphasis and code as plain text."""
    out: list[str] = []
    hrefs: list[str] = []
    spans: list[int] = []
    for child in token.children or []:
        kind = child.type
        if kind in ("text", "code_inline"):
            out.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            out.append(" " if kind == "softbreak" else "\n")
        elif kind == "link_open":
            hrefs.append(str(child.attrs.get("href", "")))
            spans.append(len(out))
        elif kind == "link_close" and hrefs:
            href = hrefs.pop()
            label = "".join(out[spans.pop() :]).strip()
            if href and href != label and f"mailto:{label}" != href:
                out.append(f" ({href})")
        elif kind == "image":
            alt = child.content or "image"
            out.append(f"[{alt}: {child.attrs.get('src', '')}]")
    return "".join(out)


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> str:
    lines = []
    for i, part in enumerate(text.split("\n")):
        lines.append(
            textwrap.fill(
                part,
                width=width,
                initial_indent=first if i == 0 else rest,
                subsequent_indent=rest,
                break_long_words=False,
                break_on_hyphens=False,
            )
        )
    return "\n".join(lines)


def _tokens_to_text(tokens: list[Token], width: int) -> str:
    """CommonMark to readable plain text wrapped at `width` columns (long URLs never split)."""
    blocks: list[tuple[str, bool]] = []  # (text, is an item of a tight list)
    bullets: list[list[int]] = []  # per open list: [next number or -1 for bullets]
    quote = 0
    pending_prefix: str | None = None
    tight = False
    for tok in tokens:
        kind = tok.type
        if kind == "bullet_list_open":
            bullets.append([-1])
        elif kind == "ordered_list_open":
            bullets.append([int(tok.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            bullets.pop()
        elif kind == "list_item_open":
            counter = bullets[-1]
            if counter[0] < 0:
                pending_prefix = "- "
            else:
                pending_prefix = f"{counter[0]}. "
                counter[0] += 1
        elif kind == "paragraph_open":
            tight = tok.hidden  # markdown-it hides the paragraphs of tight lists
        elif kind == "blockquote_open":
            quote += 1
        elif kind == "blockquote_close":
            quote -= 1
        elif kind == "inline":
            indent = "  " * max(len(bullets) - 1, 0) + "> " * quote
            if pending_prefix is not None:
                first, rest = indent + pending_prefix, indent + " " * len(pending_prefix)
                pending_prefix = None
            elif bullets:
                first = rest = indent + "  "
            else:
                first = rest = indent
            blocks.append((_wrap(_inline_text(tok), width, first, rest), tight))
            tight = False
        elif kind in ("fence", "code_block"):
            blocks.append((textwrap.indent(tok.content.rstrip("\n"), "    "), False))
        elif kind == "hr":
            blocks.append(("-" * 20, False))
    out: list[str] = []
    previous_tight = False
    for text, is_tight in blocks:
        if not text.strip():
            continue
        if out:
            out.append("\n" if is_tight and previous_tight else "\n\n")
        out.append(text)
        previous_tight = is_tight
    return "".join(out)


def wrap(text: str, width: int = WIDTH, indent: str = "", first: str = "") -> str:
    """Jinja filter: wrap near 72 columns; the first line starts with `first`, the others with
    `indent`; long words (URLs) are never split."""
    return textwrap.fill(
        str(text),
        width=width,
        initial_indent=first,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
