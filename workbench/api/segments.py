"""A hearing's transcript through the API: its segments (read, corrected), its speakers, the hotword lists.

Checked like the review page: a segment or hearing of another case answers exactly like a missing one
(404, the same words); only judges, clerks and admins change anything (403 for a viewer); the global
hotword list is an admin's. Each segment and speaker carries its `version` (the id of its latest edits row,
0 if never edited); a PATCH that gives the version it was made against is refused with 409 "stale" when
someone changed the thing since, naming who and when, and nothing is changed.

Sealed parts: each segment says whether it is `sealed` (overlaps a 不公开 range); to an account that
may not see sealed text (a viewer) a sealed segment's text and recognition are "【不公开】". A locked
hearing's segments are refused by the store (409 "locked").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from workbench.api.core import PAGE_PARAMS, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.display import SEALED_PLACEHOLDER
from workbench.speech.text import Hotword, parse_hotwords
from workbench.store import NotFound, StoredSegment, audit
from workbench.store.records import Speaker
from workbench.web.pagedata import NAME_MAX, SEGMENT_TEXT_MAX, cap

if TYPE_CHECKING:
    from workbench.accounts import Access

TAG = "segments"
HOTWORDS_TAG = "hotwords"
HOTWORD_TERM_MAX = NAME_MAX  # a name, a place, a legal term
OPEN_WINDOW_S = 600  # reads of one hearing's text by one caller within this are audited as one opening
HOTWORDS_COUNT_MAX = 5_000  # terms in one list (a court's whole glossary fits; the page's box holds fewer)

# --- schemas -----------------------------------------------------------------------------------------

SEGMENT: JsonSchema = {
    "type": "object",
    "required": ["id", "hearing_id", "idx", "start", "end", "speaker", "speaker_orig", "text", "text_orig",
                 "edited", "version", "sealed"],
    "properties": {
        "id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "idx": {"type": "integer", "description": "Its place in the hearing, from 0."},
        "start": {"type": "number", "description": "Seconds into the recording."},
        "end": {"type": "number"},
        "speaker": {"type": ["string", "null"], "description": "Label (S1, S2, ...); the original with ?original."},
        "speaker_orig": {"type": ["string", "null"]},
        "text": {"type": "string", "description": "The corrected text; the recognition with ?original."},
        "text_orig": {"type": "string", "description": "The recognition, never changed."},
        "edited": {"type": "boolean"},
        "version": {"type": "integer", "minimum": 0,
                    "description": "Id of the segment's latest edit (0: never edited); give it back in PATCH."},
        "sealed": {"type": "boolean",
                   "description": f"Overlaps a sealed (不公开) range; to a viewer its texts are {SEALED_PLACEHOLDER}"},
    },
}  # fmt: skip
SEGMENT_PATCH: JsonSchema = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "maxLength": SEGMENT_TEXT_MAX},
        "speaker": {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "description": "A label, S1, S2, ..."},
        "version": {"type": "integer", "minimum": 0,
                    "description": "The version this change was made against: 409 stale if it is not current."},
    },
    "additionalProperties": False,
}  # fmt: skip
SPEAKER: JsonSchema = {
    "type": "object",
    "required": ["label", "role", "name", "display", "version"],
    "properties": {
        "label": {"type": "string"},
        "role": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "display": {"type": "string", "description": "As the record shows it, e.g. 审判长张三."},
        "version": {"type": "integer", "minimum": 0},
    },
}
SPEAKER_PATCH: JsonSchema = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "maxLength": NAME_MAX, "description": 'A court role, e.g. 原告; "" clears it.'},
        "name": {"type": "string", "maxLength": NAME_MAX, "description": '"" clears it.'},
        "version": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
HOTWORD: JsonSchema = {
    "type": "object",
    "required": ["term", "weight"],
    "properties": {"term": {"type": "string"}, "weight": {"type": ["number", "null"]}},
}
HOTWORDS: JsonSchema = {
    "type": "object",
    "required": ["case", "words"],
    "properties": {
        "case": {"type": ["string", "null"], "description": "The case number; null for the global list."},
        "words": {"type": "array", "items": HOTWORD},
    },
}
HOTWORDS_PUT: JsonSchema = {
    "type": "object",
    "required": ["words"],
    "properties": {
        "case": {"type": ["string", "integer", "null"], "description": "Case number or id; absent: the global list."},
        "words": {
            "type": "array",
            "maxItems": HOTWORDS_COUNT_MAX,
            "items": {"oneOf": [
                {"type": "string", "description": 'A line as `hotwords set` reads it: "term" or "term 2.0".'},
                HOTWORD,
            ]},
        },
    },
    "additionalProperties": False,
}  # fmt: skip

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
SEGMENT_ID = Param("segment_id", int, "path", required=True, help="The segment's id.")


# --- as JSON -----------------------------------------------------------------------------------------


def segment_json(
    seg: StoredSegment, version: int, *, original: bool = False, sealed: bool = False, hidden: bool = False
) -> dict[str, Any]:
    """A segment as JSON; `hidden` (sealed, and the caller may not see sealed text): its texts are the placeholder."""
    text, text_orig = (SEALED_PLACEHOLDER, SEALED_PLACEHOLDER) if hidden else (seg.text, seg.text_orig)
    return {
        "id": seg.id,
        "hearing_id": seg.hearing_id,
        "idx": seg.idx,
        "start": float(seg.start),
        "end": float(seg.end),
        "speaker": seg.speaker_orig if original else seg.speaker,
        "speaker_orig": seg.speaker_orig,
        "text": text_orig if original else text,
        "text_orig": text_orig,
        "edited": seg.edited,
        "version": version,
        "sealed": sealed or hidden,
    }


def sealed_view(access: Access, hearing_id: int, case_id: int) -> tuple[set[int], bool]:
    """The hearing's sealed segment ids, and whether their text is hidden from this caller (a viewer)."""
    sealed = access.store.sealed_segment_ids(hearing_id)
    return sealed, bool(sealed) and not access.may_see_sealed(case_id)


