"""The record by stage (issue 17): the clerk's log notes in the exported court record, real DuckDB and real
accounts. The notes are put into `log_notes` with SQL (the notes helper's store API is written at the same time);
`Store.hearing_record` reads them. A stage mark is a heading, a note "（书记员注：……）" and a recess "休庭（…—…）"
(wall-clock with the hearing's start, offsets without), each at its time among the dialogue lines; every note
touching a sealed part is left out, a stage mark too; redaction reaches the notes' text and the case's roster;
a fresh export with notes verifies, and a changed heading or note is named by `verify`; a note written after the
export is listed as a change; the PDF carries the headings too (one LibreOffice conversion).
"""

from __future__ import annotations

import dataclasses
import io
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import require_tool
from store_samples import Court as World
from store_samples import court, court_copy

from workbench.accounts import Access, Accounts, NotYours
from workbench.issuing import NOT_ISSUED, NOTE_CHANGE_WORDS, issue, preview_redactions, verify
from workbench.record import RecordOptions, render_docx
from workbench.record.evidence import read_evidence
from workbench.record.manifest import body_lines, note_line, visible_notes
from workbench.record.sealing import seal
from workbench.speech.transcript import HearingRecord, LogNote
from workbench.store import Store, audit

MOBILE = "13812345678"
# Segments every 5 s (store_samples.transcript): 0, 5, 10, 15, 20, 25 — each 4.5 s long.
LINES = [
    ("S1", "现在开庭，核对当事人身份。"),
    ("S1", "请原告陈述诉讼请求。"),
    ("S2", "原告请求判令被告归还借款。"),
    ("S3", "被告对借条的真实性有异议。"),
    ("S1", "下面进行法庭辩论。"),
    ("S2", "原告坚持诉讼请求。"),
]
NOTES: list[tuple[str, float, str, float | None]] = [
    ("note", 5.0, "原告出示证据一：借条原件", None),  # between S1's two segments: the turn is cut in two there
    ("stage", 10.0, "法庭调查", None),  # at the moment S2 speaks: heads that line
    ("recess", 16.0, "合议庭评议", 1936.0),
    ("stage", 20.0, "法庭辩论", None),
]


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    return court(tmp_path_factory.mktemp("stages"), LINES, [("S1", "另一案件的庭审。")])


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def access(store: Store, name: str) -> Access:
    return Access(store, Accounts(store).get(name), f"test@{name}")


def add_notes(store: Store, hearing_id: int, notes: list[tuple[str, float, str, float | None]]) -> list[int]:
    """The notes as rows of log_notes, written with SQL; their ids."""
    ids = []
    with store.writing() as con:
        for kind, at, text, end in notes:
            row = con.execute(
                "INSERT INTO log_notes (hearing_id, kind, at_s, end_s, text, created_by) VALUES (?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                [hearing_id, kind, at, end, text, "wang"],
            ).fetchone()
            ids.append(int(row[0]))
    return ids


