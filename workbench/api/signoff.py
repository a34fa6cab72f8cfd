"""Signing a hearing's record off through the API: its steps (check, approve, lock, reopen), its sealed parts
(不公开) and its correction requests (补正申请).

Checked like every hearing route: a hearing of another case answers exactly like a missing one (404, the same
words), then the step's own rule (`workbench.accounts.access`: a clerk checks, the case's judge approves and
reopens, a judge or clerk locks, seals and files a correction request, the judge decides it) answers 403
naming who may. A step taken in the wrong state is refused by the store (409, naming the state and the step
allowed next); a write to a locked record is refused with 409 "locked" (the store holds the lock, whichever
door the write comes through).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workbench.accounts import Access
from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.api.segments import SEALED_PLACEHOLDER, audit_opened, check_cap, int_value, only_fields, text_value
from workbench.store.status import HearingStatus
from workbench.store.store import Store
from workbench.web.pagedata import NAME_MAX, SEGMENT_TEXT_MAX

if TYPE_CHECKING:
    from workbench.store import Hearing
    from workbench.store.records import CorrectionRequest, SealedPart, SignoffStep

TAG = "signoff"
REASON_MAX = 2_000  # a reason for reopening, sealing or deciding: a paragraph, not a document
NOTE_MAX = 2_000
CHANGES_MAX = 200  # segments one correction request names
REQUESTER_KINDS = ("party", "lawyer", "member")
CORRECTION_NOT_YOURS = "补正申请不存在或无权查看 (correction request not found or not yours)"

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
PART_ID = Param("part_id", int, "path", required=True, help="The sealed part's id.")
REQUEST_ID = Param("request_id", int, "path", required=True, help="The correction request's id.")

# --- schemas -----------------------------------------------------------------------------------------

_text: JsonSchema = {"type": "string"}
_when: JsonSchema = {"type": "string", "format": "date-time"}
STEP: JsonSchema = {
    "type": "object",
    "required": ["step", "account", "at", "reason"],
    "properties": {
        "step": {"type": "string", "enum": ["checked", "unchecked", "approved", "locked", "reopened", "returned"],
                 "description": "returned: an edit sent a checked or approved record back to review."},
        "account": _text,
        "at": _when,
        "reason": {"type": "string", "description": "Reopening's reason, a lock's note; empty otherwise."},
        "audit_id": {"type": ["integer", "null"]},
    },
}  # fmt: skip
SIGNOFF: JsonSchema = {
    "type": "object",
    "required": ["hearing_id", "status", "label", "steps", "next"],
    "properties": {
        "hearing_id": {"type": "integer"},
        "status": {"type": "string", "enum": [s.value for s in HearingStatus]},
        "label": {"type": "string", "description": "The status in words, e.g. 已审批."},
        "steps": {"type": "array", "items": STEP, "description": "Oldest first."},
        "next": {
            "type": "array",
            "items": {"type": "string", "enum": ["check", "uncheck", "approve", "lock", "reopen"]},
            "description": "The steps the caller may take now, in order.",
        },
    },
}
NOTE_BODY: JsonSchema = {
    "type": ["object", "null"],
    "properties": {"note": {"type": "string", "maxLength": NOTE_MAX, "description": "Lock only: kept with the step."}},
    "additionalProperties": False,
}
REASON_BODY: JsonSchema = {
    "type": "object",
    "required": ["reason"],
    "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX}},
    "additionalProperties": False,
}
SEALED_PART: JsonSchema = {
    "type": "object",
    "required": ["id", "hearing_id", "start", "end", "reason", "created_by", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "start": {"type": "number", "description": "Seconds into the recording (inclusive)."},
        "end": {"type": "number", "description": "Seconds (exclusive); a segment overlapping [start, end) is sealed."},
        "reason": _text,
        "created_by": _text,
        "created_at": _when,
    },
}
SEAL_BODY: JsonSchema = {
    "type": "object",
    "required": ["start", "end", "reason"],
    "properties": {
        "start": {"type": "number", "minimum": 0},
        "end": {"type": "number", "description": "After start."},
        "reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX},
    },
    "additionalProperties": False,
}
UNSEALED: JsonSchema = {
    "type": "object",
    "required": ["unsealed"],
    "properties": {"unsealed": {"type": "integer", "description": "The part's id."}},
}
CORRECTION: JsonSchema = {
    "type": "object",
    "required": ["id", "hearing_id", "changes", "requester", "requester_kind", "reason", "filed_by", "filed_at",
                 "state", "decided_by", "decided_at", "decision_reason"],
    "properties": {
        "id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "changes": {"type": "array", "items": {
            "type": "object",
            "required": ["segment_id", "text", "version"],
            "properties": {
                "segment_id": {"type": "integer"},
                "text": {"type": "string", "description": "The proposed text."},
                "version": {"type": "integer", "description": "The segment's version when the request was filed."},
            },
        }},
        "requester": {"type": "string", "description": "Who asked: a party or lawyer by name, or a member."},
        "requester_kind": {"type": "string", "enum": list(REQUESTER_KINDS)},
        "reason": _text,
        "filed_by": {"type": "string", "description": "The account that filed it."},
        "filed_at": _when,
        "state": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
        "decided_by": {"type": ["string", "null"]},
        "decided_at": {"type": ["string", "null"], "format": "date-time"},
        "decision_reason": {"type": ["string", "null"]},
    },
}  # fmt: skip
CORRECTION_BODY: JsonSchema = {
    "type": "object",
    "required": ["changes", "requester", "requester_kind", "reason"],
    "properties": {
        "changes": {"type": "array", "minItems": 1, "maxItems": CHANGES_MAX, "items": {
            "type": "object",
            "required": ["segment_id", "text"],
            "properties": {"segment_id": {"type": "integer"},
                           "text": {"type": "string", "maxLength": SEGMENT_TEXT_MAX}},
            "additionalProperties": False,
        }},
        "requester": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
        "requester_kind": {"type": "string", "enum": list(REQUESTER_KINDS)},
        "reason": {"type": "string", "minLength": 1, "maxLength": REASON_MAX},
    },
    "additionalProperties": False,
}  # fmt: skip


# --- as JSON -----------------------------------------------------------------------------------------


def step_json(s: SignoffStep) -> dict[str, Any]:
    return {"step": s.step, "account": s.account, "at": s.at.isoformat(), "reason": s.reason, "audit_id": s.audit_id}


def signoff_json(access: Access, hearing: Hearing) -> dict[str, Any]:
    """The hearing's sign-off as it stands: status, its label, the steps taken, the caller's next steps."""
    status = HearingStatus(hearing.status)
    return {
        "hearing_id": hearing.id,
        "status": status.value,
        "label": status.label,
        "steps": [step_json(s) for s in access.store.signoff_steps(hearing.id)],
        "next": list(access.next_steps(hearing)),
    }


def sealed_part_json(p: SealedPart) -> dict[str, Any]:
    return {"id": p.id, "hearing_id": p.hearing_id, "start": float(p.start), "end": float(p.end), "reason": p.reason,
            "created_by": p.created_by, "created_at": p.created_at.isoformat()}  # fmt: skip


def correction_json(r: CorrectionRequest, hidden: frozenset[int] | set[int] = frozenset()) -> dict[str, Any]:
    """A correction request; the proposed text of a segment in `hidden` (sealed, and the caller may not see
    sealed text) is the placeholder: a proposal for a sealed part says what the part says."""
    return {
        "id": r.id,
        "hearing_id": r.hearing_id,
        "changes": [
            {"segment_id": sid, "text": SEALED_PLACEHOLDER if sid in hidden else text, "version": version}
            for sid, text, version in r.changes
        ],
        "requester": r.requester,
        "requester_kind": r.requester_kind,
        "reason": r.reason,
        "filed_by": r.filed_by,
        "filed_at": r.filed_at.isoformat(),
        "state": r.state,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
        "decision_reason": r.decision_reason,
    }


def hidden_segments(access: Access, hearing: Hearing) -> set[int]:
    """The hearing's segments whose text this caller may not see: the sealed ones, for a viewer; none else."""
    if access.may_see_sealed(hearing.case_id):
        return set()
    return set(access.store.sealed_segment_ids(hearing.id))