def speaker_json(s: Speaker, version: int) -> dict[str, Any]:
    return {"label": s.label, "role": s.role, "name": s.name, "display": s.display(), "version": version}


def hotwords_json(case: str | None, words: tuple[Hotword, ...]) -> dict[str, Any]:
    return {"case": case, "words": [{"term": h.term, "weight": h.weight} for h in words]}


# --- checks ------------------------------------------------------------------------------------------


def visible_segment(access: Access, segment_id: int) -> StoredSegment:
    """The segment if the account may see its hearing; the hearing's "not found or not yours" otherwise."""
    from workbench.accounts import NotYours

    try:
        if not 0 < segment_id < 2**63:
            raise NotFound(f"no segment {segment_id}")
        seg = access.store.segment(segment_id)
    except NotFound:
        if access.is_admin:
            raise  # an admin sees every case: the store's own hint (where segment ids are listed) helps
        raise NotYours() from None
    access.hearing(seg.hearing_id)  # NotYours for another case's
    return seg


ID_MAX = 2**63 - 1  # DuckDB's BIGINT: ids and versions past it are no one's


def text_value(value: Any, name: str, limit: int, *, allow_empty: bool = True) -> str:
    """A text field's value, checked: a string, no NUL, at most `limit` characters, not blank unless
    `allow_empty`; ApiError 422 naming `name` and why otherwise."""
    if not isinstance(value, str):
        raise ApiError(422, "bad_field", f"{name}: 类型不对 (expected str)")
    if "\x00" in value:
        raise ApiError(422, "bad_field", f"{name}: 不能含空字符 (must not contain NUL)")
    if len(value) > limit:
        raise ApiError(422, "bad_field", f"{name}: 最多 {limit} 个字符 (at most {limit} characters, got {len(value)})")
    if not allow_empty and not value.strip():
        raise ApiError(422, "bad_field", f"{name}: 不能为空 (must not be empty)")
    return value


