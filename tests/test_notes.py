"""Stages and log notes (issue 17): the store (each kind, its checks, versions, the lock, audit, sealed parts), the
API (each route as the right and the wrong person), the CLI, search, and the review page's widgets.

Real DuckDB and real accounts (`store_samples.court`: wang and zhou clerks, zhao judge, qian viewer of CASE; li a
clerk of OTHER_CASE only). The API through `core.dispatch` (the CLI's in-process door, the handlers the server
runs), each answer checked against its endpoint's schema; the CLI through CliRunner with `--as`; the widgets
under Streamlit's AppTest.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_calls import access, api, refused
from click.testing import CliRunner
from store_samples import CASE, OTHER_CASE, TESTER, audio_file, court, court_copy
from store_samples import Court as World

from workbench.speech.transcript import STAGES, LogNote
from workbench.store import Locked, StaleEdit, Store, audit, search
from workbench.store import notes as notes_module
from workbench.store.notes import NOTE_TEXT_MAX, STAGE_MAX, NoteError, StoredNote, check_note

MISSING = "庭审不存在或无权查看 (not found or not yours)"
HIDDEN = "【不公开】"
# segment i spans [5 i, 5 i + 4.5) seconds
LINES = [
    ("S1", "现在开庭，请原告陈述诉讼请求。"),
    ("S2", "原告请求判令被告支付货款人民币十二万元。"),
    ("S3", "未成年证人的住址是幸福路八号。"),
    ("S1", "下面进行法庭辩论。"),
]


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    return court(tmp_path_factory.mktemp("notes"), LINES, [("S1", "另一案件的庭审。"), ("S1", "第二段。")])


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def to_locked(store: Store, hid: int) -> None:
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    api(store, "zhao", "POST", f"/hearings/{hid}/approve")
    api(store, "wang", "POST", f"/hearings/{hid}/lock")


def note_rows(store: Store, hid: int) -> list[tuple[Any, ...]]:
    with store.reading() as con:
        return con.execute("SELECT kind, at_s, end_s, text, version FROM log_notes WHERE hearing_id = ? ORDER BY id",
                           [hid]).fetchall()  # fmt: skip


def note_audits(store: Store, hid: int) -> list[dict[str, Any]]:
    return [
        r.detail["log_note"] for r in reversed(store.audit_rows()) if r.hearing_id == hid and "log_note" in r.detail
    ]


# --- the store ---------------------------------------------------------------------------------------------------


def test_each_kind_is_stored_by_time_and_audited(world: World, store: Store) -> None:
    head = store.record_head(world.own)
    recess = store.add_note(world.own, "recess", 12.0, " 合议庭评议 ", end=15.5, actor=TESTER)
    stage = store.add_note(world.own, "stage", 3.0, "法庭调查", actor=TESTER)
    note = store.add_note(world.own, "note", 3.0, "原告出示证据一：借条", actor=TESTER)
    own = store.add_note(world.own, "stage", 0.0, "庭前准备", actor=TESTER)  # the clerk's own name for a stage
    assert recess.text == "合议庭评议" and (recess.at, recess.end, recess.version) == (12.0, 15.5, 1)
    assert recess.created_by == TESTER.account
    # by time; at the same second the stage first (its heading comes before the note)
    assert [n.id for n in store.notes(world.own)] == [own.id, stage.id, note.id, recess.id]
    assert store.notes(world.other) == []
    assert stage.log_note() == LogNote("stage", 3.0, "法庭调查", end=None, id=stage.id, author="tester")
    assert recess.label() == "休庭（00:00:12—00:00:15）：合议庭评议"
    assert note.label() == "笔记：原告出示证据一：借条"
    # each write is a record change: audited in its transaction, the record's head moves
    detail = note_audits(store, world.own)
    assert [(d["op"], d["id"]) for d in detail] == [("added", n.id) for n in (recess, stage, note, own)]
    assert detail[0] == {"op": "added", "id": recess.id, "kind": "recess", "at": 12.0, "end": 15.5,
                              "text": "合议庭评议"}  # fmt: skip
    assert store.record_head(world.own) != head
    assert store.verify_audit().ok


@pytest.mark.parametrize(
    ("kind", "at", "text", "end", "words"),
    [
        ("exhibit", 1.0, "x", None, "kind must be one of stage, note, recess"),
        ("stage", 1.0, "  ", None, "a stage needs its name"),
        ("stage", 1.0, "长" * (STAGE_MAX + 1), None, f"at most {STAGE_MAX} characters"),
        ("note", 1.0, "", None, "a note needs its text"),
        ("note", 1.0, "字" * (NOTE_TEXT_MAX + 1), None, f"at most {NOTE_TEXT_MAX} characters"),
        ("note", -1.0, "x", None, "at least 0"),
        ("note", float("nan"), "x", None, "at least 0"),
        ("note", "soon", "x", None, "must be seconds"),
        ("note", 1.0, "a\x00b", None, "NUL"),
        ("note", 1.0, "x", 5.0, "only a recess has an end"),
        ("recess", 10.0, "", None, "a recess needs its end"),
        ("recess", 10.0, "", 10.0, "must end after it begins"),
        ("recess", 10.0, "", 3.0, "must end after it begins"),
    ],
)
def test_bad_notes_are_refused_naming_why(kind: str, at: Any, text: str, end: Any, words: str) -> None:
    with pytest.raises(NoteError, match=words):
        check_note(kind, at, text, end)


def test_a_hearing_holds_at_most_notes_max_notes(world: World, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk reads a hearing's notes in one page of NOTES_MAX: one more is refused, not silently missing there."""
    assert notes_module.NOTES_MAX == 1000
    monkeypatch.setattr(notes_module, "NOTES_MAX", 3)
    for at in (1.0, 2.0, 3.0):
        store.add_note(world.own, "note", at, f"笔记{at}", actor=TESTER)
    with pytest.raises(NoteError, match="已达上限 3") as e:
        store.add_note(world.own, "note", 4.0, "第四条", actor=TESTER)
    assert "the most it may have is 3" in str(e.value)
    assert len(store.notes(world.own)) == 3
    error = refused(store, "wang", "POST", f"/hearings/{world.own}/notes", {"kind": "note", "at": 5, "text": "x"})
    assert error.status == 422 and "已达上限" in error.detail
    store.add_note(world.other, "note", 1.0, "另一庭审不受影响", actor=TESTER)  # the cap is per hearing


