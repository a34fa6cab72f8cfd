"""The record a court can sign (issue 16) in a real DuckDB store: who may take each sign-off step and in which
state, the lock on every store write, correction requests from filing to decision, sealed parts (overlap, search),
an edit taking a mark away, schema V9 of a V8 file, and the record's head."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from store_samples import CASE, LINES, OTHER_CASE, TESTER, audio_file, court_accounts, hearing, transcript

from workbench.accounts import Access, Accounts, Forbidden
from workbench.accounts.access import NotYours
from workbench.store import Conflict, Locked, NotFound, Store, StoreError, WrongState, audit, jobs, migrations, search
from workbench.store.audit import Actor
from workbench.store.desk import SegmentEdit
from workbench.store.signoff import RECORD_ACTIONS
from workbench.store.status import Event, HearingStatus, StatusError, allowed_steps, next_status


@dataclass
class Court:
    store: Store
    own: int  # a transcribed hearing of CASE (wang, zhou: clerks; zhao: judge; qian: viewer)
    other: int  # one of OTHER_CASE (li: its clerk)

    def access(self, name: str) -> Access:
        return Access(self.store, Accounts(self.store).get(name), "test")

    def actor(self, name: str) -> Actor:
        return self.access(name).actor

    def segs(self, hid: int | None = None) -> list:
        return self.store.segments(self.own if hid is None else hid)

    def to(self, state: str) -> None:
        """Takes the own hearing from transcribed to `state` by the right people."""
        steps = {"checked": ["check"], "approved": ["check", "approve"], "locked": ["check", "approve", "lock"]}
        who = {"check": "wang", "approve": "zhao", "lock": "wang"}
        for step in steps[state]:
            getattr(self.store, step)(self.own, actor=self.actor(who[step]))
        assert self.store.hearing(self.own).status == state


@pytest.fixture
def court(tmp_path: Path) -> Court:
    with Store(tmp_path / "wb.duckdb") as store:
        own = hearing(store)
        other = hearing(store, [("S1", "另一个案件的庭审。")], case=OTHER_CASE)
        court_accounts(store)
        yield Court(store, own, other)


# --- the status machine ----------------------------------------------------------------------------------


def test_the_status_machine_steps_and_what_each_status_allows() -> None:
    assert [next_status("transcribed", e) for e in (Event.CHECKED, Event.EDITED)] == ["checked", "in review"]
    assert next_status("checked", Event.APPROVED) == HearingStatus.APPROVED
    assert next_status("approved", Event.LOCKED) == HearingStatus.LOCKED
    assert [next_status(s, Event.EDITED) for s in ("checked", "approved", "locked", "in review")] == [
        "in review", "in review", "locked", "in review"]  # fmt: skip
    assert [next_status(s, Event.REOPENED) for s in ("checked", "approved", "locked")] == ["in review"] * 3
    assert next_status("locked", Event.JOB_STARTED) == "locked"  # a job queued before the lock cannot move it
    assert next_status("approved", Event.JOB_STARTED) == "processing"
    assert [e.value for e in allowed_steps("checked")] == ["unchecked", "approved", "reopened"]
    assert allowed_steps("queued") == () and [e.value for e in allowed_steps("locked")] == ["reopened"]
    with pytest.raises(
        StatusError, match=r"审阅中，不能审批.*in review: it cannot approve; the next step allowed is check"
    ):
        next_status("in review", Event.APPROVED)
    with pytest.raises(StatusError, match="wait for the transcript"):
        next_status("processing", Event.CHECKED)
    assert HearingStatus.LOCKED.label == "已锁定" and HearingStatus.CHECKED.label == "已核对"


# --- the steps, by the right and the wrong people ----------------------------------------------------------


def test_check_approve_lock_by_the_clerk_and_the_judge_each_audited_with_its_step(court: Court) -> None:
    store, hid = court.store, court.own
    wang, zhao = court.access("wang"), court.access("zhao")
    case_id = store.hearing(hid).case_id
    assert (
        wang.next_steps(store.hearing(hid)) == ["check"] and court.access("qian").next_steps(store.hearing(hid)) == []
    )
    wang.require_check(case_id)
    assert store.check(hid, actor=wang.actor) == HearingStatus.CHECKED
    assert wang.next_steps(store.hearing(hid)) == ["uncheck"]
    assert zhao.next_steps(store.hearing(hid)) == ["uncheck", "approve", "reopen"]
    zhao.require_approve(case_id)
    assert store.approve(hid, actor=zhao.actor) == HearingStatus.APPROVED
    assert store.hearing_record(hid).approved  # the draft mark goes with the approval
    assert wang.next_steps(store.hearing(hid)) == ["lock"] and zhao.next_steps(store.hearing(hid)) == ["lock", "reopen"]
    wang.require_lock(case_id)
    assert store.lock(hid, actor=wang.actor, note="归档") == HearingStatus.LOCKED
    assert wang.next_steps(store.hearing(hid)) == [] and zhao.next_steps(store.hearing(hid)) == ["reopen"]
    steps = store.signoff_steps(hid)
    assert [(s.step, s.account, s.reason) for s in steps] == [
        ("checked", "wang", ""), ("approved", "zhao", ""), ("locked", "wang", "归档")]  # fmt: skip
    rows = {r.id: r for r in store.audit_rows(hearing_id=hid)}
    assert [rows[s.audit_id].action for s in steps] == [audit.CHECKED, audit.APPROVED, audit.LOCKED]
    assert rows[steps[2].audit_id].detail == {"before": "approved", "status": "locked", "reason": "归档"}
    assert all(rows[s.audit_id].account == s.account and rows[s.audit_id].case_id == case_id for s in steps)
    record = store.hearing_record(hid)
    assert record.hearing_id == hid and record.state == "locked" and record.approved
    assert [(n.step, n.account) for n in record.signoffs] == [
        ("checked", "wang"),
        ("approved", "zhao"),
        ("locked", "wang"),
    ]
    assert store.verify_audit().ok


@pytest.mark.parametrize(
    ("name", "check", "error"),
    [
        ("wang", "require_approve", Forbidden),  # a clerk cannot approve
        ("wang", "require_reopen", Forbidden),
        ("wang", "require_decide_correction", Forbidden),
        ("root", "require_approve", Forbidden),  # an admin is IT, not a court officer
        ("root", "require_check", Forbidden),
        ("root", "require_lock", Forbidden),
        ("root", "require_seal", Forbidden),
        ("root", "require_request_correction", Forbidden),
        ("qian", "require_check", Forbidden),  # a viewer cannot check or request
        ("qian", "require_lock", Forbidden),
        ("qian", "require_seal", Forbidden),
        ("qian", "require_request_correction", Forbidden),
        ("li", "require_check", NotYours),  # a clerk of another case: as if the case were not there
        ("li", "require_approve", NotYours),
        ("li", "require_request_correction", NotYours),
    ],
)
def test_the_wrong_person_is_refused_each_step(court: Court, name: str, check: str, error: type) -> None:
    access = court.access(name)
    case_id = court.store.hearing(court.own).case_id
    with pytest.raises(error) as e:
        getattr(access, check)(case_id)
    assert ("(not found or not yours)" in str(e.value) or "(case not found" in str(e.value)) if error is NotYours else (
        f"a {access.account.role.value} may not" in str(e.value))  # fmt: skip
    assert getattr(access, check.replace("require_", "may_"))(case_id) is False


def test_who_may_take_which_step_and_see_sealed_text(court: Court) -> None:
    case_id = court.store.hearing(court.own).case_id
    table = {
        name: [getattr(court.access(name), m)(case_id) for m in (
            "may_check", "may_approve", "may_lock", "may_reopen", "may_seal", "may_request_correction",
            "may_decide_correction", "may_see_sealed")]
        for name in ("wang", "zhao", "qian", "root", "li")
    }  # fmt: skip
    assert table == {
        "wang": [True, False, True, False, True, True, False, True],
        "zhao": [True, True, True, True, True, True, True, True],
        "qian": [False] * 8,
        "root": [False] * 7 + [True],  # an admin may read sealed text, and take no step
        "li": [False] * 8,
    }
    for name in ("wang", "zhao", "qian", "root", "li"):
        assert court.access(name).next_steps(court.store.hearing(court.own)) == (
            ["check"] if name in ("wang", "zhao") else [])  # fmt: skip


def test_a_step_in_the_wrong_state_names_the_state_and_what_is_allowed_and_audits_nothing(court: Court) -> None:
    store, hid = court.store, court.own
    zhao = court.actor("zhao")
    rows = store.verify_audit().rows
    with pytest.raises(
        WrongState, match=r"已转写，不能审批.*transcribed: it cannot approve; the next step allowed is check"
    ):
        store.approve(hid, actor=zhao)
    with pytest.raises(StatusError, match="cannot lock"):  # a WrongState is the status machine's StatusError
        store.lock(hid, actor=zhao)
    with pytest.raises(Conflict, match="cannot uncheck"):  # ... and a Conflict (the API's 409)
        store.uncheck(hid, actor=zhao)
    with pytest.raises(WrongState, match="cannot reopen"):
        store.reopen(hid, "理由", actor=zhao)
    queued = store.add_hearing(store.hearing(hid).case_id)
    with pytest.raises(WrongState, match="queued: it cannot check; wait for the transcript"):
        store.check(queued, actor=zhao)
    with pytest.raises(NotFound):
        store.check(10**6, actor=zhao)
    assert store.verify_audit().rows == rows and store.signoff_steps(hid) == []
    court.to("checked")
    with pytest.raises(
        WrongState, match=r"checked: it cannot lock; the next step allowed is uncheck or approve or reopen"
    ):
        store.lock(hid, actor=zhao)
    with pytest.raises(WrongState, match="cannot check"):
        store.check(hid, actor=zhao)
    court.store.approve(hid, actor=zhao)
    court.store.lock(hid, actor=zhao)
    with pytest.raises(WrongState, match="locked: it cannot check; the next step allowed is reopen"):
        store.check(hid, actor=zhao)
    assert store.hearing(hid).status == "locked"


def test_uncheck_and_reopen_go_back_to_review_and_reopen_needs_a_reason(court: Court) -> None:
    store, hid = court.store, court.own
    court.to("checked")
    assert store.uncheck(hid, actor=court.actor("wang")) == HearingStatus.IN_REVIEW
    court.to("locked")
    for blank in ("", "   "):
        with pytest.raises(StoreError, match="reason to reopen is required"):
            store.reopen(hid, blank, actor=court.actor("zhao"))
    assert store.hearing(hid).status == "locked"
    assert store.reopen(hid, "  当事人申请复核录音  ", actor=court.actor("zhao")) == HearingStatus.IN_REVIEW
    last = store.signoff_steps(hid)[-1]
    assert (last.step, last.account, last.reason) == ("reopened", "zhao", "当事人申请复核录音")
    assert store.audit_rows(action=audit.REOPENED)[0].detail["reason"] == "当事人申请复核录音"
    store.edit_segment(court.segs()[0].id, text="重新打开后可以修改。", actor=court.actor("wang"))  # not locked now


def test_lock_is_refused_while_a_job_of_the_hearing_is_queued(court: Court, tmp_path: Path) -> None:
    store, hid = court.store, court.own
    sha, path = store.store_audio(audio_file(tmp_path))
    with store.writing() as con:
        store.add_recording(hid, file_name="a.wav", stored_path=path, sha256=sha, con=con)
    job = jobs.enqueue(store, hid, actor=court.actor("wang"))
    court.to("approved")
    with pytest.raises(Conflict, match=f"job {job}: cancel it before locking"):
        store.lock(hid, actor=court.actor("wang"))
    jobs.cancel(store, job, actor=court.actor("wang"))
    assert store.lock(hid, actor=court.actor("wang")) == "locked"


# --- the lock holds on every store write ---------------------------------------------------------------------


def _recorded(store: Store, hid: int, tmp_path: Path) -> int:
    """The hearing with its recording stored and a failed job (to retry); returns the job's id."""
    sha, path = store.store_audio(audio_file(tmp_path))
    with store.writing() as con:
        store.add_recording(hid, file_name="a.wav", stored_path=path, sha256=sha, con=con)
        rec = con.execute("SELECT id FROM recordings WHERE hearing_id = ?", [hid]).fetchone()[0]
        return int(con.execute(
            "INSERT INTO jobs (hearing_id, recording_id, state) VALUES (?, ?, 'failed') RETURNING id", [hid, rec]
        ).fetchone()[0])  # fmt: skip


