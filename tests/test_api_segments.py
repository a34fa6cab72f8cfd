"""Segments, speakers, search, exports and hotwords through the API (real DuckDB, real accounts).

Through `core.dispatch` (the CLI's in-process door) with a real store, as each account in turn: the
answers, the refusals (404 alike for another case's and a missing thing, 403 for a viewer, 409 for a
stale edit, 422 for bad input) and the audit rows; the stale edit also straight on two stores, as two
clerks in two processes would.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docx
import jsonschema
import pytest
from store_samples import CASE, CONSOLE, LINES, OTHER_CASE, court_accounts, hearing

from workbench.accounts import Access, Accounts
from workbench.api import core
from workbench.api.core import ApiError, Call
from workbench.record import DRAFT_MARK
from workbench.store import Store, audit
from workbench.store.records import StaleEdit

OTHER_LINES = [("S1", "现在开庭。"), ("S2", "秘密证人赵飞燕出庭作证。"), ("S3", "被告对鉴定意见有异议。")]
MISSING = "庭审不存在或无权查看 (not found or not yours)"


@dataclass
class World:
    db: Path
    own: int  # a hearing of CASE: wang (clerk), zhou (clerk), zhao (judge), qian (viewer) are members
    other: int  # a hearing of OTHER_CASE: only li (clerk) is a member


@pytest.fixture(scope="module")
def _world_template(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once (six argon2 hashes); each test gets its own copy of the file."""
    db = tmp_path_factory.mktemp("world") / "wb.duckdb"
    with Store(db) as store:
        own = hearing(store, LINES)
        other = hearing(store, OTHER_LINES, case=OTHER_CASE)
        store.set_speaker(other, "S2", role="证人", name="赵飞燕", actor=CONSOLE)
        court_accounts(store)
    return World(db, own, other)


@pytest.fixture
def world(_world_template: World, tmp_path: Path) -> World:
    db = tmp_path / "wb.duckdb"
    shutil.copyfile(_world_template.db, db)
    return World(db, _world_template.own, _world_template.other)


@pytest.fixture
def store(world: World) -> Any:
    with Store(world.db) as s:
        yield s


def access(store: Store, name: str) -> Access:
    return Access(store, Accounts(store).get(name), f"api:test@{name}")


def api(store: Store, who: str, method: str, path: str, query: dict[str, str] | None = None, body: Any = None,
        *, local: bool = True) -> core.Reply:  # fmt: skip
    """One call through the in-process door, its JSON answer checked against the endpoint's own schema."""
    reply = core.dispatch(Call(access(store, who), body=body, local=local), method, path, query)
    ep, _ = core.find(method, path)
    if ep.response is not None:
        jsonschema.validate(reply.data, ep.response)
    return reply


def refused(store: Store, who: str, method: str, path: str, query: dict[str, str] | None = None,
            body: Any = None) -> ApiError:  # fmt: skip
    with pytest.raises(ApiError) as e:
        core.dispatch(Call(access(store, who), body=body, local=True), method, path, query)
    return e.value


def segment_ids(store: Store, hearing_id: int) -> list[int]:
    return [s.id for s in store.segments(hearing_id)]


# --- the stale edit in the store -----------------------------------------------------------------------


def test_two_clerks_edit_one_version_the_second_is_refused_and_the_first_text_stays(world: World) -> None:
    with Store(world.db) as first, Store(world.db) as second:  # two clerks, each with their own store object
        wang, zhou = access(first, "wang"), access(second, "zhou")
        seg = segment_ids(first, world.own)[1]
        loaded = first.segment_version(seg)
        assert loaded == second.segment_version(seg) == 0  # never edited
        first.edit_segment(seg, text="王的修改。", actor=wang.actor, expected_version=loaded)
        with pytest.raises(StaleEdit) as e:
            second.edit_segment(seg, text="周的修改。", actor=zhou.actor, expected_version=loaded)
        row = first.edits(segment_id=seg)[-1]
        at = f"{row.at:%Y-%m-%d %H:%M:%S}"
        assert str(e.value) == f"已被 wang 于 {at} 修改，请重新加载 (changed by wang at {at}, reload)"
        assert second.segment(seg).text == "王的修改。" and first.derived_text(seg) == "王的修改。"
        assert [x.user for x in first.edits(segment_id=seg)] == ["wang"]  # nothing of the refused one
        assert first.segment_version(seg) == row.id
        # reloaded, the second clerk's edit goes through
        second.edit_segment(seg, text="周的修改。", actor=zhou.actor, expected_version=second.segment_version(seg))
        assert first.segment(seg).text == "周的修改。"
        assert first.segment_versions(world.own) == {seg: first.edits(segment_id=seg)[-1].id}