def test_a_note_after_the_recording_is_refused(world: World, store: Store, tmp_path: Path) -> None:
    sha, stored = store.store_audio(audio_file(tmp_path))
    with store.writing() as con:
        store.add_recording(world.own, file_name="a.wav", stored_path=stored, sha256=sha, duration=20.0, format="wav",
                            con=con)  # fmt: skip
    store.add_note(world.own, "note", 20.5, "最后一句", actor=TESTER)  # the clock rounds: within a second of the end
    with pytest.raises(NoteError, match="after the end of the recording"):
        store.add_note(world.own, "recess", 10.0, "", end=45.0, actor=TESTER)
    assert [r[0] for r in note_rows(store, world.own)] == ["note"]


def test_an_update_names_its_version_and_a_stale_one_changes_nothing(world: World, store: Store) -> None:
    note = store.add_note(world.own, "recess", 10.0, "休息", end=12.0, actor=TESTER)
    wang = access(store, "wang").actor
    changed = store.update_note(note.id, version=1, text="合议庭评议", end=14.0, actor=wang)
    assert (changed.text, changed.at, changed.end, changed.version) == ("合议庭评议", 10.0, 14.0, 2)
    with pytest.raises(StaleEdit, match=r"changed by wang at .*version 2 now, yours was 1"):
        store.update_note(note.id, version=1, text="我的", actor=TESTER)
    assert store.note(note.id).text == "合议庭评议"
    assert store.update_note(note.id, version=2, text="合议庭评议", actor=TESTER).version == 2  # nothing changed
    moved = store.update_note(note.id, version=None, at=11.0, actor=TESTER)  # no version: no check (--force)
    assert (moved.at, moved.version) == (11.0, 3)
    with pytest.raises(NoteError, match="must end after it begins"):
        store.update_note(note.id, version=3, at=20.0, actor=TESTER)
    stage = store.add_note(world.own, "stage", 1.0, "法庭调查", actor=TESTER)
    with pytest.raises(NoteError, match="only a recess has an end"):
        store.update_note(stage.id, version=1, end=3.0, actor=TESTER)
    edited = [d for d in note_audits(store, world.own) if d["op"] == "edited"]
    assert edited[0] == {"op": "edited", "id": note.id, "kind": "recess", "version": 2,
                         "text": {"before": "休息", "after": "合议庭评议"},
                         "end": {"before": 12.0, "after": 14.0}}  # fmt: skip
    assert len(edited) == 2