# --- reading the body --------------------------------------------------------------------------------


def reason_field(call: Call, name: str = "reason", limit: int = REASON_MAX) -> str:
    """A required, non-blank reason (422 naming the field otherwise), stripped."""
    value = call.body_field(name, str, required=True)
    return text_value(value, name, limit, allow_empty=False).strip()


def _seconds(call: Call, name: str) -> float:
    value = call.body_field(name, (int, float), required=True)
    if not math.isfinite(value) or value < 0:
        raise ApiError(422, "bad_field", f"{name}: 应为不小于 0 的秒数 (seconds, at least 0; got {value!r})")
    return float(value)


def _changes(call: Call, hearing: Hearing) -> list[tuple[int, str]]:
    """The request's (segment id, proposed text) pairs, each checked (422 naming the item and the field)."""
    items = call.body_field("changes", list, required=True)
    if not items:
        raise ApiError(422, "bad_field", "changes: 应为非空列表 (expected a non-empty list)")
    if len(items) > CHANGES_MAX:
        raise ApiError(422, "bad_field", f"changes: 最多 {CHANGES_MAX} 项 (at most {CHANGES_MAX} items)")
    stored = {s.id: s.text for s in call.access.store.segments(hearing.id)}
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    for i, item in enumerate(items):
        name = f"changes[{i}]"
        if not isinstance(item, dict):
            raise ApiError(422, "bad_field", f"{name}: 应为 {{segment_id, text}} (expected that object)")
        unknown = sorted(set(item) - {"segment_id", "text"})
        if unknown:
            raise ApiError(422, "unknown_field", f"{name}.{', '.join(unknown)}: 不认识的字段 (unknown field)")
        sid = int_value(item.get("segment_id"), f"{name}.segment_id", minimum=1)
        assert sid is not None  # required
        if sid not in stored:  # the same words for another hearing's segment as for a missing one
            raise ApiError(
                422, "bad_field", f"{name}.segment_id: 庭审 {hearing.id} 没有段落 {sid} (hearing {hearing.id} has no "
                f"segment {sid})",
            )  # fmt: skip
        if sid in seen:
            raise ApiError(422, "bad_field", f"{name}.segment_id: 段落 {sid} 重复 (segment {sid} named twice)")
        seen.add(sid)
        if item.get("text") is None:
            raise ApiError(422, "missing_field", f"{name}.text: 必填 (required)")
        text = text_value(item["text"], f"{name}.text", 2**31)
        check_cap(text, stored[sid], f"{name}.text")
        out.append((sid, text))
    return out