WRITES: dict[str, Callable[[Store, int, list, int, int], object]] = {
    "edit text": lambda st, h, s, job, part: st.edit_segment(s[0].id, text="改", actor=TESTER),
    "edit speaker": lambda st, h, s, job, part: st.edit_segment(s[0].id, speaker="S3", actor=TESTER),
    "edit batch": lambda st, h, s, job, part: st.edit_segments(h, [SegmentEdit(s[1].id, "改")], actor=TESTER),
    "speaker label": lambda st, h, s, job, part: st.set_speaker(h, "S1", name="李四", actor=TESTER),
    "split": lambda st, h, s, job, part: st.split_segment(s[0].id, 3, actor=TESTER, expected_version=None),
    "merge": lambda st, h, s, job, part: st.merge_segments(
        s[0].id, actor=TESTER, expected_version=None, next_version=None
    ),
    "save transcript": lambda st, h, s, job, part: st.save_transcript(h, transcript(LINES[:2])),
    "checked mark": lambda st, h, s, job, part: st.set_checked(h, s[2].id, actor=TESTER),
    "update hearing": lambda st, h, s, job, part: st.update_hearing(h, courtroom="第九法庭", actor=TESTER),
    "delete hearing": lambda st, h, s, job, part: st.delete_hearing(h, actor=TESTER),
    "enqueue": lambda st, h, s, job, part: jobs.enqueue(st, h, actor=TESTER),
    "retry": lambda st, h, s, job, part: jobs.retry(st, job, actor=TESTER),
    "seal": lambda st, h, s, job, part: st.seal(h, 20.0, 22.0, "涉及个人隐私", actor=TESTER),
    "unseal": lambda st, h, s, job, part: st.unseal(h, part, actor=TESTER),
}


