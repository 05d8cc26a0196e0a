"""WCAG contrast, worked out two ways: from a page's own colours (`text_pairs`: a small cascade
over its inline styles and `<style>` rules, light or dark) and from a screenshot's pixels
(`pixel_contrast`, for Chromium's forced dark mode, which repaints without telling the styles).

The cascade covers what our templates use: simple selectors (cssselect), `!important`,
inheritance of `color`, `font-size` and `font-weight`, and the nearest ancestor's background.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

AA_TEXT = 4.5  # WCAG 2 AA, 1.4.3: normal text
AA_LARGE = 3.0  # large text (24 px, or 18.66 px bold), and 1.4.11: a control's edge

_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_MEDIA = re.compile(r"@media([^{]*)\{((?:[^{}]*\{[^{}]*\})*)\s*\}")
_INHERITED = ("color", "font-size", "font-weight")
_BOLD_TAGS = {"h1", "h2", "h3", "strong", "b", "th", "legend", "label", "button"}
_UA_SIZE = {"h1": 32.0, "h2": 24.0}


def rgb(value: str) -> tuple[int, int, int] | None:
    """`#abc`, `#aabbcc` or `rgb(r, g, b)` (opaque only); None for anything else."""
    value = value.strip().lower()
    if m := re.fullmatch(r"#([0-9a-f]{3}|[0-9a-f]{6})", value):
        h = m.group(1) if len(m.group(1)) == 6 else "".join(c * 2 for c in m.group(1))
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    if m := re.fullmatch(r"rgba?\((\d+),\s*(\d+),\s*(\d+)(?:,\s*1)?\)", value):
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    return None


def luminance(colour: tuple[int, ...]) -> float:
    """WCAG relative luminance of an sRGB colour."""
    channels = [c / 255 for c in colour[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def ratio(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """WCAG contrast ratio, 1 to 21."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def declarations(block: str) -> dict[str, tuple[str, bool]]:
    """`prop: value [!important]; ...` -> {prop: (value, important)}; `background` counts as
    `background-color` and `border-color` as each side's."""
    out: dict[str, tuple[str, bool]] = {}
    for part in block.split(";"):
        if ":" not in part:
            continue
        prop, value = (s.strip() for s in part.split(":", 1))
        important = value.endswith("!important")
        value = value.removesuffix("!important").strip()
        prop = "background-color" if prop == "background" else prop.lower()
        if prop == "border-color":
            for side in ("top", "right", "bottom", "left"):
                out[f"border-{side}-color"] = (value, important)
        elif prop == "border" or prop.startswith("border-") and prop.count("-") == 1:
            sides = ["top", "right", "bottom", "left"] if prop == "border" else [prop[7:]]
            colour = value.split()[-1] if value else ""
            for side in sides:
                out[f"border-{side}-color"] = (colour, important)
        else:
            out[prop] = (value, important)
    return out


def rules(html_doc: Any, *, dark: bool) -> list[tuple[str, dict[str, tuple[str, bool]]]]:
    """(selector, declarations) of the document's `<style>` blocks in source order: the rules
    outside any `@media`, and (when `dark`) those inside `@media (prefers-color-scheme: dark)`."""
    found = []
    for style in html_doc.iter("style"):
        css = re.sub(r"/\*.*?\*/", "", style.text or "", flags=re.S)
        for m in re.finditer(rf"{_MEDIA.pattern}|{_RULE.pattern}", css):
            media, inner = m.group(1), m.group(2)
            if media is not None:
                if dark and "prefers-color-scheme: dark" in media:
                    found += [(s.strip(), declarations(d)) for s, d in _RULE.findall(inner)]
            else:
                found.append((m.group(3).strip(), declarations(m.group(4))))
    return found


def _cascade(html_doc: Any, *, dark: bool) -> dict[Any, dict[str, str]]:
    """Each element's declared values (not inherited ones): `!important` rules beat inline
    styles, which beat other rules; then specificity, then source order."""
    from cssselect import GenericTranslator, SelectorError, parse
    from cssselect.xpath import ExpressionError

    ranked: dict[Any, dict[str, tuple[tuple, str]]] = {}
    translator = GenericTranslator()
    for order, (selector, decls) in enumerate(rules(html_doc, dark=dark)):
        for one in selector.split(","):
            try:
                specificity = parse(one)[0].specificity()
                matched = html_doc.xpath(translator.css_to_xpath(one.strip()))
            except (SelectorError, ExpressionError):
                continue  # :focus-visible and friends: states a still page is not in
            for element in matched:
                mine = ranked.setdefault(element, {})
                for prop, (value, important) in decls.items():
                    rank = (2 if important else 0, specificity, order)
                    if prop not in mine or mine[prop][0] <= rank:
                        mine[prop] = (rank, value)
    for element in html_doc.iter():
        inline = declarations(element.get("style") or "") if isinstance(element.tag, str) else {}
        mine = ranked.setdefault(element, {})
        for prop, (value, important) in inline.items():
            rank = (3 if important else 1, (0, 0, 0), 0)
            if prop not in mine or mine[prop][0] <= rank:
                mine[prop] = (rank, value)
    return {element: {p: v for p, (_, v) in props.items()} for element, props in ranked.items()}


