"""Hearings: `/hearings` (list, add recordings), `/hearings/{hearing_id}` (read, delete).

Checked like the pages: a hearing of a case the caller may not see answers exactly like a missing one
(404, the same words); adding recordings follows the upload page's rules (`workbench.intake`: an
uploader's role, membership of an existing case, server paths only for admins and clerks and only under
the ingest roots, unless the call is the CLI's on the server); deleting is an admin's.

POST /hearings takes the recordings three ways, in one JSON body (or the `meta` part of multipart/form-data):
`file` parts (spooled to disk by the HTTP door, `call.files`), `uploads` (finished resumable uploads,
`workbench.api.uploads`) and `paths` (files already on the server). Spooled and uploaded files are moved
into the audio store, never copied again.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.intake import (
    FIELD_MAX_CHARS,
    PARTIES_MAX,
    SERVER_PATHS_MAX,
    HearingDetails,
    parse_parties,
    submit_recordings,
)
from workbench.speech.options import TranscribeOptions
from workbench.speech.text import Hotword, parse_hotwords
from workbench.speech.transcript import Party
from workbench.store import audit
from workbench.store.records import Hearing, Recording, Speaker
from workbench.store.status import HearingStatus

TAG = "hearings"
UPLOADS_MAX = 100
HOTWORDS_MAX = 2_000
HOTWORD_MAX_CHARS = 100
OPTION_FIELDS = ("engine", "language", "speakers", "diarize", "itn", "hotwords")
BODY_FIELDS = ("case", "starts_at", "courtroom", "judge", "clerk", "cause", "parties", "options", "paths", "uploads")

# --- schemas -----------------------------------------------------------------------------------------

HEARING: JsonSchema = {
    "type": "object",
    "required": ["id", "case", "case_id", "starts_at", "courtroom", "presiding_judge", "clerk", "status", "segments",
                 "duration"],
    "properties": {
        "id": {"type": "integer"},
        "case": {"type": "string", "description": "The case number."},
        "case_id": {"type": "integer"},
        "starts_at": {"type": ["string", "null"], "format": "date-time"},
        "ends_at": {"type": ["string", "null"], "format": "date-time"},
        "courtroom": {"type": "string"},
        "presiding_judge": {"type": "string"},
        "clerk": {"type": "string"},
        "status": {"type": "string", "enum": [s.value for s in HearingStatus]},
        "segments": {"type": "integer", "description": "How many segments are stored."},
        "duration": {"type": ["number", "null"], "description": "Of its recording, seconds."},
        "language": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "created_by": {"type": "string", "description": "The account that uploaded it."},
    },
}  # fmt: skip
RECORDING: JsonSchema = {
    "type": "object",
    "required": ["file_name", "sha256", "stored_path", "duration"],
    "properties": {
        "file_name": {"type": "string"},
        "sha256": {"type": "string"},
        "stored_path": {"type": "string", "description": "Where the server keeps it."},
        "duration": {"type": ["number", "null"]},
        "format": {"type": "string"},
        "size_bytes": {"type": "integer"},
    },
}
SPEAKER: JsonSchema = {
    "type": "object",
    "required": ["label", "role", "name", "display"],
    "properties": {
        "label": {"type": "string"},
        "role": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "display": {"type": "string", "description": "As the record shows it, e.g. 审判长张三."},
    },
}
HEARING_DETAIL: JsonSchema = {
    **HEARING,
    "required": [*HEARING["required"], "recordings", "speakers"],
    "properties": {
        **HEARING["properties"],
        "recordings": {"type": "array", "items": RECORDING},
        "speakers": {"type": "array", "items": SPEAKER},
    },
}
_text = {"type": "string"}
NEW_HEARINGS: JsonSchema = {
    "type": "object",
    "required": ["case"],
    "additionalProperties": False,
    "description": "As a JSON body, or as the `meta` part of multipart/form-data with one `file` part a recording.",
    "properties": {
        "case": {"type": "string", "maxLength": FIELD_MAX_CHARS["case_number"],
                 "description": "The case number; a new number creates the case (its uploader a member)."},
        "starts_at": {"type": "string", "description": "ISO 8601 date or date-time, e.g. 2024-03-05T09:30."},
        "courtroom": {"type": "string", "maxLength": FIELD_MAX_CHARS["courtroom"]},
        "judge": {"type": "string", "maxLength": FIELD_MAX_CHARS["presiding_judge"],
                  "description": "The presiding judge."},
        "clerk": {"type": "string", "maxLength": FIELD_MAX_CHARS["clerk"]},
        "cause": {"type": "string", "maxLength": FIELD_MAX_CHARS["cause"], "description": "案由, for a new case."},
        "parties": {
            "description": "For a new case: the upload form's text (原告：张三；代理人：李四, one a line) or a list.",
            "oneOf": [
                _text,
                {"type": "array", "maxItems": PARTIES_MAX, "items": {
                    "type": "object", "required": ["role", "name"],
                    "properties": {"role": _text, "name": _text, "representatives": {"type": "array", "items": _text}},
                }},
            ],
        },
        "options": {
            "type": "object",
            "additionalProperties": False,
            "description": "Transcription options; the settings' defaults for those not given.",
            "properties": {
                "engine": _text,
                "language": _text,
                "speakers": {"type": ["string", "integer"], "description": "auto, N or MIN-MAX."},
                "diarize": {"type": "boolean"},
                "itn": {"type": "boolean"},
                "hotwords": {"type": "array", "maxItems": HOTWORDS_MAX, "items": {"oneOf": [
                    {"type": "string", "description": '"term" or "term 2.0"'},
                    {"type": "object", "required": ["term"],
                     "properties": {"term": _text, "weight": {"type": ["number", "null"]}}},
                ]}},
            },
        },
        "paths": {"type": "array", "maxItems": SERVER_PATHS_MAX, "items": _text,
                  "description": "Recordings already on the server, under the ingest roots (admins and clerks)."},
        "uploads": {"type": "array", "maxItems": UPLOADS_MAX, "items": _text,
                    "description": "Ids of finished uploads (POST /uploads); each is consumed."},
    },
}  # fmt: skip
SUBMISSIONS: JsonSchema = {
    "type": "object",
    "required": ["submissions"],
    "properties": {
        "submissions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["file", "hearing_id", "job_id", "duplicate"],
                "properties": {
                    "file": {"type": "string", "description": "The file's name as sent."},
                    "hearing_id": {"type": "integer"},
                    "job_id": {"type": ["integer", "null"], "description": "null: a duplicate, not queued."},
                    "duplicate": {"type": "boolean", "description": "The same audio is already in this case."},
                },
            },
        }
    },
}
DELETED: JsonSchema = {
    "type": "object",
    "required": ["deleted"],
    "properties": {
        "deleted": {"type": "boolean"},
        "segments": {"type": "integer"},
        "jobs": {"type": "integer"},
        "files_removed": {"type": "integer", "description": "Audio files no other hearing uses, removed."},
    },
}

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
LIST_PARAMS = (
    Param("case", help="Case number or id."),
    Param("status", choices=tuple(s.value for s in HearingStatus)),
    Param("from", help="From this date (inclusive), YYYY-MM-DD."),
    Param("to", help="To this date (inclusive), YYYY-MM-DD."),
    *PAGE_PARAMS,
)


# --- as JSON -----------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def hearing_json(h: Hearing) -> dict[str, Any]:
    return {
        "id": h.id,
        "case": h.case_number,
        "case_id": h.case_id,
        "starts_at": _iso(h.starts_at),
        "ends_at": _iso(h.ends_at),
        "courtroom": h.courtroom,
        "presiding_judge": h.presiding_judge,
        "clerk": h.clerk,
        "status": h.status.value,
        "segments": h.segments,
        "duration": h.duration,
        "language": h.language or "",
        "created_at": h.created_at.isoformat(),
        "created_by": h.created_by,
    }


def recording_json(r: Recording) -> dict[str, Any]:
    return {
        "file_name": r.file_name,
        "sha256": r.sha256,
        "stored_path": str(r.stored_path),
        "duration": r.duration,
        "format": r.format,
        "size_bytes": r.size_bytes,
    }


def speaker_json(s: Speaker) -> dict[str, Any]:
    return {"label": s.label, "role": s.role, "name": s.name, "display": s.display()}


# --- reading the body --------------------------------------------------------------------------------


def parse_day(name: str, value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(422, "bad_param", f"{name}: 应为日期，如 2024-03-05 (not a date: {value[:40]!r})") from None


def _starts_at(call: Call) -> datetime | None:
    value = call.body_field("starts_at", str)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(
            422, "bad_field", f"starts_at: 应为日期或日期时间，如 2024-03-05T09:30 (not a date-time: {value[:40]!r})"
        ) from None


def _field(call: Call, name: str, limit: int) -> str:
    value = call.body_field(name, str, default="")
    if len(value) > limit or "\x00" in value:
        raise ApiError(422, "bad_field", f"{name}: 最多 {limit} 字，且不能含控制字符 (at most {limit} characters)")
    return value


def _parties(call: Call) -> tuple[Party, ...]:
    value = call.body_field("parties", (str, list), default="")
    if isinstance(value, str):
        try:
            return parse_parties(value)
        except ValueError as e:
            raise ApiError(422, "bad_field", f"parties: {e}") from None
    if len(value) > PARTIES_MAX:
        raise ApiError(422, "bad_field", f"parties: 最多 {PARTIES_MAX} 方 (at most {PARTIES_MAX} parties)")
    parties = []
    for i, p in enumerate(value):
        reps = p.get("representatives", []) if isinstance(p, dict) else None
        if (
            not isinstance(p, dict)
            or not all(isinstance(p.get(k), str) and p[k].strip() for k in ("role", "name"))
            or not isinstance(reps, list)
            or not all(isinstance(r, str) for r in reps)
        ):
            raise ApiError(422, "bad_field", f"parties[{i}]: 应为 {{role, name, representatives?}} (a party object)")
        parties.append(Party(p["role"].strip(), p["name"].strip(), tuple(r.strip() for r in reps if r.strip())))
    return tuple(parties)


def _hotwords(raw: Any) -> tuple[Hotword, ...]:
    if not isinstance(raw, list) or len(raw) > HOTWORDS_MAX:
        raise ApiError(422, "bad_field", f"options.hotwords: 应为最多 {HOTWORDS_MAX} 项的列表 (a list)")
    words: dict[str, Hotword] = {}
    for i, item in enumerate(raw):
        if isinstance(item, str):
            parsed = parse_hotwords(item)
        elif isinstance(item, dict) and isinstance(item.get("term"), str):
            weight = item.get("weight")
            if weight is not None and (isinstance(weight, bool) or not isinstance(weight, (int, float))):
                raise ApiError(422, "bad_field", f"options.hotwords[{i}].weight: 应为数字 (a number)")
            parsed = (Hotword(item["term"].strip(), None if weight is None else float(weight)),)
        else:
            raise ApiError(422, "bad_field", f"options.hotwords[{i}]: 应为文字或 {{term, weight}} (a term)")
        for h in parsed or (Hotword(""),):  # an empty line or a comment is no term
            if not h.term or len(h.term) > HOTWORD_MAX_CHARS or "\x00" in h.term:
                raise ApiError(
                    422, "bad_field", f"options.hotwords[{i}]: 1 到 {HOTWORD_MAX_CHARS} 字 (1 to {HOTWORD_MAX_CHARS})"
                )
            words.setdefault(h.term, h)  # the first entry of a term wins, as in a hotword file
    return tuple(words.values())


def _options(call: Call) -> TranscribeOptions:
    raw = call.body_field("options", dict, default={})
    unknown = sorted(set(raw) - set(OPTION_FIELDS))
    if unknown:
        raise ApiError(
            422, "bad_field", f"options: 不认识的选项 {', '.join(unknown)} (known: {', '.join(OPTION_FIELDS)})"
        )
    given: dict[str, Any] = {}
    for name in ("engine", "language"):
        if raw.get(name) is not None:
            if not isinstance(raw[name], str):
                raise ApiError(422, "bad_field", f"options.{name}: 应为文字 (a string)")
            given[name] = raw[name]
    speakers = raw.get("speakers")
    if speakers is not None:
        if isinstance(speakers, bool) or not isinstance(speakers, (str, int)):
            raise ApiError(422, "bad_field", "options.speakers: auto、N 或 MIN-MAX (auto, N or MIN-MAX)")
        given["speakers"] = str(speakers)
    for name in ("diarize", "itn"):
        if raw.get(name) is not None:
            if not isinstance(raw[name], bool):
                raise ApiError(422, "bad_field", f"options.{name}: 应为 true 或 false (a boolean)")
            given[name] = raw[name]
    if raw.get("hotwords") is not None:
        given["hotwords"] = _hotwords(raw["hotwords"])
    try:
        return TranscribeOptions.from_settings(**given)
    except ValueError as e:  # OptionsError included: names the option and the choices
        raise ApiError(422, "bad_options", f"options: {e}") from None


def _string_list(call: Call, name: str, limit: int) -> list[str]:
    values = call.body_field(name, list, default=[])
    if len(values) > limit:
        raise ApiError(422, "bad_field", f"{name}: 一次最多 {limit} 个 (at most {limit})")
    if not all(isinstance(v, str) and v.strip() for v in values):
        raise ApiError(422, "bad_field", f"{name}: 应为非空文字的列表 (a list of strings)")
    return [v.strip() for v in values]


def _take_uploads(call: Call, ids: list[str]) -> list[tuple[str, Path]]:
    """The finished uploads, (name as given, file); taking one again before it is consumed gives it again."""
    if not ids:
        return []
    from workbench.api import uploads  # imported on use: a sibling resource, registered by core

    return [uploads.take(call.access, upload_id) for upload_id in dict.fromkeys(ids)]


# --- endpoints ---------------------------------------------------------------------------------------


@endpoint("GET", "/hearings", summary="The hearings of the caller's cases, newest first.", tag=TAG,
          params=LIST_PARAMS, response=page_schema(HEARING))  # fmt: skip
def list_hearings(call: Call) -> Reply:
    p = call.params
    rows = call.access.hearings(
        case=p["case"], status=p["status"], date_from=parse_day("from", p["from"]), date_to=parse_day("to", p["to"])
    )
    return paged(call, [hearing_json(h) for h in rows])


@endpoint("POST", "/hearings", summary="Add recordings as hearings of a case and queue them for transcription.",
          tag=TAG, body=NEW_HEARINGS, response=SUBMISSIONS, status=201,
          media_types=("application/json", "multipart/form-data"))  # fmt: skip
def add_hearings(call: Call) -> Reply:
    if isinstance(call.body, dict) and (unknown := sorted(set(call.body) - set(BODY_FIELDS))):
        raise ApiError(422, "unknown_field", f"{', '.join(unknown)}: 不认识的字段 (unknown field)")
    details = HearingDetails(
        case_number=_field(call, "case", FIELD_MAX_CHARS["case_number"]),
        starts_at=_starts_at(call),
        courtroom=_field(call, "courtroom", FIELD_MAX_CHARS["courtroom"]),
        presiding_judge=_field(call, "judge", FIELD_MAX_CHARS["presiding_judge"]),
        clerk=_field(call, "clerk", FIELD_MAX_CHARS["clerk"]),
        parties=_parties(call),
        cause=_field(call, "cause", FIELD_MAX_CHARS["cause"]),
    )
    if not details.case_number.strip():
        raise ApiError(422, "missing_field", "case: 请填写案号，例如（2024）京0105民初1234号 (required)")
    options = _options(call)
    paths = _string_list(call, "paths", SERVER_PATHS_MAX)
    upload_ids = _string_list(call, "uploads", UPLOADS_MAX)
    if not (call.files or paths or upload_ids):
        raise ApiError(
            422, "no_recordings", "没有录音：请附上文件、上传编号或服务器路径 (no file, upload or path given)"
        )
    call.access.require_upload_to(details.case_number.strip())  # before an upload is taken
    spooled = [*call.files, *_take_uploads(call, upload_ids)]
    subs = submit_recordings(
        call.access.store, details, options, access=call.access, spooled=spooled, paths=paths, local=call.local,
        wake=call.wake,
    )  # fmt: skip
    return Reply(
        {
            "submissions": [
                {"file": s.file.name, "hearing_id": s.hearing_id, "job_id": s.job_id, "duplicate": s.duplicate}
                for s in subs
            ]
        },
        status=201,
    )


@endpoint("GET", "/hearings/{hearing_id}", summary="A hearing, its recordings and speakers (audited as opened).",
          tag=TAG, params=(HEARING_ID,), response=HEARING_DETAIL)  # fmt: skip
def get_hearing(call: Call) -> Reply:
    access = call.access
    h = access.hearing(call.params["hearing_id"])
    store = access.store
    data = hearing_json(h)
    data["recordings"] = [recording_json(r) for r in store.recordings(h.id)]
    data["speakers"] = [speaker_json(s) for s in store.speakers(h.id)]
    store.record(access.actor, audit.HEARING_OPENED, case_id=h.case_id, hearing_id=h.id, detail={"via": "api"})
    return Reply(data)


@endpoint("DELETE", "/hearings/{hearing_id}", summary="Delete a hearing and all of it (admins; not while a job runs).",
          tag=TAG, params=(HEARING_ID,), response=DELETED)  # fmt: skip
def delete_hearing(call: Call) -> Reply:
    access = call.access
    access.require_admin()
    h = access.hearing(call.params["hearing_id"])
    removed = access.store.delete_hearing(h.id, actor=access.actor)
    return Reply(
        {"deleted": True, "segments": removed["segments"], "jobs": removed["jobs"],
         "files_removed": removed["files_removed"]}
    )  # fmt: skip