@pytest.mark.parametrize("write", sorted(WRITES))
def test_every_store_write_to_a_locked_record_raises_locked_and_changes_nothing(
    court: Court, tmp_path: Path, write: str
) -> None:
    store, hid = court.store, court.own
    job = _recorded(store, hid, tmp_path)
    part = store.seal(hid, 0.0, 1.0, "未成年人", actor=TESTER).id
    court.to("locked")
    before = ([(s.id, s.text, s.speaker, s.start, s.end) for s in court.segs()], store.speakers(hid),
              store.sealed_parts(hid), store.hearing(hid), store.verify_audit().rows, jobs.job(store, job))  # fmt: skip
    with pytest.raises(Locked, match=r"庭审笔录已锁定.*\(the record is locked: file a correction request\)"):
        WRITES[write](store, hid, court.segs(), job, part)
    after = ([(s.id, s.text, s.speaker, s.start, s.end) for s in court.segs()], store.speakers(hid),
             store.sealed_parts(hid), store.hearing(hid), store.verify_audit().rows, jobs.job(store, job))  # fmt: skip
    assert after == before
    assert isinstance(Locked(), StoreError)


def test_the_lock_leaves_other_hearings_alone(court: Court) -> None:
    court.to("locked")
    other = court.segs(court.other)[0]
    assert court.store.edit_segment(other.id, text="另一个庭审可以修改。", actor=TESTER).text == "另一个庭审可以修改。"
    # a batch naming a segment of the locked hearing under another hearing only reports it, as any foreign one
    [outcome] = court.store.edit_segments(court.other, [SegmentEdit(court.segs()[0].id, "x")], actor=TESTER)
    assert outcome.error == "not_found"