def test_delete_keeps_what_it_was_in_the_audit(world: World, store: Store) -> None:
    note = store.add_note(world.own, "note", 7.0, "被告提出异议", actor=TESTER)
    with pytest.raises(Exception, match="no log note"):
        store.delete_note(note.id, hearing_id=world.other, actor=TESTER)  # another hearing's path: missing
    gone = store.delete_note(note.id, actor=TESTER)
    assert gone.text == "被告提出异议" and store.notes(world.own) == []
    assert note_audits(store, world.own)[-1] == {"op": "deleted", "id": note.id, "kind": "note", "at": 7.0,
                                                "end": None, "text": "被告提出异议",
                                                "created_by": "tester"}  # fmt: skip
    with pytest.raises(Exception, match="no log note"):
        store.note(note.id)


def test_a_locked_record_refuses_every_write_and_a_checked_one_goes_back(world: World, store: Store) -> None:
    note = store.add_note(world.own, "stage", 1.0, "宣布开庭", actor=TESTER)
    api(store, "wang", "POST", f"/hearings/{world.own}/check")
    store.add_note(world.own, "stage", 6.0, "法庭调查", actor=TESTER)
    assert store.hearing(world.own).status == "in review"  # checked no more: the record changed
    assert [s.step for s in store.signoff_steps(world.own)][-1] == "returned"  # the note took the mark away
    to_locked(store, world.own)
    for write in (
        lambda: store.add_note(world.own, "note", 2.0, "x", actor=TESTER),
        lambda: store.update_note(note.id, version=1, text="法庭调查", actor=TESTER),
        lambda: store.delete_note(note.id, actor=TESTER),
    ):
        with pytest.raises(Locked):
            write()
    assert len(note_rows(store, world.own)) == 2


def test_notes_in_a_sealed_part_are_known(world: World, store: Store) -> None:
    inside = store.add_note(world.own, "note", 11.0, "证人住址", actor=TESTER)
    edge = store.add_note(world.own, "note", 10.0, "开始", actor=TESTER)  # a part's start is in it
    after = store.add_note(world.own, "note", 15.0, "之后", actor=TESTER)  # its end is not
    spans = store.add_note(world.own, "recess", 2.0, "", end=12.0, actor=TESTER)  # a recess reaching into it
    store.seal(world.own, 10.0, 15.0, "未成年人", actor=TESTER)
    assert store.sealed_note_ids(world.own) == {inside.id, edge.id, spans.id}
    assert after.id not in store.sealed_note_ids(world.own)


# --- the API -----------------------------------------------------------------------------------------------------