@dataclass(frozen=True)
class Pair:
    """One piece of text (or a control's edge) and what it stands on."""

    what: str
    fg: tuple[int, int, int]
    bg: tuple[int, int, int]
    large: bool

    @property
    def ratio(self) -> float:
        return ratio(self.fg, self.bg)

    @property
    def needed(self) -> float:
        return AA_LARGE if self.large else AA_TEXT


def _px(value: str, parent: float) -> float:
    if m := re.fullmatch(r"([\d.]+)(px|rem|em)?", value.strip()):
        n = float(m.group(1))
        return {"px": n, "rem": n * 16, "em": n * parent}.get(m.group(2) or "px", n)
    return parent


def text_pairs(page: str, *, dark: bool) -> list[Pair]:
    """Every run of visible text in `page` with its colour and background, and every button's
    edge against what surrounds it, as the light or the dark palette paints them."""
    import lxml.html

    doc = lxml.html.document_fromstring(page)
    declared = _cascade(doc, dark=dark)
    canvas = (18, 18, 18) if dark else (255, 255, 255)  # Chromium's canvas, `color-scheme`
    pairs: list[Pair] = []

    def walk(el: Any, inherited: dict[str, Any], bg: tuple[int, int, int]) -> None:
        mine = declared.get(el, {})
        if mine.get("display") == "none" or el.tag in ("head", "script", "style"):
            return
        state = dict(inherited)
        state["color"] = rgb(mine.get("color", "")) or inherited["color"]
        state["size"] = _px(mine.get("font-size", ""), _UA_SIZE.get(el.tag, inherited["size"]))
        weight = mine.get("font-weight", "")
        state["bold"] = weight in ("bold", "600", "700") or (el.tag in _BOLD_TAGS and not weight)
        own_bg = rgb(mine.get("background-color", ""))
        edge = rgb(mine.get("border-left-color", "")) or (own_bg if el.tag == "button" else None)
        if edge and el.tag in ("button", "input"):
            name = el.text_content().strip() or el.get("name", "")
            pairs.append(Pair(f"edge of {el.tag} {name!r}", edge, bg, True))
        bg = own_bg or bg
        large = state["size"] >= 24 or (state["size"] >= 18.66 and state["bold"])
        texts = [el.text] + [child.tail for child in el]
        if any(t and t.strip() and "\u034f" not in t for t in texts):
            label = " ".join((el.text_content() or "").split())[:40]
            pairs.append(Pair(f"<{el.tag}> {label!r}", state["color"], bg, large))
        for child in el:
            if isinstance(child.tag, str):
                walk(child, state, bg)

    start = {"color": (0, 0, 0) if not dark else (255, 255, 255), "size": 16.0, "bold": False}
    walk(doc, start, canvas)
    return pairs


def failing(pairs: list[Pair]) -> list[str]:
    """The pairs under WCAG AA, described."""
    return [
        f"{p.what}: {p.ratio:.2f} < {p.needed} ({p.fg} on {p.bg})"
        for p in pairs
        if p.ratio < p.needed
    ]


def mean_luma(png: bytes) -> float:
    """Mean luma of a screenshot, 0 (black) to 1 (white): Pillow's greyscale mean."""
    import io

    from PIL import Image, ImageStat

    with Image.open(io.BytesIO(png)) as image:
        return ImageStat.Stat(image.convert("L")).mean[0] / 255


def pixel_contrast(image: Any, boxes: list[list[float]]) -> float:
    """Contrast of text drawn in `boxes` (x, y, width, height, in the image's pixels) of a
    Pillow RGB image: its most common colour is the background, and the pixel farthest from
    it in contrast is the text's own colour (anti-aliased edges lie between the two)."""
    colours: Counter[tuple[int, ...]] = Counter()
    for x, y, width, height in boxes:
        box = (int(x), int(y), int(x + width + 0.999), int(y + height + 0.999))
        region = image.crop(box)
        for count, colour in region.getcolors(region.width * region.height) or []:
            colours[colour] += count
    background = colours.most_common(1)[0][0]
    return max(ratio(colour, background) for colour in colours)