def test_an_edit_without_a_version_is_not_checked_and_speakers_have_versions_too(store: Store, world: World) -> None:
    seg = segment_ids(store, world.own)[0]
    wang = access(store, "wang")
    store.edit_segment(seg, text="一。", actor=wang.actor)
    store.edit_segment(seg, text="二。", actor=wang.actor)  # no version given: as the CLI did before
    assert store.segment(seg).text == "二。"
    assert store.speaker_versions(world.own) == {}
    store.set_speaker(world.own, "S1", name="张三", actor=wang.actor, expected_version=0)
    version = store.speaker_versions(world.own)["S1"]
    with pytest.raises(StaleEdit, match="changed by wang"):
        store.set_speaker(world.own, "S1", name="李四", actor=wang.actor, expected_version=0)
    store.set_speaker(world.own, "S1", role="原告", actor=wang.actor, expected_version=version)
    assert next(s for s in store.speakers(world.own) if s.label == "S1").display() == "原告张三"


# --- segments ----------------------------------------------------------------------------------------


def test_a_clerk_lists_gets_and_patches_segments_with_versions(store: Store, world: World) -> None:
    page = api(store, "wang", "GET", f"/hearings/{world.own}/segments", {"limit": "2"}).data
    assert (page["total"], page["next_offset"], len(page["items"])) == (len(LINES), 2, 2)
    first = page["items"][0]
    assert (first["text"], first["version"], first["edited"]) == (LINES[0][1], 0, False)
    changed = api(store, "wang", "PATCH", f"/segments/{first['id']}", body={"text": "现在开庭。", "version": 0}).data
    assert changed["text"] == "现在开庭。" and changed["edited"] and changed["version"] > 0
    assert changed["text_orig"] == LINES[0][1]
    got = api(store, "zhao", "GET", f"/segments/{first['id']}").data
    assert got == changed
    original = api(store, "zhao", "GET", f"/hearings/{world.own}/segments", {"original": "true"}).data["items"][0]
    assert original["text"] == LINES[0][1] and original["version"] == changed["version"]
    speaker = api(store, "zhao", "PATCH", f"/segments/{first['id']}", body={"speaker": "S3"}).data
    assert (speaker["speaker"], speaker["speaker_orig"], speaker["text"]) == ("S3", "S1", "现在开庭。")
    edits = store.edits(segment_id=first["id"])
    assert [(e.user, e.field) for e in edits] == [("wang", "text"), ("zhao", "speaker")]
    api(store, "wang", "GET", f"/hearings/{world.own}/segments", {"offset": "2"})  # the next page: the same opening
    opened = store.audit_rows(action=audit.HEARING_OPENED)
    assert sorted((r.account, r.detail["via"], r.hearing_id) for r in opened) == [
        ("wang", "api", world.own), ("zhao", "api", world.own)
    ]  # fmt: skip


def test_a_stale_patch_is_refused_with_409_naming_who_and_when(store: Store, world: World) -> None:
    seg = segment_ids(store, world.own)[2]
    loaded = api(store, "wang", "GET", f"/segments/{seg}").data["version"]
    api(store, "zhou", "PATCH", f"/segments/{seg}", body={"text": "周先改了。", "version": loaded})
    e = refused(store, "wang", "PATCH", f"/segments/{seg}", body={"text": "王后改的。", "version": loaded})
    assert (e.status, e.error) == (409, "stale")
    assert "已被 zhou 于 " in e.detail and "(changed by zhou at " in e.detail and e.detail.endswith(", reload)")
    assert store.segment(seg).text == "周先改了。"


