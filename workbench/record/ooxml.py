"""WordprocessingML pieces python-docx has no API for: runs that keep breaks and tabs, complex fields, schema order.

Shared by the template filler (`fill`), the default template (`template`) and the draft marks (`marks`).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import Section, _Footer, _Header
from lxml import etree

# CT_RPr children must come in schema order or Word calls the file corrupt.
_RPR_ORDER = [
    "rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike", "outline", "shadow",
    "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden", "color", "spacing", "w", "kern",
    "position", "sz", "szCs", "highlight", "u", "effect", "bdr", "shd", "fitText", "vertAlign", "rtl", "cs",
    "em", "lang", "eastAsianLayout", "specVanish", "oMath",
]  # fmt: skip
_RPR_RANK = {qn("w:" + name): i for i, name in enumerate(_RPR_ORDER)}


def run(rpr: etree._Element | None, text: str | None = None) -> etree._Element:
    """A w:r with a copy of `rpr`; "\\n" in `text` becomes w:br and "\\t" w:tab."""
    r = OxmlElement("w:r")
    if rpr is not None:
        r.append(copy.deepcopy(rpr))
    if text is not None:
        # A run holding "\n" would be one line in Word; w:br keeps the break the text had.
        for i, line in enumerate(text.split("\n")):
            if i:
                r.append(OxmlElement("w:br"))
            for j, part in enumerate(line.split("\t")):
                if j:
                    r.append(OxmlElement("w:tab"))
                if part:
                    t = OxmlElement("w:t")
                    t.set(qn("xml:space"), "preserve")
                    t.text = part
                    r.append(t)
    return r


def field(rpr: etree._Element | None, instr: str) -> list[etree._Element]:
    """A complex field (begin, instruction, separate, cached "1", end): what Word writes for PAGE."""
    runs = []
    for kind in ("begin", None, "separate", "1", "end"):
        r = run(rpr)
        if kind in ("begin", "separate", "end"):
            fld = OxmlElement("w:fldChar")
            fld.set(qn("w:fldCharType"), kind)
            r.append(fld)
        elif kind is None:
            it = OxmlElement("w:instrText")
            it.set(qn("xml:space"), "preserve")
            it.text = f" {instr} "
            r.append(it)
        else:
            t = OxmlElement("w:t")
            t.text = kind
            r.append(t)
        runs.append(r)
    return runs


def order_rpr(rpr: etree._Element) -> None:
    """Puts a w:rPr's children in schema order, in place; of two with the same tag the later one stays."""
    seen: dict[str, etree._Element] = {}
    for child in list(rpr):
        if child.tag in seen:  # a later duplicate (added b over an existing b) wins
            rpr.remove(seen[child.tag])
        seen[child.tag] = child
    children = sorted(rpr, key=lambda c: _RPR_RANK.get(c.tag, len(_RPR_ORDER)))
    for child in children:
        rpr.append(child)


def headers_and_footers(section: Section) -> Iterator[_Header | _Footer]:
    """The section's own headers and footers (default, first page, even page); linked ones are the previous'."""
    for part in (section.header, section.footer, section.first_page_header, section.first_page_footer,
                 section.even_page_header, section.even_page_footer):  # fmt: skip
        if not part.is_linked_to_previous:
            yield part
