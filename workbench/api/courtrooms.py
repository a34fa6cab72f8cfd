"""Courtroom profiles and case rosters: `/courtrooms[/{courtroom}]`, `/cases/{case}/roster[/{participant_id}]`.

Profiles: anyone signed in reads them (the upload page and the CLI show which courtrooms record a channel per
seat); only an admin sets or deletes one (403 otherwise). `{courtroom}` is the courtroom's name as hearings give it
(URL-encoded: 第三法庭).

Rosters: like every case route, a case the caller may not see answers exactly like a missing one (404, the same
words); any member reads its roster; its judges and clerks (and admins) add and remove people, a viewer gets 403.
`{case}` is a case's number (URL-encoded) or id.
"""

from __future__ import annotations

from typing import Any

from workbench.accounts import Access, Forbidden
from workbench.api.cases import CASE_PARAM
from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.api.segments import only_fields, text_value
from workbench.speech.seats import MAX_CHANNELS
from workbench.store.courtrooms import (
    PERSON_MAX,
    ROLE_MAX,
    SEAT_MAX,
    Courtroom,
    Participant,
    courtroom_name,
)

TAG = "courtrooms"

COURTROOM_PARAM = Param(
    "courtroom", where="path", required=True, help="The courtroom's name as hearings give it (URL-encoded)."
)
PARTICIPANT_PARAM = Param("participant_id", int, "path", required=True, help="The roster entry's id.")

# --- schemas -----------------------------------------------------------------------------------------

_text: JsonSchema = {"type": "string"}
COURTROOM: JsonSchema = {
    "type": "object",
    "required": ["name", "channels", "updated_by", "updated_at"],
    "properties": {
        "name": {"type": "string", "description": "The courtroom, as hearings name it: 第三法庭."},
        "channels": {
            "type": "array",
            "items": _text,
            "description": "One item per channel, in channel order, in normal form: 审判席:审判长, 原告席:原告+代理人 "
            "(a shared seat), - (ignored), mix (the room's mix).",
        },
        "updated_by": _text,
        "updated_at": {"type": "string", "format": "date-time"},
    },
}
COURTROOM_BODY: JsonSchema = {
    "type": "object",
    "required": ["channels"],
    "properties": {
        "channels": {
            "oneOf": [
                {"type": "array", "items": _text, "minItems": 1, "maxItems": MAX_CHANNELS},
                {"type": "string", "description": "Comma-separated: 审判长,原告,被告,-"},
            ]
        }
    },
    "additionalProperties": False,
}
DELETED: JsonSchema = {"type": "object", "required": ["deleted"], "properties": {"deleted": _text}}
PARTICIPANT: JsonSchema = {
    "type": "object",
    "required": ["id", "case_id", "role", "name", "seat"],
    "properties": {
        "id": {"type": "integer"},
        "case_id": {"type": "integer"},
        "role": {"type": "string", "description": "A court role: 审判长, 原告, 被告, 代理人, 证人, ..."},
        "name": _text,
        "seat": {"type": "string", "description": 'The seat they sit at (原告席, ...); "" when not known.'},
    },
}
PARTICIPANT_BODY: JsonSchema = {
    "type": "object",
    "required": ["role", "name"],
    "properties": {
        "role": {"type": "string", "minLength": 1, "maxLength": ROLE_MAX},
        "name": {"type": "string", "minLength": 1, "maxLength": PERSON_MAX},
        "seat": {"type": "string", "maxLength": SEAT_MAX},
    },
    "additionalProperties": False,
}
REMOVED: JsonSchema = {"type": "object", "required": ["removed"], "properties": {"removed": {"type": "integer"}}}


# --- as JSON -----------------------------------------------------------------------------------------


def courtroom_json(c: Courtroom) -> dict[str, Any]:
    return {"name": c.name, "channels": list(c.channels), "updated_by": c.updated_by,
            "updated_at": c.updated_at.isoformat()}  # fmt: skip


def participant_json(p: Participant) -> dict[str, Any]:
    return {"id": p.id, "case_id": p.case_id, "role": p.role, "name": p.name, "seat": p.seat}


# --- who may -----------------------------------------------------------------------------------------


def may_edit_roster(access: Access, case_id: int) -> bool:
    """Add to or remove from a case's roster: its judges and clerks, and admins (who may edit the case)."""
    return access.may_edit(case_id)


def require_edit_roster(access: Access, case_id: int) -> None:
    access.require_see(case_id)  # another case's: 404, as a missing one
    if not may_edit_roster(access, case_id):
        role = access.account.role
        raise Forbidden(
            f"{role.label}不能修改案件名单，只有本案法官、书记员或管理员可以 "
            f"(a {role.value} may not change a case's roster: only its judges, clerks or an admin may)"
        )


