"""The court record (庭审笔录) as a Word .docx, filled into a template, and batch export as a .zip.

A template is any .docx with placeholders `{{name}}` (see `PLACEHOLDERS`) in the body, tables,
headers or footers. A placeholder alone in its paragraph and holding several lines (`{{panel}}`,
`{{parties}}`, `{{body}}`, `{{signatures}}`, `{{note}}`) becomes one paragraph per line, each
formatted like the placeholder's paragraph and first run, so a court styles its dialogue by styling
the `{{body}}` paragraph. `{{page}}` and `{{pages}}` become PAGE / NUMPAGES fields. The default
template, `templates/court_record.docx`, is what `build_default_template()` writes.

Until `HearingRecord.verified`, every page carries "未经核对 / DRAFT" (the `{{draft}}` placeholder, or
a header line added to each header when a court template has none, plus a watermark), and the core
properties say so. Text is cleaned of characters XML 1.0 forbids; nothing else is cut.
"""

from __future__ import annotations

import copy
import io
import logging
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

import docx
from docx.document import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from lxml import etree

from workbench.record import formats
from workbench.speech.transcript import HearingRecord

log = logging.getLogger("workbench.record.docx")

DEFAULT_TEMPLATE = Path(__file__).parent / "templates" / "court_record.docx"
FONTS_CONF = Path(__file__).parent / "templates" / "fonts.conf"
DRAFT_MARK = "未经核对 / DRAFT"
NO_SPEECH = "（本次录音未识别到语音。）"

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
    "draft": "未经核对 / DRAFT until verified, empty after",
    "page": "PAGE field (current page number)",
    "pages": "NUMPAGES field (page count)",
}
_BLOCKS = frozenset({"panel", "parties", "note", "body", "signatures"})
_FIELDS = {"page": "PAGE", "pages": "NUMPAGES"}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PANEL_ROLES = ("审判长", "审判员", "人民陪审员")
_SIGN_LINE = "＿" * 8

# The fonts a Chinese court record is set in, with the Windows names Word looks for (altName) and the
# GB2312 charset, so an installation without them falls back to any CJK serif (Noto Serif CJK on Linux).
_BODY_FONT = "仿宋"
_TITLE_FONT = "宋体"
_LATIN_FONT = "Times New Roman"
_FONT_TABLE = {"仿宋": "FangSong", "宋体": "SimSun", "黑体": "SimHei"}


class ExportError(Exception):
    """A template or output that cannot be used; the message names the file, the reason and the fix."""


@dataclass(frozen=True, slots=True)
class RecordOptions:
    timestamps: bool = False  # [00:12:03] before each turn
    line_numbers: bool = False  # numbers in the margin, restarting on each page, to cite by page and line
    template: Path | None = None  # a court's own .docx; None means the default template


# --- values for the placeholders ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    """A run of a generated line: `kind` is "text", "speaker" (bold) or "time" (small, grey)."""

    text: str
    kind: str = "text"


_Line = list[_Piece]


def _parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _cn_datetime(moment: datetime, with_date: bool = True) -> str:
    clock = f"{moment.hour}时{moment.minute:02d}分"
    return f"{moment.year}年{moment.month}月{moment.day}日 {clock}" if with_date else clock


def format_time(start: str, end: str) -> str:
    """ "2024年3月5日 9时30分至11时10分"; stored text that is not ISO is shown as given."""
    s, e = _parse_time(start) if start else None, _parse_time(end) if end else None
    first = _cn_datetime(s) if s else start
    if not end:
        return first
    last = _cn_datetime(e, with_date=not (s and s.date() == e.date())) if e else end
    return f"{first}至{last}" if first else last


def _names(record: HearingRecord, role: str) -> str:
    return "、".join(name for r, name in record.panel if r == role)