def test_another_cases_segment_answers_like_a_missing_one(store: Store, world: World) -> None:
    theirs = segment_ids(store, world.other)[1]
    for method, path, body in (
        ("GET", f"/segments/{theirs}", None),
        ("PATCH", f"/segments/{theirs}", {"text": "改掉。"}),
        ("GET", f"/hearings/{world.other}/segments", None),
        ("GET", f"/hearings/{world.other}/speakers", None),
        ("PATCH", f"/hearings/{world.other}/speakers/S2", {"name": "x"}),
        ("GET", f"/hearings/{world.other}/export", None),
    ):
        e = refused(store, "wang", method, path, body=body)
        assert (e.status, e.detail) == (404, MISSING), (method, path, e.detail)
        assert "赵飞燕" not in e.detail
    for path in ("/segments/987654", "/segments/0", "/hearings/987654/segments", "/hearings/987654/export"):
        e = refused(store, "wang", "GET", path)
        assert (e.status, e.detail) == (404, MISSING), path  # missing: the same words
    assert store.segment(theirs).text == OTHER_LINES[1][1] and store.edits(segment_id=theirs) == []
    assert store.audit_rows(action=audit.EXPORTED) == []


def test_a_viewer_reads_but_may_not_edit(store: Store, world: World) -> None:
    seg = segment_ids(store, world.own)[0]
    assert api(store, "qian", "GET", f"/segments/{seg}").data["text"] == LINES[0][1]
    for path, body in ((f"/segments/{seg}", {"text": "改掉。"}), (f"/hearings/{world.own}/speakers/S1", {"name": "x"})):
        e = refused(store, "qian", "PATCH", path, body=body)
        assert e.status == 403 and "may not edit" in e.detail, e.detail
    assert store.segment(seg).text == LINES[0][1] and store.edits(hearing_id=world.own) == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"text": 5}, "text: 类型不对"),
        ({"text": ["a"]}, "text: 类型不对"),
        ({"text": "长" * 2001}, "text: 最多 2000 个字符"),
        ({"text": "a\x00b"}, "text: 不能含空字符"),
        ({"speaker": ""}, "speaker: 不能为空"),
        ({"speaker": "   "}, "speaker: 不能为空"),
        ({"speaker": "S" * 65}, "speaker: 最多 64 个字符"),
        ({"version": -1, "text": "x"}, "version: 不能为负"),
        ({"version": "3", "text": "x"}, "version: 类型不对"),
        ({"version": True, "text": "x"}, "version: 类型不对"),
        ({}, "give text and/or speaker"),
        ({"txt": "x"}, "txt: 不认识的字段"),
        (["text"], "请求体应为 JSON 对象"),
    ],
)
def test_bad_fields_are_refused_with_422_naming_the_field(store: Store, world: World, body: Any, says: str) -> None:
    seg = segment_ids(store, world.own)[0]
    e = refused(store, "wang", "PATCH", f"/segments/{seg}", body=body)
    assert e.status == 422 and says in e.detail, e.detail
    assert store.edits(segment_id=seg) == []


def test_a_long_recognised_segment_stays_editable_but_not_longer(store: Store, world: World) -> None:
    long_text = "很长的识别结果。" * 300  # 2,400 characters from the recognition, over the 2,000 cap
    hid = hearing(store, [("S1", long_text)])
    seg = segment_ids(store, hid)[0]
    e = refused(store, "root", "PATCH", f"/segments/{seg}", body={"text": long_text + "多"})
    assert e.status == 422 and f"最多 {len(long_text)} 个字符" in e.detail
    assert api(store, "root", "PATCH", f"/segments/{seg}", body={"text": long_text[:-1]}).status == 200


# --- speakers ----------------------------------------------------------------------------------------


def test_speakers_list_and_patch(store: Store, world: World) -> None:
    items = api(store, "zhao", "GET", f"/hearings/{world.own}/speakers").data["items"]
    assert [s["label"] for s in items] == ["S1", "S2", "S3"] and items[0]["version"] == 0
    s3 = api(store, "zhao", "PATCH", f"/hearings/{world.own}/speakers/S3", body={"role": "被告", "name": "张三丰"}).data
    assert (s3["display"], s3["role"], s3["name"]) == ("被告张三丰", "被告", "张三丰") and s3["version"] > 0
    e = refused(store, "wang", "PATCH", f"/hearings/{world.own}/speakers/S3", body={"name": "x", "version": 0})
    assert e.status == 409 and "changed by zhao" in e.detail
    e = refused(store, "wang", "PATCH", f"/hearings/{world.own}/speakers/S9", body={"name": "x"})
    assert e.status == 404 and "no speaker S9" in e.detail
    e = refused(store, "wang", "PATCH", f"/hearings/{world.own}/speakers/S1", body={"name": "名" * 65})
    assert e.status == 422 and "name: 最多 64 个字符" in e.detail
    e = refused(store, "wang", "PATCH", f"/hearings/{world.own}/speakers/S1", body={})
    assert e.status == 422 and "give role and/or name" in e.detail


