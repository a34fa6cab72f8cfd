"""The court record (.docx): read back with python-docx, and drawn by LibreOffice (one conversion per session)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from click.testing import CliRunner
from conftest import require_tool
from docx.oxml.ns import qn
from docx.shared import Pt
from hearing_samples import sample_record, transcript_from_reference

from workbench import formats
from workbench.cli import main
from workbench.record import (
    DEFAULT_TEMPLATE,
    DRAFT_MARK,
    NO_SPEECH,
    PLACEHOLDERS,
    ExportError,
    RecordOptions,
    build_default_template,
    build_record,
    export_docx,
    export_zip,
    to_pdf,
)
from workbench.speech.transcript import EngineInfo, HearingRecord, Segment, Transcript

HOSTILE = {
    "control": "控制\x00字符\x07与\x1b转义\x0b\x0c\ufffe\ud800完",
    "emoji": "表情 😀👨‍⚖️⚖️ 结束",
    "long": "长" * 20_000,
    "rtl": "عربي: المحكمة منعقدة — עברית: בית המשפט",
}
TURN_PREFIXES = ("审判长张明：", "原告委托诉讼代理人李华：")


def _hostile_record() -> HearingRecord:
    segs = [Segment(i * 2.0, i * 2.0 + 1.5, text, speaker=f"S{i % 2 + 1}") for i, text in enumerate(HOSTILE.values())]
    transcript = Transcript("hostile.wav", "0" * 64, 10.0, "zh", EngineInfo("test", "none"), segs)
    return HearingRecord(transcript, court="测试\x01法院", case_number="（2024）\x02测1号", clerk="刘洋")


def _empty_record() -> HearingRecord:
    transcript = Transcript("silence.wav", "0" * 64, 30.0, "zh", EngineInfo("test", "none"), [])
    return HearingRecord(transcript, court="北京市朝阳区人民法院", case_number="（2024）京0105民初1号")


def _court_template(path: Path) -> Path:
    """A court's own template: placeholders split over runs, in a table and a footer, no {{draft}}."""
    doc = docx.Document()
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).text = "{{court}}"
    table.cell(0, 1).text = "{{title}}"
    p = doc.add_paragraph()
    for piece in ("案号：{{case", "_number}}，案由：{", "{cause}}，{{unknown_field}}"):
        p.add_run(piece)
    doc.add_paragraph("{{parties}}")
    body = doc.add_paragraph()
    run = body.add_run("{{body}}")
    run.italic = True
    run.font.size = Pt(11)
    doc.add_paragraph("{{signatures}}")
    doc.sections[0].header.paragraphs[0].text = "某某法院专用笔录纸"
    doc.sections[0].footer.paragraphs[0].text = "{{page}}/{{pages}}"
    doc.save(str(path))
    return path