def document_xml(docx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        return z.read("word/document.xml").decode("utf-8")


def changed_in_document(docx: bytes, old: str, new: str) -> bytes:
    """The same .docx with `old` → `new` once inside word/document.xml, all else as is."""
    src = zipfile.ZipFile(io.BytesIO(docx))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                assert text.count(old) == 1, f"{old!r} should be in one w:t"
                data = text.replace(old, new).encode("utf-8")
            dst.writestr(info, data)
    return out.getvalue()


def docx_of(store: Store, who: str, hid: int, **options: Any) -> bytes:
    return issue(access(store, who), hid, "docx", RecordOptions(**options)).body


# --- the layout ------------------------------------------------------------------------------------------


def test_the_store_reads_the_notes_by_time_and_only_the_hearings_own(store: Store, world: World) -> None:
    later, earlier, same_time = add_notes(
        store, world.own, [("note", 9.0, "后记", None), ("stage", 2.0, "宣布开庭", None), ("note", 9.0, "同时", None)]
    )
    add_notes(store, world.other, [("note", 1.0, "另一庭审的笔记", None)])
    notes = store.hearing_record(world.own).notes
    assert [(n.id, n.kind, n.at, n.text, n.end, n.author) for n in notes] == [
        (earlier, "stage", 2.0, "宣布开庭", None, "wang"),
        (later, "note", 9.0, "后记", None, "wang"),
        (same_time, "note", 9.0, "同时", None, "wang"),  # one time: in the order made
    ]
    assert [n.text for n in store.hearing_record(world.other).notes] == ["另一庭审的笔记"]


def test_headings_notes_and_recess_lines_stand_at_their_times(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES)
    record = store.hearing_record(world.own)
    assert body_lines(record, RecordOptions(timestamps=True)) == [
        "[00:00:00] S1：现在开庭，核对当事人身份。",  # dialogue before the first mark stays where it is
        "[00:00:05] （书记员注：原告出示证据一：借条原件）",
        "[00:00:05] S1：请原告陈述诉讼请求。",  # S1's turn goes on after the note
        "[00:00:10] 法庭调查",
        "[00:00:10] S2：原告请求判令被告归还借款。",
        "[00:00:15] S3：被告对借条的真实性有异议。",
        "[00:00:16] 休庭（00:00:16—00:32:16，事由：合议庭评议）",  # no start time: offsets into the recording
        "[00:00:20] 法庭辩论",
        "[00:00:20] S1：下面进行法庭辩论。",
        "[00:00:25] S2：原告坚持诉讼请求。",
    ]
    # Without the notes, S1's two segments are one turn, as before issue 17.
    assert body_lines(HearingRecord(record.transcript))[0] == "S1：现在开庭，核对当事人身份。请原告陈述诉讼请求。"


def test_a_recess_is_in_wall_clock_time_when_the_hearing_start_is_known(store: Store, world: World) -> None:
    store.update_hearing(world.own, starts_at=datetime(2024, 3, 5, 9, 30), actor=access(store, "wang").actor)
    add_notes(store, world.own, [("recess", 1920.0, "", 2820.0), ("recess", 3600.0, "等待证人", 3660.5)])
    record = store.hearing_record(world.own)
    assert [note_line(record, n) for n in record.notes] == [
        ("休庭（10:02—10:17）", "recess"),
        ("休庭（10:30—10:31，事由：等待证人）", "recess"),
    ]


def test_a_note_after_the_last_segment_and_notes_without_speech(store: Store, world: World) -> None:
    add_notes(store, world.own, [("stage", 40.0, "宣判", None), ("note", 41.0, "多行\n笔记\t内容", None)])
    lines = body_lines(store.hearing_record(world.own))
    assert lines[-2:] == ["宣判", "（书记员注：多行 笔记 内容）"]  # after the dialogue; a note is one line
    silent = dataclasses.replace(store.transcript(world.own), segments=[])
    empty = HearingRecord(silent, notes=(LogNote("stage", 0.0, "宣布开庭"),))
    assert body_lines(empty) == ["宣布开庭"]


def test_the_docx_holds_the_headings_bold_and_centred_between_the_bookmarks(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES)
    record = store.hearing_record(world.own)
    data = render_docx(record, RecordOptions())
    evidence = read_evidence(data, "r.docx")
    assert evidence.lines == body_lines(record, RecordOptions())  # what the manifest hashes is what the file shows
    import docx

    paragraphs = {p.text: p for p in docx.Document(io.BytesIO(data)).paragraphs}
    heading = paragraphs["法庭调查"]
    assert heading.alignment == 1 and heading.paragraph_format.keep_with_next  # WD_ALIGN_PARAGRAPH.CENTER
    assert all(r.bold for r in heading.runs) and heading.style.name == "Record Turn"
    recess = paragraphs["休庭（00:00:16—00:32:16，事由：合议庭评议）"]
    assert recess.alignment == 1 and not any(r.bold for r in recess.runs)
    note = paragraphs["（书记员注：原告出示证据一：借条原件）"]
    assert note.alignment != 1 and not any(r.bold for r in note.runs)
    turn = paragraphs["S2：原告请求判令被告归还借款。"]
    assert turn.alignment != 1 and turn.runs[0].bold  # the dialogue as before


# --- sealed parts ---------------------------------------------------------------------------------------


def test_every_note_touching_a_sealed_part_is_left_out_a_stage_mark_too(store: Store, world: World) -> None:
    zhao = access(store, "zhao")
    store.seal(world.own, 10.0, 15.0, "涉及证人隐私", actor=zhao.actor)  # segment 2: 10.0–14.5
    add_notes(store, world.own, [
        ("stage", 11.0, "举证质证", None),  # one of STAGES: left out as the API, desk and search hide it
        ("stage", 12.0, "询问证人王五", None),  # the clerk's own words
        ("note", 13.0, f"证人电话{MOBILE}", None),
        ("recess", 14.0, "证人休息", 16.0),  # overlaps the part
        ("note", 16.0, "证人退庭", None),
    ])  # fmt: skip
    issued = issue(zhao, world.own, "docx", RecordOptions(timestamps=True))
    xml = document_xml(issued.body)
    for hidden in ("王五", MOBILE, "证人休息", "原告请求判令", "举证质证"):
        assert hidden not in xml, hidden
    lines = read_evidence(issued.body, "r.docx").lines
    assert lines is not None
    at = lines.index("[00:00:10] 【不公开审理部分 00:00:10—00:00:15 已略去。理由：涉及证人隐私】")
    assert lines[at + 1 : at + 3] == [
        "[00:00:15] S3：被告对借条的真实性有异议。",
        "[00:00:16] （书记员注：证人退庭）",
    ]
    assert verify(zhao, issued.body, "sealed.docx").ok
    # The preview shows nothing of a sealed note either.
    assert [r for r in preview_redactions(zhao, world.own, "publication") if r.where.startswith("note:")] == []
    # What the export shows is what a viewer sees through the API (`Store.sealed_note_ids`).
    record = store.hearing_record(world.own)
    sealed = seal(record, [(10.0, 15.0, "涉及证人隐私")])
    shown = {n.id for n in visible_notes(sealed)}
    assert shown == {n.id for n in record.notes} - store.sealed_note_ids(world.own)
    # Sealing twice (a record sealed already) changes nothing more.
    assert visible_notes(sealed) == visible_notes(HearingRecord(sealed.transcript, notes=visible_notes(sealed)))


def test_a_stage_and_a_note_at_one_second_come_stage_first_everywhere(store: Store, world: World) -> None:
    """The note made first, the stage after, at one time: the stage heads it in the store's list, the record's
    notes and the exported lines alike."""
    note_id, stage_id = add_notes(
        store, world.own, [("note", 10.0, "出示证据二", None), ("stage", 10.0, "举证质证", None)]
    )
    assert [n.id for n in store.notes(world.own)] == [stage_id, note_id]
    record = store.hearing_record(world.own)
    assert [n.id for n in record.notes] == [stage_id, note_id]
    assert [n.id for n in visible_notes(dataclasses.replace(record, notes=record.notes[::-1]))] == [stage_id, note_id]
    lines = read_evidence(docx_of(store, "wang", world.own), "r.docx").lines
    assert lines is not None
    at = lines.index("举证质证")
    assert lines[at + 1] == "（书记员注：出示证据二）"


# --- redaction ------------------------------------------------------------------------------------------


def test_redaction_reaches_the_notes_and_keep_leaves_one(store: Store, world: World) -> None:
    wang = access(store, "wang")
    [note_id] = add_notes(store, world.own, [("note", 7.0, f"原告补充联系电话{MOBILE}", None)])
    found = [r for r in preview_redactions(wang, world.own, "publication") if r.where == f"note:{note_id}"]
    assert [(r.kind, r.text, r.segment_start) for r in found] == [("mobile", MOBILE, 7.0)]
    redacted = issue(wang, world.own, "docx", RecordOptions(), redact="publication")
    xml = document_xml(redacted.body)
    assert MOBILE not in xml and "（书记员注：原告补充联系电话×××）" in xml
    assert verify(wang, redacted.body, "published.docx").ok  # verify redacts the notes as the export did
    kept = issue(wang, world.own, "docx", RecordOptions(), redact="publication", keep=[found[0].id])
    assert MOBILE in document_xml(kept.body)
    assert verify(wang, kept.body, "kept.docx").ok
    assert MOBILE in store.hearing_record(world.own).notes[0].text  # the stored note never changes


def test_a_roster_witness_named_only_in_a_note_and_the_dialogue_is_masked(store: Store, world: World) -> None:
    """A criminal case: the witness 周七 is on the case's roster only (no party list, no speaker name): the
    publication profile masks the name in the note and in what was said (SPC 2016 art. 8)."""
    wang = access(store, "wang")
    hearing = store.hearing(world.own)
    with store.writing() as con:
        con.execute("UPDATE cases SET number = ?, cause = ? WHERE id = ?", ["（2024）沪0115刑初5678号", "故意伤害罪",
                                                                           hearing.case_id])  # fmt: skip
        con.execute(
            "INSERT INTO case_participants (case_id, role, name, seat, created_by) VALUES (?, ?, ?, ?, ?)",
            [hearing.case_id, "证人", "周七", "证人席", "wang"],
        )
        con.execute(
            "UPDATE segments SET text = ? WHERE hearing_id = ? AND start_s = 15.0", ["证人周七，请陈述。", world.own]
        )
    [note_id] = add_notes(store, world.own, [("note", 7.0, "证人周七出庭", None)])
    assert store.hearing_record(world.own).roster == (("证人", "周七"),)
    found = {r.where: r.replacement for r in preview_redactions(wang, world.own, "publication") if r.kind == "name"}
    assert found[f"note:{note_id}"] == "周某" and "周某" in found.values()
    redacted = issue(wang, world.own, "docx", RecordOptions(), redact="publication")
    xml = document_xml(redacted.body)
    assert "周七" not in xml and "（书记员注：证人周某出庭）" in xml and "证人周某，请陈述。" in xml
    assert verify(wang, redacted.body, "published.docx").ok
    assert "周七" in document_xml(docx_of(store, "wang", world.own))  # unredacted: the name as said


# --- verify -----------------------------------------------------------------------------------------------


def test_a_fresh_export_with_notes_verifies_with_and_without_timestamps(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES)
    for timestamps in (False, True):
        data = docx_of(store, "wang", world.own, timestamps=timestamps)
        report = verify(access(store, "zhao"), data, "r.docx")
        assert report.ok, report.findings
    # The recognition as it came (original): the clerk's marks are not recognition, they stand in it too.
    original = issue(access(store, "wang"), world.own, "docx", RecordOptions(), original=True).body
    assert "法庭调查" in document_xml(original) and verify(access(store, "wang"), original, "o.docx").ok


@pytest.mark.parametrize(
    ("old", "new", "line", "theirs", "ours"),
    [
        ("法庭调查", "法庭辩论", "第4行 00:00:10", "「法庭辩论」", "「法庭调查」"),  # a heading changed
        ("借条原件", "借条复印件", "第2行 00:00:05", "「（书记员注：原告出示证据一：借条复印件）」", "原件）」"),
        ("合议庭评议", "当事人和解", "第7行 00:00:16", "事由：当事人和解）」", "事由：合议庭评议）」"),
    ],
)
def test_a_changed_heading_note_or_recess_is_named_by_its_line(
    store: Store, world: World, old: str, new: str, line: str, theirs: str, ours: str
) -> None:
    add_notes(store, world.own, NOTES)
    forged = changed_in_document(docx_of(store, "wang", world.own), old, new)
    report = verify(access(store, "wang"), forged, "forged.docx")
    assert not report.ok
    text = "\n".join(report.findings)
    assert "笔录正文与签发时不同" in text, text
    [finding] = [f for f in report.findings if f.startswith("第")]
    said, says = finding.split("笔录为")
    assert finding.startswith(line) and theirs in said and ours in says, finding


def test_a_heading_removed_from_the_file_is_found(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES)
    data = docx_of(store, "wang", world.own)
    xml = document_xml(data)
    start = xml.rindex("<w:p>", 0, xml.index("法庭辩论</w:t>"))
    end = xml.index("</w:p>", start) + len("</w:p>")
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            dst.writestr(info, (xml[:start] + xml[end:]).encode() if info.filename == "word/document.xml" else body)
    report = verify(access(store, "wang"), out.getvalue(), "cut.docx")
    named = [f for f in report.findings if f.startswith("第8行") and "「法庭辩论」" in f]
    assert not report.ok and named, report.findings


def test_a_note_written_after_the_export_is_listed_as_a_change(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES[:2])
    data = docx_of(store, "wang", world.own)
    [note_id] = add_notes(store, world.own, [("note", 22.0, "被告当庭提交答辩状", None)])
    # What the notes store writes with a note (store/notes.py): a HEARING_CHANGED row naming the note.
    zhou = access(store, "zhou")
    store.record(zhou.actor, audit.HEARING_CHANGED, hearing_id=world.own,
                 detail={"log_note": {"op": "added", "id": note_id}})  # fmt: skip
    report = verify(access(store, "wang"), data, "old.docx")
    assert not report.ok
    text = "\n".join(report.findings)
    assert "笔录内容在导出后已修改" in text and f"1 处{NOTE_CHANGE_WORDS} by zhou" in text, text
    fresh = docx_of(store, "wang", world.own)
    assert "（书记员注：被告当庭提交答辩状）" in document_xml(fresh) and verify(access(store, "wang"), fresh).ok


# --- who may ----------------------------------------------------------------------------------------------


def test_another_cases_clerk_gets_nothing_of_the_notes(store: Store, world: World) -> None:
    add_notes(store, world.own, NOTES)
    data = docx_of(store, "wang", world.own)
    li = access(store, "li")  # a clerk of the other case only
    report = verify(li, data, "r.docx")
    assert not report.ok and report.findings == [NOT_ISSUED] and report.hearing_id is None
    with pytest.raises(NotYours):
        issue(li, world.own, "docx", RecordOptions())
    with pytest.raises(NotYours):
        preview_redactions(li, world.own, "publication")


# --- the PDF ----------------------------------------------------------------------------------------------


def test_the_pdf_carries_the_headings_and_notes(store: Store, world: World, tmp_path: Path) -> None:
    require_tool("soffice", "pdftotext", install="apt-get install libreoffice-writer-nogui poppler-utils")
    add_notes(store, world.own, NOTES)
    issued = issue(access(store, "wang"), world.own, "pdf", RecordOptions())  # the one conversion of this file
    assert verify(access(store, "wang"), issued.body, "r.pdf").ok
    pdf = tmp_path / "r.pdf"
    pdf.write_bytes(issued.body)
    text = subprocess.run([shutil.which("pdftotext") or "pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout  # fmt: skip
    flat = "".join(text.split())
    for expected in ("法庭调查", "法庭辩论", "（书记员注：原告出示证据一：借条原件）", "休庭（00:00:16—00:32:16"):
        assert expected in flat, expected
    assert flat.index("法庭调查") < flat.index("原告请求判令") < flat.index("法庭辩论")
