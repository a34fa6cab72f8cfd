"""The court record (庭审笔录) as a Word .docx: a template's placeholders filled from a `HearingRecord`.

A template is any .docx with placeholders `{{name}}` (see `template.PLACEHOLDERS`) in the body, tables,
headers or footers. A placeholder alone in its paragraph and holding several lines (`{{panel}}`,
`{{parties}}`, `{{body}}`, `{{signatures}}`, `{{note}}`) becomes one paragraph per line, each
formatted like the placeholder's paragraph and first run, so a court styles its dialogue by styling
the `{{body}}` paragraph. `{{page}}` and `{{pages}}` become PAGE / NUMPAGES fields. Without a template
the default one (`template.DEFAULT_TEMPLATE`) is used.

Until `HearingRecord.approved`, every page carries `marks.DRAFT_MARK`, and the core properties say the state.
Text is cleaned of characters XML 1.0 forbids; nothing else is cut.

The dialogue paragraphs lie between the bookmark "WorkbenchDialogue" (start in the first, end in the last),
so `evidence.read_evidence` finds exactly the lines `manifest.body_lines` gave. With a `Manifest`, the record
also carries it: the custom property "WorkbenchManifest" (JSON, docProps/custom.xml), the verification code
in every footer, and the code and the compact manifest in the core keywords (LibreOffice copies keywords into
a PDF's XMP, custom properties it does not). After the signatures, when there are any: the correction requests
(补正记录) with their outcomes, and the sign-off steps (核对 / 审批 / 锁定 by whom, when).

The record by stage: the clerk's log notes are dialogue paragraphs at their times (`manifest.dialogue`), in the
`{{body}}` paragraph's style: a stage mark is a heading, its name bold and centred and kept with the next line
("法庭调查"); a recess a centred line "休庭（10:32—10:47）"; a note an ordinary line "（书记员注：出示证据一）".
Dialogue before the first stage mark stays where it is. Between the bookmarks, so the manifest covers them.
"""

from __future__ import annotations

import copy
import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import docx
from docx.document import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph
from lxml import etree

from workbench import formats
from workbench.record.manifest import (
    DIALOGUE_BOOKMARK,
    MANIFEST_PROPERTY,
    NO_SPEECH,
    Manifest,
    dialogue,
    state_label,
)
from workbench.record.marks import DRAFT_MARK, add_footer_line, add_line_numbers, mark_draft
from workbench.record.ooxml import add_custom_property, bookmark, field, headers_and_footers, order_rpr, run
from workbench.record.template import DEFAULT_TEMPLATE, PLACEHOLDERS, default_template_document
from workbench.speech.transcript import APPROVED_STATES, CorrectionNote, HearingRecord, SignoffNote

log = logging.getLogger("workbench.record.fill")

__all__ = [
    "DIALOGUE_BOOKMARK",
    "MANIFEST_PROPERTY",
    "NO_SPEECH",
    "ExportError",
    "RecordOptions",
    "build_record",
    "content_status",
    "export_docx",
    "footer_line",
    "render_docx",
]
_BLOCKS = frozenset({"panel", "parties", "note", "body", "signatures"})
_FIELDS = {"page": "PAGE", "pages": "NUMPAGES"}
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_PANEL_ROLES = ("审判长", "审判员", "人民陪审员")
_SIGN_LINE = "＿" * 8


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
    """A run of a generated line: `kind` is "text", "speaker" (bold), "time" (small, grey), or a log note's line:
    "stage" (bold: a heading), "note" or "recess" (as text)."""

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
        "draft": "" if record.approved else DRAFT_MARK,
    }


def _body(record: HearingRecord, options: RecordOptions) -> Iterator[_Line]:
    """The dialogue as `manifest.dialogue` has it: what `body_lines` hashes is what the paragraphs hold."""
    for line in dialogue(record, timestamps=options.timestamps):
        yield [_Piece(text, kind) for text, kind in line]


