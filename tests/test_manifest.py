"""The record a court can sign: manifest and code, dialogue bookmarks, evidence read back, sealing, appendix, PDF/A.

LibreOffice runs once for the whole module (the `pdf` fixture); everything else reads the .docx bytes.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import subprocess
import time
import zipfile
from pathlib import Path

import docx
import pytest
from conftest import require_tool
from hearing_samples import sample_record

from workbench import formats
from workbench.record import (
    DRAFT_MARK,
    NO_SPEECH,
    Manifest,
    RecordOptions,
    body_lines,
    docx_to_pdf_bytes,
    read_evidence,
    render_docx,
    seal,
    text_sha256,
)
from workbench.record.sealing import SEALED_TEXT, placeholder_text
from workbench.speech.transcript import (
    CorrectionNote,
    EngineInfo,
    HearingRecord,
    Segment,
    SignoffNote,
    Transcript,
    Word,
)

CODE = re.compile(r"^[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$")
OPTIONS = {"original": False, "timestamps": False, "line_numbers": False, "redact": "none", "kept": [], "sealed": 0}


def _manifest(record: HearingRecord, options: RecordOptions | None = None, fmt: str = "docx") -> Manifest:
    lines = body_lines(record, options)
    return Manifest(
        hearing_id=record.hearing_id or 0,
        case_number=record.case_number,
        state=record.state,
        audio_sha256="ab" * 32,
        text_sha256=text_sha256(lines),
        lines=len(lines),
        edits_head="f" * 64,
        exported_at="2024-03-06T10:00:00+08:00",
        exporter="liuyang",
        format=fmt,
        options=dict(OPTIONS, timestamps=bool(options and options.timestamps)),
    )


def _signed_record() -> HearingRecord:
    """Locked, with its sign-off steps and two correction requests (one accepted, one rejected)."""
    return dataclasses.replace(
        sample_record(state="locked"),
        signoffs=(
            SignoffNote("checked", "liuyang", "2024-03-05T12:00:00"),
            SignoffNote("approved", "zhangming", "2024-03-05T15:30:00"),
            SignoffNote("locked", "liuyang", "2024-03-05T16:00:00", "归档"),
        ),
        corrections=(
            CorrectionNote(
                1, "李华", "lawyer", "金额听写有误", "2024-03-08T09:00:00",
                ((20.5, 25.0, "货款十万元", "货款十五万元"),), "accepted", "zhangming", "2024-03-08T14:00:00",
                "经核对录音属实",
            ),
            CorrectionNote(
                2, "陈某", "party", "我没有这么说", "2024-03-09T09:00:00",
                ((30.0, 34.0, "我同意", "我不同意"),), "rejected", "zhangming", "2024-03-09T11:00:00", "与录音不符",
            ),
        ),
    )  # fmt: skip


def _parts(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {n: z.read(n) for n in z.namelist()}


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, blob in parts.items():
            z.writestr(name, blob)
    return out.getvalue()


@pytest.fixture(scope="module")
def signed() -> tuple[HearingRecord, Manifest, bytes]:
    record = _signed_record()
    manifest = _manifest(record)
    return record, manifest, render_docx(record, None, manifest)


# --- the manifest and its code --------------------------------------------------------------------


def test_code_is_stable_and_changes_with_any_field() -> None:
    manifest = _manifest(sample_record(approved=True))
    assert CODE.match(manifest.code())
    assert manifest.code() == Manifest.from_dict(json.loads(json.dumps(manifest.to_dict()))).code()
    assert manifest.code() == Manifest.from_compact(manifest.compact()).code()
    assert dataclasses.replace(manifest, state="locked").code() != manifest.code()
    assert dataclasses.replace(manifest, options=dict(OPTIONS, kept=["s1:0:name"])).code() != manifest.code()
    assert manifest.to_dict()["version"] == 1 and manifest.to_dict()["options"]["kept"] == []


def test_manifest_from_bad_dicts_names_the_field() -> None:
    good = _manifest(sample_record()).to_dict()
    with pytest.raises(ValueError, match="lacks text_sha256"):
        Manifest.from_dict({k: v for k, v in good.items() if k != "text_sha256"})
    with pytest.raises(ValueError, match="'lines' should be int"):
        Manifest.from_dict(dict(good, lines="9"))
    with pytest.raises(ValueError, match="does not know: extra"):
        Manifest.from_dict(dict(good, extra=1))
    with pytest.raises(ValueError, match="damaged"):
        Manifest.from_compact("WBM1.notbase64!!")


def test_text_sha256_is_of_the_joined_lines() -> None:
    import hashlib

    assert text_sha256(["甲", "乙"]) == hashlib.sha256("甲\n乙".encode()).hexdigest()
    assert body_lines(HearingRecord(Transcript("x.wav", "", 1.0, "zh", EngineInfo("t", "m")))) == [NO_SPEECH]


# --- the .docx carries it --------------------------------------------------------------------------


def test_record_with_a_manifest_opens_and_carries_it(signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    _, manifest, data = signed
    document = docx.Document(io.BytesIO(data))  # python-docx opens it
    parts = _parts(data)
    types = parts["[Content_Types].xml"].decode()
    custom_type = "application/vnd.openxmlformats-officedocument.custom-properties+xml"
    assert f'PartName="/docProps/custom.xml" ContentType="{custom_type}"' in types
    assert "relationships/custom-properties" in parts["_rels/.rels"].decode()
    custom = parts["docProps/custom.xml"].decode()
    value = re.search(r'name="WorkbenchManifest"><vt:lpwstr>(.*?)</vt:lpwstr>', custom).group(1)
    assert Manifest.from_dict(json.loads(value.replace("&quot;", '"').replace("&amp;", "&"))) == manifest
    keywords = document.core_properties.keywords
    assert f"验证码 {manifest.code()}" in keywords and manifest.compact() in keywords
    evidence = read_evidence(data, "r.docx")
    assert evidence.kind == "docx" and evidence.problems == [] and evidence.manifest == manifest
    assert evidence.code == manifest.code()


def test_every_footer_shows_the_code(tmp_path: Path, signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    _, manifest, data = signed
    footer = docx.Document(io.BytesIO(data)).sections[0].footer
    assert footer.paragraphs[-1].text == f"验证码 {manifest.code()} · 已锁定"
    # A court template with its own first-page and even-page footers and a second section: all of them.
    template = docx.Document()
    template.add_paragraph("{{body}}")
    template.settings.odd_and_even_pages_header_footer = True
    first = template.sections[0]
    first.different_first_page_header_footer = True
    first.first_page_footer.paragraphs[0].text = "首页页脚"
    first.even_page_footer.paragraphs[0].text = "偶数页页脚"
    template.add_section()
    template.sections[1].footer.is_linked_to_previous = False
    template.sections[1].footer.paragraphs[0].text = "第二节页脚"
    template.save(str(tmp_path / "t.docx"))
    draft = sample_record(state="checked")
    out = render_docx(draft, RecordOptions(template=tmp_path / "t.docx"), _manifest(draft))
    footers = {n: b.decode() for n, b in _parts(out).items() if re.fullmatch(r"word/footer\d+\.xml", n)}
    assert len(footers) == 4
    line = f"验证码 {_manifest(draft).code()} · 已核对（未经审批）"
    assert all(line in xml for xml in footers.values()), footers


def test_body_lines_are_what_the_file_holds(signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    record, _, data = signed
    lines = read_evidence(data).lines
    assert lines == body_lines(record) and len(lines) == 9
    assert lines[0] == "审判长张明：现在开庭。"
    paragraphs = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    start = paragraphs.index(lines[0])
    assert paragraphs[start : start + len(lines)] == lines  # exactly those paragraphs, in order
    # Timestamps, tabs and line breaks inside a turn, and the empty record, read back the same.
    segs = [
        Segment(0.0, 1.0, "第一行\n第二行\t制表", "S1"),
        Segment(61.0, 62.0, "“引号” & <尖括号>", "S2"),
        Segment(3725.0, 3726.0, "  空格  在两边  ", None),
    ]
    odd = HearingRecord(Transcript("o.wav", "", 4000.0, "zh", EngineInfo("t", "m"), segs))
    options = RecordOptions(timestamps=True, line_numbers=True)
    assert read_evidence(render_docx(odd, options)).lines == body_lines(odd, options)
    assert body_lines(odd, options)[2] == "[01:02:05] 空格  在两边"
    empty = HearingRecord(Transcript("e.wav", "", 1.0, "zh", EngineInfo("t", "m")))
    assert read_evidence(render_docx(empty)).lines == [NO_SPEECH]


def test_one_changed_character_in_the_dialogue_shows(signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    _, manifest, data = signed
    parts = _parts(data)
    xml = parts["word/document.xml"].decode()
    assert xml.count("现在开庭。") == 1
    parts["word/document.xml"] = xml.replace("现在开庭。", "现在闭庭。").encode()
    tampered = read_evidence(_zip(parts))
    assert tampered.manifest == manifest  # the manifest is untouched ...
    assert tampered.lines[0] == "审判长张明：现在闭庭。"  # ... but the text is not what it hashes
    assert text_sha256(tampered.lines) != manifest.text_sha256
    assert text_sha256(read_evidence(data).lines) == manifest.text_sha256


def test_evidence_says_what_is_wrong(signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    _, manifest, data = signed
    assert "not a zip" in read_evidence(b"hello", "x.docx").problems[0]
    assert "neither a .docx nor a .pdf" in read_evidence(b"hello", "x.txt").problems[0]
    assert "not a Word document" in read_evidence(_zip({"a.txt": b"x"}), "x.docx").problems[0]
    plain = read_evidence(render_docx(sample_record()))
    assert plain.manifest is None and plain.lines == body_lines(sample_record())
    assert any("no manifest" in p for p in plain.problems)
    parts = _parts(data)
    no_marks = dict(parts)
    no_marks["word/document.xml"] = re.sub(rb"<w:bookmark(Start|End)[^>]*/>", b"", parts["word/document.xml"])
    broken = read_evidence(_zip(no_marks))
    assert broken.lines is None and any("bookmark is missing" in p for p in broken.problems)
    assert broken.manifest == manifest
    stripped = {k: v for k, v in parts.items() if k != "docProps/custom.xml"}
    from_keywords = read_evidence(_zip(stripped))
    assert from_keywords.manifest == manifest and any("read from the keywords" in p for p in from_keywords.problems)
    # Word may cut a custom property at 255 characters when it re-saves: the keywords (and footers) still name it.
    custom = parts["docProps/custom.xml"].decode()
    value = re.search(r'name="WorkbenchManifest"><vt:lpwstr>(.*?)</vt:lpwstr>', custom).group(1)
    assert len(value) > 255
    cut = dict(parts, **{"docProps/custom.xml": custom.replace(value, value[:255]).encode()})
    resaved = read_evidence(_zip(cut))
    assert resaved.manifest == manifest and resaved.code == manifest.code()
    assert any("cut at 255" in p for p in resaved.problems)
    assert any("read from the keywords" in p for p in resaved.problems)
    bad_xml = dict(parts, **{"word/document.xml": b"<w:document"})
    assert any("not well-formed" in p for p in read_evidence(_zip(bad_xml)).problems)
    other_code = dict(parts)
    for name in [n for n in parts if n.startswith("word/footer")]:
        other_code[name] = parts[name].replace(manifest.code().encode(), b"AAAA-BBBB-CCCC")
    assert any("footer code differs" in p for p in read_evidence(_zip(other_code)).problems)
    for junk in (b"", b"PK\x03\x04garbage", b"%PDF-1.7 nothing"):
        read_evidence(junk)  # never raises


def test_reading_a_three_hour_record_is_fast() -> None:
    text = "陈述事实与理由。" * 6
    segs = [Segment(i * 3.6, i * 3.6 + 3.0, f"第{i}段发言，{text}", f"S{i % 4 + 1}") for i in range(3000)]
    record = HearingRecord(Transcript("long.wav", "", 10_800.0, "zh", EngineInfo("t", "m"), segs))
    options = RecordOptions(timestamps=True)
    data = render_docx(record, options, _manifest(record, options))
    started = time.perf_counter()
    evidence = read_evidence(data)
    elapsed = time.perf_counter() - started
    assert len(evidence.lines) == 3000 and evidence.manifest is not None
    assert text_sha256(evidence.lines) == evidence.manifest.text_sha256
    assert elapsed < 0.3, f"read_evidence took {elapsed:.3f} s"


# --- what the record shows ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "draft"),
    [("transcribed", True), ("in review", True), ("checked", True), ("approved", False), ("locked", False)],
)
def test_draft_mark_until_approved(state: str, draft: bool) -> None:
    record = sample_record(state=state)
    assert record.approved is not draft
    document = docx.Document(io.BytesIO(render_docx(record)))
    header = "".join(p.text for p in document.sections[0].header.paragraphs)
    assert (DRAFT_MARK in header) is draft
    assert ("DRAFT" in document.core_properties.content_status) is draft


def test_appendix_lists_corrections_and_signoffs(signed: tuple[HearingRecord, Manifest, bytes]) -> None:
    _, _, data = signed
    texts = [p.text for p in docx.Document(io.BytesIO(data)).paragraphs]
    signatures = texts.index("书记员：刘洋\t签名：" + "＿" * 8)
    appendix = texts.index("补正记录")
    assert signatures < appendix  # after the dialogue and the signatures, outside the bookmarked lines
    assert "第1号补正申请：申请人李华（诉讼代理人），2024年3月8日 9时00分提交。理由：金额听写有误" in texts
    assert "00:00:20 原记录：“货款十万元”；申请更正为：“货款十五万元”" in texts
    assert "处理结果：已采纳（zhangming，2024年3月8日 14时00分）。理由：经核对录音属实" in texts
    assert "处理结果：已驳回（zhangming，2024年3月9日 11时00分）。理由：与录音不符" in texts
    signoff = texts.index("核对与审批记录")
    assert texts[signoff + 1 : signoff + 4] == [
        "核对：liuyang　2024年3月5日 12时00分",
        "审批：zhangming　2024年3月5日 15时30分",
        "锁定归档：liuyang　2024年3月5日 16时00分（说明：归档）",
    ]
    plain = [p.text for p in docx.Document(io.BytesIO(render_docx(sample_record()))).paragraphs]
    assert "补正记录" not in plain and "核对与审批记录" not in plain


# --- sealed parts ---------------------------------------------------------------------------------


def test_sealing_replaces_overlapping_segments_by_one_line_per_part() -> None:
    segs = [
        Segment(0.0, 10.0, "公开部分一", "S1"),
        Segment(595.0, 605.0, "跨越开始的一段", "S2", [Word(595.0, 600.0, "跨越"), Word(600.0, 605.0, "开始")]),
        Segment(700.0, 710.0, "涉及隐私的陈述", "S1"),
        Segment(1199.0, 1201.0, "跨越结束", "S2"),
        Segment(1201.0, 1210.0, "公开部分二", "S1"),
        Segment(2000.0, 2010.0, "另一不公开段落", "S2"),
        Segment(3000.0, 3010.0, "最后公开", "S1"),
    ]
    record = dataclasses.replace(
        sample_record(),
        transcript=Transcript("s.wav", "", 4000.0, "zh", EngineInfo("t", "m"), segs),
        corrections=(CorrectionNote(1, "陈某", "party", "理由", "2024-03-08T09:00:00",
                                    ((700.0, 710.0, "涉及隐私的陈述", "更正后的隐私"),
                                     (595.0, 605.0, "跨越开始的一段", "跨越开始的更正"),  # starts before the part
                                     (0.0, 10.0, "公开部分一", "公开更正"),
                                     (1201.0, 1210.0, "公开部分二", "公开二更正")),  # touches the end: not sealed
                                    "pending"),),
    )  # fmt: skip
    parts = [(600.0, 1200.0, "涉及个人隐私"), (1995.0, 2015.0, "涉及商业秘密"), (2500.0, 2600.0, "未成年人")]
    sealed = seal(record, parts)
    texts = [s.text for s in sealed.transcript.segments]
    assert texts == [
        "公开部分一",
        "【不公开审理部分 00:10:00—00:20:00 已略去。理由：涉及个人隐私】",
        "公开部分二",
        "【不公开审理部分 00:33:15—00:33:35 已略去。理由：涉及商业秘密】",
        placeholder_text(2500.0, 2600.0, "未成年人"),  # over silence: the line still shows the gap
        "最后公开",
    ]
    assert all(s.speaker is None and not s.words for s in sealed.transcript.segments if s.text.startswith("【"))
    assert record.transcript.segments == segs  # the original is untouched
    assert sealed.corrections[0].changes == (
        (700.0, 710.0, SEALED_TEXT, SEALED_TEXT),
        (595.0, 605.0, SEALED_TEXT, SEALED_TEXT),  # overlapping at all is enough, as in the dialogue
        (0.0, 10.0, "公开部分一", "公开更正"),
        (1201.0, 1210.0, "公开部分二", "公开二更正"),
    )
    lines = body_lines(sealed)
    assert lines[1] == "【不公开审理部分 00:10:00—00:20:00 已略去。理由：涉及个人隐私】"
    assert len(lines) == 6  # two placeholders next to each other stay two paragraphs
    data = render_docx(sealed)
    xml = _parts(data)["word/document.xml"].decode()
    for secret in ("跨越", "隐私的陈述", "另一不公开", "更正后的隐私", "跨越开始的更正"):
        assert secret not in xml
    assert "公开更正" in xml and "公开二更正" in xml  # the changes outside every part stay in the appendix
    assert read_evidence(data).lines == lines
    with pytest.raises(ValueError, match="start < end"):
        seal(record, [(10.0, 5.0, "x")])
    assert seal(record, []) is record


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_cells_that_would_run_as_formulas_get_an_apostrophe() -> None:
    hostile = ['=HYPERLINK("http://x","点击")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "正常 = 文本", "a-b"]
    segs = [Segment(i, i + 1.0, text, "S1") for i, text in enumerate(hostile)]
    transcript = Transcript("c.wav", "", 10.0, "zh", EngineInfo("t", "m"), segs)
    from workbench.speech.transcript import SpeakerLabel

    written = formats.write_csv(transcript, {"S1": SpeakerLabel("=cmd", "-x")})
    rows = list(csv.reader(io.StringIO(written, newline="")))
    texts = [row[7] for row in rows[1:]]
    assert texts == ["'" + t for t in hostile[:5]] + ["'\n=1"] + hostile[6:]  # a lone CR would end the row
    assert rows[1][4:7] == ["'=cmd", "'-x", "'=cmd-x"]
    assert rows[1][1] == "0.000"  # numbers are left as numbers


# --- PDF/A, drawn by LibreOffice once --------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf(signed: tuple[HearingRecord, Manifest, bytes]) -> bytes:
    require_tool("soffice", "pdftotext", install="apt-get install libreoffice-writer-nogui poppler-utils")
    record, _, _ = signed
    manifest = dataclasses.replace(_manifest(record), format="pdf")
    return docx_to_pdf_bytes(render_docx(record, None, manifest))


def test_pdfa_carries_the_code_in_its_xmp(
    pdf: bytes, tmp_path: Path, signed: tuple[HearingRecord, Manifest, bytes]
) -> None:
    record, _, _ = signed
    manifest = dataclasses.replace(_manifest(record), format="pdf")
    xmp = re.search(rb"<x:xmpmeta.*?</x:xmpmeta>", pdf, re.S).group(0).decode()
    assert "<pdfaid:part>2</pdfaid:part>" in xmp and "<pdfaid:conformance>B</pdfaid:conformance>" in xmp
    assert manifest.code() in xmp
    evidence = read_evidence(pdf, "r.pdf")
    assert evidence.kind == "pdf" and evidence.lines is None and evidence.problems == []
    assert evidence.manifest == manifest and evidence.code == manifest.code()
    (tmp_path / "r.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "r.pdf"), "-"], capture_output=True, text=True, check=True)
    flat = re.sub(r"\s+", "", text.stdout)
    assert flat.count(f"验证码{manifest.code()}·已锁定") >= 2  # every page's footer
    assert "补正记录" in flat and "DRAFT" not in flat
    # A PDF that is not a workbench export says so, and a tampered keyword token is caught.
    assert any("no manifest" in p for p in read_evidence(pdf.replace(b"WBM1.", b"XXXX."), "r.pdf").problems)


def test_a_template_keeps_its_own_custom_properties(tmp_path: Path) -> None:
    from workbench.record.ooxml import add_custom_property

    template = docx.Document()
    template.add_paragraph("{{body}}")
    add_custom_property(template, "CourtFormNumber", "民事-12")
    add_custom_property(template, "WorkbenchManifest", "stale value from an old export")
    template.save(str(tmp_path / "t.docx"))
    record = sample_record(approved=True)
    manifest = _manifest(record)
    data = render_docx(record, RecordOptions(template=tmp_path / "t.docx"), manifest)
    custom = _parts(data)["docProps/custom.xml"].decode()
    assert "CourtFormNumber" in custom and "民事-12" in custom and "stale value" not in custom
    assert custom.count('name="WorkbenchManifest"') == 1 and re.findall(r'pid="(\d+)"', custom) == ["2", "3"]
    assert read_evidence(data).manifest == manifest and read_evidence(data).problems == []


def test_a_manifest_must_match_the_record() -> None:
    record = sample_record(state="checked")
    with pytest.raises(ValueError, match="manifest says state 'approved', the record 'checked'"):
        render_docx(record, None, dataclasses.replace(_manifest(record), state="approved"))
    with pytest.raises(ValueError, match="format should be one of docx, pdf"):
        dataclasses.replace(_manifest(record), format="odt")


def test_a_plain_pdf_is_read_from_its_information_dictionary() -> None:
    """Without XMP (not PDF/A, or rewritten), the keywords in the info dictionary, as LibreOffice writes them."""
    manifest = _manifest(sample_record(approved=True), fmt="pdf")
    keywords = f"庭审笔录, 已审批, 验证码, {manifest.code()}, {manifest.compact()}"
    hexed = (b"\xfe\xff" + keywords.encode("utf-16-be")).hex().upper().encode()
    fake = b"%PDF-1.6\n1 0 obj\n<</Title(x)/Keywords<" + hexed + b">/Creator(Writer)>>\nendobj\n%%EOF\n"
    evidence = read_evidence(fake, "plain.pdf")
    assert evidence.manifest == manifest and evidence.code == manifest.code() and evidence.problems == []
    literal = b"%PDF-1.4\n<</Keywords(" + f"验证码 {manifest.code()} {manifest.compact()}".encode("latin-1", "ignore")
    assert read_evidence(literal + b")>>", "p.pdf").manifest == manifest
    assert any("no manifest" in p for p in read_evidence(b"%PDF-1.4\n%%EOF", "e.pdf").problems)
