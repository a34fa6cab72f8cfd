"""Verifying an exported record (`workbench.issuing.verify`, `POST /records/verify`, `workbench verify FILE`), real
DuckDB and real accounts: a fresh export matches; one character changed inside the .docx XML fails, naming the
line and both texts; an edit in the store since is listed; a code never issued here and a file of a case the
caller may not see get the same answer; garbage gets a clear problem; a PDF export verifies (one LibreOffice
conversion); the CLI's exit codes; the route over real HTTP as the wrong person, unsigned and too large.
"""

from __future__ import annotations

import io
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
import pytest
import requests
from click.testing import CliRunner
from conftest import require_tool
from servers import free_port, make_token, start_server, stop_server
from store_samples import CASE, court, court_copy
from store_samples import Court as World

from workbench.accounts import Access, Accounts
from workbench.api import core
from workbench.api.core import Call
from workbench.api.exports import VERIFY_MAX_BYTES
from workbench.cli import main
from workbench.cli.verify import verify_cmd
from workbench.issuing import CHANGED_SINCE_CAVEAT, NOT_ISSUED, issue, verify
from workbench.record import RecordOptions, render_docx
from workbench.record.manifest import Manifest
from workbench.store import Store

LINES = [
    ("S1", "现在开庭，请原告陈述诉讼请求。"),
    ("S2", "原告的联系地址已经提交法庭。"),
    ("S3", "被告对借条的真实性有异议。"),
]


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    return court(tmp_path_factory.mktemp("verify"), LINES, [("S1", "另一案件的庭审。")])


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def access(store: Store, name: str) -> Access:
    return Access(store, Accounts(store).get(name), f"test@{name}")


def docx_of(store: Store, who: str, hid: int, **options: Any) -> bytes:
    return issue(access(store, who), hid, "docx", RecordOptions(**options)).body


def changed_in_document(docx: bytes, old: str, new: str) -> bytes:
    """The same .docx with `old` → `new` once inside word/document.xml (a w:t of the dialogue), all else as is."""
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


# --- verify() ---------------------------------------------------------------------------------------------


def test_a_fresh_export_verifies(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)
    report = verify(access(store, "zhao"), data, "r.docx")  # anyone of the case, not only the exporter
    assert report.ok, report.findings
    assert report.findings == [] and report.kind == "docx" and report.hearing_id == world.own
    assert report.exporter == "wang" and report.exported_state == report.state_now == "transcribed"
    assert report.code == store.audit_rows(action="exported")[0].detail["code"] and report.exported_at


def test_one_character_changed_in_the_xml_fails_naming_the_line_and_both_texts(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)
    forged = changed_in_document(data, "联系地址", "联络地址")
    report = verify(access(store, "wang"), forged, "forged.docx")
    assert not report.ok
    text = "\n".join(report.findings)
    assert "文件字节与签发时不同" in text and "笔录正文与签发时不同" in text
    [line] = [f for f in report.findings if f.startswith("第2行")]
    assert (
        "00:00:05" in line
        and "原告的联络地址" in line.split("笔录为")[0]
        and "原告的联系地址" in line.split("笔录为")[1]
    )
    assert "录音" not in text and "状态已变" not in text  # only what differs is named


def test_one_character_changed_outside_the_dialogue_is_named_by_its_paragraph(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)
    forged = changed_in_document(data, "1234号", "1235号")  # the case number in the record's header block
    report = verify(access(store, "wang"), forged, "forged.docx")
    assert not report.ok
    text = "\n".join(report.findings)
    assert "但笔录正文与签发时一致" in text
    [paragraph] = [f for f in report.findings if f.startswith("正文 (body)第")]
    assert (
        "文件中为「案号：（2024）京0105民初1235号」" in paragraph
        and "笔录为「案号：（2024）京0105民初1234号」" in paragraph
    )
    # a file rewritten with the same text (another zip) names no paragraph: the record is made again exactly
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    rezipped = verify(access(store, "wang"), out.getvalue(), "rezipped.docx")
    assert not rezipped.ok and [f for f in rezipped.findings if "段：" in f] == []