_STEP_LABELS = {
    "checked": "核对",
    "unchecked": "撤回核对",
    "approved": "审批",
    "locked": "锁定归档",
    "reopened": "重新打开",
    "returned": "修改后退回核对",
}
_REQUESTER_KINDS = {"party": "当事人", "lawyer": "诉讼代理人", "member": "审判人员"}
_OUTCOMES = {"pending": "待处理", "accepted": "已采纳", "rejected": "已驳回"}


def _when(value: str) -> str:
    moment = _parse_time(value) if value else None
    return _cn_datetime(moment) if moment else formats.clean_text(value)


def _signoff_lines(notes: tuple[SignoffNote, ...]) -> list[str]:
    clean = formats.clean_text
    lines = []
    for note in notes:
        line = f"{_STEP_LABELS.get(note.step, clean(note.step))}：{clean(note.account)}　{_when(note.at)}"
        if note.reason.strip():  # a lock's note says how the parties signed; every other step's is its reason
            line += f"（{'说明' if note.step == 'locked' else '理由'}：{clean(note.reason.strip())}）"
        lines.append(line)
    return lines


def _correction_lines(note: CorrectionNote) -> list[str]:
    clean = formats.clean_text
    kind = _REQUESTER_KINDS.get(note.requester_kind, clean(note.requester_kind))
    lines = [
        f"第{note.number}号补正申请：申请人{clean(note.requester)}（{kind}），{_when(note.filed_at)}提交。"
        f"理由：{clean(note.reason)}"
    ]
    for start, _end, before, after in note.changes:
        stamp = formats.timestamp(start).split(".")[0]
        lines.append(f"{stamp} 原记录：“{clean(before)}”；申请更正为：“{clean(after)}”")
    outcome = f"处理结果：{_OUTCOMES.get(note.outcome, clean(note.outcome))}"
    if note.decided_by:
        outcome += f"（{clean(note.decided_by)}，{_when(note.decided_at)}）"
    if note.decision_reason.strip():
        outcome += f"。理由：{clean(note.decision_reason.strip())}"
    lines.append(outcome)
    return lines


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


def _styled(rpr: etree._Element | None, kind: str) -> etree._Element | None:
    """The placeholder run's properties, plus bold for a speaker or a stage heading, small grey for a timestamp."""
    if kind in ("text", "note", "recess"):
        return rpr
    out = copy.deepcopy(rpr) if rpr is not None else OxmlElement("w:rPr")
    if kind in ("speaker", "stage"):
        out.append(OxmlElement("w:b"))
        out.append(OxmlElement("w:bCs"))
    else:
        color = OxmlElement("w:color")
        color.set(qn("w:val"), "808080")
        size = OxmlElement("w:sz")
        size.set(qn("w:val"), "20")
        out.extend([color, size])
    order_rpr(out)
    return out


def _first_rpr(p: etree._Element) -> etree._Element | None:
    rpr = p.find(f"{qn('w:r')}/{qn('w:rPr')}")
    return copy.deepcopy(rpr) if rpr is not None else None


def _shape_line(p: etree._Element, line: _Line) -> None:
    """A stage heading centred and kept with the line after it (never alone at a page's foot), a recess centred.
    Through python-docx, which puts w:jc and w:keepNext where the schema orders them in w:pPr."""
    kinds = {piece.kind for piece in line}
    if not kinds & {"stage", "recess"}:
        return
    paragraph = Paragraph(p, None)
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    if "stage" in kinds:
        paragraph.paragraph_format.keep_with_next = True


def _line_paragraph(template_p: etree._Element, rpr: etree._Element | None, line: _Line) -> etree._Element:
    p = OxmlElement("w:p")
    ppr = template_p.find(qn("w:pPr"))
    if ppr is not None:
        p.append(copy.deepcopy(ppr))
    for piece in line:
        p.append(run(_styled(rpr, piece.kind), piece.text))
    _shape_line(p, line)
    return p