@pytest.fixture(scope="session")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every variant exported once; the tests read them back."""
    out = tmp_path_factory.mktemp("records")
    template = _court_template(out / "court_template.docx")
    sample = sample_record()
    variants = {
        "sample": (sample, RecordOptions()),
        "approved": (sample_record(approved=True), RecordOptions()),
        "checked": (sample_record(state="checked"), RecordOptions()),
        "options": (dataclasses.replace(sample, original_text=True), RecordOptions(True, True)),
        "unlabelled": (sample_record(labels=False), RecordOptions()),
        "empty": (_empty_record(), RecordOptions()),
        "hostile": (_hostile_record(), RecordOptions(line_numbers=True)),
        "template": (sample, RecordOptions(template=template)),
        "jfk": (HearingRecord(transcript_from_reference("asr/en_jfk.flac")), RecordOptions()),
    }
    return {name: export_docx(rec, out / f"{name}.docx", opts) for name, (rec, opts) in variants.items()}


def _texts(path: Path) -> list[str]:
    return [p.text for p in docx.Document(str(path)).paragraphs]


def _turns(path: Path) -> list[str]:
    return [t for t in _texts(path) if t.startswith(TURN_PREFIXES) or t.startswith("S1：") or t.startswith("S2：")]


def _header_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if re.fullmatch(r"word/header\d*\.xml", n))


def _footer_xml(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode() for n in z.namelist() if re.fullmatch(r"word/footer\d*\.xml", n))


def test_header_block(records: dict[str, Path]) -> None:
    texts = _texts(records["sample"])
    assert texts[:2] == ["北京市朝阳区人民法院", "庭 审 笔 录"]
    for line in (
        "时间：2024年3月5日 9时30分至11时10分",
        "地点：第十二法庭",
        "案号：（2024）京0105民初12345号",
        "案由：买卖合同纠纷",
        "审理方式：公开审理",
        "审判长：张明",
        "审判员：王芳",
        "人民陪审员：赵强",
        "书记员：刘洋",
        "原告：北京某某科技有限公司，委托诉讼代理人：李华",
        "被告：陈某",
    ):
        assert line in texts
    assert not any("{{" in t for t in texts)


def test_turns_are_role_labelled_and_merged(records: dict[str, Path]) -> None:
    turns = _turns(records["sample"])
    # Ten RTTM rows, two consecutive ones by the same speaker: nine turns.
    assert len(turns) == 9
    assert turns[0] == "审判长张明：现在开庭。"
    assert turns[1] == "原告委托诉讼代理人李华：审判长好。"
    assert turns[7].startswith("原告委托诉讼代理人李华：有。原告与被告于二〇二三年三月签订买卖合同")
    doc = docx.Document(str(records["sample"]))
    first = next(p for p in doc.paragraphs if p.text == turns[0])
    assert first.runs[0].text == "审判长张明：" and first.runs[0].bold
    assert not first.runs[1].bold
    unlabelled = _turns(records["unlabelled"])
    assert unlabelled[0] == "S1：现在开庭。" and unlabelled[1] == "S2：审判长好。"


def test_signature_block(records: dict[str, Path]) -> None:
    texts = _texts(records["sample"])
    for who in ("原告：北京某某科技有限公司", "委托诉讼代理人：李华", "被告：陈某", "审判长：张明", "书记员：刘洋"):
        assert f"{who}\t签名：" + "＿" * 8 in texts
    assert texts.index("（闭庭）") < texts.index("书记员：刘洋\t签名：" + "＿" * 8)


def test_draft_mark_until_approved(records: dict[str, Path]) -> None:
    assert DRAFT_MARK == "未经审批 / DRAFT"
    draft = docx.Document(str(records["sample"]))
    assert draft.sections[0].header.paragraphs[0].text == DRAFT_MARK
    assert f'string="{DRAFT_MARK}"' in _header_xml(records["sample"])  # the watermark
    assert draft.core_properties.content_status == DRAFT_MARK
    assert "未经审批" in draft.core_properties.comments and "draft" in draft.core_properties.keywords
    # Checked by the clerk is still a draft: the mark stays, the properties say it was checked.
    checked = docx.Document(str(records["checked"]))
    assert checked.sections[0].header.paragraphs[0].text == DRAFT_MARK
    assert checked.core_properties.content_status == f"{DRAFT_MARK}（已核对 checked）"
    assert "待法官审批" in checked.core_properties.comments and "已核对" in checked.core_properties.keywords
    approved = docx.Document(str(records["approved"]))
    assert "DRAFT" not in _header_xml(records["approved"]) and "未经" not in _header_xml(records["approved"])
    assert approved.core_properties.content_status == "已审批 / Approved"
    assert "未经" not in approved.core_properties.comments and "draft" not in approved.core_properties.keywords


def test_page_number_fields(records: dict[str, Path]) -> None:
    footer = docx.Document(str(records["sample"])).sections[0].footer
    instr = [el.text.strip() for el in footer._element.iter(qn("w:instrText"))]
    assert instr == ["PAGE", "NUMPAGES"]
    assert footer.paragraphs[0].text == "第 1 页 共 1 页"  # cached values; Word and LibreOffice recompute
    assert "PAGE" in _footer_xml(records["template"]) and "NUMPAGES" in _footer_xml(records["template"])


def test_east_asian_fonts(records: dict[str, Path]) -> None:
    doc = docx.Document(str(records["sample"]))
    fonts = {s.name: s.element.rPr.rFonts.get(qn("w:eastAsia")) for s in doc.styles if s.name.startswith("Record")}
    assert fonts["Record Turn"] == "仿宋" and fonts["Record Title"] == "宋体"
    with zipfile.ZipFile(records["sample"]) as z:
        table = z.read("word/fontTable.xml").decode()
    assert 'w:name="仿宋"' in table and 'w:val="FangSong"' in table


def test_options(records: dict[str, Path]) -> None:
    path = records["options"]
    turns = [t for t in _texts(path) if t.startswith("[00:")]
    assert turns[0] == "[00:00:06] 审判长张明：现在开庭。"
    assert len(turns) == 9
    doc = docx.Document(str(path))
    ln = doc.sections[0]._sectPr.find(qn("w:lnNumType"))
    assert ln is not None and ln.get(qn("w:restart")) == "newPage"
    assert doc.sections[0].header.paragraphs[0]._p.find(f"{qn('w:pPr')}/{qn('w:suppressLineNumbers')}") is not None
    assert "注：以下为语音识别的原始结果，未经人工校对。" in _texts(path)


def test_empty_transcript_says_so(records: dict[str, Path]) -> None:
    texts = _texts(records["empty"])
    assert NO_SPEECH in texts
    assert "案号：（2024）京0105民初1号" in texts


def test_hostile_text_kept_but_made_safe(records: dict[str, Path]) -> None:
    texts = _texts(records["hostile"])
    assert "S1：控制字符与转义完" in texts
    assert "S2：表情 😀👨‍⚖️⚖️ 结束" in texts
    assert "S1：" + "长" * 20_000 in texts  # one paragraph, intact
    assert "S2：" + HOSTILE["rtl"] in texts
    assert texts[0] == "测试法院" and "案号：（2024）测1号" in texts


def test_court_template(records: dict[str, Path]) -> None:
    doc = docx.Document(str(records["template"]))
    cells = [c.text for c in doc.tables[0].rows[0].cells]
    assert cells == ["北京市朝阳区人民法院", "庭审笔录"]
    texts = [p.text for p in doc.paragraphs]
    assert "案号：（2024）京0105民初12345号，案由：买卖合同纠纷，{{unknown_field}}" in texts
    turn = next(p for p in doc.paragraphs if p.text == "审判长张明：现在开庭。")
    assert turn.runs[1].italic and turn.runs[1].font.size == Pt(11)  # formatted like the {{body}} run
    header = doc.sections[0].header
    assert [p.text for p in header.paragraphs] == [DRAFT_MARK, "某某法院专用笔录纸"]


def test_template_without_body_appends_dialogue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    template = tmp_path / "plain.docx"
    d = docx.Document()
    d.add_paragraph("案号：{{case_number}}")
    d.save(str(template))
    path = export_docx(sample_record(), tmp_path / "out.docx", RecordOptions(template=template))
    assert "no {{body}} placeholder" in caplog.text
    assert _texts(path)[-1] == "审判长张明：下面进行法庭调查，由被告答辩。"


def test_bad_template(tmp_path: Path) -> None:
    bad = tmp_path / "bad.docx"
    bad.write_text("not a docx")
    with pytest.raises(ExportError, match=r"bad\.docx: not a readable Word \.docx template"):
        build_record(sample_record(), RecordOptions(template=bad))


def test_default_template_ships_with_every_placeholder() -> None:
    with zipfile.ZipFile(DEFAULT_TEMPLATE) as z:
        xml = "".join(z.read(n).decode() for n in z.namelist() if n.startswith("word/") and n.endswith(".xml"))
    for name in ("court", "time", "place", "case_number", "cause", "public", "panel", "clerk", "parties", "body"):
        assert "{{" + name + "}}" in xml
    for name in ("signatures", "note", "draft", "page", "pages"):
        assert "{{" + name + "}}" in xml
    assert set(re.findall(r"\{\{(\w+)\}\}", xml)) <= set(PLACEHOLDERS)


def test_default_template_is_what_the_builder_writes(tmp_path: Path) -> None:
    """A change to `build_default_template()` needs the shipped file rebuilt with it, and the other way round."""

    def parts(path: Path) -> dict[str, bytes]:
        with zipfile.ZipFile(path) as z:  # the core properties' created/modified times aside
            return {n: re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", b"", z.read(n)) for n in z.namelist()}

    assert parts(build_default_template(tmp_path / "court_record.docx")) == parts(DEFAULT_TEMPLATE)


def test_export_zip(tmp_path: Path) -> None:
    records = [sample_record(), sample_record(approved=True), _empty_record()]
    path = export_zip(records, tmp_path / "batch.zip", formats_=("docx", "srt"))
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        assert names == [
            "（2024）京0105民初12345号.docx",
            "（2024）京0105民初12345号.srt",
            "（2024）京0105民初12345号-2.docx",
            "（2024）京0105民初12345号-2.srt",
            "（2024）京0105民初1号.docx",
            "（2024）京0105民初1号.srt",
        ]
        z.extract(names[2], tmp_path)
    assert docx.Document(str(tmp_path / names[2])).core_properties.content_status == "已审批 / Approved"
    stream = io.BytesIO()
    export_zip(records[:1], stream, formats_=("txt",))
    with zipfile.ZipFile(stream) as z:
        assert z.namelist() == ["（2024）京0105民初12345号.txt"]
    with pytest.raises(ExportError, match="unknown export format"):
        export_zip(records, tmp_path / "x.zip", formats_=("pdf",))


def test_cli_from_json(tmp_path: Path) -> None:
    record = sample_record()
    source = formats.write("json", record.transcript, tmp_path / "t.json", record.labels)
    runner = CliRunner()
    result = runner.invoke(
        main, ["export", "--from-json", str(source), "--out", str(tmp_path / "r.docx"), "--timestamps"]
    )
    assert result.exit_code == 0, result.output
    assert "[00:00:06] 审判长张明：现在开庭。" in _texts(tmp_path / "r.docx")  # labels carried by the JSON
    result = runner.invoke(
        main, ["export", "--from-json", str(source), "--format", "vtt", "--out", str(tmp_path / "r.vtt")]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.vtt").read_text(encoding="utf-8").startswith("WEBVTT")
    result = runner.invoke(main, ["export", "--out", str(tmp_path / "x.docx")])
    assert result.exit_code == 2 and "--from-json" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"segments": []}))
    result = runner.invoke(main, ["export", "--from-json", str(bad), "--out", str(tmp_path / "x.docx")])
    assert result.exit_code == 1 and "bad.json: not a transcript JSON" in result.output


# --- drawn by LibreOffice ------------------------------------------------------------------------


def _require_libreoffice() -> None:
    require_tool(
        "soffice",
        "pdftoppm",
        "pdftotext",
        "pdfinfo",
        install="apt-get install libreoffice-writer-nogui poppler-utils fonts-noto-cjk (scripts/setup.sh does)",
    )


@pytest.fixture(scope="session")
def pdfs(records: dict[str, Path]) -> dict[str, Path]:
    _require_libreoffice()
    names = ["sample", "approved", "hostile", "empty"]
    converted = to_pdf([records[n] for n in names], records["sample"].parent / "pdf")
    return dict(zip(names, converted, strict=True))


def _pdf_text(pdf: Path, page: int | None = None) -> str:
    pages = ["-f", str(page), "-l", str(page)] if page else []
    text = subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    # pdftotext adds or drops spaces between Chinese and Latin text as it likes: compare without them.
    return re.sub(r"\s+", "", text)


def _pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    return int(re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE).group(1))


def test_libreoffice_draws_the_record(pdfs: dict[str, Path]) -> None:
    pdf = pdfs["sample"]
    assert _pages(pdf) == 2
    page1, page2 = _pdf_text(pdf, 1), _pdf_text(pdf, 2)
    assert "北京市朝阳区人民法院" in page1 and "庭审笔录" in page1
    assert "案号：（2024）京0105民初12345号" in page1
    assert "审判长张明：现在开庭。" in page1
    assert "第1页共2页" in page1 and "第2页共2页" in page2
    assert "未经审批/DRAFT" in page1 and "未经审批/DRAFT" in page2
    assert "书记员：刘洋" in page2 and "签名：" in page2
    png = pdf.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(png)], check=True
    )
    assert png.with_suffix(".png").stat().st_size > 10_000  # a drawn page, not a blank one


def test_libreoffice_approved_and_edge_cases(pdfs: dict[str, Path]) -> None:
    assert "未经审批" not in _pdf_text(pdfs["approved"]) and "DRAFT" not in _pdf_text(pdfs["approved"])
    assert NO_SPEECH in _pdf_text(pdfs["empty"])
    assert "未经审批/DRAFT" in _pdf_text(pdfs["empty"])
    hostile = _pdf_text(pdfs["hostile"])
    assert "表情" in hostile and "控制字符与转义完" in hostile
    assert "בית" in hostile or "תיב" in hostile  # logical or visual order, as the PDF stores it
    assert _pages(pdfs["hostile"]) >= 10  # the 20,000-character turn runs over many pages


def test_cli_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hearing in a real DuckDB store: corrected text by default, --original the recognition, then approved."""
    from workbench.store import Store, audit

    monkeypatch.setenv("WORKBENCH_DB", str(tmp_path / "wb.duckdb"))
    record = sample_record()
    clerk = audit.Actor("tester", "test")
    with Store() as st:
        case = st.add_case(
            record.case_number, cause=record.cause, court=record.court, parties=record.parties, actor=clerk
        )
        hid = st.add_hearing(case.id, courtroom=record.place, clerk=record.clerk, panel=record.panel)
        st.save_transcript(hid, record.transcript)
        st.set_speaker(hid, "S1", role="审判长", name="张明", actor=clerk)
        first = st.segments(hid)[0]
        st.edit_segment(first.id, text="现在开庭！", actor=clerk)
    runner = CliRunner()
    out = tmp_path / "r.docx"
    result = runner.invoke(main, ["export", str(hid), "--out", str(out)])
    assert result.exit_code == 0, result.output
    texts = _texts(out)
    assert "案号：（2024）京0105民初12345号" in texts and "书记员：刘洋" in texts
    assert "审判长张明：现在开庭！" in texts and "S2：审判长好。" in texts
    assert docx.Document(str(out)).sections[0].header.paragraphs[0].text == DRAFT_MARK
    result = runner.invoke(main, ["export", str(hid), "--original", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "审判长张明：现在开庭。" in _texts(out)
    with Store() as st:
        st.check(hid, actor=clerk)
    result = runner.invoke(main, ["export", str(hid), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert DRAFT_MARK in _header_xml(out)  # checked, not yet approved: still a draft
    with Store() as st:
        st.approve(hid, actor=audit.Actor("judge", "test"))
    result = runner.invoke(main, ["export", str(hid), "--out", str(out)])
    assert result.exit_code == 0 and "DRAFT" not in result.output
    assert "DRAFT" not in _header_xml(out)
    with Store() as st:  # each export audited: format and the written file's hash
        exported = st.audit_rows(action=audit.EXPORTED)
    assert len(exported) == 4 and {r.hearing_id for r in exported} == {hid}
    assert exported[0].detail["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert exported[0].detail["format"] == "docx" and exported[2].detail["original"] is True
    result = runner.invoke(main, ["export", "999", "--out", str(out)])
    assert result.exit_code == 1 and "not found or not yours" in result.output


def _outcome(*tools: str, install: str = "") -> tuple[str, str]:
    """What `require_tool` makes of the calling test: passed, failed or skipped, and why."""
    try:
        require_tool(*tools, install=install)
    except pytest.fail.Exception as e:
        return "failed", str(e)
    except pytest.skip.Exception as e:
        return "skipped", str(e)
    return "passed", ""


def test_a_missing_tool_fails_the_test_unless_skips_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A set-up without LibreOffice must turn the run red, not into a green run with skips."""
    monkeypatch.delenv("WORKBENCH_TESTS_ALLOW_SKIPS", raising=False)
    assert _outcome("sh") == ("passed", "")
    state, why = _outcome("sh", "no-such-soffice", install="apt-get install x")
    assert state == "failed" and why.startswith("needs no-such-soffice, not found: apt-get install x"), why
    assert "WORKBENCH_TESTS_ALLOW_SKIPS=1" in why  # and says how a developer may skip instead
    monkeypatch.setenv("WORKBENCH_TESTS_ALLOW_SKIPS", "1")
    state, why = _outcome("no-such-soffice")
    assert state == "skipped" and "no-such-soffice" in why