# --- sign-off ----------------------------------------------------------------------------------------


@endpoint("GET", "/hearings/{hearing_id}/signoff",
          summary="A hearing's sign-off: its status, the steps taken (who, when, why) and the caller's next steps",
          tag=TAG, params=(HEARING_ID,), response=SIGNOFF)  # fmt: skip
def get_signoff(call: Call) -> Reply:
    hearing = call.access.hearing(call.params["hearing_id"])
    return Reply(signoff_json(call.access, hearing))


def _after_step(access: Access, hearing_id: int) -> Reply:
    return Reply(signoff_json(access, access.store.hearing(hearing_id)))


def _step(call: Call, require: Callable[[Access, int], None], take: Callable[..., object]) -> Reply:
    """A step that carries no note (check, uncheck, approve): the hearing, who may, then the store's step."""
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    require(access, hearing.case_id)
    _no_note(call)
    take(access.store, hearing.id, actor=access.actor)
    return _after_step(access, hearing.id)


def _no_note(call: Call) -> None:
    only_fields(call, ())  # a check carries no note: a typo or a misplaced field must not pass silently
    if call.body is not None and not isinstance(call.body, dict):
        raise ApiError(422, "bad_body", "请求体应为 JSON 对象或为空 (the body must be a JSON object or empty)")