# --- correction requests ------------------------------------------------------------------------------------


def test_a_correction_request_is_filed_only_on_a_locked_record_with_what_it_needs(court: Court) -> None:
    store, hid = court.store, court.own
    seg = court.segs()[0]
    ask = {"requester": "张三丰", "requester_kind": "party", "reason": "笔录漏记", "actor": court.actor("wang")}
    with pytest.raises(WrongState, match="not locked: edit it directly"):
        store.request_correction(hid, [(seg.id, "改")], **ask)
    court.to("locked")
    foreign = court.segs(court.other)[0].id
    with pytest.raises(NotFound, match=f"has no segment {foreign}"):
        store.request_correction(hid, [(foreign, "改")], **ask)
    with pytest.raises(StoreError, match="is what it says already"):
        store.request_correction(hid, [(seg.id, seg.text)], **ask)
    with pytest.raises(StoreError, match="named twice"):
        store.request_correction(hid, [(seg.id, "一"), (seg.id, "二")], **ask)
    with pytest.raises(StoreError, match="at least one change"):
        store.request_correction(hid, [], **ask)
    with pytest.raises(StoreError, match="requester kind must be one of party, lawyer, member"):
        store.request_correction(hid, [(seg.id, "改")], **(ask | {"requester_kind": "judge"}))
    for field, words in (("requester", "the requester is required"), ("reason", "reason for the correction")):
        with pytest.raises(StoreError, match=words):
            store.request_correction(hid, [(seg.id, "改")], **(ask | {field: " "}))
    assert store.corrections(hid) == [] and store.audit_rows(action=audit.CORRECTION_REQUESTED) == []


def test_an_accepted_request_becomes_edits_tied_to_it_and_the_record_stays_locked(court: Court) -> None:
    store, hid = court.store, court.own
    court.to("locked")
    a, b = court.segs()[0], court.segs()[2]
    request = store.request_correction(
        hid, [(a.id, "现在开庭，请原告代理人陈述诉讼请求。"), (b.id, "被告张三丰对证据三有异议。")],
        requester="李律师", requester_kind="lawyer", reason="代理人姓名漏记", actor=court.actor("wang"),
    )  # fmt: skip
    assert (request.state, request.filed_by, request.requester_kind) == ("pending", "wang", "lawyer")
    assert request.changes == (
        (a.id, "现在开庭，请原告代理人陈述诉讼请求。", 0),
        (b.id, "被告张三丰对证据三有异议。", 0),
    )
    assert store.correction(request.id) == request and store.corrections(hid) == [request]
    head = store.record_head(hid)
    with pytest.raises(StoreError, match="reason for the decision"):
        store.decide_correction(request.id, True, "", actor=court.actor("zhao"))
    done = store.decide_correction(request.id, True, "与录音一致", actor=court.actor("zhao"))
    assert (done.state, done.decided_by, done.decision_reason) == ("accepted", "zhao", "与录音一致")
    assert done.decided_at is not None
    assert store.hearing(hid).status == "locked"  # the correction is the one edit a locked record takes
    assert (
        store.segment(a.id).text == "现在开庭，请原告代理人陈述诉讼请求。"
        and store.derived_text(b.id) == store.segment(b.id).text
    )
    edits = store.edits(hearing_id=hid)
    assert [(e.segment_id, e.request_id, e.user) for e in edits] == [
        (a.id, request.id, "zhao"),
        (b.id, request.id, "zhao"),
    ]
    decided = store.audit_rows(action=audit.CORRECTION_DECIDED)[0]
    assert decided.detail == {
        "request_id": request.id,
        "accepted": True,
        "reason": "与录音一致",
        "segments": [a.id, b.id],
    }
    edit_rows = store.audit_rows(action=audit.EDITED, hearing_id=hid)
    assert [r.detail["request_id"] for r in edit_rows] == [request.id] * 2 and edit_rows[-1].id > decided.id
    assert store.record_head(hid) == edit_rows[0].hash != head
    assert [found.segment_id for found in search.search(store, "代理人", hearing_id=hid, include_sealed=True)] == [
        a.id
    ]  # indexed at once
    with pytest.raises(WrongState, match=f"correction request {request.id} is accepted already"):
        store.decide_correction(request.id, False, "再议", actor=court.actor("zhao"))
    [note] = store.hearing_record(hid).corrections
    assert (note.number, note.requester, note.requester_kind, note.outcome, note.decided_by) == (
        1, "李律师", "lawyer", "accepted", "zhao")  # fmt: skip
    assert note.changes == (
        (a.start, a.end, a.text, "现在开庭，请原告代理人陈述诉讼请求。"),
        (b.start, b.end, b.text, "被告张三丰对证据三有异议。"),
    )
    assert store.verify_audit().ok


