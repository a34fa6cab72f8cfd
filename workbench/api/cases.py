"""Cases and their members: `/cases`, `/cases/{case}`, `/cases/{case}/members[/{user}]`.

The same rules as the pages and the CLI (`workbench.accounts.Access`): a case the caller may not see
answers exactly like a missing one; creating a case needs an uploader's role (its creator becomes a
member); members are managed by admins and the case's judges. `{case}` is a case's number or id.
"""

from __future__ import annotations

from typing import Any

from workbench.api.core import PAGE_PARAMS, ApiError, Call, Param, Reply, endpoint, page_schema, paged
from workbench.store.records import Case

TAG = "cases"
NUMBER_MAX_CHARS = 100
TEXT_MAX_CHARS = 200

CASE_SCHEMA = {
    "type": "object",
    "required": ["id", "number", "cause", "court", "created_at"],
    "properties": {
        "id": {"type": "integer"},
        "number": {"type": "string", "description": "案号, e.g. （2024）京0105民初1234号"},
        "cause": {"type": "string", "description": "案由 (cause of action)"},
        "court": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
MEMBER_SCHEMA = {
    "type": "object",
    "required": ["name", "display_name", "role", "disabled"],
    "properties": {
        "name": {"type": "string"},
        "display_name": {"type": "string"},
        "role": {"type": "string", "enum": ["admin", "judge", "clerk", "viewer"]},
        "disabled": {"type": "boolean"},
    },
}
NEW_CASE_SCHEMA = {
    "type": "object",
    "required": ["number"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "string", "maxLength": NUMBER_MAX_CHARS},
        "cause": {"type": "string", "maxLength": TEXT_MAX_CHARS},
        "court": {"type": "string", "maxLength": TEXT_MAX_CHARS},
    },
}

ADDED = {"type": "object", "required": ["added"], "properties": {"added": {"type": "boolean"}}}
REMOVED = {"type": "object", "required": ["removed"], "properties": {"removed": {"type": "boolean"}}}

CASE_PARAM = Param("case", where="path", required=True, help="The case's number (URL-encoded) or id.")
USER_PARAM = Param("user", where="path", required=True, help="The account's sign-in name.")


def case_json(case: Case) -> dict[str, Any]:
    return {
        "id": case.id,
        "number": case.number,
        "cause": case.cause,
        "court": case.court,
        "created_at": case.created_at.isoformat(),
    }


def _text(call: Call, name: str, limit: int, *, required: bool = False) -> str:
    value = call.body_field(name, str, required=required, default="")
    if len(value) > limit or "\x00" in value:
        raise ApiError(422, "bad_field", f"{name}: 最多 {limit} 字，且不能含控制字符 (at most {limit} characters)")
    return value


@endpoint("GET", "/cases", summary="The cases the caller may see (an admin: all).", tag=TAG, params=PAGE_PARAMS,
          response=page_schema(CASE_SCHEMA))  # fmt: skip
def list_cases(call: Call) -> Reply:
    return paged(call, [case_json(c) for c in call.access.cases()])


@endpoint("POST", "/cases", summary="Create a case; its creator becomes a member.", tag=TAG, body=NEW_CASE_SCHEMA,
          response=CASE_SCHEMA, status=201)  # fmt: skip
def create_case(call: Call) -> Reply:
    if isinstance(call.body, dict) and (extra := sorted(set(call.body) - set(NEW_CASE_SCHEMA["properties"]))):
        raise ApiError(422, "unknown_field", f"{', '.join(extra)}: 不认识的字段 (unknown field)")
    number = _text(call, "number", NUMBER_MAX_CHARS, required=True).strip()
    if not number:
        raise ApiError(422, "bad_field", "number: 请填写案号，例如（2024）京0105民初1234号 (the case number is empty)")
    cause, court = _text(call, "cause", TEXT_MAX_CHARS), _text(call, "court", TEXT_MAX_CHARS)
    call.access.require_upload()
    with call.access.store.reading() as con:  # a number in use is a conflict, not bad input
        if con.execute("SELECT 1 FROM cases WHERE number = ?", [number]).fetchone():
            raise ApiError(409, "exists", f"案件 {number} 已存在 (case {number} already exists)")
    case = call.access.store.add_case(number, cause=cause, court=court, actor=call.access.actor)
    return Reply(case_json(case), status=201)


@endpoint("GET", "/cases/{case}", summary="One case.", tag=TAG, params=(CASE_PARAM,), response=CASE_SCHEMA)
def get_case(call: Call) -> Reply:
    return Reply(case_json(call.access.case(call.params["case"])))


@endpoint("GET", "/cases/{case}/members", summary="The accounts that may see the case, in the order they joined.",
          tag=TAG, params=(CASE_PARAM, *PAGE_PARAMS), response=page_schema(MEMBER_SCHEMA))  # fmt: skip
def list_members(call: Call) -> Reply:
    case = call.access.case(call.params["case"])
    people = call.access.members(case.id)
    return paged(
        call,
        [
            {"name": a.name, "display_name": a.display_name, "role": a.role.value, "disabled": a.disabled}
            for a in people
        ],
    )


@endpoint("PUT", "/cases/{case}/members/{user}", summary="Make an account a member of the case (admins, its judges).",
          tag=TAG, params=(CASE_PARAM, USER_PARAM), response=ADDED)  # fmt: skip
def add_member(call: Call) -> Reply:
    case = call.access.case(call.params["case"])
    return Reply({"added": call.access.grant(case, call.params["user"])})


@endpoint("DELETE", "/cases/{case}/members/{user}", summary="End an account's membership of the case.", tag=TAG,
          params=(CASE_PARAM, USER_PARAM), response=REMOVED)  # fmt: skip
def remove_member(call: Call) -> Reply:
    case = call.access.case(call.params["case"])
    return Reply({"removed": call.access.revoke(case, call.params["user"])})