def test_api_add_list_edit_delete_as_a_clerk(world: World, store: Store) -> None:
    base = f"/hearings/{world.own}/notes"
    stage = api(store, "wang", "POST", base, {"kind": "stage", "at": 5, "text": "法庭调查"})
    assert (stage["kind"], stage["at"], stage["text"], stage["version"], stage["created_by"]) == (
        "stage", 5.0, "法庭调查", 1, "wang")  # fmt: skip
    recess = api(store, "zhao", "POST", base, {"kind": "recess", "at": 12, "end": 14.5})  # a recess: reason optional
    assert (recess["end"], recess["text"]) == (14.5, "")
    listed = api(store, "qian", "GET", base)  # a viewer reads
    assert [n["id"] for n in listed["items"]] == [stage["id"], recess["id"]] and listed["total"] == 2
    changed = api(store, "zhou", "PATCH", f"{base}/{stage['id']}", {"text": "举证质证", "version": 1})
    assert (changed["text"], changed["version"]) == ("举证质证", 2)
    stale = refused(store, "wang", "PATCH", f"{base}/{stage['id']}", {"text": "法庭辩论", "version": 1})
    assert (stale.status, stale.error) == (409, "stale") and "version 2 now" in stale.detail
    assert api(store, "wang", "DELETE", f"{base}/{recess['id']}") == {"deleted": recess["id"]}
    assert [n["id"] for n in api(store, "wang", "GET", base)["items"]] == [stage["id"]]
    opened = [r for r in store.audit_rows() if r.action == audit.HEARING_OPENED and r.hearing_id == world.own]
    assert any(r.detail.get("read") == "notes" for r in opened)  # reading the notes is reading the record


def test_api_refuses_the_wrong_person(world: World, store: Store) -> None:
    base = f"/hearings/{world.own}/notes"
    note = api(store, "wang", "POST", base, {"kind": "note", "at": 2, "text": "出示证据一"})
    path = f"{base}/{note['id']}"
    for method, where, body in (("POST", base, {"kind": "note", "at": 3, "text": "x"}),
                                ("PATCH", path, {"text": "y"}), ("DELETE", path, None)):  # fmt: skip
        viewer = refused(store, "qian", method, where, body)  # a member who may only read
        assert (viewer.status, viewer.error) == (403, "forbidden"), (method, viewer.detail)
        other = refused(store, "li", method, where, body)  # a clerk of another case: as a missing hearing
        assert (other.status, other.detail) == (404, MISSING), method
    assert refused(store, "li", "GET", base).detail == MISSING
    assert refused(store, "wang", "GET", "/hearings/999999/notes").detail == MISSING
    # a note of another hearing through this hearing's path: missing, whoever asks
    theirs = api(store, "li", "POST", f"/hearings/{world.other}/notes", {"kind": "note", "at": 1, "text": "他案"})
    for method, body in (("PATCH", {"text": "改"}), ("DELETE", None)):
        wrong = refused(store, "wang", method, f"{base}/{theirs['id']}", body)
        assert wrong.status == 404 and "has no log note" in wrong.detail
    assert refused(store, "wang", "DELETE", f"{base}/424242").status == 404
    assert store.note(theirs["id"]).text == "他案" and store.note(note["id"]).text == "出示证据一"


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ({"kind": "exhibit", "at": 1, "text": "x"}, "bad_field", "kind"),
        ({"kind": "note", "text": "x"}, "missing_field", "at"),
        ({"kind": "note", "at": 1}, "missing_field", "text"),
        ({"kind": "note", "at": -2, "text": "x"}, "bad_field", "at"),
        ({"kind": "note", "at": True, "text": "x"}, "bad_field", "at"),
        ({"kind": "note", "at": 1, "text": "x", "colour": "red"}, "unknown_field", "colour"),
        ({"kind": "note", "at": 1, "text": "x" * (NOTE_TEXT_MAX + 1)}, "bad_field", "at most"),
        ({"kind": "stage", "at": 1, "text": "  "}, "bad_input", "a stage needs its name"),
        ({"kind": "recess", "at": 9, "end": 4}, "bad_input", "must end after it begins"),
        ({"kind": "note", "at": 1, "text": "x", "end": 3}, "bad_input", "only a recess has an end"),
    ],
)
def test_api_bad_bodies_are_422_naming_the_field(store: Store, world: World, body: Any, error: str, words: str) -> None:
    e = refused(store, "wang", "POST", f"/hearings/{world.own}/notes", body)
    assert (e.status, e.error) == (422, error) and words in e.detail, e.detail
    assert note_rows(store, world.own) == []