def test_after_an_edit_the_old_file_says_the_record_changed_and_lists_the_edit(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)
    seg = store.segments(world.own)[2]
    store.edit_segment(seg.id, text="被告对借条的真实性没有异议。", actor=access(store, "zhou").actor)
    report = verify(access(store, "wang"), data, "r.docx")
    assert not report.ok
    text = "\n".join(report.findings)
    assert "笔录内容在导出后已修改" in text and "1 处修改 (edits) by zhou" in text
    assert "文件字节" not in text  # the file itself is as issued: it is the record that moved on


def test_an_accepted_correction_on_a_locked_record_is_listed(store: Store, world: World) -> None:
    zhao, wang = access(store, "zhao"), access(store, "wang")
    store.check(world.own, actor=wang.actor)
    store.approve(world.own, actor=zhao.actor)
    store.lock(world.own, actor=wang.actor)
    data = docx_of(store, "wang", world.own)
    seg = store.segments(world.own)[1]
    request = store.request_correction(world.own, [(seg.id, "原告的联系地址已于庭前提交法庭。")], requester="李华",
                                       requester_kind="lawyer", reason="漏记", actor=wang.actor)  # fmt: skip
    store.decide_correction(request.id, True, "与录音一致", actor=zhao.actor)
    report = verify(wang, data, "locked.docx")
    assert not report.ok and report.exported_state == report.state_now == "locked"
    text = "\n".join(report.findings)
    assert f"补正申请 #{request.id} 已采纳：1 处修改 by zhao" in text, text
    assert "状态已变" not in text


def test_a_changed_line_after_an_edit_is_named_with_the_caveat(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)
    forged = changed_in_document(data, "联系地址", "联络地址")
    seg = store.segments(world.own)[0]
    store.edit_segment(seg.id, text="现在开庭。", actor=access(store, "wang").actor)
    findings = verify(access(store, "wang"), forged, "f.docx").findings
    assert CHANGED_SINCE_CAVEAT in findings
    assert [f[:3] for f in findings if f.startswith("第")] == ["第1行", "第2行"]  # the edit and the forgery


def test_a_code_never_issued_here(store: Store, world: World) -> None:
    record = store.hearing_record(world.own)
    fake = Manifest(world.own, CASE, "transcribed", "0" * 64, "0" * 64, 3, "", "2026-01-01T00:00:00+08:00", "wang",
                    "docx", {"original": False, "timestamps": False, "line_numbers": False, "redact": "none",
                             "kept": [], "sealed": 0})  # fmt: skip
    report = verify(access(store, "wang"), render_docx(record, RecordOptions(), manifest=fake), "fake.docx")
    assert not report.ok and report.findings == [NOT_ISSUED] and report.code == fake.code()
    assert report.hearing_id is None and report.exported_state is None and report.exporter is None


def test_another_cases_file_gets_the_answer_of_a_code_never_issued(
    store: Store, world: World, _template: World, tmp_path: Path
) -> None:
    data = docx_of(store, "wang", world.own)
    mine = verify(access(store, "li"), data, "r.docx")  # li is a clerk of OTHER_CASE only
    fresh = tmp_path / "fresh.duckdb"  # the same accounts, where this export never happened
    shutil.copyfile(_template.db, fresh)
    with Store(fresh) as elsewhere:
        never = verify(access(elsewhere, "li"), data, "r.docx")
    assert asdict(mine) == asdict(never) and mine.findings == [NOT_ISSUED]


@pytest.mark.parametrize(
    ("data", "says"),
    [(b"hello, not a record", "neither a .docx nor a .pdf"), (b"PK\x03\x04broken zip", "not a .docx"), (b"", "")],
)
def test_garbage_gets_a_clear_problem(store: Store, data: bytes, says: str) -> None:
    report = verify(access(store, "wang"), data, "x.bin")
    assert not report.ok and report.code is None and report.findings
    assert says in "\n".join(report.findings)


