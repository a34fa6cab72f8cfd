"""A hearing's log notes through the API: stage marks (庭审阶段), timed notes and recesses (休庭).

Checked like every hearing route: a hearing of another case answers exactly like a missing one (404, the same
words); reading is for anyone who may see the hearing, writing for those who may edit its record (judges,
clerks, admins: a viewer gets 403); a locked record refuses every write (409 "locked", from the store). A note
named in the path that is not of the hearing in the path is 404. Each note carries its `version`: a PATCH made
against an older one is refused with 409 "stale", naming who changed it.

Sealed parts: a note whose time lies in a sealed (不公开) part says `sealed`; to an account that may not see
sealed text (a viewer) its text is "【不公开】", as a sealed segment's is.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.api.segments import audit_opened, int_value, only_fields, text_value
from workbench.display import SEALED_PLACEHOLDER
from workbench.speech.transcript import NOTE_KINDS, STAGES
from workbench.store.notes import NOTE_TEXT_MAX, STAGE_MAX, StoredNote

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.store import Hearing

TAG = "notes"

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
NOTE_ID = Param("note_id", int, "path", required=True, help="The note's id.")

_seconds: JsonSchema = {"type": "number", "minimum": 0, "description": "Seconds from the start of the recording."}
NOTE: JsonSchema = {
    "type": "object",
    "required": ["id", "hearing_id", "kind", "at", "end", "text", "created_by", "created_at", "version", "sealed"],
    "properties": {
        "id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "kind": {"type": "string", "enum": list(NOTE_KINDS),
                 "description": "stage: a stage of the hearing begins; note: a timed note; recess: 休庭 until `end`."},
        "at": _seconds,
        "end": {"type": ["number", "null"], "description": "A recess: when the hearing resumed; null otherwise."},
        "text": {"type": "string", "description": f"A stage's name (e.g. {', '.join(STAGES[:3])}), the note, or "
                 f"the recess's reason; {SEALED_PLACEHOLDER} for a sealed note to a viewer."},
        "created_by": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "version": {"type": "integer", "minimum": 1, "description": "1 when added; give it back in PATCH."},
        "sealed": {"type": "boolean", "description": "Its time lies in a sealed (不公开) part."},
    },
}  # fmt: skip
NOTE_POST: JsonSchema = {
    "type": "object",
    "required": ["kind", "at"],
    "properties": {
        "kind": {"type": "string", "enum": list(NOTE_KINDS)},
        "at": _seconds,
        "text": {"type": "string", "maxLength": NOTE_TEXT_MAX,
                 "description": f"Required for a stage (at most {STAGE_MAX} characters) and a note; a recess's reason "
                 "may be empty."},
        "end": {"type": "number", "description": "A recess only: when it ended (after `at`)."},
    },
    "additionalProperties": False,
}  # fmt: skip
NOTE_PATCH: JsonSchema = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "maxLength": NOTE_TEXT_MAX},
        "at": _seconds,
        "end": {"type": "number", "description": "A recess only."},
        "version": {"type": "integer", "minimum": 1,
                    "description": "The version this change was made against: 409 stale if it is not current."},
    },
    "additionalProperties": False,
}  # fmt: skip
DELETED: JsonSchema = {
    "type": "object",
    "required": ["deleted"],
    "properties": {"deleted": {"type": "integer", "description": "The note's id."}},
}


def note_json(n: StoredNote, *, sealed: bool = False, hidden: bool = False) -> dict[str, Any]:
    """A note as JSON; `hidden` (sealed, and the caller may not see sealed text): its text is the placeholder."""
    return {
        "id": n.id,
        "hearing_id": n.hearing_id,
        "kind": n.kind,
        "at": n.at,
        "end": n.end,
        "text": SEALED_PLACEHOLDER if hidden else n.text,
        "created_by": n.created_by,
        "created_at": n.created_at.isoformat(),
        "version": n.version,
        "sealed": sealed or hidden,
    }


def visible_notes(access: Access, hearing: Hearing) -> list[dict[str, Any]]:
    """The hearing's notes by time as this caller may see them (a sealed note's text hidden from a viewer)."""
    notes = access.store.notes(hearing.id)
    sealed = access.store.sealed_note_ids(hearing.id) if notes else set()
    hide = bool(sealed) and not access.may_see_sealed(hearing.case_id)
    return [note_json(n, sealed=n.id in sealed, hidden=hide and n.id in sealed) for n in notes]


def _seconds_field(call: Call, name: str, *, required: bool = False) -> float | None:
    value = call.body_field(name, (int, float), required=required)
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        raise ApiError(422, "bad_field", f"{name}: 应为不小于 0 的秒数 (seconds, at least 0; got {value!r})")
    return float(value)


def _text_field(call: Call, *, required: bool = False) -> str | None:
    value = call.body_field("text", str, required=required)
    return None if value is None else text_value(value, "text", NOTE_TEXT_MAX)


def _editable(call: Call) -> Hearing:
    """The path's hearing, if the caller may see it (404 otherwise) and may edit its record (403 otherwise)."""
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_edit(hearing.case_id)
    return hearing