def test_api_patch_needs_a_change_and_a_locked_record_answers_locked(world: World, store: Store) -> None:
    base = f"/hearings/{world.own}/notes"
    note = api(store, "wang", "POST", base, {"kind": "note", "at": 2, "text": "出示证据一"})
    assert refused(store, "wang", "PATCH", f"{base}/{note['id']}", {"version": 1}).error == "missing_field"
    to_locked(store, world.own)
    for method, where, body in (("POST", base, {"kind": "note", "at": 3, "text": "x"}),
                                ("PATCH", f"{base}/{note['id']}", {"text": "y"}),
                                ("DELETE", f"{base}/{note['id']}", None)):  # fmt: skip
        e = refused(store, "wang", method, where, body)
        assert (e.status, e.error) == (409, "locked"), method
    assert api(store, "qian", "GET", base)["total"] == 1  # still read


def test_api_hides_a_sealed_notes_text_from_a_viewer(world: World, store: Store) -> None:
    base = f"/hearings/{world.own}/notes"
    sealed = api(store, "wang", "POST", base, {"kind": "note", "at": 11, "text": "证人住址：幸福路八号"})
    public = api(store, "wang", "POST", base, {"kind": "stage", "at": 16, "text": "法庭辩论"})
    store.seal(world.own, 10.0, 15.0, "未成年人", actor=access(store, "wang").actor)
    seen = {n["id"]: n for n in api(store, "qian", "GET", base)["items"]}
    assert (seen[sealed["id"]]["text"], seen[sealed["id"]]["sealed"]) == (HIDDEN, True)
    assert (seen[public["id"]]["text"], seen[public["id"]]["sealed"]) == ("法庭辩论", False)
    clerk = {n["id"]: n for n in api(store, "zhou", "GET", base)["items"]}
    assert (clerk[sealed["id"]]["text"], clerk[sealed["id"]]["sealed"]) == ("证人住址：幸福路八号", True)


# --- the CLI -----------------------------------------------------------------------------------------------------


def cli(world: World, *args: str, as_name: str) -> Any:
    return CliRunner().invoke(main_cli(), [*args, "--db", str(world.db), "--as", as_name])


def main_cli() -> Any:
    from workbench.cli import main

    return main


def test_cli_add_list_edit_delete(world: World) -> None:
    hid = str(world.own)

    def ok(*args: str, who: str = "wang") -> str:
        out = cli(world, "notes", *args, as_name=who)
        assert out.exit_code == 0, out.output
        return str(out.output)

    assert "no log notes" in ok("list", hid)
    assert "法庭调查" in ok("add", hid, "--at", "00:00:05", "--stage", "法庭调查")
    ok("add", hid, "--at", "0:12", "--note", "原告出示证据一")
    ok("add", hid, "--at", "14", "--recess", "--until", "00:00:18.5", "--reason", "合议庭评议")
    listed = ok("list", hid, who="qian")
    assert listed.index("法庭调查") < listed.index("原告出示证据一") < listed.index("合议庭评议")
    assert "00:00:14—00:00:18" in listed
    with Store(world.db) as store:
        note_id = next(n.id for n in store.notes(world.own) if n.kind == "note")
    assert "借条" in ok("edit", hid, str(note_id), "--text", "原告出示证据一：借条")
    stale = cli(world, "notes", "edit", hid, str(note_id), "--text", "旧", "--version", "1", as_name="wang")
    assert stale.exit_code == 1 and "version 2 now" in stale.output
    assert "deleted" in ok("delete", hid, str(note_id))
    with Store(world.db) as store:
        assert [n.kind for n in store.notes(world.own)] == ["stage", "recess"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--at", "5"), "give exactly one of"),
        (("--at", "5", "--stage", "法庭调查", "--note", "x"), "give exactly one of"),
        (("--at", "5", "--recess"), "a recess needs --until"),
        (("--at", "5", "--note", "x", "--until", "9"), "only a --recess has an end"),
        (("--at", "5:75", "--note", "x"), "a time is HH:MM:SS"),
    ],
)
def test_cli_bad_options_say_why(world: World, args: tuple[str, ...], words: str) -> None:
    out = cli(world, "notes", "add", str(world.own), *args, as_name="wang")
    assert out.exit_code == 2 and words in out.output, out.output


