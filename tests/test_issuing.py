"""Issuing a hearing's record (`workbench.issuing.issue`), real DuckDB and real accounts: the audit row with the
manifest and code is written before the bytes are handed back, sealed parts are left out with their line,
redaction applies (and `keep` leaves a find as it is) without touching the stored text, and an account of
another case gets NotYours on the export and on the preview; then the same through the API's export and
preview routes and the CLI's `--redact`, `--keep`, `--preview`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from store_samples import CASE, CONSOLE, OTHER_CASE, PASSWORD, court, court_copy
from store_samples import Court as World

from workbench.accounts import Access, Accounts, NotYours, Role
from workbench.api import core
from workbench.api.core import ApiError, Call
from workbench.cli import main
from workbench.issuing import issue, preview_redactions
from workbench.record import RecordOptions
from workbench.record.manifest import Manifest, body_lines
from workbench.store import Store, audit

MOBILE = "13812345678"
ID_CARD = "11010519491231002X"  # checksum valid
SEALED_TEXT = "证人的住址和工作单位属于个人隐私。"
LINES = [
    ("S1", "现在开庭，请原告陈述诉讼请求。"),
    ("S2", f"原告的联系电话是{MOBILE}，身份证号{ID_CARD}。"),
    ("S1", SEALED_TEXT),
    ("S3", "被告对借条的真实性有异议。"),
]


def _setup(store: Store) -> None:
    Accounts(store).add("sun", Role.VIEWER, by=CONSOLE, password=PASSWORD, must_change=False)
    Access(store, Accounts(store).get("root"), "test").grant(OTHER_CASE, "sun")


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    return court(tmp_path_factory.mktemp("issuing"), LINES, [("S1", "另一案件的庭审。")], _setup)


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def access(store: Store, name: str) -> Access:
    return Access(store, Accounts(store).get(name), f"test@{name}")


def document_xml(docx: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        return z.read("word/document.xml").decode("utf-8")


def footers_xml(docx: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(docx)) as z:
        names = [n for n in z.namelist() if n.startswith("word/footer") and n.endswith(".xml")]
        assert names, "the record has no footer"
        return [z.read(n).decode("utf-8") for n in names]


def exports(store: Store, hid: int) -> list[audit.AuditRow]:
    return store.audit_rows(hearing_id=hid, action=audit.EXPORTED)


# --- the audit row --------------------------------------------------------------------------------------


def test_a_docx_export_is_audited_with_its_manifest_and_code(store: Store, world: World) -> None:
    wang = access(store, "wang")
    issued = issue(wang, world.own, "docx", RecordOptions(timestamps=True), via="test")
    manifest = issued.manifest
    assert manifest is not None and issued.file_name == f"{CASE}.docx"
    [row] = exports(store, world.own)
    assert row.account == "wang" and row.case_id is not None
    d = row.detail
    assert d["code"] == manifest.code() and Manifest.from_dict(d["manifest"]) == manifest
    assert d["sha256"] == hashlib.sha256(issued.body).hexdigest() and d["bytes"] == len(issued.body)
    assert (d["format"], d["via"], d["redact"], d["kept"], d["original"]) == ("docx", "test", "none", [], False)
    # the manifest names what was issued, from whom, in which state
    assert (manifest.hearing_id, manifest.case_number, manifest.exporter) == (world.own, CASE, "wang")
    assert manifest.state == str(store.hearing(world.own).status)
    assert manifest.edits_head == store.record_head(world.own)
    assert manifest.audio_sha256 == ",".join(r.sha256 for r in store.recordings(world.own))
    assert manifest.exported_at[10] == "T" and manifest.exported_at[-6] in "+-"  # ISO seconds with the offset
    assert manifest.options["timestamps"] is True and manifest.lines == len(LINES)
    assert all(manifest.code() in xml for xml in footers_xml(issued.body))


def test_no_bytes_without_the_audit_row(store: Store, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_a: object, **_k: object) -> int:
        raise RuntimeError("the audit cannot be written")

    monkeypatch.setattr(store, "record", refuse)
    with pytest.raises(RuntimeError, match="audit cannot be written"):
        issue(access(store, "wang"), world.own, "docx", RecordOptions())
    monkeypatch.undo()
    assert exports(store, world.own) == []


def test_interchange_formats_come_from_the_same_record_without_a_manifest(store: Store, world: World) -> None:
    issued = issue(access(store, "qian"), world.own, "txt", RecordOptions())  # a viewer may export
    assert issued.manifest is None and issued.media_type.startswith("text/plain")
    assert "现在开庭" in issued.body.decode("utf-8")
    [row] = exports(store, world.own)
    assert row.detail["code"] is None and row.detail["manifest"] is None and row.detail["format"] == "txt"


def test_bad_format_profile_or_kept_id_is_refused_naming_it(store: Store, world: World) -> None:
    wang = access(store, "wang")
    with pytest.raises(ValueError, match="format"):
        issue(wang, world.own, "xls", RecordOptions())
    with pytest.raises(ValueError, match="redact"):
        issue(wang, world.own, "docx", RecordOptions(), redact="everything")
    with pytest.raises(ValueError, match="keep"):
        issue(wang, world.own, "txt", RecordOptions(), redact="publication", keep=["s9:0:mobile"])
    with pytest.raises(ValueError, match="keep"):
        issue(wang, world.own, "txt", RecordOptions(), keep=["s1:8:mobile"])  # keep without a profile
    assert exports(store, world.own) == []


# --- sealed parts -----------------------------------------------------------------------------------------


def test_a_sealed_part_is_left_out_of_every_format_with_its_line(store: Store, world: World) -> None:
    zhao = access(store, "zhao")
    store.seal(world.own, 10.0, 15.0, "涉及证人隐私", actor=zhao.actor)  # segment 3: 10.0–14.5
    docx = issue(zhao, world.own, "docx", RecordOptions())
    xml = document_xml(docx.body)
    assert "证人的住址" not in xml and "不公开审理部分 00:00:10—00:00:15 已略去。理由：涉及证人隐私" in xml
    assert docx.manifest is not None and docx.manifest.options["sealed"] == 1
    for fmt in ("txt", "json", "srt", "vtt", "csv"):
        body = issue(zhao, world.own, fmt, RecordOptions()).body.decode("utf-8-sig")
        assert "证人的住址" not in body, fmt
    assert store.segments(world.own)[2].text == SEALED_TEXT  # kept in the store


# --- redaction --------------------------------------------------------------------------------------------


def test_redaction_applies_keep_leaves_one_and_the_stored_text_never_changes(store: Store, world: World) -> None:
    wang = access(store, "wang")
    before = [(s.text, s.text_orig) for s in store.segments(world.own)]
    found = preview_redactions(wang, world.own, "publication")
    kinds = {r.kind: r for r in found}
    assert {"mobile", "id_card"} <= set(kinds) and kinds["mobile"].text == MOBILE
    assert kinds["mobile"].segment_start == 5.0 and kinds["mobile"].reason
    redacted = issue(wang, world.own, "docx", RecordOptions(), redact="publication")
    xml = document_xml(redacted.body)
    assert MOBILE not in xml and ID_CARD not in xml and redacted.file_name == f"{CASE}-publication.docx"
    assert {r.id for r in redacted.redactions} == {r.id for r in found}
    kept = issue(wang, world.own, "txt", RecordOptions(), redact="publication", keep=[kinds["mobile"].id])
    text = kept.body.decode("utf-8")
    assert MOBILE in text and ID_CARD not in text
    rows = exports(store, world.own)
    assert rows[0].detail["kept"] == [kinds["mobile"].id] and rows[1].detail["redact"] == "publication"
    assert rows[1].detail["manifest"]["options"]["redact"] == "publication"
    assert [(s.text, s.text_orig) for s in store.segments(world.own)] == before
    record = store.hearing_record(world.own)
    assert any(MOBILE in line for line in body_lines(record, RecordOptions()))


def test_the_preview_leaves_sealed_text_out(store: Store, world: World) -> None:
    zhao = access(store, "zhao")
    store.seal(world.own, 5.0, 6.0, "涉及个人信息", actor=zhao.actor)  # the segment with the numbers
    assert preview_redactions(zhao, world.own, "publication") == []


# --- who may ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["li", "sun"])
def test_an_account_of_another_case_gets_not_yours_on_issue_and_preview(store: Store, world: World, who: str) -> None:
    other = access(store, who)
    with pytest.raises(NotYours):
        issue(other, world.own, "docx", RecordOptions())
    with pytest.raises(NotYours):
        preview_redactions(other, world.own, "publication")
    with pytest.raises(NotYours):
        issue(other, 999_999, "docx", RecordOptions())  # the same as a missing hearing
    assert exports(store, world.own) == []


# --- the API ----------------------------------------------------------------------------------------------


def call(store: Store, who: str, method: str, path: str, query: dict[str, str] | None = None) -> core.Reply:
    return core.dispatch(Call(access(store, who), local=True), method, path, query)


def test_the_export_route_redacts_keeps_and_says_the_code(store: Store, world: World) -> None:
    preview = call(store, "wang", "GET", f"/hearings/{world.own}/redactions", {"profile": "publication"}).data
    mobile = next(r for r in preview["items"] if r["kind"] == "mobile")
    assert set(mobile) == {"id", "kind", "text", "replacement", "reason", "where", "segment_start"}
    reply = call(store, "wang", "GET", f"/hearings/{world.own}/export",
                 {"format": "txt", "redact": "publication", "keep": mobile["id"]})  # fmt: skip
    body = b"".join(reply.stream or [])
    assert MOBILE.encode() in body and ID_CARD.encode() not in body
    assert reply.headers["X-Workbench-Redactions"] == str(len(preview["items"]) - 1)
    docx = call(store, "wang", "GET", f"/hearings/{world.own}/export", {"format": "docx"})
    code = exports(store, world.own)[0].detail["code"]
    assert docx.headers["X-Workbench-Code"] == code and docx.headers["X-Workbench-Approved"] == "false"
    opened = store.audit_rows(hearing_id=world.own, action=audit.HEARING_OPENED)
    assert [r.detail.get("read") for r in opened] == ["redactions"]  # the preview shows the identifiers


def test_the_routes_as_the_wrong_person_answer_404_like_a_missing_hearing(store: Store, world: World) -> None:
    for path, query in ((f"/hearings/{world.own}/export", {"format": "docx"}),
                        (f"/hearings/{world.own}/redactions", {"profile": "publication"})):  # fmt: skip
        with pytest.raises(ApiError) as e:
            call(store, "li", "GET", path, query)
        with pytest.raises(ApiError) as missing:
            call(store, "li", "GET", path.replace(str(world.own), "999999"), query)
        assert e.value.status == missing.value.status == 404 and e.value.detail == missing.value.detail
    with pytest.raises(ApiError) as e:
        call(store, "wang", "GET", f"/hearings/{world.own}/export", {"format": "txt", "keep": "x"})
    assert e.value.status == 422 and "keep" in e.value.detail
    assert exports(store, world.own) == []


# --- the CLI ----------------------------------------------------------------------------------------------


def cli(world: World, *args: str, as_name: str = "wang") -> object:
    return CliRunner().invoke(main, [*args, "--db", str(world.db), "--as", as_name])


def test_the_cli_previews_writes_nothing_then_exports_redacted_keeping_one(world: World, tmp_path: Path) -> None:
    out = tmp_path / "r.txt"
    shown = cli(world, "export", str(world.own), "--redact", "publication", "--preview")
    assert shown.exit_code == 0, shown.output
    assert MOBILE in shown.output and "mobile" in shown.output and "00:00:05" in shown.output
    assert not out.exists()
    with Store(world.db) as s:
        assert exports(s, world.own) == []
        mobile = next(
            r.id for r in preview_redactions(access(s, "wang"), world.own, "publication") if r.kind == "mobile"
        )
    done = cli(world, "export", str(world.own), "--format", "txt", "--redact", "publication", "--keep", mobile,
               "--out", str(out))  # fmt: skip
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    assert MOBILE in text and ID_CARD not in text
    docx = tmp_path / "r.docx"
    done = cli(world, "export", str(world.own), "--out", str(docx))
    assert done.exit_code == 0 and "验证码" in done.output, done.output
    refused = cli(world, "export", str(world.own), "--format", "txt", "--out", str(out), as_name="li")
    assert refused.exit_code == 1 and "not found or not yours" in refused.output
    assert cli(world, "export", str(world.own), "--keep", mobile, "--out", str(out)).exit_code == 2
    assert cli(world, "export", str(world.own)).exit_code == 2  # no --out, no --preview


def test_the_cli_redacts_a_transcript_json_too(tmp_path: Path) -> None:
    from store_samples import transcript

    source = tmp_path / "t.json"
    source.write_text(transcript(LINES).to_json(), encoding="utf-8")
    out = tmp_path / "t.txt"
    done = CliRunner().invoke(main, ["export", "--from-json", str(source), "--format", "txt", "--redact", "publication",
                                     "--out", str(out)])  # fmt: skip
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    assert MOBILE not in text and ID_CARD not in text and "现在开庭" in text


def test_a_zip_of_hearings_issues_each_and_refuses_all_if_one_is_not_yours(store: Store, world: World) -> None:
    from workbench.issuing import issue_zip

    body = issue_zip(access(store, "root"), [world.own, world.other, world.own], via="page")
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert z.namelist() == [f"{CASE}.docx", f"{OTHER_CASE}.docx", f"{CASE}-2.docx"]
    assert len(exports(store, world.own)) == 2 and len(exports(store, world.other)) == 1
    with pytest.raises(NotYours):
        issue_zip(access(store, "wang"), [world.own, world.other])
    assert len(exports(store, world.own)) == 2  # nothing issued for the refused .zip
