"""WordprocessingML pieces python-docx has no API for: runs that keep breaks and tabs, complex fields, schema order.

Shared by the template filler (`fill`), the default template (`template`) and the draft marks (`marks`); also
bookmarks and the custom properties part (docProps/custom.xml), which python-docx cannot write.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

from docx.document import Document
from docx.opc.packuri import PackURI
from docx.opc.part import Part
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


def bookmark(name: str, bookmark_id: int) -> tuple[etree._Element, etree._Element]:
    """A bookmark's start and end markers (w:bookmarkStart / w:bookmarkEnd) with the given name and id."""
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), str(bookmark_id))
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), str(bookmark_id))
    return start, end


CUSTOM_PROPERTIES_PART = "/docProps/custom.xml"
CT_CUSTOM_PROPERTIES = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
RT_CUSTOM_PROPERTIES = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
NS_CUSTOM = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
NS_VT = "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes"
# The format id every user-defined property carries (FMTID_UserDefinedProperties).
_USER_DEFINED_FMTID = "{D5CDD505-2E9C-101B-9397-08002B2CF9AE}"


def add_custom_property(doc: Document, name: str, value: str) -> None:
    """Sets a text custom property (File > Properties > Custom in Word) in docProps/custom.xml.

    python-docx has no API for the part: it is added to the package with its content type and a package
    relationship, or, where a court template has one already, the property is replaced in it.

    Word may cut a custom property's text at 255 characters when it re-saves the file (its property dialog holds
    no more), and the manifest's JSON is longer: that is why the export also carries the compact manifest token
    in the core keywords and the code in every footer, so verification still finds the export by its code
    (`evidence.read_evidence` falls back to the keywords when the property no longer parses).
    """
    package = doc.part.package
    rel = next((r for r in package.rels.values() if r.reltype == RT_CUSTOM_PROPERTIES and not r.is_external), None)
    if rel is not None:
        part = rel.target_part
        root = etree.fromstring(part.blob)
    else:
        part = None
        root = etree.Element(f"{{{NS_CUSTOM}}}Properties", nsmap={None: NS_CUSTOM, "vt": NS_VT})
    for prop in root.findall(f"{{{NS_CUSTOM}}}property"):
        if prop.get("name") == name:
            root.remove(prop)
    pids = [int(p.get("pid")) for p in root.findall(f"{{{NS_CUSTOM}}}property") if (p.get("pid") or "").isdigit()]
    prop = etree.SubElement(root, f"{{{NS_CUSTOM}}}property")
    prop.set("fmtid", _USER_DEFINED_FMTID)
    prop.set("pid", str(max(pids, default=1) + 1))  # pids start at 2: 0 and 1 are reserved
    prop.set("name", name)
    etree.SubElement(prop, f"{{{NS_VT}}}lpwstr").text = value
    blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)
    if part is None:
        part = Part(PackURI(CUSTOM_PROPERTIES_PART), CT_CUSTOM_PROPERTIES, blob, package)
        package.relate_to(part, RT_CUSTOM_PROPERTIES)
    else:
        part._blob = blob