def test_a_rejected_request_changes_nothing_and_a_stale_one_cannot_be_accepted(court: Court) -> None:
    store, hid = court.store, court.own
    court.to("locked")
    seg = court.segs()[1]
    ask = {"requester": "书记员王", "requester_kind": "member", "reason": "笔误", "actor": court.actor("wang")}
    first = store.request_correction(hid, [(seg.id, "第一种改法。")], **ask)
    second = store.request_correction(hid, [(seg.id, "第二种改法。")], **ask)
    third = store.request_correction(hid, [(court.segs()[3].id, "第三处。")], **ask)
    rejected = store.decide_correction(third.id, False, "与录音不符", actor=court.actor("zhao"))
    assert rejected.state == "rejected" and store.segment(court.segs()[3].id).text == LINES[3][1]
    store.decide_correction(first.id, True, "属实", actor=court.actor("zhao"))
    with pytest.raises(Conflict, match=f"segment {seg.id} changed since correction request {second.id} was filed"):
        store.decide_correction(second.id, True, "属实", actor=court.actor("zhao"))
    assert store.correction(second.id).state == "pending" and store.segment(seg.id).text == "第一种改法。"
    assert [e.request_id for e in store.edits(hearing_id=hid)] == [first.id]
    assert store.decide_correction(second.id, False, "已按前一申请更正", actor=court.actor("zhao")).state == "rejected"
    notes = store.hearing_record(hid).corrections
    assert [(n.number, n.outcome) for n in notes] == [(1, "accepted"), (2, "rejected"), (3, "rejected")]
    assert notes[1].changes == (
        (seg.start, seg.end, LINES[1][1], "第二种改法。"),
    )  # the text before, as it was when filed
    with pytest.raises(NotFound, match="no correction request 999"):
        store.decide_correction(999, True, "x", actor=court.actor("zhao"))


# --- sealed parts ---------------------------------------------------------------------------------------------


def test_a_segment_overlapping_a_sealed_part_at_all_is_sealed(court: Court) -> None:
    store, hid = court.store, court.own
    segs = court.segs()  # LINES: segment i spoken [5 i, 5 i + 4.5)
    part = store.seal(hid, 4.0, 5.0, "涉及未成年人", actor=court.actor("wang"))
    assert (part.hearing_id, part.start, part.end, part.reason, part.created_by) == (
        hid,
        4.0,
        5.0,
        "涉及未成年人",
        "wang",
    )
    assert store.sealed_segment_ids(hid) == {segs[0].id}  # its last half second; segment 1 starts at 5.0: outside
    store.seal(hid, 9.5, 10.0, "间隙", actor=TESTER)  # between segment 1's end and segment 2's start
    assert store.sealed_segment_ids(hid) == {segs[0].id}
    store.seal(hid, 12.0, 16.0, "商业秘密", actor=TESTER)  # the end of 2, the start of 3
    assert store.sealed_segment_ids(hid) == {segs[0].id, segs[2].id, segs[3].id}
    assert [p.start for p in store.sealed_parts(hid)] == [4.0, 9.5, 12.0]
    with pytest.raises(Conflict, match=r"overlaps sealed part \d+ at 00:00:12—00:00:16"):
        store.seal(hid, 15.0, 30.0, "重叠", actor=TESTER)
    for start, end in ((5.0, 5.0), (6.0, 5.0), (-1.0, 2.0), (float("nan"), 3.0), (0.0, float("inf"))):
        with pytest.raises(StoreError, match="sealed part needs 0 ≤ start < end"):
            store.seal(hid, start, end, "理由", actor=TESTER)
    with pytest.raises(StoreError, match="reason for sealing is required"):
        store.seal(hid, 30.0, 40.0, " ", actor=TESTER)
    row = store.audit_rows(action=audit.SEALED)[-1]
    assert row.detail == {"part_id": part.id, "start": 4.0, "end": 5.0, "reason": "涉及未成年人", "segments": 1}
    store.unseal(hid, part.id, actor=TESTER)
    assert store.sealed_segment_ids(hid) == {segs[2].id, segs[3].id}
    assert store.audit_rows(action=audit.UNSEALED)[0].detail["reason"] == "涉及未成年人"
    with pytest.raises(NotFound, match=f"has no sealed part {part.id}"):
        store.unseal(hid, part.id, actor=TESTER)
    with pytest.raises(NotFound):  # a part of this hearing named under another
        store.unseal(court.other, store.sealed_parts(hid)[0].id, actor=TESTER)


