"""What a court record template holds (`PLACEHOLDERS`), and the default one: A4, 仿宋/宋体, a style per part.

`templates/court_record.docx`, the default template, is what `build_default_template()` writes; a court
edits a copy of it, or brings any .docx with the placeholders (`fill` says how they are filled).
"""

from __future__ import annotations

from pathlib import Path

import docx
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from lxml import etree

from workbench.record.ooxml import order_rpr

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "court_record.docx"

PLACEHOLDERS: dict[str, str] = {
    "court": "法院名称, e.g. 北京市朝阳区人民法院",
    "title": "文书名称: 庭审笔录",
    "case_number": "案号",
    "cause": "案由",
    "time": "开庭时间, start to end: 2024年3月5日 9时30分至11时10分",
    "start": "开庭时间 (start only)",
    "end": "闭庭时间 (end only)",
    "place": "地点 (courtroom)",
    "public": "公开审理 / 不公开审理",
    "presiding_judge": "审判长 name(s)",
    "judges": "审判员 name(s)",
    "jurors": "人民陪审员 name(s)",
    "panel": "block: one line per panel member, 审判长：张三",
    "clerk": "书记员 name",
    "parties": "block: one line per party, 原告：某公司，委托诉讼代理人：钱七",
    "note": "block: notes on the text (original recognition, no speech); the paragraph goes when empty",
    "body": "block: the dialogue, one paragraph per turn, 审判长：……",
    "signatures": "block: signature lines for the panel, the clerk and the parties",
    "draft": "未经审批 / DRAFT until a judge approved the record, empty after",
    "page": "PAGE field (current page number)",
    "pages": "NUMPAGES field (page count)",
}

# The fonts a Chinese court record is set in, with the Windows names Word looks for (altName) and the
# GB2312 charset, so an installation without them falls back to any CJK serif (Noto Serif CJK on Linux).
BODY_FONT = "仿宋"
TITLE_FONT = "宋体"
_LATIN_FONT = "Times New Roman"
_FONT_TABLE = {"仿宋": "FangSong", "宋体": "SimSun", "黑体": "SimHei"}


def _set_fonts(style_or_run_font: object, east_asian: str, size: float | None = None, bold: bool = False) -> None:
    font = style_or_run_font.font  # type: ignore[attr-defined]
    font.name = _LATIN_FONT
    if size:
        font.size = Pt(size)
    font.bold = bold or None
    rpr = style_or_run_font.element.get_or_add_rPr()  # type: ignore[attr-defined]
    rfonts = rpr.get_or_add_rFonts()
    rfonts.set(qn("w:eastAsia"), east_asian)
    rfonts.set(qn("w:hint"), "eastAsia")
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "en-US")
    lang.set(qn("w:eastAsia"), "zh-CN")  # so renderers pick Simplified Chinese glyphs when falling back
    order_rpr(rpr)


def _font_table(doc: Document) -> None:
    """Declares 仿宋/宋体/黑体 with their Windows names and the GB2312 charset, the fallback hint."""
    part = doc.part
    rel = next((r for r in part.rels.values() if r.reltype.endswith("/fontTable")), None)
    if rel is None:
        return
    fonts_part = rel.target_part
    root = etree.fromstring(fonts_part.blob)
    for name, alt in _FONT_TABLE.items():
        if root.find(f"{qn('w:font')}[@{qn('w:name')}='{name}']") is not None:
            continue
        font = OxmlElement("w:font")
        font.set(qn("w:name"), name)
        for tag, val in (("altName", alt), ("charset", "86"), ("family", "modern"), ("pitch", "fixed")):
            el = OxmlElement(f"w:{tag}")
            el.set(qn("w:val"), val)
            font.append(el)
        root.append(font)
    fonts_part._blob = etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _paragraph_style(doc: Document, name: str, east_asian: str, size: float, **fmt: object) -> None:
    styles = doc.styles
    style = styles[name] if name in [s.name for s in styles] else styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    if name != "Normal":
        style.base_style = styles["Normal"]
    _set_fonts(style, east_asian, size, bool(fmt.pop("bold", False)))
    pf = style.paragraph_format
    for key, value in fmt.items():
        setattr(pf, key, value)