def _values(record: HearingRecord, options: RecordOptions) -> dict[str, str | list[_Line]]:
    clean = formats.clean_text
    panel_lines = [[_Piece(f"{clean(role)}：{clean(name)}")] for role, name in record.panel]
    party_lines = []
    for party in record.parties:
        text = f"{clean(party.role)}：{clean(party.name)}"
        if party.representatives:
            text += "，委托诉讼代理人：" + "、".join(clean(r) for r in party.representatives)
        party_lines.append([_Piece(text)])
    notes = []
    if record.original_text:
        notes.append([_Piece("注：以下为语音识别的原始结果，未经人工校对。")])
    body = list(_body(record, options))
    if not body:
        body = [[_Piece(NO_SPEECH)]]
    return {
        "court": clean(record.court),
        "title": "庭审笔录",
        "case_number": clean(record.case_number),
        "cause": clean(record.cause),
        "time": clean(format_time(record.start, record.end)),
        "start": clean(format_time(record.start, "")),
        "end": clean(format_time(record.end, "")),
        "place": clean(record.place),
        "public": "公开审理" if record.public else "不公开审理",
        "presiding_judge": clean(_names(record, "审判长")),
        "judges": clean(_names(record, "审判员")),
        "jurors": clean(_names(record, "人民陪审员")),
        "panel": panel_lines,
        "clerk": clean(record.clerk),
        "parties": party_lines,
        "note": notes,
        "body": body,
        "signatures": _signatures(record),
        "draft": "" if record.verified else DRAFT_MARK,
    }


def _body(record: HearingRecord, options: RecordOptions) -> Iterator[_Line]:
    for turn in formats.turns(record.transcript):
        if not turn.text:
            continue
        line: _Line = []
        if options.timestamps:
            line.append(_Piece(f"[{formats.timestamp(turn.start).split('.')[0]}] ", "time"))
        who = formats.speaker_name(turn.speaker, record.labels)
        if who:
            line.append(_Piece(f"{formats.clean_text(who)}：", "speaker"))
        line.append(_Piece(turn.text))
        yield line


def _signatures(record: HearingRecord) -> list[_Line]:
    """Who signs a record: the parties and their representatives, then the panel and the clerk.

    Each line is "原告：某公司<tab>签名：＿＿＿", the tab stop of the signature style lining up the blanks.
    """
    clean = formats.clean_text
    lines: list[_Line] = [[_Piece("")]]
    for party in record.parties:
        lines.append([_Piece(f"{clean(party.role)}：{clean(party.name)}\t签名：{_SIGN_LINE}")])
        for rep in party.representatives:
            lines.append([_Piece(f"委托诉讼代理人：{clean(rep)}\t签名：{_SIGN_LINE}")])
    if not record.parties:
        lines.append([_Piece(f"当事人：\t签名：{_SIGN_LINE}")])
    lines.append([_Piece("")])
    panel = record.panel or tuple((role, "") for role in _PANEL_ROLES[:2])
    for role, name in panel:
        lines.append([_Piece(f"{clean(role)}：{clean(name)}\t签名：{_SIGN_LINE}")])
    lines.append([_Piece(f"书记员：{clean(record.clerk)}\t签名：{_SIGN_LINE}")])
    return lines


# --- filling a template ---------------------------------------------------------------------------


def _run(rpr: etree._Element | None, text: str | None = None) -> etree._Element:
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


def _field(rpr: etree._Element | None, instr: str) -> list[etree._Element]:
    """A complex field (begin, instruction, separate, cached "1", end): what Word writes for PAGE."""
    runs = []
    for kind in ("begin", None, "separate", "1", "end"):
        r = _run(rpr)
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


def _styled(rpr: etree._Element | None, kind: str) -> etree._Element | None:
    """The placeholder run's properties, plus bold for a speaker or small grey for a timestamp."""
    if kind == "text":
        return rpr
    out = copy.deepcopy(rpr) if rpr is not None else OxmlElement("w:rPr")
    if kind == "speaker":
        out.append(OxmlElement("w:b"))
        out.append(OxmlElement("w:bCs"))
    else:
        color = OxmlElement("w:color")
        color.set(qn("w:val"), "808080")
        size = OxmlElement("w:sz")
        size.set(qn("w:val"), "20")
        out.extend([color, size])
    _order_rpr(out)
    return out


# CT_RPr children must come in schema order or Word calls the file corrupt.
_RPR_ORDER = [
    "rStyle", "rFonts", "b", "bCs", "i", "iCs", "caps", "smallCaps", "strike", "dstrike", "outline", "shadow",
    "emboss", "imprint", "noProof", "snapToGrid", "vanish", "webHidden", "color", "spacing", "w", "kern",
    "position", "sz", "szCs", "highlight", "u", "effect", "bdr", "shd", "fitText", "vertAlign", "rtl", "cs",
    "em", "lang", "eastAsianLayout", "specVanish", "oMath",
]  # fmt: skip
_RPR_RANK = {qn("w:" + name): i for i, name in enumerate(_RPR_ORDER)}