def test_cli_refuses_the_wrong_person(world: World) -> None:
    viewer = cli(world, "notes", "add", str(world.own), "--at", "5", "--note", "x", as_name="qian")
    assert viewer.exit_code == 1 and "may not edit" in viewer.output
    other = cli(world, "notes", "list", str(world.own), as_name="li")
    assert other.exit_code == 1 and MISSING in other.output


# --- search ------------------------------------------------------------------------------------------------------


def test_search_finds_notes_in_the_accounts_cases_only(world: World, store: Store) -> None:
    store.add_note(world.own, "note", 7.0, "原告出示证据一：借条原件", actor=TESTER)
    store.add_note(world.own, "stage", 16.0, "法庭辩论", actor=TESTER)
    store.add_note(world.own, "note", 12.0, "证人住址 Exhibit B-12", actor=TESTER)
    store.add_note(world.other, "note", 3.0, "被告出示借条复印件", actor=TESTER)
    mine = access(store, "wang").case_ids()
    hits = search.search_notes(store, "借条", case_ids=mine, include_sealed=True)
    assert [(h.hearing_id, h.at, h.kind) for h in hits] == [(world.own, 7.0, "note")]
    assert hits[0].case_number == CASE and hits[0].snippet[hits[0].marks[0][0] : hits[0].marks[0][1]] == "借条"
    everyone = search.search_notes(store, "借条", case_ids=None, include_sealed=True)
    assert {h.case_number for h in everyone} == {CASE, OTHER_CASE}
    assert [h.text for h in search.search_notes(store, "法庭辩论", case_ids=mine, include_sealed=True)] == ["法庭辩论"]
    assert search.search_notes(store, '"exhibit b-12"', case_ids=mine, include_sealed=True)[0].at == 12.0
    assert search.search_notes(store, '"exhibit b-1"', case_ids=mine, include_sealed=True) == []  # whole words
    assert search.search_notes(store, "借条", case=OTHER_CASE, case_ids=mine, include_sealed=True) == []
    assert search.search_notes(store, "借条", case_ids=frozenset(), include_sealed=True) == []
    # more of the words first
    both = search.search_notes(store, "证据 原件 证人", case_ids=mine, include_sealed=True)
    assert [h.at for h in both] == [7.0, 12.0]


def test_search_finds_a_note_written_in_full_width_forms(world: World, store: Store) -> None:
    """The query is normalized (NFKC, lower case) and so is the note's text before it is matched: full-width
    letters and digits, a circled number, a ligature are found by the plain query."""
    store.add_note(world.own, "note", 7.0, "出示证据１：ＡＢＣ合同", actor=TESTER)
    store.add_note(world.own, "note", 9.0, "证人②的陈述（ﬁnal）", actor=TESTER)
    store.add_note(world.own, "note", 11.0, "出示证据：借条", actor=TESTER)
    mine = access(store, "wang").case_ids()

    def found(query: str) -> list[float]:
        return [h.at for h in search.search_notes(store, query, case_ids=mine, include_sealed=True)]

    assert found("abc") == [7.0]
    assert found("ABC 合同") == [7.0]
    assert found('"证据1"') == [7.0]
    assert found("证人2") == [9.0] and found('"证人2的"') == [9.0]
    assert found("final") == [9.0]
    assert found("abcd") == [] and found("ab") == []  # whole Latin words, as on plain text


def test_search_leaves_sealed_notes_out_for_who_may_not_see_them(world: World, store: Store) -> None:
    store.add_note(world.own, "note", 11.0, "证人住址幸福路八号", actor=TESTER)
    store.seal(world.own, 10.0, 15.0, "未成年人", actor=TESTER)
    mine = access(store, "qian").case_ids()
    assert search.search_notes(store, "幸福路", case_ids=mine, include_sealed=False) == []
    assert len(search.search_notes(store, "幸福路", case_ids=mine, include_sealed=True)) == 1