def test_search_without_sealed_parts_never_finds_their_text(court: Court) -> None:
    store, hid = court.store, court.own
    segs = court.segs()
    assert {h.segment_id for h in search.search(store, "被告", hearing_id=hid, include_sealed=True)} == {
        segs[2].id,
        segs[3].id,
    }
    store.seal(hid, 10.0, 11.0, "涉及个人隐私", actor=TESTER)  # segment 2: 被告张三丰对证据三...
    for query in ("被告", '"张三丰"', "张"):  # ranked, a phrase, a lone character (scanned)
        seen = {h.segment_id for h in search.search(store, query, hearing_id=hid, include_sealed=True)}
        hidden = {h.segment_id for h in search.search(store, query, hearing_id=hid, include_sealed=False)}
        assert segs[2].id in seen and segs[2].id not in hidden, query
    assert {h.segment_id for h in search.search(store, "被告", include_sealed=False)} == {segs[3].id}


# --- an edit takes the mark away ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["checked", "approved"])
def test_an_edit_to_a_checked_or_approved_record_sends_it_back_with_a_returned_step(court: Court, state: str) -> None:
    store, hid = court.store, court.own
    court.to(state)
    seg = court.segs()[0]
    store.edit_segment(seg.id, text=seg.text, actor=court.actor("zhou"))  # the same text: nothing changed, kept
    assert store.hearing(hid).status == state
    store.edit_segment(seg.id, text="现在开庭。", actor=court.actor("zhou"))
    assert store.hearing(hid).status == "in review" and not store.hearing_record(hid).approved
    returned = store.signoff_steps(hid)[-1]
    assert (returned.step, returned.account) == (
        "returned",
        "zhou",
    ) and f"the {state} record was edited" in returned.reason
    assert returned.audit_id == store.audit_rows(action=audit.EDITED)[0].id
    store.set_speaker(hid, "S2", name="甲公司", actor=TESTER)  # in review already: no second "returned"
    assert [s.step for s in store.signoff_steps(hid)].count("returned") == 1


def test_a_speaker_label_change_takes_the_mark_away_too(court: Court) -> None:
    court.to("checked")
    court.store.set_speaker(court.own, "S1", role="审判长", actor=court.actor("wang"))
    assert court.store.hearing(court.own).status == "in review"
    assert court.store.signoff_steps(court.own)[-1].step == "returned"


# --- schema V9 and the record's head ---------------------------------------------------------------------------


def test_a_v8_file_with_a_verified_hearing_opens_at_v9_with_it_checked(tmp_path: Path) -> None:
    path = tmp_path / "v8.duckdb"
    with duckdb.connect(str(path)) as con:
        assert migrations.migrate(con, target=8, audio_dir=tmp_path / "audio") == list(range(1, 9))
        con.execute("INSERT INTO cases (number) VALUES (?)", [CASE])
        con.execute("INSERT INTO hearings (case_id, status) VALUES (1, 'verified'), (1, 'in review')")
        con.execute("INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name) "
                    "VALUES (1, 1, 'text', 'a', 'b', 'wang')")  # fmt: skip
    with Store(path) as store:
        assert store.schema_version() == migrations.LATEST >= 9
        assert [store.hearing(i).status for i in (1, 2)] == ["checked", "in review"]
        assert store.edits()[0].request_id is None
        assert store.signoff_steps(1) == [] and store.sealed_parts(1) == [] and store.corrections(1) == []
        assert store.approve(1, actor=TESTER) == "approved"  # a record verified before is checked now
        with store.reading() as con:
            tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        assert {"signoff_steps", "sealed_parts", "correction_requests"} <= tables