def _order_rpr(rpr: etree._Element) -> None:
    seen: dict[str, etree._Element] = {}
    for child in list(rpr):
        if child.tag in seen:  # a later duplicate (added b over an existing b) wins
            rpr.remove(seen[child.tag])
        seen[child.tag] = child
    children = sorted(rpr, key=lambda c: _RPR_RANK.get(c.tag, len(_RPR_ORDER)))
    for child in children:
        rpr.append(child)


def _first_rpr(p: etree._Element) -> etree._Element | None:
    rpr = p.find(f"{qn('w:r')}/{qn('w:rPr')}")
    return copy.deepcopy(rpr) if rpr is not None else None


def _line_paragraph(template_p: etree._Element, rpr: etree._Element | None, line: _Line) -> etree._Element:
    p = OxmlElement("w:p")
    ppr = template_p.find(qn("w:pPr"))
    if ppr is not None:
        p.append(copy.deepcopy(ppr))
    for piece in line:
        p.append(_run(_styled(rpr, piece.kind), piece.text))
    return p


def _fill_paragraph(p: etree._Element, values: dict[str, str | list[_Line]]) -> set[str]:
    """Replaces the placeholders in one paragraph; returns the names it found.

    Word splits typed text over several runs ("{{", "case_", "number}}"), so the paragraph's text is
    joined, and the new runs take the first run's formatting.
    """
    runs = p.findall(qn("w:r")) + p.findall(f"{qn('w:hyperlink')}/{qn('w:r')}")
    full = "".join(t.text or "" for r in runs for t in r.iter(qn("w:t")))
    if "{{" not in full:
        return set()
    names = set(_PLACEHOLDER.findall(full))
    if not names:
        return set()
    rpr = _first_rpr(p)
    stripped = _PLACEHOLDER.fullmatch(full.strip())
    if stripped and stripped.group(1) in _BLOCKS:
        lines = values.get(stripped.group(1), [])
        assert isinstance(lines, list)
        for line in lines:
            p.addprevious(_line_paragraph(p, rpr, line))
        p.getparent().remove(p)
        return names
    for r in p.findall(qn("w:r")):
        p.remove(r)
    for hyperlink in p.findall(qn("w:hyperlink")):
        p.remove(hyperlink)
    pos = 0
    for m in _PLACEHOLDER.finditer(full):
        if m.start() > pos:
            p.append(_run(rpr, full[pos : m.start()]))
        name = m.group(1)
        if name in _FIELDS:
            p.extend(_field(rpr, _FIELDS[name]))
        elif name in values:
            value = values[name]
            text = value if isinstance(value, str) else "\n".join("".join(pc.text for pc in ln) for ln in value)
            p.append(_run(rpr, text))
        else:
            # Unknown names stay visible, so a misspelt placeholder shows in the proof, not silently empty.
            log.warning("template placeholder {{%s}} is not one of: %s", name, ", ".join(PLACEHOLDERS))
            p.append(_run(rpr, m.group(0)))
        pos = m.end()
    if pos < len(full):
        p.append(_run(rpr, full[pos:]))
    return names


def _fill_part(root: etree._Element, values: dict[str, str | list[_Line]]) -> set[str]:
    found: set[str] = set()
    for p in list(root.iter(qn("w:p"))):
        found |= _fill_paragraph(p, values)
    return found


def _headers(doc: Document) -> Iterator[tuple[object, bool]]:
    """Every header in use, and whether it shows the mark already (its {{draft}} placeholder, filled)."""
    even = doc.settings.odd_and_even_pages_header_footer
    for i, section in enumerate(doc.sections):
        candidates = [section.header]
        if section.different_first_page_header_footer:
            candidates.append(section.first_page_header)
        if even:
            candidates.append(section.even_page_header)
        for header in candidates:
            if i and header.is_linked_to_previous:
                continue  # shows the previous section's header, which is marked already
            yield header, DRAFT_MARK in "".join(header._element.itertext())


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
        f'<v:textpath style="font-family:&quot;{_TITLE_FONT}&quot;;font-size:1pt" string="{text}"/>'
        "</v:shape></w:pict></w:r>"
    )
    return etree.fromstring(xml)