def _fill_paragraph(
    p: etree._Element, values: dict[str, str | list[_Line]], made: dict[str, list[etree._Element]] | None = None
) -> set[str]:
    """Replaces the placeholders in one paragraph; returns the names it found; `made` gets each block's paragraphs.

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
            new = _line_paragraph(p, rpr, line)
            p.addprevious(new)
            if made is not None:
                made.setdefault(stripped.group(1), []).append(new)
        p.getparent().remove(p)
        return names
    for r in p.findall(qn("w:r")):
        p.remove(r)
    for hyperlink in p.findall(qn("w:hyperlink")):
        p.remove(hyperlink)
    pos = 0
    for m in _PLACEHOLDER.finditer(full):
        if m.start() > pos:
            p.append(run(rpr, full[pos : m.start()]))
        name = m.group(1)
        if name in _FIELDS:
            p.extend(field(rpr, _FIELDS[name]))
        elif name in values:
            value = values[name]
            text = value if isinstance(value, str) else "\n".join("".join(pc.text for pc in ln) for ln in value)
            p.append(run(rpr, text))
        else:
            # Unknown names stay visible, so a misspelt placeholder shows in the proof, not silently empty.
            log.warning("template placeholder {{%s}} is not one of: %s", name, ", ".join(PLACEHOLDERS))
            p.append(run(rpr, m.group(0)))
        pos = m.end()
    if pos < len(full):
        p.append(run(rpr, full[pos:]))
    return names


def _fill_part(
    root: etree._Element, values: dict[str, str | list[_Line]], made: dict[str, list[etree._Element]] | None = None
) -> set[str]:
    found: set[str] = set()
    for p in list(root.iter(qn("w:p"))):
        found |= _fill_paragraph(p, values, made)
    return found


# --- the record -----------------------------------------------------------------------------------


_CONTENT_STATUS = {"approved": "已审批 / Approved", "locked": "已锁定 / Locked"}
_COMMENTS = {
    "approved": "经书记员核对、法官审批。",
    "locked": "经书记员核对、法官审批，已锁定归档；更正须经补正申请。",
    "checked": "未经审批：书记员已核对，待法官审批；审批前不得作为正式笔录使用。",
}
_DRAFT_COMMENT = "未经审批：语音识别生成的草稿，书记员核对、法官审批前不得作为正式笔录使用。"


def content_status(record: HearingRecord) -> str:
    """The core property "content status": the state; a draft's always holds DRAFT."""
    if record.approved:
        return _CONTENT_STATUS.get(record.state, state_label(record.state))
    if record.state == "checked":
        return f"{DRAFT_MARK}（已核对 checked）"
    return DRAFT_MARK


def footer_line(manifest: Manifest) -> str:
    """ "验证码 ABCD-EFGH-JKLM · 已审批"; before approval the state and 未经审批, as the header mark says."""
    label = state_label(manifest.state)
    return f"验证码 {manifest.code()} · " + (label if manifest.state in APPROVED_STATES else f"{label}（未经审批）")


def _properties(
    doc: Document, record: HearingRecord, values: dict[str, str | list[_Line]], manifest: Manifest | None
) -> None:
    props = doc.core_properties
    props.title = f"{values['court']}庭审笔录" + (f" {values['case_number']}" if values["case_number"] else "")
    props.subject = str(values["case_number"])
    props.category = "庭审笔录"
    props.content_status = content_status(record)
    keywords = ["庭审笔录", state_label(record.state)] + ([] if record.approved else ["draft", "未经审批"])
    if manifest is not None:
        # LibreOffice splits keywords at spaces, commas, colons and semicolons; the code and the token hold none.
        keywords += [f"验证码 {manifest.code()}", manifest.compact()]
    # python-docx refuses over 255 characters (a habit of Office's UI, not in the OPC schema); the compact
    # manifest is longer, so the element text is set directly. Word and LibreOffice read it whole.
    props._element._get_or_add("keywords").text = "; ".join(keywords)
    props.comments = (
        _COMMENTS.get(record.state, _DRAFT_COMMENT) if record.approved or record.state == "checked" else _DRAFT_COMMENT
    ) + f" 音频：{formats.clean_text(Path(record.transcript.file).name)}"
    props.author = str(values["clerk"]) or "workbench"
    props.last_modified_by = "workbench"
    now = datetime.now().replace(microsecond=0)
    props.created = props.created or now
    props.modified = now
    props.revision = max(1, props.revision)