# --- search ------------------------------------------------------------------------------------------


def test_search_finds_only_the_callers_cases(store: Store, world: World) -> None:
    for query, extra in (
        ("赵飞燕", {}),
        ('"秘密证人"', {}),
        ("燕", {}),  # a single character: the scan
        ("证人", {"role": "证人"}),
        ("作证", {"speaker": "赵飞燕"}),
        ("作证", {"hearing": str(world.other)}),
        ("作证", {"case": OTHER_CASE}),
    ):
        mine = api(store, "wang", "GET", "/search", {"q": query, **extra}).data
        assert (mine["items"], mine["total"]) == ([], 0), (query, mine)
        theirs = api(store, "li", "GET", "/search", {"q": query, **extra}).data
        assert {h["hearing_id"] for h in theirs["items"]} == {world.other}, (query, theirs)
    hits = api(store, "wang", "GET", "/search", {"q": "原告", "limit": "1"}).data
    assert hits["items"][0]["hearing_id"] == world.own and hits["next_offset"] == 1
    assert "【原告】" in hits["items"][0]["snippet_marked"]
    rest = api(store, "wang", "GET", "/search", {"q": "原告", "offset": "1"}).data
    assert len(rest["items"]) == 1 and rest["next_offset"] is None and rest["items"][0] != hits["items"][0]
    rows = [r for r in store.audit_rows(action=audit.SEARCHED) if r.account == "wang"]
    assert len(rows) == 9 and all(r.detail["via"] == "api" for r in rows)
    assert (rows[0].detail["query"], rows[0].detail["offset"]) == ("原告", 1)


def test_search_refuses_bad_parameters(store: Store) -> None:
    for query, says in (
        ({}, "q: 必填"),
        ({"q": "  "}, "q: 不能为空"),
        ({"q": "x" * 201}, "q: 最多 200 个字符"),
        ({"q": "x", "from": "yesterday"}, "from: 应为日期"),
        ({"q": "x", "limit": "0"}, "limit: 1 到 1000"),
        ({"q": "x", "hearing": "one"}, "hearing: 应为 int"),
        ({"q": "x", "sort": "new"}, "sort: 不认识的参数"),
    ):
        e = refused(store, "wang", "GET", "/search", query)
        assert e.status == 422 and says in e.detail, (query, e.detail)


# --- exports -----------------------------------------------------------------------------------------


def _body(reply: core.Reply) -> bytes:
    assert reply.stream is not None and reply.data is None
    return b"".join(reply.stream)


def test_every_format_exports_and_is_audited_with_the_bytes_hash(store: Store, world: World) -> None:
    formats = [f["name"] for f in api(store, "qian", "GET", "/exports/formats").data["items"]]
    assert formats == ["docx", "pdf", "json", "srt", "vtt", "txt", "csv", "rttm"]
    for fmt in [f for f in formats if f != "pdf"]:  # the PDF (LibreOffice, seconds) is tested in test_verify.py
        reply = api(store, "qian", "GET", f"/hearings/{world.own}/export", {"format": fmt})
        body = _body(reply)
        assert reply.filename == f"{CASE}.{fmt}" and reply.media_type.split(";")[0] in (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "application/json",
            "application/x-subrip", "text/vtt", "text/plain", "text/csv",
        )  # fmt: skip
        row = store.audit_rows(action=audit.EXPORTED)[0]
        assert (row.account, row.hearing_id, row.detail["format"], row.detail["via"]) == ("qian", world.own, fmt, "api")
        assert row.detail["sha256"] == hashlib.sha256(body).hexdigest() and row.detail["bytes"] == len(body)
    assert _body(api(store, "qian", "GET", f"/hearings/{world.own}/export", {"format": "vtt"})).startswith(b"WEBVTT")
    assert _body(api(store, "qian", "GET", f"/hearings/{world.own}/export", {"format": "csv"})).startswith(
        "\ufeff".encode()
    )