def text_field(call: Call, name: str, limit: int, *, allow_empty: bool = True, required: bool = False) -> str | None:
    """The body's text field `name` (`text_value`'s checks); None when absent and not `required`."""
    value = call.body_field(name, str, required=required)
    return None if value is None else text_value(value, name, limit, allow_empty=allow_empty)


def int_value(value: Any, name: str, *, minimum: int = 0, required: bool = True) -> int | None:
    """An integer field's value (an id, a version, an offset), checked: JSON's true is not 1, at least
    `minimum`, fits an id; ApiError 422 naming `name` and why otherwise. None when absent and not `required`."""
    if value is None:
        if required:
            raise ApiError(422, "missing_field", f"{name}: 必填 (required)")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(422, "bad_field", f"{name}: 类型不对 (expected int)")
    if value < minimum:
        why = "不能为负 (must not be negative)" if minimum == 0 else f"应不小于 {minimum} (must be at least {minimum})"
        raise ApiError(422, "bad_field", f"{name}: {why}")
    if value > ID_MAX:
        raise ApiError(422, "bad_field", f"{name}: 太大 (at most {ID_MAX})")
    return value


def version_field(call: Call, name: str = "version", *, required: bool = False, minimum: int = 0) -> int | None:
    """The body's integer field `name` (a version by default; `int_value`'s checks)."""
    return int_value(call.body_field(name, int, required=required), name, minimum=minimum, required=required)


def only_fields(call: Call, allowed: tuple[str, ...]) -> None:
    """422 naming any field of the body not in `allowed` (a typo must not be ignored silently)."""
    if isinstance(call.body, dict):
        unknown = sorted(set(call.body) - set(allowed))
        if unknown:
            raise ApiError(
                422, "unknown_field", f"{', '.join(unknown)}: 不认识的字段 (unknown field; known: {', '.join(allowed)})"
            )


def check_cap(text: str | None, stored: str | None, name: str = "text") -> None:
    """A segment's new text fits its cap, as the review page's box: SEGMENT_TEXT_MAX characters, or the stored
    text's length when that is longer (a long recognition stays editable, only not longer). 422 otherwise."""
    limit = cap(SEGMENT_TEXT_MAX, stored)
    if text is not None and len(text) > limit:
        raise ApiError(422, "bad_field", f"{name}: 最多 {limit} 个字符 (at most {limit} characters, got {len(text)})")


def audit_opened(access: Access, hearing_id: int, case_id: int | None, read: str) -> None:
    """The record's text read through the API: audited as the hearing opened, like the review page, which
    audits it once per browser session, not per rerun. Here: once per account and client in OPEN_WINDOW_S
    (reading a long hearing page by page, or `hearings show` after GET /hearings/{id}, is one opening)."""
    since = datetime.now().replace(tzinfo=None) - timedelta(seconds=OPEN_WINDOW_S)  # the audit's own clock
    with access.store.reading() as con:
        seen = con.execute(
            "SELECT 1 FROM audit WHERE action = ? AND hearing_id = ? AND account = ? AND client = ? AND logged_at >= ? "
            "LIMIT 1",
            [audit.HEARING_OPENED, hearing_id, access.actor.account, access.actor.client, since],
        ).fetchone()
    if seen is None:
        access.store.record(
            access.actor, audit.HEARING_OPENED, case_id=case_id, hearing_id=hearing_id,
            detail={"via": "api", "read": read},
        )  # fmt: skip


# --- segments ----------------------------------------------------------------------------------------