def default_template_document() -> Document:
    """The default template, built afresh: what `templates/court_record.docx` holds."""
    doc = docx.Document()
    section = doc.sections[0]
    # A4 with the margins of GB/T 9704 (official documents), which court records follow.
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.2), Cm(2.8)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    section.header_distance, section.footer_distance = Cm(1.5), Cm(1.5)

    exact = WD_LINE_SPACING.EXACTLY
    _paragraph_style(doc, "Normal", BODY_FONT, 14, line_spacing_rule=exact, line_spacing=Pt(26),
                     space_before=Pt(0), space_after=Pt(0))  # fmt: skip
    _paragraph_style(doc, "Record Court", TITLE_FONT, 18, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER,
                     line_spacing_rule=exact, line_spacing=Pt(32))  # fmt: skip
    _paragraph_style(doc, "Record Title", TITLE_FONT, 22, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER,
                     line_spacing_rule=exact, line_spacing=Pt(36), space_after=Pt(12))  # fmt: skip
    _paragraph_style(doc, "Record Header", BODY_FONT, 14)
    _paragraph_style(doc, "Record Turn", BODY_FONT, 14, alignment=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _paragraph_style(doc, "Record Signature", BODY_FONT, 14, line_spacing=Pt(34))
    doc.styles["Record Signature"].paragraph_format.tab_stops.add_tab_stop(Cm(9.5))
    _paragraph_style(doc, "Record Mark", TITLE_FONT, 12, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph_style(doc, "Record Footer", TITLE_FONT, 10.5, alignment=WD_ALIGN_PARAGRAPH.CENTER)
    doc.styles["Record Mark"].font.color.rgb = RGBColor(0xC0, 0x00, 0x00)

    # The template's own first paragraph (python-docx's blank document has none, but be sure).
    for p in list(doc.paragraphs):
        p._p.getparent().remove(p._p)
    doc.add_paragraph("{{court}}", style="Record Court")
    doc.add_paragraph("庭 审 笔 录", style="Record Title")
    for line in (
        "时间：{{time}}",
        "地点：{{place}}",
        "案号：{{case_number}}",
        "案由：{{cause}}",
        "审理方式：{{public}}",
        "{{panel}}",
        "书记员：{{clerk}}",
        "到庭当事人及诉讼参与人：",
        "{{parties}}",
        "{{note}}",
    ):
        doc.add_paragraph(line, style="Record Header")
    doc.add_paragraph("记录如下：", style="Record Header")
    doc.add_paragraph("{{body}}", style="Record Turn")
    doc.add_paragraph("（闭庭）", style="Record Turn")
    doc.add_paragraph("{{signatures}}", style="Record Signature")

    header = section.header
    header.is_linked_to_previous = False
    header.paragraphs[0].text = "{{draft}}"
    header.paragraphs[0].style = doc.styles["Record Mark"]
    footer = section.footer
    footer.is_linked_to_previous = False
    footer.paragraphs[0].text = "第 {{page}} 页 共 {{pages}} 页"
    footer.paragraphs[0].style = doc.styles["Record Footer"]
    _font_table(doc)
    props = doc.core_properties
    props.title, props.author, props.category = "庭审笔录模板", "workbench", "庭审笔录"
    props.comments = "Placeholders: " + " ".join(f"{{{{{name}}}}}" for name in PLACEHOLDERS)
    return doc


def build_default_template(path: Path) -> Path:
    """Writes the default template (what ships as templates/court_record.docx) to `path`, for a court to edit."""
    path = Path(path)
    default_template_document().save(str(path))
    return path