def test_the_docx_export_is_the_court_record_with_the_corrected_text(store: Store, world: World) -> None:
    seg = segment_ids(store, world.own)[0]
    api(store, "wang", "PATCH", f"/segments/{seg}", body={"text": "现在开庭！"})
    reply = api(store, "wang", "GET", f"/hearings/{world.own}/export", {"timestamps": "true"})
    document = docx.Document(io.BytesIO(_body(reply)))
    texts = "\n".join(p.text for p in document.paragraphs)
    assert "现在开庭！" in texts and "[00:00:00]" in texts
    assert document.sections[0].header.paragraphs[0].text == DRAFT_MARK  # not approved yet
    original = docx.Document(io.BytesIO(_body(api(store, "wang", "GET", f"/hearings/{world.own}/export",
                                                  {"original": "1"}))))  # fmt: skip
    assert LINES[0][1] in "\n".join(p.text for p in original.paragraphs)
    assert store.audit_rows(action=audit.EXPORTED)[0].detail["original"] is True


def test_an_unknown_format_or_a_template_over_http_is_refused(store: Store, world: World, tmp_path: Path) -> None:
    for query, says in (
        ({"format": "doc"}, "format: 应为 docx, pdf, json, srt, vtt, txt, csv, rttm 之一"),
        ({"format": "docx", "template": str(tmp_path / "none.docx")}, "template: "),
        ({"format": "docx", "template": "/etc/passwd"}, "不是 .docx 文件"),
    ):
        e = refused(store, "wang", "GET", f"/hearings/{world.own}/export", query)
        assert e.status == 422 and says in e.detail, e.detail
    template = tmp_path / "court.docx"
    template.write_bytes(b"")
    with pytest.raises(ApiError) as e:  # the HTTP door (local=False) never reads a file the caller names
        core.dispatch(Call(access(store, "wang"), local=False), "GET", f"/hearings/{world.own}/export",
                      {"template": str(template)})  # fmt: skip
    assert e.value.status == 422 and "only the CLI on the server's own shell" in e.value.detail
    assert store.audit_rows(action=audit.EXPORTED) == []


# --- hotwords ----------------------------------------------------------------------------------------


def test_hotwords_global_for_admins_case_lists_for_its_editors(store: Store, world: World) -> None:
    e = refused(store, "wang", "PUT", "/hotwords", body={"words": ["张三丰"]})
    assert e.status == 403 and "only an admin" in e.detail
    put = api(store, "wang", "PUT", "/hotwords", body={"case": CASE, "words": ["张三丰 2", {"term": "借条"}, "张三丰"]})
    assert put.data == {"case": CASE, "words": [{"term": "张三丰", "weight": 2.0}, {"term": "借条", "weight": None}]}
    assert api(store, "qian", "GET", "/hotwords", {"case": CASE}).data == put.data
    e = refused(store, "qian", "PUT", "/hotwords", body={"case": CASE, "words": []})
    assert e.status == 403
    e = refused(store, "wang", "GET", "/hotwords", {"case": OTHER_CASE})
    assert e.status == 404 and "not yours" in e.detail
    e = refused(store, "wang", "PUT", "/hotwords", body={"case": OTHER_CASE, "words": ["x"]})
    assert e.status == 404
    assert api(store, "root", "PUT", "/hotwords", body={"words": ["审判长"]}).data["words"][0]["term"] == "审判长"
    assert api(store, "qian", "GET", "/hotwords").data == {"case": None, "words": [{"term": "审判长", "weight": None}]}
    for body, says in (
        ({"case": CASE}, "words: 必填"),
        ({"case": CASE, "words": "张三"}, "words: 类型不对"),
        ({"case": CASE, "words": [3]}, "words[0]: 应为字符串"),
        ({"case": CASE, "words": [{"term": "x", "weight": "heavy"}]}, "words[0].weight: 应为数字"),
        ({"case": CASE, "words": ["x" * 65]}, "words[0]: 1 到 64 个字符"),
    ):
        e = refused(store, "wang", "PUT", "/hotwords", body=body)
        assert e.status == 422 and says in e.detail, (body, e.detail)
    rows = store.audit_rows(action=audit.HOTWORDS_CHANGED)
    assert [(r.account, r.detail["list"]) for r in rows] == [("root", "global"), ("wang", "case")]