@endpoint(
    "GET",
    "/hearings/{hearing_id}/segments",
    summary="A hearing's segments in order, each with its version",
    tag=TAG,
    params=(
        HEARING_ID,
        Param("original", bool, help="The recognition's text and speakers instead of the corrected.", default=False),
        *PAGE_PARAMS,
    ),
    response=page_schema(SEGMENT),
)
def list_segments(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    segments = access.store.segments(hearing.id)
    versions = access.store.segment_versions(hearing.id)
    original = bool(call.params["original"])
    sealed, hide = sealed_view(access, hearing.id, hearing.case_id)
    reply = paged(call, [
        segment_json(s, versions.get(s.id, 0), original=original, sealed=s.id in sealed, hidden=hide and s.id in sealed)
        for s in segments
    ])  # fmt: skip
    audit_opened(access, hearing.id, hearing.case_id, "segments")
    return reply


@endpoint(
    "GET", "/segments/{segment_id}", summary="One segment, with its version", tag=TAG, params=(SEGMENT_ID,),
    response=SEGMENT,
)  # fmt: skip
def get_segment(call: Call) -> Reply:
    access = call.access
    seg = visible_segment(access, call.params["segment_id"])
    sealed, hide = sealed_view(access, seg.hearing_id, access.store.hearing(seg.hearing_id).case_id)
    audit_opened(access, seg.hearing_id, None, "segment")
    is_sealed = seg.id in sealed
    return Reply(segment_json(seg, access.store.segment_version(seg.id), sealed=is_sealed, hidden=hide and is_sealed))


@endpoint(
    "PATCH",
    "/segments/{segment_id}",
    summary="Correct a segment's text and/or speaker (audited); 409 stale if `version` is not current",
    tag=TAG,
    params=(SEGMENT_ID,),
    body=SEGMENT_PATCH,
    response=SEGMENT,
)
def patch_segment(call: Call) -> Reply:
    access = call.access
    only_fields(call, ("text", "speaker", "version"))
    text = text_field(call, "text", 2**31)  # its cap below, once the stored text is known
    speaker = text_field(call, "speaker", NAME_MAX, allow_empty=False)
    version = version_field(call)
    if text is None and speaker is None:
        raise ApiError(422, "missing_field", "text, speaker: 至少给出一个 (give text and/or speaker)")
    seg = visible_segment(access, call.params["segment_id"])
    access.require_edit(access.store.hearing(seg.hearing_id).case_id)
    check_cap(text, seg.text)
    changed = access.store.edit_segment(  # a stale version: StaleEdit, which core answers as 409 "stale"
        seg.id,
        text=text,
        speaker=speaker.strip() if speaker is not None else None,
        actor=access.actor,
        expected_version=version,
    )
    sealed = changed.id in access.store.sealed_segment_ids(changed.hearing_id)  # an editor sees sealed text
    return Reply(segment_json(changed, access.store.segment_version(changed.id), sealed=sealed))


# --- speakers ----------------------------------------------------------------------------------------


@endpoint(
    "GET",
    "/hearings/{hearing_id}/speakers",
    summary="A hearing's speakers: label, court role, name, each with its version",
    tag=TAG,
    params=(HEARING_ID, *PAGE_PARAMS),
    response=page_schema(SPEAKER),
)
def list_speakers(call: Call) -> Reply:
    hearing = call.access.hearing(call.params["hearing_id"])
    versions = call.access.store.speaker_versions(hearing.id)
    return paged(call, [speaker_json(s, versions.get(s.label, 0)) for s in call.access.store.speakers(hearing.id)])


@endpoint(
    "PATCH",
    "/hearings/{hearing_id}/speakers/{label}",
    summary="Give a speaker a court role and/or a name (audited); 409 stale if `version` is not current",
    tag=TAG,
    params=(HEARING_ID, Param("label", str, "path", required=True, help="The speaker's label, S1, S2, ...")),
    body=SPEAKER_PATCH,
    response=SPEAKER,
)
def patch_speaker(call: Call) -> Reply:
    access = call.access
    only_fields(call, ("role", "name", "version"))
    role = text_field(call, "role", NAME_MAX)
    name = text_field(call, "name", NAME_MAX)
    version = version_field(call)
    if role is None and name is None:
        raise ApiError(422, "missing_field", "role, name: 至少给出一个 (give role and/or name)")
    hearing = access.hearing(call.params["hearing_id"])
    access.require_edit(hearing.case_id)
    s = access.store.set_speaker(  # a stale version: StaleEdit, which core answers as 409 "stale"
        hearing.id, call.params["label"], role=role, name=name, actor=access.actor, expected_version=version
    )
    return Reply(speaker_json(s, access.store.speaker_versions(hearing.id).get(s.label, 0)))


# --- hotwords ----------------------------------------------------------------------------------------


def _hotword(item: Any, i: int) -> Hotword:
    """One item of `words`: a line ("term" or "term 2.0") or an object {term, weight}."""
    if isinstance(item, str):
        parsed = parse_hotwords(item)
        if len(parsed) != 1:
            raise ApiError(422, "bad_field", f"words[{i}]: 应为一个词 (one term per item, got {item[:40]!r})")
        word = parsed[0]
    elif isinstance(item, dict) and isinstance(item.get("term"), str):
        weight = item.get("weight")
        if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int | float)):
            raise ApiError(422, "bad_field", f"words[{i}].weight: 应为数字 (a number)")
        word = Hotword(item["term"].strip(), float(weight) if weight is not None else None)
    else:
        raise ApiError(422, "bad_field", f"words[{i}]: 应为字符串或 {{term, weight}} (a string or {{term, weight}})")
    if not word.term or "\x00" in word.term or len(word.term) > HOTWORD_TERM_MAX:
        raise ApiError(
            422, "bad_field", f"words[{i}]: 1 到 {HOTWORD_TERM_MAX} 个字符 (1 to {HOTWORD_TERM_MAX} characters)"
        )
    return word