def test_record_head_moves_with_each_change_of_content_and_not_with_a_read(court: Court, tmp_path: Path) -> None:
    store, hid = court.store, court.own
    head = store.record_head(hid)
    assert head == store.audit_rows(hearing_id=hid, action=audit.HEARING_CHANGED)[0].hash  # the transcript saved
    assert store.record_head(store.add_hearing(store.hearing(hid).case_id)) == ""  # nothing of its record yet
    store.record(TESTER, audit.HEARING_OPENED, hearing_id=hid)
    store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"format": "docx"})
    store.set_checked(hid, court.segs()[1].id, actor=TESTER)  # the desk's mark is not the record's content
    store.check(hid, actor=court.actor("wang"))  # nor is a sign-off step (the state is in the manifest)
    store.segments(hid), store.hearing_record(hid), store.desk_rows(hid)
    assert store.record_head(hid) == head
    heads = [head]
    for change in (
        lambda: store.edit_segment(court.segs()[0].id, text="改过的。", actor=TESTER),
        lambda: store.set_speaker(hid, "S2", name="甲公司", actor=TESTER),
        lambda: store.split_segment(court.segs()[2].id, 4, actor=TESTER, expected_version=None),
        lambda: store.update_hearing(hid, courtroom="第二法庭", actor=TESTER),
        lambda: store.seal(hid, 0.0, 1.0, "隐私", actor=TESTER),
    ):
        change()
        heads.append(store.record_head(hid))
        assert heads[-1] == store.audit_rows(hearing_id=hid, limit=1)[0].hash
    assert len(set(heads)) == len(heads)
    assert set(RECORD_ACTIONS) >= {audit.EDITED, audit.SPEAKER_CHANGED, audit.SEGMENT_SPLIT, audit.SEGMENTS_MERGED,
                                   audit.HEARING_CHANGED, audit.SEALED, audit.UNSEALED}  # fmt: skip


# --- the case's and the hearing's details are part of every record ---------------------------------------------


def test_a_case_change_moves_each_hearings_head_and_sends_a_signed_one_back(court: Court) -> None:
    store, hid = court.store, court.own
    second = hearing(store, [("S1", "第二次开庭。")])  # transcribed: its status stays
    case = store.case(CASE)
    court.to("approved")
    heads = {h: store.record_head(h) for h in (hid, second, court.other)}
    assert store.update_case(CASE, cause=case.cause, actor=TESTER) == case  # nothing changed: no row, no step
    assert {h: store.record_head(h) for h in heads} == heads and store.hearing(hid).status == "approved"
    store.update_case(CASE, cause="民间借贷纠纷", actor=court.actor("wang"))
    rows = store.audit_rows(action=audit.CASE_CHANGED, case_id=case.id, limit=2)
    assert sorted(r.hearing_id for r in rows) == [hid, second]  # one row per hearing of the case
    assert all(r.detail == {"cause": {"before": case.cause, "after": "民间借贷纠纷"}} for r in rows)
    assert store.record_head(hid) == next(r.hash for r in rows if r.hearing_id == hid) != heads[hid]
    assert store.record_head(second) == next(r.hash for r in rows if r.hearing_id == second) != heads[second]
    assert store.record_head(court.other) == heads[court.other]  # another case's record did not change
    assert store.hearing(hid).status == "in review" and store.hearing(second).status == "transcribed"
    returned = store.signoff_steps(hid)[-1]
    assert (returned.step, returned.account) == ("returned", "wang")
    assert returned.audit_id == next(r.id for r in rows if r.hearing_id == hid)
    assert store.signoff_steps(second) == []
    assert store.hearing_record(hid).cause == "民间借贷纠纷" and store.verify_audit().ok


def test_a_case_change_is_refused_while_a_hearing_of_the_case_is_locked(court: Court) -> None:
    store = court.store
    court.to("locked")
    before = (store.case(CASE), store.verify_audit().rows)
    with pytest.raises(Locked, match=rf"hearing {court.own} of case .* is locked .* the judge must reopen it first"):
        store.update_case(CASE, parties=(), cause="另一案由", actor=TESTER)
    assert (store.case(CASE), store.verify_audit().rows) == before
    assert store.update_case(OTHER_CASE, court="北京市朝阳区人民法院", actor=TESTER).court == "北京市朝阳区人民法院"


@pytest.mark.parametrize("state", ["checked", "approved"])
def test_a_hearing_detail_changed_on_a_signed_record_sends_it_back(court: Court, state: str) -> None:
    store, hid = court.store, court.own
    court.to(state)
    courtroom = store.hearing(hid).courtroom
    store.update_hearing(hid, courtroom=courtroom, actor=court.actor("wang"))  # the same: nothing changed, kept
    assert store.hearing(hid).status == state and store.signoff_steps(hid)[-1].step != "returned"
    store.update_hearing(hid, courtroom="第九法庭", clerk="周书记员", actor=court.actor("zhou"))
    assert store.hearing(hid).status == "in review"
    returned = store.signoff_steps(hid)[-1]
    assert (returned.step, returned.account) == ("returned", "zhou") and f"the {state} record" in returned.reason
    assert returned.audit_id == store.audit_rows(action=audit.HEARING_CHANGED, hearing_id=hid)[0].id


# --- a request on a record reopened since it was filed ----------------------------------------------------------


