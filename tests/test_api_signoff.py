"""Sign-off, sealing and correction requests through the API (real DuckDB, real accounts, issue 16): the whole
workflow transcribed → checked → approved → locked → reopened; each route as the wrong person (a viewer: 403; a
clerk of another case: 404 with the words of a missing hearing; a clerk or an admin approving: 403); a locked
record refusing every edit route with 409 "locked"; sealed text hidden from a viewer in the desk, the segments
and search while the clerk sees it; a correction request on a locked record accepted by the judge changing it.

Through `core.dispatch` (the CLI's in-process door, the same handlers the server runs), answers checked
against each endpoint's own schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_calls import api, refused
from store_samples import Court as World
from store_samples import court, court_copy

from workbench.api.signoff import CORRECTION_NOT_YOURS
from workbench.store import Store, audit

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
    return court(tmp_path_factory.mktemp("signoff"), LINES, [("S1", "另一案件的庭审。"), ("S1", "第二段。")])


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    return court_copy(_template, tmp_path)


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    with Store(world.db) as s:
        yield s


def seg_ids(store: Store, hid: int) -> list[int]:
    return [s.id for s in store.segments(hid)]


def to_locked(store: Store, hid: int) -> None:
    """The hearing checked by wang, approved by zhao, locked by wang, through the API."""
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    api(store, "zhao", "POST", f"/hearings/{hid}/approve")
    api(store, "wang", "POST", f"/hearings/{hid}/lock")


def file_request(store: Store, hid: int, segment_id: int, text: str, who: str = "wang") -> dict[str, Any]:
    body = {"changes": [{"segment_id": segment_id, "text": text}], "requester": "张某某", "requester_kind": "party",
            "reason": "笔录记错了数额"}  # fmt: skip
    return api(store, who, "POST", f"/hearings/{hid}/corrections", body)  # type: ignore[no-any-return]


# --- the workflow ------------------------------------------------------------------------------------


def test_the_whole_workflow_transcribed_checked_approved_locked_reopened(store: Store, world: World) -> None:
    hid = world.own
    s = api(store, "wang", "GET", f"/hearings/{hid}/signoff")
    assert (s["status"], s["label"], s["steps"]) == ("transcribed", "已转写", [])
    assert "check" in s["next"] and "approve" not in s["next"]

    s = api(store, "wang", "POST", f"/hearings/{hid}/check")
    assert (s["status"], s["label"]) == ("checked", "已核对")
    assert "approve" in api(store, "zhao", "GET", f"/hearings/{hid}/signoff")["next"]
    assert "approve" not in s["next"]  # wang is a clerk

    s = api(store, "zhao", "POST", f"/hearings/{hid}/approve")
    assert (s["status"], s["label"]) == ("approved", "已审批")
    assert store.hearing_record(hid).approved  # the draft mark goes with the approval

    s = api(store, "wang", "POST", f"/hearings/{hid}/lock", {"note": "纸质笔录已归档"})
    assert (s["status"], s["label"]) == ("locked", "已锁定")
    assert "lock" not in s["next"] and "check" not in s["next"]

    s = api(store, "zhao", "POST", f"/hearings/{hid}/reopen", {"reason": "当事人对第二段有异议，重新核对"})
    assert (s["status"], s["label"]) == ("in review", "审阅中")
    steps = [(x["step"], x["account"], x["reason"]) for x in s["steps"]]
    assert steps == [("checked", "wang", ""), ("approved", "zhao", ""), ("locked", "wang", "纸质笔录已归档"),
                     ("reopened", "zhao", "当事人对第二段有异议，重新核对")]  # fmt: skip
    assert store.hearing(hid).status.value == "in review"
    logged = [(r.action, r.account) for r in reversed(store.audit_rows(hearing_id=hid))
              if r.action in (audit.CHECKED, audit.APPROVED, audit.LOCKED, audit.REOPENED)]  # fmt: skip
    assert logged == [("checked", "wang"), ("approved", "zhao"), ("locked", "wang"), ("reopened", "zhao")]
    assert store.verify_audit().ok


def test_steps_in_the_wrong_state_are_refused_naming_the_state(store: Store, world: World) -> None:
    hid = world.own
    e = refused(store, "zhao", "POST", f"/hearings/{hid}/approve")  # nobody checked it
    assert e.status == 409 and "transcribed" in e.detail and "check" in e.detail, e.detail
    e = refused(store, "wang", "POST", f"/hearings/{hid}/lock")
    assert e.status == 409 and "lock" in e.detail
    e = refused(store, "zhao", "POST", f"/hearings/{hid}/reopen", {"reason": "x"})
    assert e.status == 409
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    s = api(store, "zhou", "POST", f"/hearings/{hid}/uncheck")  # the other clerk takes the mark back
    assert s["status"] == "in review"
    assert store.hearing(hid).status.value == "in review"


def test_bad_bodies_are_refused_naming_the_field(store: Store, world: World) -> None:
    hid = world.own
    e = refused(store, "wang", "POST", f"/hearings/{hid}/check", {"note": "x"})
    assert (e.status, e.error) == (422, "unknown_field") and "note" in e.detail
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    api(store, "zhao", "POST", f"/hearings/{hid}/approve")
    for body, field in (({}, "reason"), ({"reason": "  "}, "reason"), ({"reason": 3}, "reason"),
                        ({"reason": "x", "why": "y"}, "why")):  # fmt: skip
        e = refused(store, "zhao", "POST", f"/hearings/{hid}/reopen", body)
        assert e.status == 422 and field in e.detail, (body, e.detail)
    assert store.hearing(hid).status.value == "approved"  # nothing happened
    for body, field in (
        ({"start": 10, "end": 5, "reason": "r"}, "end"),
        ({"start": -1, "end": 5, "reason": "r"}, "start"),
        ({"start": 0, "end": 5, "reason": ""}, "reason"),
        ({"start": True, "end": 5, "reason": "r"}, "start"),
        ({"start": 0, "reason": "r"}, "end"),
    ):
        e = refused(store, "wang", "POST", f"/hearings/{hid}/sealed", body)
        assert e.status == 422 and field in e.detail, (body, e.detail)
    assert store.sealed_parts(hid) == []


# --- who may -----------------------------------------------------------------------------------------


def test_each_route_refuses_the_wrong_person(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    part = api(store, "wang", "POST", f"/hearings/{hid}/sealed", {"start": 10, "end": 12, "reason": "涉及未成年人"})
    to_locked(store, hid)
    request = file_request(store, hid, ids[1], "原告请求判令被告支付货款人民币十三万元。")
    writes: list[tuple[str, str, Any]] = [
        ("POST", f"/hearings/{hid}/check", None),
        ("POST", f"/hearings/{hid}/uncheck", None),
        ("POST", f"/hearings/{hid}/approve", None),
        ("POST", f"/hearings/{hid}/lock", None),
        ("POST", f"/hearings/{hid}/reopen", {"reason": "重新核对"}),
        ("POST", f"/hearings/{hid}/sealed", {"start": 0, "end": 1, "reason": "r"}),
        ("DELETE", f"/hearings/{hid}/sealed/{part['id']}", None),
        ("POST", f"/hearings/{hid}/corrections",
         {"changes": [{"segment_id": ids[0], "text": "改。"}], "requester": "张某某", "requester_kind": "party",
          "reason": "r"}),
        ("POST", f"/corrections/{request['id']}/accept", {"reason": "属实"}),
        ("POST", f"/corrections/{request['id']}/reject", {"reason": "不属实"}),
    ]  # fmt: skip
    reads = [f"/hearings/{hid}/signoff", f"/hearings/{hid}/sealed", f"/hearings/{hid}/corrections",
             f"/corrections/{request['id']}"]  # fmt: skip

    def changes_logged() -> int:  # a read of the record's text is audited as an opening: not a change
        return sum(r.action != audit.HEARING_OPENED for r in store.audit_rows(limit=10_000))

    before = changes_logged()

    for method, path, body in writes:  # a viewer of the case: sees it, may not act (403 naming the rule)
        e = refused(store, "qian", method, path, body)
        assert (e.status, e.error) == (403, "forbidden"), (path, e.status, e.detail)
    for method, path, body in writes:  # a clerk of another case: as if nothing were there
        e = refused(store, "li", method, path, body)
        assert e.status == 404, (path, e.status, e.detail)
        assert e.detail == (CORRECTION_NOT_YOURS if path.startswith("/corrections") else MISSING), e.detail
    for path in reads:
        e = refused(store, "li", "GET", path)
        assert e.status == 404 and e.detail in (MISSING, CORRECTION_NOT_YOURS), (path, e.detail)
        api(store, "qian", "GET", path)  # the viewer may read them
    missing = refused(store, "li", "GET", "/corrections/999999")
    assert missing.detail == refused(store, "li", "GET", f"/corrections/{request['id']}").detail

    # the clerk files and locks, but neither approves, reopens nor decides; an admin is IT, no court officer
    for who in ("wang", "root"):
        for method, path, body in (writes[2], writes[4], writes[8], writes[9]):
            e = refused(store, who, method, path, body)
            assert e.status == 403, (who, path, e.status, e.detail)
    e = refused(store, "root", "POST", f"/hearings/{hid}/check")
    assert e.status == 403
    assert changes_logged() == before  # nothing refused changed anything
    assert store.hearing(hid).status.value == "locked"
    assert store.correction(request["id"]).state == "pending"
    assert [p.id for p in store.sealed_parts(hid)] == [part["id"]]


def test_clerk_may_not_approve_a_checked_record(store: Store, world: World) -> None:
    hid = world.own
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    for who in ("wang", "zhou", "root"):
        e = refused(store, who, "POST", f"/hearings/{hid}/approve")
        assert e.status == 403 and ("judge" in e.detail.lower() or "法官" in e.detail), (who, e.detail)
    assert store.hearing(hid).status.value == "checked"


# --- the lock ----------------------------------------------------------------------------------------


def test_a_locked_record_refuses_every_edit_route(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    assert api(store, "wang", "GET", f"/hearings/{hid}/desk")["hearing"]["may_edit"] is True
    to_locked(store, hid)
    desk = api(store, "wang", "GET", f"/hearings/{hid}/desk")
    assert desk["hearing"]["may_edit"] is False and desk["hearing"]["status"] == "locked"
    texts = [s.text for s in store.segments(hid)]
    version = desk["segments"][1]["version"]
    attempts: list[tuple[str, str, Any]] = [
        ("POST", f"/hearings/{hid}/edits", {"edits": [{"segment_id": ids[1], "text": "改了。", "version": version}]}),
        ("PATCH", f"/segments/{ids[1]}", {"text": "改了。"}),
        ("PATCH", f"/hearings/{hid}/speakers/S1", {"name": "张三"}),
        ("POST", f"/segments/{ids[1]}/split", {"at": 2, "version": version}),
        ("POST", f"/segments/{ids[1]}/merge", {"version": version, "next_version": desk["segments"][2]["version"]}),
        ("POST", f"/hearings/{hid}/replace", {"find": "原告", "replace": "被告", "apply": True}),
        ("PUT", f"/hearings/{hid}/checked", {"segment_id": ids[2]}),
        ("POST", f"/hearings/{hid}/sealed", {"start": 0, "end": 3, "reason": "r"}),
    ]
    for who in ("wang", "zhao", "root"):
        for method, path, body in attempts[:-1] if who == "root" else attempts:  # an admin seals nothing anyway
            e = refused(store, who, method, path, body)
            assert (e.status, e.error) == (409, "locked"), (who, path, e.status, e.error, e.detail)
            assert "补正申请" in e.detail and "correction request" in e.detail
    assert [s.text for s in store.segments(hid)] == texts
    assert store.hearing(hid).status.value == "locked"
    assert store.edits(hearing_id=hid) == []


def test_an_edit_to_an_approved_record_sends_it_back(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    api(store, "wang", "POST", f"/hearings/{hid}/check")
    api(store, "zhao", "POST", f"/hearings/{hid}/approve")
    desk = api(store, "wang", "GET", f"/hearings/{hid}/desk")
    assert desk["hearing"]["may_edit"] is True  # approved is not locked: an edit is allowed and sends it back
    api(store, "wang", "PATCH", f"/segments/{ids[0]}", {"text": "现在开庭。"})
    s = api(store, "wang", "GET", f"/hearings/{hid}/signoff")
    assert s["status"] == "in review" and s["steps"][-1]["step"] == "returned"
    assert not store.hearing_record(hid).approved


# --- sealed parts ------------------------------------------------------------------------------------


def test_sealed_text_is_hidden_from_a_viewer_and_shown_to_the_clerk(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    # [10, 11): inside segment 2 ([10, 14.5)) only
    part = api(store, "zhou", "POST", f"/hearings/{hid}/sealed", {"start": 10, "end": 11, "reason": "涉及未成年人"})
    assert (part["start"], part["end"], part["reason"], part["created_by"]) == (10.0, 11.0, "涉及未成年人", "zhou")
    listed = api(store, "qian", "GET", f"/hearings/{hid}/sealed")["items"]
    assert [p["id"] for p in listed] == [part["id"]]

    viewer = api(store, "qian", "GET", f"/hearings/{hid}/desk")
    clerk = api(store, "wang", "GET", f"/hearings/{hid}/desk")
    for desk in (viewer, clerk):
        assert desk["sealed"] == [{"id": part["id"], "start": 10.0, "end": 11.0, "reason": "涉及未成年人"}]
        assert [s["sealed"] for s in desk["segments"]] == [False, False, True, False]
    assert viewer["segments"][2]["text"] == HIDDEN and viewer["segments"][2]["words"] == []
    assert clerk["segments"][2]["text"] == LINES[2][1] and clerk["segments"][2]["words"]
    assert viewer["segments"][1]["text"] == LINES[1][1]  # the rest as it is
    assert "幸福路" not in str(viewer)

    segs = api(store, "qian", "GET", f"/hearings/{hid}/segments")["items"]
    assert (segs[2]["text"], segs[2]["text_orig"], segs[2]["sealed"]) == (HIDDEN, HIDDEN, True)
    orig = api(store, "qian", "GET", f"/hearings/{hid}/segments", query={"original": "true"})["items"]
    assert orig[2]["text"] == HIDDEN
    assert api(store, "qian", "GET", f"/segments/{ids[2]}")["text"] == HIDDEN
    assert api(store, "wang", "GET", f"/hearings/{hid}/segments")["items"][2]["text"] == LINES[2][1]
    assert api(store, "root", "GET", f"/segments/{ids[2]}")["text"] == LINES[2][1]  # an admin may see it

    def hits(who: str, q: str) -> list[int]:
        return [h["segment_id"] for h in api(store, who, "GET", "/search", query={"q": q})["items"]]

    assert hits("qian", "幸福路") == [] and hits("qian", "未成年证人") == []
    assert hits("wang", "幸福路") == [ids[2]] and hits("zhao", "幸福路") == [ids[2]]
    assert hits("qian", "货款") == [ids[1]]  # the rest is found as before

    api(store, "wang", "DELETE", f"/hearings/{hid}/sealed/{part['id']}")
    assert api(store, "qian", "GET", f"/segments/{ids[2]}")["text"] == LINES[2][1]
    assert hits("qian", "幸福路") == [ids[2]]
    assert [r.action for r in store.audit_rows(hearing_id=hid) if r.action in (audit.SEALED, audit.UNSEALED)] == [
        "unsealed", "sealed"]  # fmt: skip


def test_a_sealed_part_of_another_hearing_is_not_found(store: Store, world: World) -> None:
    part = api(store, "li", "POST", f"/hearings/{world.other}/sealed", {"start": 0, "end": 1, "reason": "r"})
    e = refused(store, "wang", "DELETE", f"/hearings/{world.own}/sealed/{part['id']}")
    assert e.status == 404
    assert [p.id for p in store.sealed_parts(world.other)] == [part["id"]]


# --- correction requests -----------------------------------------------------------------------------


def test_a_correction_request_accepted_by_the_judge_changes_the_locked_text(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    new = "原告请求判令被告支付货款人民币十三万元。"
    e = refused(store, "wang", "POST", f"/hearings/{hid}/corrections",
                {"changes": [{"segment_id": ids[1], "text": new}], "requester": "张某某", "requester_kind": "party",
                 "reason": "r"})  # fmt: skip
    assert e.status == 409, e.detail  # before the lock a clerk just edits
    to_locked(store, hid)

    r = file_request(store, hid, ids[1], new)
    assert (r["state"], r["requester"], r["requester_kind"], r["filed_by"]) == ("pending", "张某某", "party", "wang")
    assert r["changes"] == [{"segment_id": ids[1], "text": new, "version": 0}]
    assert store.segment(ids[1]).text == LINES[1][1]  # filing changes nothing

    done = api(store, "zhao", "POST", f"/corrections/{r['id']}/accept", {"reason": "与录音核对属实"})
    assert (done["state"], done["decided_by"], done["decision_reason"]) == ("accepted", "zhao", "与录音核对属实")
    assert store.segment(ids[1]).text == new
    assert [e.request_id for e in store.edits(segment_id=ids[1])] == [r["id"]]
    assert store.hearing(hid).status.value == "locked"  # still locked
    again = refused(store, "zhao", "POST", f"/corrections/{r['id']}/reject", {"reason": "x"})
    assert again.status == 409  # decided once

    rejected = file_request(store, hid, ids[0], "胡说。", who="zhou")
    out = api(store, "zhao", "POST", f"/corrections/{rejected['id']}/reject", {"reason": "与录音不符"})
    assert out["state"] == "rejected" and store.segment(ids[0]).text == LINES[0][1]
    listed = api(store, "qian", "GET", f"/hearings/{hid}/corrections")["items"]
    assert [(x["id"], x["state"]) for x in listed] == [(r["id"], "accepted"), (rejected["id"], "rejected")]


def test_accepting_a_request_whose_segment_changed_since_is_a_conflict(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    to_locked(store, hid)
    first = file_request(store, hid, ids[1], "第一种说法。")
    second = file_request(store, hid, ids[1], "第二种说法。")
    api(store, "zhao", "POST", f"/corrections/{first['id']}/accept", {"reason": "属实"})
    e = refused(store, "zhao", "POST", f"/corrections/{second['id']}/accept", {"reason": "属实"})
    assert e.status == 409 and str(ids[1]) in e.detail, e.detail
    assert store.segment(ids[1]).text == "第一种说法。"
    assert store.correction(second["id"]).state == "pending"


def test_bad_correction_requests_are_refused_naming_the_field(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    other_seg = seg_ids(store, world.other)[0]
    to_locked(store, hid)
    good = {"changes": [{"segment_id": ids[0], "text": "改。"}], "requester": "张某某", "requester_kind": "party",
            "reason": "r"}  # fmt: skip
    for change, field in (
        ({"changes": []}, "changes"),
        ({"changes": [{"segment_id": other_seg, "text": "x"}]}, "segment_id"),
        ({"changes": [{"segment_id": ids[0]}]}, "text"),
        ({"changes": [{"segment_id": ids[0], "text": "a"}, {"segment_id": ids[0], "text": "b"}]}, "segment_id"),
        ({"requester_kind": "judge"}, "requester_kind"),
        ({"requester": " "}, "requester"),
        ({"reason": ""}, "reason"),
        ({"extra": 1}, "extra"),
    ):
        e = refused(store, "wang", "POST", f"/hearings/{hid}/corrections", {**good, **change})
        assert e.status == 422 and field in e.detail, (change, e.detail)
    assert store.corrections(hid) == []
    r = file_request(store, hid, ids[0], "改。")
    e = refused(store, "zhao", "POST", f"/corrections/{r['id']}/accept", {})
    assert e.status == 422 and "reason" in e.detail


def test_a_viewer_sees_no_proposed_text_for_a_sealed_segment(store: Store, world: World) -> None:
    hid = world.own
    ids = seg_ids(store, hid)
    api(store, "wang", "POST", f"/hearings/{hid}/sealed", {"start": 10, "end": 14, "reason": "涉及未成年人"})
    to_locked(store, hid)
    r = file_request(store, hid, ids[2], "未成年证人的住址是光明路九号。")
    assert api(store, "qian", "GET", f"/corrections/{r['id']}")["changes"][0]["text"] == HIDDEN
    assert api(store, "qian", "GET", f"/hearings/{hid}/corrections")["items"][0]["changes"][0]["text"] == HIDDEN
    judge = api(store, "zhao", "GET", f"/corrections/{r['id']}")
    assert judge["changes"][0]["text"] == "未成年证人的住址是光明路九号。"