def _mark_draft(doc: Document) -> None:
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


# CT_PPr children after suppressLineNumbers, in schema order.
_PPR_AFTER_SUPPRESS = (
    "w:pBdr", "w:shd", "w:tabs", "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
    "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd", "w:snapToGrid", "w:spacing",
    "w:ind", "w:contextualSpacing", "w:mirrorIndents", "w:suppressOverlap", "w:jc", "w:textDirection",
    "w:textAlignment", "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
    "w:pPrChange",
)  # fmt: skip


def _line_numbers(doc: Document) -> None:
    """Margin line numbers restarting on each page; headers and footers are not counted (as in Word)."""
    for section in doc.sections:
        for part in (section.header, section.footer, section.first_page_header, section.first_page_footer,
                     section.even_page_header, section.even_page_footer):  # fmt: skip
            if part.is_linked_to_previous:
                continue
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


def _properties(doc: Document, record: HearingRecord, values: dict[str, str | list[_Line]]) -> None:
    props = doc.core_properties
    status = "已核对 / Verified" if record.verified else DRAFT_MARK
    props.title = f"{values['court']}庭审笔录" + (f" {values['case_number']}" if values["case_number"] else "")
    props.subject = str(values["case_number"])
    props.category = "庭审笔录"
    props.content_status = status
    props.keywords = "庭审笔录; " + ("verified" if record.verified else "draft; 未经核对")
    props.comments = (
        "经书记员核对。" if record.verified else "未经核对：语音识别生成的草稿，书记员核对前不得作为正式笔录使用。"
    ) + f" 音频：{formats.clean_text(Path(record.transcript.file).name)}"
    props.author = str(values["clerk"]) or "workbench"
    props.last_modified_by = "workbench"
    now = datetime.now().replace(microsecond=0)
    props.created = props.created or now
    props.modified = now
    props.revision = max(1, props.revision)


def build_record(record: HearingRecord, options: RecordOptions | None = None) -> Document:
    """The court record as a python-docx Document, from the template in `options` or the default."""
    options = options or RecordOptions()
    template = options.template or (DEFAULT_TEMPLATE if DEFAULT_TEMPLATE.exists() else None)
    if template is None:
        doc = _default_template_document()
    else:
        try:
            doc = docx.Document(str(template))
        except Exception as e:  # python-docx raises several kinds (zip, XML, missing part) for one cause
            raise ExportError(
                f"{template}: not a readable Word .docx template ({e}); save it from Word as .docx (not .doc)"
            ) from e
    values = _values(record, options)
    found = _fill_part(doc.element.body, values)
    for section in doc.sections:
        for part in (section.header, section.footer, section.first_page_header, section.first_page_footer,
                     section.even_page_header, section.even_page_footer):  # fmt: skip
            if not part.is_linked_to_previous:
                _fill_part(part._element, values)
    if "body" not in found:
        log.warning("%s has no {{body}} placeholder: the dialogue is appended at the end", template)
        for line in values["body"]:
            assert isinstance(line, list)
            para = doc.add_paragraph()
            for piece in line:
                para._p.append(_run(_styled(None, piece.kind), piece.text))
    if not record.verified:
        _mark_draft(doc)
    if options.line_numbers:
        _line_numbers(doc)
    _properties(doc, record, values)
    return doc


def render_docx(record: HearingRecord, options: RecordOptions | None = None) -> bytes:
    out = io.BytesIO()
    build_record(record, options).save(out)
    return out.getvalue()


def export_docx(record: HearingRecord, path: Path, options: RecordOptions | None = None) -> Path:
    """Writes the court record to `path` (.docx) and returns the path."""
    data = render_docx(record, options)
    path = Path(path)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ExportError(f"{path}: cannot write the court record ({e.strerror}); check the folder is writable") from e
    return path


def _entry_name(record: HearingRecord) -> str:
    base = record.case_number or Path(record.transcript.file).stem or "hearing"
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", formats.clean_text(base)).strip(" .") or "hearing"