def test_api_and_cli_search_answer_the_notes_of_the_callers_cases_only(world: World, store: Store) -> None:
    """GET /search lists the matching notes beside the segments (first page only), `workbench search` prints them;
    another case's notes never come back, a sealed note not to a viewer."""
    mine = store.add_note(world.own, "note", 7.0, "原告出示证据一：借条原件", actor=TESTER)
    store.add_note(world.own, "note", 11.0, "证人住址幸福路八号 借条", actor=TESTER)
    store.seal(world.own, 10.0, 15.0, "未成年人", actor=TESTER)
    theirs = store.add_note(world.other, "note", 3.0, "被告出示借条复印件", actor=TESTER)
    answer = api(store, "wang", "GET", "/search", query={"q": "借条"})  # checked against the endpoint's schema
    assert (answer["notes"][0]["note_id"], answer["notes"][0]["at"], answer["notes"][0]["kind"]) == (
        mine.id,
        7.0,
        "note",
    )
    assert len(answer["notes"]) == 2 and "【借条】" in answer["notes"][0]["snippet_marked"]
    assert answer["notes"][0]["case"] == CASE and answer["notes"][0]["hearing_id"] == world.own
    assert [n["note_id"] for n in api(store, "li", "GET", "/search", query={"q": "借条"})["notes"]] == [theirs.id]
    assert [n["note_id"] for n in api(store, "qian", "GET", "/search", query={"q": "借条"})["notes"]] == [mine.id]
    assert api(store, "wang", "GET", "/search", query={"q": "借条", "case": OTHER_CASE})["notes"] == []
    assert api(store, "wang", "GET", "/search", query={"q": "借条", "offset": "1"})["notes"] == []
    assert api(store, "wang", "GET", "/search", query={"q": "借条", "role": "原告"})["notes"] == []
    searched = store.audit_rows(account="wang", action=audit.SEARCHED)  # newest first
    assert [row.detail["notes"] for row in searched] == [0, 0, 0, 2]  # role, offset, other case, the first
    out = cli(world, "search", "借条", as_name="wang")
    assert out.exit_code == 0, out.output
    assert f"hearing {world.own} 0:00:07  {CASE}" in out.output and "[笔记] 原告出示证据一：【借条】原件" in out.output
    assert "复印件" not in out.output
    notes = cli(world, "search", "借条", "--notes", "--json", as_name="li")
    assert [n["note_id"] for n in json.loads(notes.output)] == [theirs.id]
    segments = cli(world, "search", "借条", "--json", as_name="li")  # the segments' list, as before
    assert all("segment_id" in h for h in json.loads(segments.output))


# --- the widgets -------------------------------------------------------------------------------------------------


def test_notes_layer_draws_rules_labels_and_recess_bands(world: World, store: Store) -> None:
    import altair as alt
    import pandas as pd

    from workbench.web.notes import next_stage, note_rows, notes_layer, shown_notes

    stage = store.add_note(world.own, "stage", 6.0, "法庭调查", actor=TESTER)
    store.add_note(world.own, "note", 11.0, "证人住址", actor=TESTER)
    store.add_note(world.own, "recess", 12.0, "合议", end=18.0, actor=TESTER)
    store.seal(world.own, 10.0, 11.5, "未成年人", actor=TESTER)
    viewer = access(store, "qian")
    seen = shown_notes(viewer, store.hearing(world.own))
    assert [n.text for n in seen] == ["法庭调查", HIDDEN, "合议"]  # the viewer's chart carries no sealed text
    assert [n.text for n in shown_notes(access(store, "wang"), store.hearing(world.own))][1] == "证人住址"
    rows = note_rows(seen)
    assert rows[0] == {"start": 0.1, "end": 0.1, "t": 6.0, "at": "00:00:06", "kind": "阶段", "label": "法庭调查",
                            "text": "法庭调查"}  # fmt: skip
    assert (rows[2]["start"], rows[2]["end"], rows[2]["label"]) == (0.2, 0.3, "休庭")
    bars = alt.Chart(pd.DataFrame([{"start": 0.0, "end": 0.3, "speaker": "S1"}])).mark_bar().encode(
        x="start:Q", x2="end:Q", y="speaker:N")  # fmt: skip
    spec = alt.layer(bars, notes_layer(seen)).properties(height=alt.Step(26)).to_dict()  # validates against VL
    inner = spec["layer"][1]["layer"]
    assert [layer["mark"]["type"] for layer in inner] == ["rect", "rule", "text"]
    assert len(spec["datasets"]) == 2
    alt.layer(bars, notes_layer([])).to_dict()  # no notes: an empty layer, still a valid chart
    assert next_stage(seen, 0.0) == STAGES[0]
    assert next_stage(seen, 7.0) == "举证质证"  # after 法庭调查
    assert next_stage([stage], 7.0) == "举证质证"
    assert isinstance(seen[0], StoredNote)