def test_a_pdf_export_verifies_and_a_changed_byte_is_found(store: Store, world: World) -> None:
    require_tool("soffice", install="apt-get install libreoffice-writer-nogui (scripts/setup.sh does)")
    issued = issue(access(store, "wang"), world.own, "pdf", RecordOptions())  # the one conversion of this file
    assert issued.body.startswith(b"%PDF-") and issued.media_type == "application/pdf"
    report = verify(access(store, "wang"), issued.body, "r.pdf")
    assert report.ok, report.findings
    assert report.kind == "pdf" and report.code == issued.manifest.code()  # type: ignore[union-attr]
    at = issued.body.index(b"stream", len(issued.body) // 2) + 20  # a byte inside a content stream
    forged = issued.body[:at] + bytes([issued.body[at] ^ 1]) + issued.body[at + 1 :]
    report = verify(access(store, "wang"), forged, "r.pdf")
    assert not report.ok and "文件字节与签发时不同" in "\n".join(report.findings)


# --- the CLI ----------------------------------------------------------------------------------------------


def test_workbench_verify_exit_codes(store: Store, world: World, tmp_path: Path) -> None:
    good = tmp_path / "good.docx"
    good.write_bytes(docx_of(store, "wang", world.own))
    forged = tmp_path / "forged.docx"
    forged.write_bytes(changed_in_document(good.read_bytes(), "联系地址", "联络地址"))
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a record")
    store.close()

    def run(path: Path, who: str = "wang") -> Any:
        return CliRunner().invoke(verify_cmd, [str(path), "--db", str(world.db), "--as", who])

    ok = run(good)
    assert ok.exit_code == 0, ok.output
    assert "matches the record" in ok.output and "by wang" in ok.output and "验证码" in ok.output
    bad = run(forged)
    assert bad.exit_code == 1 and "does NOT match" in bad.output and "第2行" in bad.output, bad.output
    assert run(garbage).exit_code == 2 and "not a .docx or .pdf" in run(garbage).output
    assert run(tmp_path / "missing.docx").exit_code == 2
    other = run(good, "li")
    assert other.exit_code == 1 and "never issued by this server" in other.output and "by wang" not in other.output


def test_verify_is_a_workbench_command() -> None:
    assert main.get_command(click.Context(main), "verify") is verify_cmd  # named in workbench/cli/__init__.py


# --- the API ----------------------------------------------------------------------------------------------


def test_the_in_process_route_as_the_wrong_person_is_the_unknown_code_answer(store: Store, world: World) -> None:
    data = docx_of(store, "wang", world.own)

    def post(who: str, body: bytes) -> dict[str, Any]:
        return core.dispatch(Call(access(store, who), body=body, local=True), "POST", "/records/verify",
                             {"name": "r.docx"}).data  # fmt: skip

    assert post("qian", data)["ok"] is True  # a viewer of the case may verify
    theirs = post("li", data)
    assert theirs["ok"] is False and theirs["findings"] == [NOT_ISSUED] and theirs["hearing_id"] is None


@pytest.fixture(scope="module")
def server(_template: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data = tmp_path_factory.mktemp("verify-http")
    db = data / "workbench.duckdb"
    shutil.copyfile(_template.db, db)
    with Store(db) as s:
        issued = issue(access(s, "wang"), _template.own, "docx", RecordOptions()).body
    tokens = {name: make_token(db, name) for name in ("wang", "li")}
    port = free_port()
    proc = start_server(data, port)
    try:
        yield {"url": f"http://127.0.0.1:{port}/api/v1/records/verify", "tokens": tokens, "docx": issued}
    finally:
        stop_server(proc)


def test_the_http_route_answers_the_owner_the_stranger_the_unsigned_and_the_too_large(
    server: dict[str, Any],
) -> None:
    url, docx = server["url"], server["docx"]

    def post(who: str | None, body: bytes, **params: str) -> requests.Response:
        headers = {"Content-Type": "application/octet-stream"}
        if who:
            headers["Authorization"] = f"Bearer {server['tokens'][who]}"
        return requests.post(url, data=body, headers=headers, params=params, timeout=60)

    r = post("wang", docx, name="r.docx")
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["file"] == "r.docx", r.text
    r = post("li", docx, name="r.docx")
    assert r.status_code == 200 and r.json()["findings"] == [NOT_ISSUED] and r.json()["hearing_id"] is None
    assert post(None, docx).status_code == 401
    r = post("wang", b"\0" * (VERIFY_MAX_BYTES + 1))
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    assert post("wang", b"").status_code == 422
    assert post("wang", docx, other="x").status_code == 422