def test_a_pending_request_on_a_reopened_record_cannot_be_accepted_only_rejected(court: Court) -> None:
    store, hid = court.store, court.own
    court.to("locked")
    seg = court.segs()[0]
    ask = {"requester": "张三丰", "requester_kind": "party", "reason": "漏记", "actor": court.actor("wang")}
    first = store.request_correction(hid, [(seg.id, "现在开庭。")], **ask)
    second = store.request_correction(hid, [(seg.id, "现在开庭了。")], **ask)
    store.reopen(hid, "复核录音", actor=court.actor("zhao"))
    rows = store.verify_audit().rows
    with pytest.raises(WrongState, match=r"the record was reopened: edit it directly, or lock it again"):
        store.decide_correction(first.id, True, "属实", actor=court.actor("zhao"))
    assert store.correction(first.id).state == "pending" and store.segment(seg.id).text == seg.text
    assert store.verify_audit().rows == rows and store.hearing(hid).status == "in review"
    assert store.decide_correction(second.id, False, "已直接修改", actor=court.actor("zhao")).state == "rejected"
    court.to("locked")  # locked again, the segment unchanged: the request may be accepted now
    assert store.decide_correction(first.id, True, "属实", actor=court.actor("zhao")).state == "accepted"
    assert store.segment(seg.id).text == "现在开庭。" and store.hearing(hid).status == "locked"


# --- the lookups `verify` makes -------------------------------------------------------------------------------


def test_issued_export_finds_the_export_row_by_its_code_and_nothing_else(court: Court) -> None:
    store, hid = court.store, court.own
    code = "ABCD-EFGH-JKMN"
    assert store.issued_export(code) is None
    store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"format": "docx", "code": "ZZZZ-ZZZZ-ZZZZ"})
    issued = store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"format": "pdf", "code": code})
    store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"format": "pdf", "code": code})  # the same again
    store.record(TESTER, audit.HEARING_OPENED, hearing_id=hid, detail={"code": "QQQQ-QQQQ-QQQQ"})  # not an export
    store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"note": "RRRR-RRRR-RRRR", "code": "other"})
    row = store.issued_export(f"  {code.lower()} ")
    assert row is not None and (row.id, row.action, row.hearing_id) == (issued, audit.EXPORTED, hid)
    assert row.detail == {"format": "pdf", "code": code} and row.case_id == store.hearing(hid).case_id
    assert store.issued_export("QQQQ-QQQQ-QQQQ") is None  # a code in another action's row was never issued
    assert store.issued_export("RRRR-RRRR-RRRR") is None  # only the "code" field counts, not text elsewhere
    assert store.issued_export("ABCD-EFGH") is None and store.issued_export("") is None


def test_record_changes_since_lists_the_content_rows_after_a_head_oldest_first(court: Court) -> None:
    store, hid = court.store, court.own
    saved = store.record_changes_since(hid, "")  # every content row: the transcript saved
    assert [r.action for r in saved] == [audit.HEARING_CHANGED] and saved[0].hash == store.record_head(hid)
    head = store.record_head(hid)
    assert store.record_changes_since(hid, head) == []
    seg = court.segs()[0]
    store.record(TESTER, audit.EXPORTED, hearing_id=hid, detail={"code": "X"})  # reads and steps are not content
    store.check(hid, actor=court.actor("wang"))
    store.edit_segment(seg.id, text="改过的。", actor=TESTER)
    store.edit_segment(court.segs(court.other)[0].id, text="另一个庭审。", actor=TESTER)  # another hearing
    store.update_case(CASE, cause="新案由", actor=TESTER)
    store.seal(hid, 0.0, 1.0, "隐私", actor=TESTER)
    court.to("locked")
    ask = {"requester": "李律师", "requester_kind": "lawyer", "reason": "笔误", "actor": court.actor("wang")}
    rejected = store.request_correction(hid, [(seg.id, "驳回的。")], **ask)
    store.decide_correction(rejected.id, False, "不符", actor=court.actor("zhao"))
    accepted = store.request_correction(hid, [(seg.id, "采纳的。")], **ask)
    store.decide_correction(accepted.id, True, "属实", actor=court.actor("zhao"))
    since = store.record_changes_since(hid, head)
    assert [r.action for r in since] == [audit.EDITED, audit.CASE_CHANGED, audit.SEALED, audit.EDITED]
    assert [r.id for r in since] == sorted(r.id for r in since) and {r.hearing_id for r in since} == {hid}
    assert since[-1].detail["request_id"] == accepted.id  # an accepted request: its edits, naming it
    assert since[-1].hash == store.record_head(hid) and set(r.action for r in since) <= set(RECORD_ACTIONS)
    assert store.record_changes_since(hid, f" {since[1].hash.upper()} ") == since[2:]
    assert [r.action for r in store.record_changes_since(hid, "")] == [audit.HEARING_CHANGED] + [
        r.action for r in since]  # fmt: skip
    with pytest.raises(NotFound, match="no audit row has the hash 0000"):
        store.record_changes_since(hid, "0" * 64)
    assert audit.CORRECTION_DECIDED not in RECORD_ACTIONS and audit.CASE_CHANGED in RECORD_ACTIONS