def _box_app(db: str, who: str, hearing_id: int) -> None:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store
    from workbench.web.notes import notes_box

    store = Store(db)
    notes_box(store, Access(store, Accounts(store).get(who), "test"), hearing_id, at_hint=65.0)


def test_notes_box_lists_and_adds_for_a_clerk_and_only_lists_for_a_viewer(world: World) -> None:
    from streamlit.testing.v1 import AppTest

    with Store(world.db) as store:
        store.add_note(world.own, "stage", 6.0, "法庭调查", actor=TESTER)
    at = AppTest.from_function(_box_app, args=(str(world.db), "qian", world.own), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("法庭调查" in m.value for m in at.markdown)
    assert not at.button and not at.text_input  # a viewer: the list, no forms

    at = AppTest.from_function(_box_app, args=(str(world.db), "wang", world.own), default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox[0].value == "举证质证"  # the stage after the last one marked before the player's time
    times = [t for t in at.text_input if t.label == "时间 Time"]
    assert times[-1].value == "00:01:05"  # the add form opens at the hint (where the player is)
    next(b for b in at.button if b.label == "添加 Add").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(world.db) as store:
        assert [(n.kind, n.at, n.text, n.created_by) for n in store.notes(world.own)][-1] == (
            "stage", 65.0, "举证质证", "wang")  # fmt: skip


def test_desk_data_offers_the_stages_and_the_keys() -> None:
    from workbench.web.desk_component import SHORTCUTS, desk_data

    data = desk_data(hearing_id=7, recording_id=None, may_edit=True, start_at=None, account="wang")
    assert data["stages"] == list(STAGES) and (data["stage_max"], data["note_max"]) == (STAGE_MAX, NOTE_TEXT_MAX)
    keys = [k for _, rows in SHORTCUTS for k, _ in rows]
    assert {"Alt+S", "Alt+L", "s", "l"} <= set(keys)
    assert len(keys) == len(set(keys)), "a key is listed twice"


def test_notes_box_edits_and_deletes_and_refuses_a_locked_record(world: World) -> None:
    from streamlit.testing.v1 import AppTest

    with Store(world.db) as store:
        note = store.add_note(world.own, "note", 6.0, "出示证据一", actor=TESTER)
        other = store.add_note(world.own, "note", 9.0, "被告异议", actor=TESTER)
    at = AppTest.from_function(_box_app, args=(str(world.db), "zhou", world.own), default_timeout=30).run()
    texts = [t for t in at.text_input if t.label == "内容 Text"]
    assert [t.value for t in texts] == ["出示证据一", "被告异议"]  # each note's edit form, in its popover
    texts[0].set_value("出示证据一：借条")
    save = [b for b in at.button if b.label == "保存 Save"]
    save[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(world.db) as store:
        changed = store.note(note.id)
        assert (changed.text, changed.version) == ("出示证据一：借条", 2)
    next(b for b in at.button if b.key == f"note_delete_{other.id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    with Store(world.db) as store:
        assert [n.id for n in store.notes(world.own)] == [note.id]
        to_locked(store, world.own)
    at = AppTest.from_function(_box_app, args=(str(world.db), "zhou", world.own), default_timeout=30).run()
    assert not at.button and not at.text_input  # locked: the list only
    assert any("出示证据一：借条" in m.value for m in at.markdown)
