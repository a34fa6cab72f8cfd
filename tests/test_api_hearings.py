"""The cases, hearings and jobs endpoints through the in-process door (`core.dispatch`), on a real store with
real accounts: the normal path of each, and each refusal as the wrong person (another case's clerk, a viewer,
a judge where an admin is needed) or with bad input."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from store_samples import transcript

from workbench.accounts import Access, Accounts, Role, console_access
from workbench.api import core
from workbench.api.core import ApiError, Call
from workbench.store import Store, audit
from workbench.store import jobs as jobs_mod
from workbench.store.jobs import JobState

CASE_A = "（2024）京0105民初1号"
CASE_B = "（2024）京0105民初2号"
PASSWORD = "correct-horse-9"


@dataclass
class World:
    store: Store
    tmp: Path
    case_a: int
    case_b: int
    woken: list[int] = field(default_factory=list)

    def access(self, name: str) -> Access:
        return Access(self.store, Accounts(self.store).get(name), "10.0.0.7")

    def call(
        self, who: str, method: str, path: str, query: dict[str, str] | None = None, body: Any = None, **kw: Any
    ) -> Any:
        """The reply's data, checked against the endpoint's response schema and status."""
        core.import_resources()
        ep, _ = core.find(method, path)
        call = Call(self.access(who), body=body, wake=lambda: self.woken.append(1), **kw)
        reply = core.dispatch(call, method, path, query)
        assert reply.status == ep.status
        if ep.response is not None:
            jsonschema.validate(reply.data, ep.response)
        return reply.data

    def refused(self, who: str, method: str, path: str, query: dict[str, str] | None = None, **kw: Any) -> ApiError:
        with pytest.raises(ApiError) as e:
            self.call(who, method, path, query, **kw)
        return e.value

    def audio(self, name: str, content: bytes) -> Path:
        path = self.tmp / "in" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(content)
        return path


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Case A: judge, clerk and viewer are members; case B: clerk_out only. Plus an admin."""
    with Store(tmp_path / "w.duckdb") as store:
        console = console_access(store, "tester")
        accounts = Accounts(store)
        for name, role in (
            ("admin", Role.ADMIN),
            ("judge", Role.JUDGE),
            ("clerk", Role.CLERK),
            ("viewer", Role.VIEWER),
            ("clerk_out", Role.CLERK),
        ):
            accounts.add(name, role, by=console.actor, password=PASSWORD, must_change=False)
        case_a = store.add_case(CASE_A, cause="买卖合同纠纷", actor=console.actor).id
        case_b = store.add_case(CASE_B, actor=console.actor).id
        for name in ("judge", "clerk", "viewer"):
            console.grant(case_a, name)
        console.grant(case_b, "clerk_out")
        yield World(store, tmp_path, case_a, case_b)


def add(world: World, who: str, case: str, name: str, content: bytes, **body: Any) -> dict[str, Any]:
    """POST /hearings with one spooled file (as the HTTP door hands a multipart `file` part over)."""
    spool = world.tmp / "spool" / f"{len(list(world.tmp.glob('spool/*')))}.part"
    spool.parent.mkdir(exist_ok=True)
    spool.write_bytes(content)
    data = world.call(who, "POST", "/hearings", body={"case": case, **body}, files=[(name, spool)])
    return data["submissions"][0]


# --- cases -----------------------------------------------------------------------------------------------


def test_cases_are_listed_and_read_only_by_their_members(world: World) -> None:
    page = world.call("clerk", "GET", "/cases")
    assert [c["number"] for c in page["items"]] == [CASE_A] and page["total"] == 1
    assert page["items"][0]["cause"] == "买卖合同纠纷"
    assert {c["number"] for c in world.call("admin", "GET", "/cases")["items"]} == {CASE_A, CASE_B}
    assert world.call("clerk", "GET", f"/cases/{CASE_A}")["id"] == world.case_a
    assert world.call("clerk", "GET", f"/cases/{world.case_a}")["number"] == CASE_A  # by id too
    other = world.refused("clerk", "GET", f"/cases/{CASE_B}")
    missing = world.refused("clerk", "GET", "/cases/（2099）京0105民初9号")
    assert other.status == missing.status == 404 and other.detail == missing.detail
    assert world.refused("clerk", "GET", f"/cases/{world.case_b}").detail == missing.detail
    page = world.call("admin", "GET", "/cases", {"limit": "1", "offset": "1"})
    assert len(page["items"]) == 1 and page["total"] == 2 and page["next_offset"] is None
    assert world.refused("admin", "GET", "/cases", {"limit": "0"}).status == 422