def _name(call: Call) -> str:
    try:
        return courtroom_name(call.params["courtroom"])
    except ValueError as e:
        raise ApiError(422, "bad_param", f"courtroom: {e}") from None


# --- courtroom profiles ------------------------------------------------------------------------------


@endpoint("GET", "/courtrooms", summary="The courtroom profiles (a seat and role per channel), by name",
          tag=TAG, params=PAGE_PARAMS, response=page_schema(COURTROOM))  # fmt: skip
def list_courtrooms(call: Call) -> Reply:
    return paged(call, [courtroom_json(c) for c in call.access.store.courtrooms()])


@endpoint("GET", "/courtrooms/{courtroom}", summary="One courtroom's profile", tag=TAG, params=(COURTROOM_PARAM,),
          response=COURTROOM)  # fmt: skip
def get_courtroom(call: Call) -> Reply:
    return Reply(courtroom_json(call.access.store.courtroom(_name(call))))


@endpoint("PUT", "/courtrooms/{courtroom}",
          summary="Set a courtroom's profile: one channel-map item per channel (an admin; audited)",
          tag=TAG, params=(COURTROOM_PARAM,), body=COURTROOM_BODY, response=COURTROOM)  # fmt: skip
def put_courtroom(call: Call) -> Reply:
    access = call.access
    access.require_admin()
    only_fields(call, ("channels",))
    name = _name(call)
    channels = call.body_field("channels", (list, str), required=True)
    if isinstance(channels, list):
        if not channels or len(channels) > MAX_CHANNELS:
            raise ApiError(422, "bad_field", f"channels: 1 到 {MAX_CHANNELS} 项 (1 to {MAX_CHANNELS} items)")
        for i, item in enumerate(channels):
            text_value(item, f"channels[{i}]", 200)
    else:
        text_value(channels, "channels", 200 * MAX_CHANNELS)
    try:
        profile = access.store.set_courtroom(name, channels, actor=access.actor)
    except ValueError as e:  # the map cannot be read: which item and why
        raise ApiError(422, "bad_field", f"channels: {e}") from None
    return Reply(courtroom_json(profile))


@endpoint("DELETE", "/courtrooms/{courtroom}", summary="Delete a courtroom's profile (an admin; audited)",
          tag=TAG, params=(COURTROOM_PARAM,), response=DELETED)  # fmt: skip
def delete_courtroom(call: Call) -> Reply:
    access = call.access
    access.require_admin()
    gone = access.store.delete_courtroom(_name(call), actor=access.actor)
    return Reply({"deleted": gone.name})


# --- a case's roster ---------------------------------------------------------------------------------


@endpoint("GET", "/cases/{case}/roster",
          summary="A case's participants (role, name, seat) in the order entered: they name speakers and join the "
          "case's hotwords", tag=TAG, params=(CASE_PARAM, *PAGE_PARAMS), response=page_schema(PARTICIPANT))  # fmt: skip
def list_roster(call: Call) -> Reply:
    case = call.access.case(call.params["case"])
    return paged(call, [participant_json(p) for p in call.access.store.participants(case.id)])


@endpoint("POST", "/cases/{case}/roster",
          summary="Add a participant to a case's roster (its judges and clerks, admins; audited)",
          tag=TAG, params=(CASE_PARAM,), body=PARTICIPANT_BODY, response=PARTICIPANT, status=201)  # fmt: skip
def post_roster(call: Call) -> Reply:
    access = call.access
    case = access.case(call.params["case"])
    require_edit_roster(access, case.id)
    only_fields(call, ("role", "name", "seat"))
    role = text_value(call.body_field("role", str, required=True), "role", ROLE_MAX, allow_empty=False)
    name = text_value(call.body_field("name", str, required=True), "name", PERSON_MAX, allow_empty=False)
    seat = text_value(call.body_field("seat", str, default=""), "seat", SEAT_MAX)
    added = access.store.add_participant(case.id, role, name, seat, actor=access.actor)
    return Reply(participant_json(added), status=201)


@endpoint("DELETE", "/cases/{case}/roster/{participant_id}",
          summary="Take a participant off a case's roster (its judges and clerks, admins; audited)",
          tag=TAG, params=(CASE_PARAM, PARTICIPANT_PARAM), response=REMOVED)  # fmt: skip
def delete_roster(call: Call) -> Reply:
    access = call.access
    case = access.case(call.params["case"])
    require_edit_roster(access, case.id)
    pid = call.params["participant_id"]
    if not 0 < pid < 2**31:
        raise ApiError(404, "not_found", f"名单中没有 {pid} (no roster entry {pid} in this case)")
    gone = access.store.remove_participant(pid, actor=access.actor, case_id=case.id)  # another case's: 404
    return Reply({"removed": gone.id})