def export_zip(
    records: Iterable[HearingRecord],
    path: Path | IO[bytes],
    options: RecordOptions | None = None,
    formats_: tuple[str, ...] = ("docx",),
) -> Path | IO[bytes]:
    """Several hearings in one .zip: `<case number>.docx` (and any of `formats.FORMATS`) per hearing.

    `path` may be a binary stream (a page's download button takes `io.BytesIO().getvalue()`). Two
    hearings with the same case number get `-2`, `-3`, ... so nothing is overwritten.
    """
    unknown = [f for f in formats_ if f != "docx" and f not in formats.FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}: choose docx or {', '.join(formats.FORMATS)}")
    if isinstance(path, str | Path):
        path = Path(path)
    used: set[str] = set()
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for record in records:
                stem = _entry_name(record)
                name, n = stem, 1
                while name in used:
                    n += 1
                    name = f"{stem}-{n}"
                used.add(name)
                for fmt in formats_:
                    if fmt == "docx":
                        z.writestr(f"{name}.docx", render_docx(record, options))
                    else:
                        text = formats.render(fmt, record.transcript, record.labels)
                        z.writestr(f"{name}.{fmt}", text.encode("utf-8-sig" if fmt == "csv" else "utf-8"))
    except OSError as e:
        raise ExportError(f"{path}: cannot write the .zip ({e.strerror}); check the folder is writable") from e
    return path


def to_pdf(docx_paths: Sequence[Path], out_dir: Path, timeout: float = 300) -> list[Path]:
    """Converts .docx files to PDF with LibreOffice, in one start (it takes seconds), and returns the PDFs.

    A private LibreOffice profile lets several conversions run at once; `templates/fonts.conf` maps the
    record's 仿宋/宋体 to Noto Serif CJK SC where the Windows fonts are missing.
    """
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise ExportError(
            "LibreOffice is not installed: `apt-get install libreoffice-writer-nogui` (see scripts/setup.sh)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if FONTS_CONF.exists():
        env["FONTCONFIG_FILE"] = str(FONTS_CONF)
    with tempfile.TemporaryDirectory(prefix="workbench-lo-") as profile:
        cmd = [soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
               "--convert-to", "pdf", "--outdir", str(out_dir), *map(str, docx_paths)]  # fmt: skip
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise ExportError(
                f"LibreOffice took over {timeout:.0f} s converting {len(docx_paths)} file(s) to PDF"
            ) from e
    pdfs = [out_dir / (Path(p).stem + ".pdf") for p in docx_paths]
    missing = [p.name for p in pdfs if not p.exists()]
    if done.returncode != 0 or missing:
        raise ExportError(
            f"LibreOffice could not convert {', '.join(missing) or 'the files'} to PDF "
            f"(exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}"
        )
    return pdfs


# --- the default template -----------------------------------------------------------------------


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
    _order_rpr(rpr)


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


def _default_template_document() -> Document:
    doc = docx.Document()
    section = doc.sections[0]
    # A4 with the margins of GB/T 9704 (official documents), which court records follow.
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(3.2), Cm(2.8)
    section.left_margin, section.right_margin = Cm(2.8), Cm(2.6)
    section.header_distance, section.footer_distance = Cm(1.5), Cm(1.5)

    exact = WD_LINE_SPACING.EXACTLY
    _paragraph_style(doc, "Normal", _BODY_FONT, 14, line_spacing_rule=exact, line_spacing=Pt(26),
                     space_before=Pt(0), space_after=Pt(0))  # fmt: skip
    _paragraph_style(doc, "Record Court", _TITLE_FONT, 18, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER,
                     line_spacing_rule=exact, line_spacing=Pt(32))  # fmt: skip
    _paragraph_style(doc, "Record Title", _TITLE_FONT, 22, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER,
                     line_spacing_rule=exact, line_spacing=Pt(36), space_after=Pt(12))  # fmt: skip
    _paragraph_style(doc, "Record Header", _BODY_FONT, 14)
    _paragraph_style(doc, "Record Turn", _BODY_FONT, 14, alignment=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _paragraph_style(doc, "Record Signature", _BODY_FONT, 14, line_spacing=Pt(34))
    doc.styles["Record Signature"].paragraph_format.tab_stops.add_tab_stop(Cm(9.5))
    _paragraph_style(doc, "Record Mark", _TITLE_FONT, 12, bold=True, alignment=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph_style(doc, "Record Footer", _TITLE_FONT, 10.5, alignment=WD_ALIGN_PARAGRAPH.CENTER)
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
    _default_template_document().save(str(path))
    return path