def test_a_zip_of_the_api_files_names_hearings_as_the_batch_export(store: Store, world: World) -> None:
    """The file name the API gives is the hearing's entry in `workbench export`'s .zip (a client zips them)."""
    from workbench.record import export_zip

    reply = api(store, "root", "GET", f"/hearings/{world.other}/export", {"format": "txt"})
    stream = io.BytesIO()
    export_zip([store.hearing_record(world.other)], stream, formats_=("txt",))
    with zipfile.ZipFile(stream) as z:
        assert z.namelist() == [reply.filename] and z.read(reply.filename) == _body(reply)


# --- the CLI verbs, through the API ------------------------------------------------------------------


def cli(world: World, *args: str, as_name: str) -> Any:
    from click.testing import CliRunner

    from workbench.cli import main

    return CliRunner().invoke(main, [*args, "--db", str(world.db), "--as", as_name])


def test_segments_edit_with_an_old_version_is_refused(world: World) -> None:
    with Store(world.db) as store:
        seg = segment_ids(store, world.own)[1]
    out = cli(world, "segments", "edit", str(seg), "--text", "第一次。", "--version", "0", as_name="wang")
    assert out.exit_code == 0 and out.output == f"segment {seg} (S2): 第一次。\n", out.output
    out = cli(world, "segments", "edit", str(seg), "--text", "第二次。", "--version", "0", as_name="zhou")
    assert out.exit_code == 1 and "已被 wang 于 " in out.output and "reload" in out.output, out.output
    with Store(world.db) as store:
        assert store.segment(seg).text == "第一次。"
        version = store.segment_version(seg)
    out = cli(world, "segments", "edit", str(seg), "--speaker", "S1", "--version", str(version), as_name="zhou")
    assert out.exit_code == 0 and out.output == f"segment {seg} (S1): 第一次。\n", out.output
    assert cli(world, "segments", "edit", str(seg), "--text", "x", "--version", "-1", as_name="zhou").exit_code == 2


def test_export_of_two_hearings_zips_the_api_files(world: World, tmp_path: Path) -> None:
    out = tmp_path / "both.zip"
    done = cli(world, "export", str(world.own), str(world.other), "--format", "txt", "--out", str(out), as_name="root")
    assert done.exit_code == 0 and done.output == f"wrote {out}: 2 hearing(s) as txt\n", done.output
    with zipfile.ZipFile(out) as z:
        assert z.namelist() == [f"{CASE}.txt", f"{OTHER_CASE}.txt"]
        assert "秘密证人赵飞燕出庭作证。" in z.read(f"{OTHER_CASE}.txt").decode()
    record = tmp_path / "r.docx"
    done = cli(world, "export", str(world.own), "--out", str(record), "--line-numbers", as_name="qian")
    assert done.exit_code == 0 and f"(1 not approved: marked {DRAFT_MARK})" in done.output, done.output
    with Store(world.db) as store:
        rows = store.audit_rows(action=audit.EXPORTED)
    assert rows[0].account == "qian" and rows[0].detail["sha256"] == hashlib.sha256(record.read_bytes()).hexdigest()
    assert rows[0].detail["line_numbers"] is True
    assert sorted((r.account, r.hearing_id) for r in rows[1:]) == [("root", world.own), ("root", world.other)]
    refused = cli(world, "export", str(world.other), "--out", str(tmp_path / "leak.txt"), as_name="wang")
    assert refused.exit_code == 1 and "not found or not yours" in refused.output
    assert not (tmp_path / "leak.txt").exists()


# --- over HTTP, against a real server --------------------------------------------------------------------