def _add_block(doc: Document, title: str, lines: list[str]) -> None:
    """A titled block at the end of the body (after the signatures), in the template's header style if any."""
    names = {st.name for st in doc.styles}
    heading = doc.add_paragraph()
    if "Record Header" in names:
        heading.style = doc.styles["Record Header"]
    heading.add_run(title).bold = True
    for line in lines:
        para = doc.add_paragraph()
        if "Record Header" in names:
            para.style = doc.styles["Record Header"]
        para._p.append(run(None, line))


def _mark_dialogue(doc: Document, paragraphs: list[etree._Element]) -> None:
    """Bookmark "WorkbenchDialogue" from the first dialogue paragraph to the end of the last."""
    ids = (b.get(qn("w:id"), "") for b in doc.element.body.iter(qn("w:bookmarkStart")))
    used = [int(i) for i in ids if i.isdigit()]
    start, end = bookmark(DIALOGUE_BOOKMARK, max(used, default=-1) + 1)
    first, last = paragraphs[0], paragraphs[-1]
    ppr = first.find(qn("w:pPr"))
    if ppr is not None:
        ppr.addnext(start)
    else:
        first.insert(0, start)
    last.append(end)


def build_record(
    record: HearingRecord, options: RecordOptions | None = None, manifest: Manifest | None = None
) -> Document:
    """The court record as a python-docx Document, from the template in `options` or the default."""
    options = options or RecordOptions()
    if manifest is not None and manifest.state != record.state:
        # The footer and the code would say one state and the draft mark another.
        raise ValueError(f"the manifest says state {manifest.state!r}, the record {record.state!r}")
    template = options.template or (DEFAULT_TEMPLATE if DEFAULT_TEMPLATE.exists() else None)
    if template is None:
        doc = default_template_document()
    else:
        try:
            doc = docx.Document(str(template))
        except Exception as e:  # python-docx raises several kinds (zip, XML, missing part) for one cause
            raise ExportError(
                f"{template}: not a readable Word .docx template ({e}); save it from Word as .docx (not .doc)"
            ) from e
    values = _values(record, options)
    made: dict[str, list[etree._Element]] = {}
    found = _fill_part(doc.element.body, values, made)
    for section in doc.sections:
        for part in headers_and_footers(section):
            _fill_part(part._element, values)
    if "body" not in made:
        if "body" in found:
            log.warning("%s: {{body}} shares its paragraph with other text: the dialogue is appended", template)
        else:
            log.warning("%s has no {{body}} placeholder: the dialogue is appended at the end", template)
        for line in values["body"]:
            assert isinstance(line, list)
            para = doc.add_paragraph()
            for piece in line:
                para._p.append(run(_styled(None, piece.kind), piece.text))
            _shape_line(para._p, line)
            made.setdefault("body", []).append(para._p)
    _mark_dialogue(doc, made["body"])
    if record.corrections:
        lines = [line for note in record.corrections for line in _correction_lines(note)]
        _add_block(doc, "补正记录", lines)
    if record.signoffs:
        _add_block(doc, "核对与审批记录", _signoff_lines(record.signoffs))
    if not record.approved:
        mark_draft(doc)
    if manifest is not None:
        add_footer_line(doc, footer_line(manifest))
        add_custom_property(doc, MANIFEST_PROPERTY, manifest.canonical_json())
    if options.line_numbers:
        add_line_numbers(doc)
    _properties(doc, record, values, manifest)
    return doc


def render_docx(record: HearingRecord, options: RecordOptions | None = None, manifest: Manifest | None = None) -> bytes:
    out = io.BytesIO()
    build_record(record, options, manifest).save(out)
    return out.getvalue()


def export_docx(
    record: HearingRecord, path: Path, options: RecordOptions | None = None, manifest: Manifest | None = None
) -> Path:
    """Writes the court record to `path` (.docx) and returns the path."""
    data = render_docx(record, options, manifest)
    path = Path(path)
    try:
        path.write_bytes(data)
    except OSError as e:
        raise ExportError(f"{path}: cannot write the court record ({e.strerror}); check the folder is writable") from e
    return path