def test_a_case_is_created_by_an_uploader_who_becomes_its_member(world: World) -> None:
    made = world.call("clerk", "POST", "/cases", body={"number": " （2024）京0105民初7号 ", "court": "朝阳法院"})
    assert made["number"] == "（2024）京0105民初7号" and made["court"] == "朝阳法院"
    assert "clerk" in [m["name"] for m in world.call("clerk", "GET", f"/cases/{made['id']}/members")["items"]]
    assert world.refused("viewer", "POST", "/cases", body={"number": "V-1"}).status == 403
    assert world.refused("clerk", "POST", "/cases", body={"number": CASE_B}).status == 409  # exists (not theirs)
    for body, says in (
        ({"number": "  "}, "number"),
        ({}, "number: 必填"),
        ({"number": 5}, "number: 类型不对"),
        ({"number": "X-1", "parties": []}, "parties: 不认识的字段"),
        ({"number": "X" * 101}, "at most 100"),
        ([1, 2], "JSON 对象"),
    ):
        e = world.refused("clerk", "POST", "/cases", body=body)
        assert e.status == 422 and says in e.detail, (body, e.detail)


def test_members_are_managed_by_admins_and_the_cases_judges(world: World) -> None:
    members = world.call("viewer", "GET", f"/cases/{CASE_A}/members")["items"]
    assert [(m["name"], m["role"]) for m in members] == [("judge", "judge"), ("clerk", "clerk"), ("viewer", "viewer")]
    assert world.call("judge", "PUT", f"/cases/{CASE_A}/members/clerk_out") == {"added": True}
    assert world.call("judge", "PUT", f"/cases/{CASE_A}/members/clerk_out") == {"added": False}
    assert world.call("clerk_out", "GET", f"/cases/{CASE_A}")["id"] == world.case_a
    assert world.refused("clerk", "PUT", f"/cases/{CASE_A}/members/viewer").status == 403
    assert world.refused("clerk", "DELETE", f"/cases/{CASE_A}/members/viewer").status == 403
    assert world.refused("judge", "PUT", f"/cases/{CASE_B}/members/judge").status == 404  # not their case
    assert world.refused("judge", "PUT", f"/cases/{CASE_A}/members/nobody").status == 404
    assert world.call("judge", "DELETE", f"/cases/{CASE_A}/members/clerk_out") == {"removed": True}
    assert world.refused("clerk_out", "GET", f"/cases/{CASE_A}").status == 404
    assert world.refused("clerk_out", "GET", f"/cases/{CASE_A}/members").status == 404


# --- hearings: adding ------------------------------------------------------------------------------------


def test_an_upload_becomes_a_hearing_and_a_queued_job_moved_not_copied(world: World) -> None:
    spool = world.tmp / "spooled.part"
    spool.write_bytes(b"RIFF recording one")
    body = {
        "case": CASE_A, "starts_at": "2024-03-05T09:30", "courtroom": "第三法庭", "judge": "王法官", "clerk": "李书记",
        "options": {"language": "zh", "speakers": 2, "diarize": False, "hotwords": ["借条 2", {"term": "张三丰"}]},
    }  # fmt: skip
    data = world.call("clerk", "POST", "/hearings", body=body, files=[("庭审 第1次.wav", spool)])
    (sub,) = data["submissions"]
    assert sub["file"] == "庭审 第1次.wav" and not sub["duplicate"] and sub["job_id"]
    assert not spool.exists()  # moved into the audio store
    assert world.woken == [1]
    (rec,) = world.store.recordings(sub["hearing_id"])
    assert rec.file_name == "庭审 第1次.wav" and rec.stored_path.read_bytes() == b"RIFF recording one"
    h = world.store.hearing(sub["hearing_id"])
    assert (h.case_id, h.courtroom, h.presiding_judge, h.clerk, str(h.starts_at)) == (
        world.case_a, "第三法庭", "王法官", "李书记", "2024-03-05 09:30:00",
    )  # fmt: skip
    job = jobs_mod.job(world.store, sub["job_id"])
    assert (job.options.language, job.options.speakers, job.options.diarize) == ("zh", "2", False)
    assert [(w.term, w.weight) for w in job.options.hotwords] == [("借条", 2.0), ("张三丰", None)]
    (row,) = world.store.audit_rows(action=audit.UPLOADED, hearing_id=h.id)
    assert row.account == "clerk" and row.detail["file"] == "庭审 第1次.wav"
    again = add(world, "clerk", CASE_A, "copy.wav", b"RIFF recording one")
    assert again == {"file": "copy.wav", "hearing_id": h.id, "job_id": None, "duplicate": True}