@endpoint("POST", "/hearings/{hearing_id}/check",
          summary="Mark the record checked against the recording (a judge or clerk of the case; audited)",
          tag=TAG, params=(HEARING_ID,), response=SIGNOFF)  # fmt: skip
def post_check(call: Call) -> Reply:
    return _step(call, Access.require_check, Store.check)


@endpoint("POST", "/hearings/{hearing_id}/uncheck",
          summary="Take the checked mark back: the record is in review again (a judge or clerk of the case; audited)",
          tag=TAG, params=(HEARING_ID,), response=SIGNOFF)  # fmt: skip
def post_uncheck(call: Call) -> Reply:
    return _step(call, Access.require_check, Store.uncheck)


@endpoint("POST", "/hearings/{hearing_id}/approve",
          summary="Approve the checked record: the draft mark goes (the case's judge; audited)",
          tag=TAG, params=(HEARING_ID,), response=SIGNOFF)  # fmt: skip
def post_approve(call: Call) -> Reply:
    return _step(call, Access.require_approve, Store.approve)


@endpoint("POST", "/hearings/{hearing_id}/lock",
          summary="Lock the approved record: no edit any more, only correction requests (a judge or clerk of the "
          "case; audited)", tag=TAG, params=(HEARING_ID,), body=NOTE_BODY, response=SIGNOFF)  # fmt: skip
