"""What goes on every page of a filled record: the "未经审批 / DRAFT" mark until approved, the verification
code in every footer, and margin line numbers.

Until `HearingRecord.approved` (a judge approved it; it may be locked since), the mark is the `{{draft}}`
placeholder where the template has one, or a red line added on top of each header where a court template has
none, plus a watermark behind every page. The mark says 未经审批 (not approved), not 未经核对 (not checked):
a record the clerk has checked is still a draft until the judge approves it, and "not checked" would be false
on it; "not approved" is true in every state before approval.
"""

from __future__ import annotations

from collections.abc import Iterator

from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.section import _Footer, _Header
from docx.shared import Pt, RGBColor
from lxml import etree

from workbench.record.ooxml import headers_and_footers
from workbench.record.template import TITLE_FONT

DRAFT_MARK = "未经审批 / DRAFT"

# CT_PPr children after suppressLineNumbers, in schema order.
_PPR_AFTER_SUPPRESS = (
    "w:pBdr", "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing",
    "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection",
    "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
    "w:pPrChange",
)  # fmt: skip


def _headers(doc: Document) -> Iterator[tuple[_Header, bool]]:
    """Every header in use, and whether it shows the mark already (its {{draft}} placeholder, filled)."""
    for header in _in_use(doc, "header"):
        yield header, DRAFT_MARK in "".join(header._element.itertext())


def _in_use(doc: Document, kind: str) -> Iterator[_Header | _Footer]:
    """Every header (kind "header") or footer ("footer") a page shows: default, first page, even pages."""
    even = doc.settings.odd_and_even_pages_header_footer
    for i, section in enumerate(doc.sections):
        candidates = [getattr(section, kind)]
        if section.different_first_page_header_footer:
            candidates.append(getattr(section, f"first_page_{kind}"))
        if even:
            candidates.append(getattr(section, f"even_page_{kind}"))
        for part in candidates:
            if i and part.is_linked_to_previous:
                continue  # shows the previous section's, which is marked already
            yield part


def _watermark(text: str) -> etree._Element:
    """Word's own text watermark (a VML text path behind the page), which LibreOffice also draws."""
    xml = (
        '<w:r xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
        'xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">'
        "<w:rPr><w:noProof/></w:rPr><w:pict>"
        '<v:shapetype id="_x0000_t136" coordsize="21600,21600" o:spt="136" adj="10800" '
        'path="m@7,l@8,m@5,21600l@6,21600e"><v:path textpathok="t" o:connecttype="custom"/>'
        '<v:textpath on="t" fitshape="t"/><o:lock v:ext="edit" text="t" shapetype="t"/></v:shapetype>'
        '<v:shape id="WorkbenchDraftMark" o:spid="_x0000_s1025" type="#_x0000_t136" '
        'style="position:absolute;margin-left:0;margin-top:0;width:440pt;height:110pt;rotation:315;'
        "z-index:-251657216;mso-position-horizontal:center;mso-position-horizontal-relative:margin;"
        'mso-position-vertical:center;mso-position-vertical-relative:margin" fillcolor="#d8d8d8" stroked="f">'
        '<v:fill opacity=".5"/>'
        f'<v:textpath style="font-family:&quot;{TITLE_FONT}&quot;;font-size:1pt" string="{text}"/>'
        "</v:shape></w:pict></w:r>"
    )
    return etree.fromstring(xml)


def mark_draft(doc: Document) -> None:
    """Puts `DRAFT_MARK` in every header in use (unless its filled {{draft}} shows it) and a watermark behind."""
    for header, has_placeholder in _headers(doc):
        paragraphs = header.paragraphs
        if not has_placeholder:
            # A court template without {{draft}}: the mark goes on top of its header, in red.
            first = paragraphs[0] if paragraphs else header.add_paragraph()
            mark = first.insert_paragraph_before() if first.text.strip() else first
            mark.alignment = WD_ALIGN_PARAGRAPH.CENTER
            run = mark.add_run(DRAFT_MARK)
            run.bold = True
            run.font.color.rgb = RGBColor(0xC0, 0x00, 0x00)
            paragraphs = header.paragraphs
        paragraphs[0]._p.append(_watermark(DRAFT_MARK))


FOOTER_STYLE = "Record Footer"


def add_footer_line(doc: Document, text: str) -> None:
    """Adds `text` as a last, centred line of every footer in use (the verification code on every page)."""
    style = next((st for st in doc.styles if st.name == FOOTER_STYLE), None)
    for footer in _in_use(doc, "footer"):
        para = footer.add_paragraph()
        if style is not None:
            para.style = style
        para.alignment = WD_ALIGN_PARAGRAPH.CENTER
        run = para.add_run(text)
        run.font.size = Pt(9)


def add_line_numbers(doc: Document) -> None:
    """Margin line numbers restarting on each page; headers and footers are not counted (as in Word)."""
    for section in doc.sections:
        for part in headers_and_footers(section):
            for p in part._element.iter(qn("w:p")):
                ppr = p.get_or_add_pPr()
                if ppr.find(qn("w:suppressLineNumbers")) is None:
                    ppr.insert_element_before(OxmlElement("w:suppressLineNumbers"), *_PPR_AFTER_SUPPRESS)
    for section in doc.sections:
        sect = section._sectPr
        old = sect.find(qn("w:lnNumType"))
        if old is not None:
            sect.remove(old)
        ln = OxmlElement("w:lnNumType")
        ln.set(qn("w:countBy"), "1")
        ln.set(qn("w:restart"), "newPage")
        ln.set(qn("w:distance"), "284")  # 0.5 cm from the text
        sect.insert_element_before(
            ln, "w:pgNumType", "w:cols", "w:formProt", "w:vAlign", "w:noEndnote", "w:titlePg",
            "w:textDirection", "w:bidi", "w:rtlGutter", "w:docGrid", "w:printerSettings", "w:sectPrChange",
        )  # fmt: skip