def test_a_new_case_number_is_made_with_its_parties_and_the_uploader_joins(world: World) -> None:
    sub = add(world, "clerk", "（2024）京0105民初8号", "a.mp3", b"mp3 bytes", cause="借款合同纠纷",
              parties="原告：张三；代理人：李四、王五\n被告：某公司")  # fmt: skip
    case = world.store.case("（2024）京0105民初8号")
    assert case.cause == "借款合同纠纷" and [p.name for p in case.parties] == ["张三", "某公司"]
    assert case.parties[0].representatives == ("李四", "王五")
    assert world.call("clerk", "GET", f"/hearings/{sub['hearing_id']}")["case"] == case.number
    listed = add(world, "clerk", "（2024）京0105民初9号", "b.mp3", b"other", parties=[{"role": "原告", "name": "赵六"}])
    assert world.store.case("（2024）京0105民初9号").parties[0].name == "赵六" and listed["job_id"]


def test_server_paths_from_the_cli_on_the_server_and_from_afar(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = world.audio("day.flac", b"flac bytes")
    # The CLI on the server (local): any file of the operator's, copied (it stays where it is).
    data = world.call("judge", "POST", "/hearings", body={"case": CASE_A, "paths": [str(file)]}, local=True)
    assert data["submissions"][0]["file"] == "day.flac" and file.exists()
    # From afar: only admins and clerks, and only under the ingest roots.
    other = world.audio("other.flac", b"other flac")
    body = {"case": CASE_A, "paths": [str(other)]}
    assert world.refused("judge", "POST", "/hearings", body=body).status == 403
    monkeypatch.setenv("WORKBENCH_INGEST_ROOTS", "")
    e = world.refused("clerk", "POST", "/hearings", body=body)
    assert e.status == 422 and "no ingest roots" in e.detail
    root = tmp_path / "ingest"
    root.mkdir()
    monkeypatch.setenv("WORKBENCH_INGEST_ROOTS", str(root))
    e = world.refused("clerk", "POST", "/hearings", body=body)
    assert e.status == 422 and "outside the ingest roots" in e.detail
    inside = root / "0930.mp3"
    inside.write_bytes(b"inside")
    data = world.call("clerk", "POST", "/hearings", body={"case": CASE_A, "paths": [str(inside)]})
    assert data["submissions"][0]["file"] == "0930.mp3"
    e = world.refused("judge", "POST", "/hearings", body={"case": CASE_A, "paths": [str(world.tmp / "no.wav")]},
                      local=True)  # fmt: skip
    assert e.status == 422 and "no such file" in e.detail


def test_adding_is_refused_with_the_reason_and_nothing_is_stored(world: World) -> None:
    before = len(world.store.hearings())
    spool = world.tmp / "s.part"
    spool.write_bytes(b"bytes")
    wav = [("r.wav", spool)]
    for who, body, files, status, says in (
        ("viewer", {"case": CASE_A}, wav, 403, "may not upload"),
        ("clerk", {"case": CASE_B}, wav, 403, "not a member"),  # another case's number
        ("clerk", {"case": CASE_A, "starts_at": "2024-13-45"}, wav, 422, "starts_at"),
        ("clerk", {"case": CASE_A, "options": {"language": "xx"}}, wav, 422, "language 'xx'"),
        ("clerk", {"case": CASE_A, "options": {"speakers": "many"}}, wav, 422, "speaker"),
        ("clerk", {"case": CASE_A, "options": {"engine": "kaldi"}}, wav, 422, "engine 'kaldi'"),
        ("clerk", {"case": CASE_A, "options": {"device": "cuda"}}, wav, 422, "不认识的选项 device"),
        ("clerk", {"case": CASE_A, "options": {"diarize": "yes"}}, wav, 422, "options.diarize"),
        ("clerk", {"case": CASE_A, "options": {"hotwords": [""]}}, wav, 422, "hotwords"),
        ("clerk", {"case": CASE_A}, [("notes.txt", spool)], 422, "not a recording"),
        ("clerk", {"case": CASE_A}, [], 422, "no file, upload or path"),
        ("clerk", {"case": ""}, wav, 422, "case"),
        ("clerk", {"courtroom": "x"}, wav, 422, "case: 请填写案号"),
        ("clerk", {"case": CASE_A, "courtroom": "法" * 101}, wav, 422, "courtroom"),
        ("clerk", {"case": CASE_A, "parties": "张三"}, wav, 422, "角色：名称"),
        ("clerk", {"case": CASE_A, "parties": [{"role": "原告"}]}, wav, 422, "parties[0]"),
        ("clerk", {"case": CASE_A, "paths": "/etc/passwd"}, [], 422, "paths: 类型不对"),
        ("clerk", {"case": CASE_A, "uploads": [""]}, [], 422, "uploads"),
        ("clerk", {"case": CASE_A, "file": "x"}, wav, 422, "file: 不认识的字段"),
    ):
        e = world.refused(who, "POST", "/hearings", body=body, files=files)
        assert (e.status, says in e.detail) == (status, True), (body, e.status, e.detail)
    assert len(world.store.hearings()) == before and spool.exists()  # refused before the file was taken


def test_a_finished_resumable_upload_is_consumed_by_its_owner_only(world: World) -> None:
    from workbench.api.uploads import Uploads

    uploads = Uploads()
    upload = uploads.create(world.access("clerk"), "第三法庭.m4a", 9)
    uploads.part_path(upload.id).write_bytes(b"m4a bytes")
    body = {"case": CASE_A, "uploads": [upload.id]}
    e = world.refused("clerk_out", "POST", "/hearings", body={"case": CASE_B, "uploads": [upload.id]})
    assert e.status == 404  # another account's upload: as if missing
    (sub,) = world.call("clerk", "POST", "/hearings", body=body)["submissions"]
    assert sub["file"] == "第三法庭.m4a" and sub["job_id"]
    assert world.store.recordings(sub["hearing_id"])[0].stored_path.read_bytes() == b"m4a bytes"
    assert world.refused("clerk", "POST", "/hearings", body=body).status == 404  # consumed
    half = uploads.create(world.access("clerk"), "half.wav", 100)
    uploads.part_path(half.id).write_bytes(b"12")
    assert world.refused("clerk", "POST", "/hearings", body={"case": CASE_A, "uploads": [half.id]}).status == 409


# --- hearings: reading --------------------------------------------------------------------------------


def test_hearings_are_listed_filtered_and_read_by_their_cases_members_only(world: World) -> None:
    a = add(world, "clerk", CASE_A, "a.wav", b"a", starts_at="2024-03-05T09:30")["hearing_id"]
    b = add(world, "clerk_out", CASE_B, "b.wav", b"b", starts_at="2024-04-01")["hearing_id"]
    world.store.save_transcript(a, transcript())
    world.store.set_speaker(a, "S3", role="被告", name="张三丰", actor=audit.SYSTEM)
    assert [h["id"] for h in world.call("clerk", "GET", "/hearings")["items"]] == [a]
    assert [h["id"] for h in world.call("admin", "GET", "/hearings")["items"]] == [b, a]
    assert [h["id"] for h in world.call("admin", "GET", "/hearings", {"case": CASE_B})["items"]] == [b]
    assert [h["id"] for h in world.call("admin", "GET", "/hearings", {"from": "2024-03-06"})["items"]] == [b]
    assert [h["id"] for h in world.call("admin", "GET", "/hearings", {"to": "2024-03-05"})["items"]] == [a]
    # naming a speaker corrected the record: in review
    assert world.call("admin", "GET", "/hearings", {"status": "in review"})["items"][0]["id"] == a
    assert world.call("clerk", "GET", "/hearings", {"case": CASE_B})["items"] == []
    for query, says in (({"from": "2024-02-30"}, "from"), ({"status": "done"}, "status"), ({"q": "x"}, "q: 不认识")):
        e = world.refused("admin", "GET", "/hearings", query)
        assert e.status == 422 and says in e.detail, e.detail

    h = world.call("viewer", "GET", f"/hearings/{a}")
    assert (h["case"], h["status"], h["segments"], h["starts_at"]) == (CASE_A, "in review", 5, "2024-03-05T09:30:00")
    assert h["recordings"][0]["file_name"] == "a.wav" and len(h["recordings"][0]["sha256"]) == 64
    assert {s["label"]: s["display"] for s in h["speakers"]}["S3"] == "被告张三丰"
    (opened,) = world.store.audit_rows(action=audit.HEARING_OPENED, hearing_id=a)
    assert opened.account == "viewer" and opened.detail == {"via": "api"}
    other = world.refused("clerk", "GET", f"/hearings/{b}")
    missing = world.refused("clerk", "GET", "/hearings/999999")
    assert other.status == missing.status == 404 and other.detail == missing.detail
    assert world.refused("clerk", "GET", "/hearings/99999999999").detail == missing.detail
    assert world.refused("clerk", "GET", "/hearings/abc").status == 422
    assert world.store.audit_rows(action=audit.HEARING_OPENED, hearing_id=b) == []


# --- hearings: deleting -------------------------------------------------------------------------------


def test_an_admin_deletes_a_hearing_and_all_of_it(world: World) -> None:
    sub = add(world, "clerk", CASE_A, "a.wav", b"shared audio")
    hid = sub["hearing_id"]
    world.store.save_transcript(hid, transcript())
    seg = world.store.segments(hid)[0]
    world.store.edit_segment(seg.id, text="改过的文字", actor=audit.SYSTEM)
    second = world.store.segments(hid)[1]  # merged with the third: the third's row moves to removed_segments
    world.store.merge_segments(second.id, actor=audit.SYSTEM, expected_version=0, next_version=0)
    world.store.set_checked(hid, second.id, actor=audit.SYSTEM)
    with world.store.writing() as con:  # a log note, and a decision on a voice proposed from it (issue 17)
        con.execute(
            "INSERT INTO log_notes (hearing_id, kind, at_s, text, created_by) VALUES (?, 'note', 1, 'x', 'c')", [hid]
        )
        con.execute(
            "INSERT INTO voice_decisions (hearing_id, label, from_hearing, from_label, decision, decided_by) "
            "VALUES (?, 'S1', ?, 'S2', 'declined', 'c')", [hid + 1000, hid],
        )  # fmt: skip
    shared = add(world, "clerk_out", CASE_B, "same.wav", b"shared audio")  # the same file, another case
    alone = add(world, "clerk", CASE_A, "alone.wav", b"only here")
    file = world.store.recordings(hid)[0].stored_path
    alone_file = world.store.recordings(alone["hearing_id"])[0].stored_path

    for who in ("judge", "clerk", "viewer"):
        e = world.refused(who, "DELETE", f"/hearings/{hid}")
        assert e.status == 403 and "only an admin" in e.detail
    assert world.refused("admin", "DELETE", "/hearings/999999").status == 404

    done = world.call("admin", "DELETE", f"/hearings/{hid}")
    assert done == {"deleted": True, "segments": 4, "jobs": 1, "files_removed": 0}  # the file is shared
    assert file.exists()
    with world.store.reading() as con:
        for table in ("segments", "removed_segments", "review_marks", "speakers", "jobs", "recordings", "postings",
                      "log_notes"):  # fmt: skip
            assert con.execute(f"SELECT count(*) FROM {table} WHERE hearing_id = ?", [hid]).fetchone()[0] == 0, table
        assert con.execute("SELECT count(*) FROM voice_decisions WHERE from_hearing = ?", [hid]).fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM edits WHERE segment_id = ?", [seg.id]).fetchone()[0] == 0
    assert world.refused("admin", "GET", f"/hearings/{hid}").status == 404
    (row,) = world.store.audit_rows(action=audit.HEARING_DELETED)
    assert (row.account, row.hearing_id, row.case_id) == ("admin", hid, world.case_a)
    assert row.detail["recordings"][0]["file"] == "a.wav" and row.detail["segments"] == 4
    assert world.store.verify_audit().ok

    assert world.call("admin", "DELETE", f"/hearings/{shared['hearing_id']}")["files_removed"] == 1
    assert not file.exists()
    assert world.call("admin", "DELETE", f"/hearings/{alone['hearing_id']}")["files_removed"] == 1
    assert not alone_file.exists()
    from workbench.store import search

    assert search.search(world.store, "借条", include_sealed=True) == []


def test_a_hearing_is_not_deleted_while_its_job_runs(world: World) -> None:
    sub = add(world, "clerk", CASE_A, "a.wav", b"audio")
    claimed = jobs_mod.claim(world.store, only=[sub["job_id"]])
    assert claimed is not None and claimed.state == JobState.RUNNING
    e = world.refused("admin", "DELETE", f"/hearings/{sub['hearing_id']}")
    assert e.status == 409 and "cancel it first" in e.detail
    assert world.store.hearing(sub["hearing_id"]).id == sub["hearing_id"]
    assert world.store.audit_rows(action=audit.HEARING_DELETED) == []


# --- jobs ----------------------------------------------------------------------------------------------


def test_jobs_are_listed_and_read_by_their_cases_members_only(world: World) -> None:
    a = add(world, "clerk", CASE_A, "a.wav", b"a")
    b = add(world, "clerk_out", CASE_B, "b.wav", b"b")
    page = world.call("viewer", "GET", "/jobs")
    assert [j["id"] for j in page["items"]] == [a["job_id"]]
    job = page["items"][0]
    assert (job["state"], job["progress"], job["file"], job["case"], job["hearing_id"]) == (
        "queued", 0.0, "a.wav", CASE_A, a["hearing_id"],
    )  # fmt: skip
    assert [j["id"] for j in world.call("admin", "GET", "/jobs")["items"]] == [b["job_id"], a["job_id"]]
    assert world.call("admin", "GET", "/jobs", {"hearing": str(b["hearing_id"])})["items"][0]["id"] == b["job_id"]
    assert world.call("clerk", "GET", "/jobs", {"hearing": str(b["hearing_id"])})["items"] == []
    assert world.call("admin", "GET", "/jobs", {"state": "done"})["items"] == []
    assert world.refused("admin", "GET", "/jobs", {"state": "lost"}).status == 422
    assert world.call("clerk", "GET", f"/jobs/{a['job_id']}")["id"] == a["job_id"]
    other = world.refused("clerk", "GET", f"/jobs/{b['job_id']}")
    missing = world.refused("clerk", "GET", "/jobs/424242")
    assert (
        other.status == missing.status == 404
        and other.detail == missing.detail == "任务不存在或无权查看 (job not found or not yours)"
    )
    for action in ("cancel", "retry"):
        assert world.refused("clerk", "POST", f"/jobs/{b['job_id']}/{action}").detail == missing.detail


def test_jobs_are_cancelled_and_retried_by_members_who_may_edit(world: World) -> None:
    a = add(world, "clerk", CASE_A, "a.wav", b"a")
    path = f"/jobs/{a['job_id']}"
    e = world.refused("viewer", "POST", f"{path}/cancel")
    assert e.status == 403 and "not a viewer" in e.detail
    assert world.call("clerk", "POST", f"{path}/cancel")["state"] == "cancelled"
    e = world.refused("clerk", "POST", f"{path}/cancel")
    assert e.status == 409 and "only queued or running" in e.detail
    assert world.refused("viewer", "POST", f"{path}/retry").status == 403
    world.woken.clear()
    assert world.call("judge", "POST", f"{path}/retry")["state"] == "queued"
    assert world.woken == [1]
    assert world.refused("judge", "POST", f"{path}/retry").status == 409  # queued: nothing to retry
    changes = [r.detail["change"] for r in world.store.audit_rows(action=audit.JOB_CHANGED)]
    assert changes == ["retried", "cancelled"]

    claimed = jobs_mod.claim(world.store, only=[a["job_id"]])
    assert claimed is not None
    running = world.call("clerk", "GET", path)
    assert running["state"] == "running" and running["worker"] and running["started_at"]
    cancelled = world.call("clerk", "POST", f"{path}/cancel")
    assert (
        cancelled["state"] == "running" and cancelled["cancel_requested"] and cancelled["message"] == "cancel requested"
    )


def test_every_response_is_json(world: World) -> None:
    """What the HTTP door sends is `json.dumps(reply.data)`: no datetime or Path may slip through."""
    sub = add(world, "clerk", CASE_A, "a.wav", b"a")
    hearing, job = f"/hearings/{sub['hearing_id']}", f"/jobs/{sub['job_id']}"
    for path in ("/cases", f"/cases/{CASE_A}", f"/cases/{CASE_A}/members", "/hearings", hearing, "/jobs", job):
        json.dumps(world.call("admin", "GET", path))


# --- through a real server -------------------------------------------------------------------------------
# One `workbench serve` for these tests. The CLI beside it (same data folder) goes through it with the console
# key; from afar with a clerk's API token. One short real job (3 s of speech, whisper-base, no diarization).

CLIP_CASE = "（2024）京0105民初77号"


@dataclass
class Served:
    data: Path
    url: str
    proc: Any
    cleo_token: str


def workbench(data: Path, *args: str, token: str | None = None, timeout: float = 240) -> Any:
    """`workbench ARGS` in its own process on the data folder `data` (as an operator would type it)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "WORKBENCH_DATA": str(data)}
    env.pop("WORKBENCH_DB", None)
    env.pop("WORKBENCH_TOKEN", None)
    if token:
        env["WORKBENCH_TOKEN"] = token
    exe = str(Path(sys.executable).with_name("workbench"))
    return subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from servers import free_port, make_account, make_token, start_server, stop_server

    data = tmp_path_factory.mktemp("served")
    db = data / "workbench.duckdb"
    with Store(db) as store:
        ada = make_account(store, "ada", "admin")
        make_account(store, "cleo", "clerk")
        case = store.add_case(CLIP_CASE, actor=ada.actor("test"))
        Access(store, ada, "test").grant(case.id, "cleo")
        store.add_case("（2024）京0105民初78号", actor=ada.actor("test"))  # nobody's but the admin's
    token = make_token(db, "cleo", "laptop")
    port = free_port()
    proc = start_server(data, port)
    try:
        yield Served(data, f"http://127.0.0.1:{port}", proc, token)
    finally:
        stop_server(proc)


def _beside_a_browser(served: Served, args: tuple[str, ...], file_name: str) -> Any:
    """Runs `workbench ARGS` beside the server while a signed-in browser's upload page (its queue) shows the job.

    Nothing here races the job: the write is made once the API says the job runs (polled every 50 ms; the job
    runs for seconds), and the browser's queue is only asked to list the job and to follow it to done."""
    import os
    import subprocess
    import sys
    import time

    import requests
    from browser import ARGS, CHROMIUM, new_context, shot, sign_in
    from playwright.sync_api import expect, sync_playwright

    env = {**os.environ, "WORKBENCH_DATA": str(served.data)}
    for name in ("WORKBENCH_DB", "WORKBENCH_TOKEN"):
        env.pop(name, None)
    exe = str(Path(sys.executable).with_name("workbench"))
    bearer = {"Authorization": f"Bearer {served.cleo_token}"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = new_context(browser).new_page()
            sign_in(page, served.url, "ada", next_path="/upload")
            cli = subprocess.Popen([exe, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                deadline, running = time.monotonic() + 120, False
                while not running and cli.poll() is None and time.monotonic() < deadline:
                    listed = requests.get(f"{served.url}/api/v1/jobs?state=running", headers=bearer, timeout=30).json()
                    running = any(j["file"] == file_name for j in listed["items"])
                    time.sleep(0.05)
                # One owner, no lock to wait for: a write through the API while the job runs answers at once
                # (a write that queued behind the job would take its whole run).
                t0 = time.monotonic()
                # (a token made: a write with its audit row, which changes nothing the later tests look at)
                made = requests.post(f"{served.url}/api/v1/tokens", json={"name": "made-during-the-job"},
                                     headers=bearer, timeout=30)  # fmt: skip
                write_s = time.monotonic() - t0
                job_busy = cli.poll() is None
                # The queue (a fragment redrawn every 2 s) lists the CLI's job and follows it to done, unreloaded.
                # (the served queue's first job: the one "done" line on the page is this one's)
                expect(page.get_by_text(file_name).first).to_be_visible(timeout=60_000)
                shot(page, "cli-job-in-the-browser-queue")
                out, err = cli.communicate(timeout=240)
                expect(page.get_by_text("完成 · 已可审阅")).to_be_visible(timeout=30_000)
            finally:
                if cli.poll() is None:
                    cli.kill()
        finally:
            browser.close()
    assert running, "the API never showed the CLI's job running"
    assert made.status_code == 201, made.text
    assert job_busy and write_s < 5, (job_busy, write_s)
    return subprocess.CompletedProcess(cli.args, cli.returncode, out, err)


@pytest.mark.slow
def test_hearings_add_wait_beside_the_server_prints_what_it_prints_without_one(served: Served, tmp_path: Path) -> None:
    import numpy as np
    from conftest import TESTDATA
    from media import write_wav

    from workbench.speech import audio

    # 100 s of speech (two 5-s clips, ten times over): a job that runs for seconds, long beside a 50-ms poll
    clips = [audio.load(TESTDATA / "asr" / f"en_librivox_ss01_{n}.wav") for n in ("0880", "0870")]
    clip = write_wav(np.concatenate(clips * 10), tmp_path / "en_librivox_ten_times.wav")
    args = ("hearings", "add", str(clip), "--case", CLIP_CASE, "--language", "en", "--no-diarize", "--wait")
    through = _beside_a_browser(served, args, clip.name)
    assert through.returncode == 0, through.stdout + through.stderr
    lines = through.stdout.splitlines()
    assert lines[0] == "en_librivox_ten_times.wav: hearing 1, job 1 queued", lines
    assert len(lines) == 2 and lines[1].startswith("hearing 1: ") and lines[1].endswith(" segments, transcribed")
    log = (served.data / "server.log").read_text(errors="replace")
    assert "api ada POST /hearings 201" in log and "api ada GET /jobs/1 200" in log  # it went through the server

    alone = tmp_path / "alone"
    alone.mkdir()
    without = workbench(alone, *args)
    assert without.returncode == 0, without.stdout + without.stderr
    assert without.stdout == through.stdout and without.stderr == through.stderr


def test_the_cli_from_afar_sees_only_the_clerks_cases(served: Served, tmp_path: Path) -> None:
    far = tmp_path / "laptop"  # another data folder: no server.json, no store; only --server and the token
    far.mkdir()
    remote = ("--server", served.url)
    out = workbench(far, "cases", "list", "--json", *remote, token=served.cleo_token)
    assert out.returncode == 0, out.stderr
    assert [c["number"] for c in json.loads(out.stdout)] == [CLIP_CASE]
    audio = far / "庭审.wav"
    audio.write_bytes(b"RIFF not really a wav but a recording's name")
    out = workbench(far, "hearings", "add", str(audio), "--case", "（2024）京0105民初78号", *remote,
                    token=served.cleo_token)  # fmt: skip
    assert out.returncode == 1 and "not a member" in out.stderr, out.stderr
    out = workbench(far, "hearings", "add", str(audio), "--case", CLIP_CASE, *remote, token=served.cleo_token)
    assert out.returncode == 0, out.stderr
    hid, jid = (int(x) for x in re.findall(r"hearing (\d+), job (\d+) queued", out.stdout)[0])
    # Not audio: the server's worker fails it at decoding, naming the file; the clerk may retry it.
    import time

    deadline = time.monotonic() + 60
    while True:
        listed = json.loads(workbench(far, "jobs", "list", "--json", *remote, token=served.cleo_token).stdout)
        (job,) = [j for j in listed if j["id"] == jid]
        if job["state"] == "failed" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["state"] == "failed" and "庭审.wav" in job["error"], job
    out = workbench(far, "jobs", "retry", str(jid), *remote, token=served.cleo_token)
    assert out.returncode == 0 and out.stdout == f"job {jid}: queued\n", out.stderr
    out = workbench(far, "hearings", "show", "999", *remote, token=served.cleo_token)
    assert out.returncode == 1 and "not yours" in out.stderr
    # A clerk may not delete, over HTTP either; the uploaded file went into the server's audio store.
    import requests

    bearer = {"Authorization": f"Bearer {served.cleo_token}"}
    r = requests.delete(f"{served.url}/api/v1/hearings/{hid}", headers=bearer, timeout=30)
    assert r.status_code == 403 and r.json()["error"] == "forbidden"
    # multipart/form-data: the door spools the file part, the hearing moves it into the store (nothing left over)
    meta = json.dumps({"case": CLIP_CASE, "courtroom": "第三法庭"}, ensure_ascii=False)
    r = requests.post(
        f"{served.url}/api/v1/hearings", headers=bearer, timeout=30,
        files=[("meta", (None, meta, "application/json")), ("file", ("第二次.mp3", b"ID3 mp3 bytes", "audio/mpeg"))],
    )  # fmt: skip
    assert r.status_code == 201, r.text
    (sub,) = r.json()["submissions"]
    assert sub["file"] == "第二次.mp3" and sub["job_id"] and not sub["duplicate"]
    assert [p.name for p in (served.data / "audio").glob(".upload-*/*")] == []
    assert list((served.data / "audio").rglob("*.wav"))