def post_lock(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_lock(hearing.case_id)
    only_fields(call, ("note",))
    note = call.body_field("note", str, default="")
    note = text_value(note, "note", NOTE_MAX).strip()
    access.store.lock(hearing.id, actor=access.actor, note=note)
    return _after_step(access, hearing.id)


@endpoint("POST", "/hearings/{hearing_id}/reopen",
          summary="Reopen a checked, approved or locked record for review, with a reason (the case's judge; audited)",
          tag=TAG, params=(HEARING_ID,), body=REASON_BODY, response=SIGNOFF)  # fmt: skip
def post_reopen(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_reopen(hearing.case_id)
    only_fields(call, ("reason",))
    reason = reason_field(call)
    access.store.reopen(hearing.id, reason, actor=access.actor)
    return _after_step(access, hearing.id)


# --- sealed parts ------------------------------------------------------------------------------------


@endpoint("GET", "/hearings/{hearing_id}/sealed",
          summary="A hearing's sealed (不公开) time ranges and their reasons, by start",
          tag=TAG, params=(HEARING_ID, *PAGE_PARAMS), response=page_schema(SEALED_PART))  # fmt: skip
def list_sealed(call: Call) -> Reply:
    # the ranges and reasons, not the text: anyone who may see the hearing sees where its sealed parts are
    hearing = call.access.hearing(call.params["hearing_id"])
    return paged(call, [sealed_part_json(p) for p in call.access.store.sealed_parts(hearing.id)])


@endpoint("POST", "/hearings/{hearing_id}/sealed",
          summary="Seal a time range [start, end) with a reason: left out of exports, hidden from viewers (a judge "
          "or clerk of the case; audited)", tag=TAG, params=(HEARING_ID,), body=SEAL_BODY, response=SEALED_PART,
          status=201)  # fmt: skip
def post_sealed(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_seal(hearing.case_id)
    only_fields(call, ("start", "end", "reason"))
    start, end = _seconds(call, "start"), _seconds(call, "end")
    if end <= start:
        raise ApiError(422, "bad_field", f"end: 应晚于 start (must be after start: {start:g} s, got {end:g} s)")
    reason = reason_field(call)
    part = access.store.seal(hearing.id, start, end, reason, actor=access.actor)
    return Reply(sealed_part_json(part), status=201)


@endpoint("DELETE", "/hearings/{hearing_id}/sealed/{part_id}",
          summary="Unseal a sealed part (a judge or clerk of the case; audited)",
          tag=TAG, params=(HEARING_ID, PART_ID), response=UNSEALED)  # fmt: skip
def delete_sealed(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_seal(hearing.case_id)
    part_id = call.params["part_id"]
    access.store.unseal(hearing.id, part_id, actor=access.actor)  # another hearing's part: NotFound, 404
    return Reply({"unsealed": part_id})


# --- correction requests -----------------------------------------------------------------------------


@endpoint("GET", "/hearings/{hearing_id}/corrections",
          summary="A hearing's correction requests (补正申请), oldest first, with their outcomes",
          tag=TAG, params=(HEARING_ID, *PAGE_PARAMS), response=page_schema(CORRECTION))  # fmt: skip
def list_corrections(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    hidden = hidden_segments(access, hearing)
    reply = paged(call, [correction_json(r, hidden) for r in access.store.corrections(hearing.id)])
    audit_opened(access, hearing.id, hearing.case_id, "corrections")  # proposed texts are the record's text
    return reply


@endpoint("POST", "/hearings/{hearing_id}/corrections",
          summary="File a correction request for a locked record: segments, proposed texts, who asked and why (a "
          "judge or clerk of the case; audited)", tag=TAG, params=(HEARING_ID,), body=CORRECTION_BODY,
          response=CORRECTION, status=201)  # fmt: skip
def post_correction(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_request_correction(hearing.case_id)
    only_fields(call, ("changes", "requester", "requester_kind", "reason"))
    changes = _changes(call, hearing)
    requester = text_value(call.body_field("requester", str, required=True), "requester", NAME_MAX,
                           allow_empty=False).strip()  # fmt: skip
    kind = call.body_field("requester_kind", str, required=True)
    if kind not in REQUESTER_KINDS:
        raise ApiError(
            422, "bad_field", f"requester_kind: 应为 {', '.join(REQUESTER_KINDS)} 之一 (got {str(kind)[:40]!r})"
        )
    reason = reason_field(call)
    request = access.store.request_correction(
        hearing.id, changes, requester=requester, requester_kind=kind, reason=reason, actor=access.actor
    )  # not locked: StoreError, 409 (before the lock a clerk edits)
    return Reply(correction_json(request), status=201)


def visible_correction(access: Access, request_id: int) -> tuple[CorrectionRequest, Hearing]:
    """The request and its hearing if the caller may see the hearing; one "not found or not yours" otherwise."""
    from workbench.accounts import NotYours
    from workbench.store import NotFound

    try:
        if not 0 < request_id < 2**63:
            raise NotFound(CORRECTION_NOT_YOURS)
        request = access.store.correction(request_id)
        hearing = access.hearing(request.hearing_id)
    except NotFound:
        raise NotYours(CORRECTION_NOT_YOURS) from None
    return request, hearing


@endpoint("GET", "/corrections/{request_id}", summary="One correction request and its outcome",
          tag=TAG, params=(REQUEST_ID,), response=CORRECTION)  # fmt: skip
def get_correction(call: Call) -> Reply:
    access = call.access
    request, hearing = visible_correction(access, call.params["request_id"])
    return Reply(correction_json(request, hidden_segments(access, hearing)))


def _decide(call: Call, accept: bool) -> Reply:
    access = call.access
    request, hearing = visible_correction(access, call.params["request_id"])
    access.require_decide_correction(hearing.case_id)
    only_fields(call, ("reason",))
    reason = reason_field(call)
    decided = access.store.decide_correction(request.id, accept, reason, actor=access.actor)
    return Reply(correction_json(decided))


@endpoint("POST", "/corrections/{request_id}/accept",
          summary="Accept a correction request with a reason: its texts become edits tied to it (the case's judge; "
          "audited); 409 if a segment changed since it was filed", tag=TAG, params=(REQUEST_ID,), body=REASON_BODY,
          response=CORRECTION)  # fmt: skip
def post_accept(call: Call) -> Reply:
    return _decide(call, True)


@endpoint("POST", "/corrections/{request_id}/reject",
          summary="Reject a correction request with a reason (the case's judge; audited)",
          tag=TAG, params=(REQUEST_ID,), body=REASON_BODY, response=CORRECTION)  # fmt: skip
def post_reject(call: Call) -> Reply:
    return _decide(call, False)