def test_over_http_a_second_browsers_stale_save_is_refused_and_exports_stream(world: World, tmp_path: Path) -> None:
    import json
    import urllib.error
    import urllib.request

    from servers import free_port, start_server, stop_server

    from workbench.accounts.tokens import ApiTokens

    data = tmp_path / "data"
    data.mkdir()
    db = data / "workbench.duckdb"
    shutil.copyfile(world.db, db)
    tokens = {}
    with Store(db) as store:
        for name in ("wang", "zhou", "qian"):
            tokens[name] = ApiTokens(store).create(Accounts(store).get(name), "t", actor=CONSOLE)[1]
        seg = segment_ids(store, world.own)[1]
        theirs = segment_ids(store, world.other)[0]
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_WORKERS": "0"})
    base = f"http://127.0.0.1:{port}/api/v1"

    def call(who: str, method: str, path: str, body: Any = None) -> tuple[int, Any, Any]:
        request = urllib.request.Request(
            base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {tokens[who]}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                raw = r.read()
                is_json = r.headers.get_content_type() == "application/json"
                return r.status, (json.loads(raw) if is_json else raw), r.headers
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), e.headers

    try:
        status, page, _ = call("wang", "GET", f"/hearings/{world.own}/segments")
        assert status == 200 and [s["version"] for s in page["items"]] == [0] * len(LINES)
        jsonschema.validate(page, core.find("GET", f"/hearings/{world.own}/segments")[0].response)
        # two browsers loaded version 0; the first save wins, the second is refused and changes nothing
        status, saved, _ = call("wang", "PATCH", f"/segments/{seg}", {"text": "王先保存。", "version": 0})
        assert status == 200 and saved["version"] > 0
        status, error, _ = call("zhou", "PATCH", f"/segments/{seg}", {"text": "周后保存。", "version": 0})
        assert status == 409 and error["error"] == "stale" and "changed by wang at " in error["detail"], error
        status, got, _ = call("zhou", "GET", f"/segments/{seg}")
        assert (got["text"], got["version"]) == ("王先保存。", saved["version"])
        status, error, _ = call("wang", "GET", f"/segments/{theirs}")
        assert (status, error["detail"]) == (404, MISSING)
        status, error, _ = call("qian", "PATCH", f"/segments/{seg}", {"text": "x"})
        assert status == 403 and "may not edit" in error["detail"]
        status, error, _ = call("wang", "PATCH", f"/segments/{seg}", {"text": 5})
        assert status == 422 and "text: 类型不对" in error["detail"]
        status, hits, _ = call("wang", "GET", "/search?q=" + urllib.parse.quote("赵飞燕"))
        assert (status, hits["items"]) == (200, [])
        status, error, _ = call("wang", "GET", f"/hearings/{world.own}/export?format=doc")
        assert status == 422
        status, body, headers = call("qian", "GET", f"/hearings/{world.own}/export?format=docx")
        assert status == 200 and headers.get_content_type() == MEDIA_DOCX
        assert "attachment" in headers["Content-Disposition"] and ".docx" in headers["Content-Disposition"]
        assert "王先保存。" in "\n".join(p.text for p in docx.Document(io.BytesIO(body)).paragraphs)

        # the CLI through the server: the same answers, the same exit codes
        def remote(who: str, *args: str) -> Any:
            from click.testing import CliRunner

            from workbench.cli import main

            return CliRunner().invoke(main, [*args, "--server", f"http://127.0.0.1:{port}", "--token", tokens[who]])

        out = remote("zhou", "segments", "edit", str(seg), "--text", "周又改。", "--version", "0")
        assert out.exit_code == 1 and "changed by wang at " in out.output, out.output
        txt = tmp_path / "r.txt"
        out = remote("qian", "export", str(world.own), "--format", "txt", "--out", str(txt))
        assert out.exit_code == 0 and out.output == f"wrote {txt}: 1 hearing(s) as txt\n", out.output
        assert "王先保存。" in txt.read_text(encoding="utf-8")
        out = remote("qian", "export", str(world.own), "--out", str(tmp_path / "t.docx"), "--template", str(txt))
        assert out.exit_code == 2 and "the server renders the record with its own template" in out.output
        out = remote("wang", "search", "赵飞燕", "--json")
        assert out.exit_code == 0 and json.loads(out.output) == []
    finally:
        stop_server(proc)
    with Store(db) as store:
        txt_row, docx_row = store.audit_rows(action=audit.EXPORTED)  # newest first
        assert (docx_row.account, docx_row.detail["sha256"]) == ("qian", hashlib.sha256(body).hexdigest())
        assert txt_row.detail["sha256"] == hashlib.sha256(txt.read_bytes()).hexdigest()
        assert [e.user for e in store.edits(segment_id=seg)] == ["wang"]


MEDIA_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