@endpoint(
    "GET",
    "/hotwords",
    summary="A hotword list: the global one, or a case's (?case)",
    tag=HOTWORDS_TAG,
    params=(Param("case", str, help="Case number or id; absent: the global list."),),
    response=HOTWORDS,
)
def get_hotwords(call: Call) -> Reply:
    key = call.params["case"]
    if key:
        case = call.access.case(key)
        return Reply(hotwords_json(case.number, call.access.store.hotwords(case_id=case.id)))
    return Reply(hotwords_json(None, call.access.store.hotwords()))


@endpoint(
    "PUT",
    "/hotwords",
    summary="Replace a hotword list (audited): a case's (its judges and clerks) or the global one (admins)",
    tag=HOTWORDS_TAG,
    body=HOTWORDS_PUT,
    response=HOTWORDS,
)
def put_hotwords(call: Call) -> Reply:
    access = call.access
    only_fields(call, ("case", "words"))
    key = call.body_field("case", (str, int))
    items = call.body_field("words", list, required=True)
    if len(items) > HOTWORDS_COUNT_MAX:
        raise ApiError(422, "bad_field", f"words: 最多 {HOTWORDS_COUNT_MAX} 个 (at most {HOTWORDS_COUNT_MAX} terms)")
    unique: dict[str, Hotword] = {}
    for i, item in enumerate(items):
        word = _hotword(item, i)
        unique.setdefault(word.term, word)  # the first of a repeated term counts, as `parse_hotwords` does
    words = list(unique.values())
    if key is not None and str(key).strip():
        case = access.case(key)
        access.require_edit(case.id)
        access.store.set_hotwords(words, case_id=case.id, actor=access.actor)
        return Reply(hotwords_json(case.number, access.store.hotwords(case_id=case.id)))
    access.require_admin()
    access.store.set_hotwords(words, actor=access.actor)
    return Reply(hotwords_json(None, access.store.hotwords()))