def _note_of(call: Call, hearing: Hearing) -> StoredNote:
    """The path's note, which must be of the path's hearing (404 naming both otherwise, as a missing one)."""
    from workbench.store import NotFound

    note_id = call.params["note_id"]
    try:
        note = call.access.store.note(note_id)
    except NotFound:
        note = None
    if note is None or note.hearing_id != hearing.id:
        raise ApiError(
            404, "not_found", f"庭审 {hearing.id} 没有笔记 {note_id} (hearing {hearing.id} has no log note {note_id})"
        )
    return note


def _reply(access: Access, note: StoredNote, status: int = 200) -> Reply:
    sealed = note.id in access.store.sealed_note_ids(note.hearing_id)  # an editor sees sealed text
    return Reply(note_json(note, sealed=sealed), status=status)


@endpoint("GET", "/hearings/{hearing_id}/notes",
          summary="A hearing's log notes by time: stage marks, timed notes and recesses, each with its version",
          tag=TAG, params=(HEARING_ID, *PAGE_PARAMS), response=page_schema(NOTE))  # fmt: skip
def list_notes(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    reply = paged(call, visible_notes(access, hearing))
    audit_opened(access, hearing.id, hearing.case_id, "notes")  # notes are the record's text
    return reply


@endpoint("POST", "/hearings/{hearing_id}/notes",
          summary="Add a stage mark, a timed note or a recess (a judge, clerk or admin of the case; audited; 409 "
          "locked on a locked record)", tag=TAG, params=(HEARING_ID,), body=NOTE_POST, response=NOTE,
          status=201)  # fmt: skip
def post_note(call: Call) -> Reply:
    only_fields(call, ("kind", "at", "text", "end"))
    hearing = _editable(call)
    kind = call.body_field("kind", str, required=True)
    if kind not in NOTE_KINDS:
        raise ApiError(422, "bad_field", f"kind: 应为 {', '.join(NOTE_KINDS)} 之一 (got {kind[:40]!r})")
    at = _seconds_field(call, "at", required=True)
    text = _text_field(call, required=kind != "recess") or ""
    end = _seconds_field(call, "end")
    note = call.access.store.add_note(hearing.id, kind, at, text, end=end, actor=call.access.actor)  # type: ignore[arg-type]
    return _reply(call.access, note, status=201)


@endpoint("PATCH", "/hearings/{hearing_id}/notes/{note_id}",
          summary="Change a note's text, time or (a recess's) end (audited); 409 stale if `version` is not current",
          tag=TAG, params=(HEARING_ID, NOTE_ID), body=NOTE_PATCH, response=NOTE)  # fmt: skip
def patch_note(call: Call) -> Reply:
    only_fields(call, ("text", "at", "end", "version"))
    text = _text_field(call)
    at = _seconds_field(call, "at")
    end = _seconds_field(call, "end")
    version = int_value(call.body_field("version", int), "version", minimum=1, required=False)
    if text is None and at is None and end is None:
        raise ApiError(422, "missing_field", "text, at, end: 至少给出一个 (give text, at and/or end)")
    hearing = _editable(call)
    note = _note_of(call, hearing)
    changed = call.access.store.update_note(
        note.id, version=version, text=text, at=at, end=end, actor=call.access.actor
    )  # a stale version: StaleEdit, 409 "stale"; a locked record: 409 "locked"
    return _reply(call.access, changed)


@endpoint("DELETE", "/hearings/{hearing_id}/notes/{note_id}",
          summary="Remove a note (a judge, clerk or admin of the case; audited with what it was)",
          tag=TAG, params=(HEARING_ID, NOTE_ID), response=DELETED)  # fmt: skip
def delete_note(call: Call) -> Reply:
    hearing = _editable(call)
    note = _note_of(call, hearing)
    call.access.store.delete_note(note.id, hearing_id=hearing.id, actor=call.access.actor)
    return Reply({"deleted": note.id})
