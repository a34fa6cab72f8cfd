"""The review desk's API: the whole hearing in one read, batched edits, split and merge, find and replace, and the
"checked up to here" mark. The desk's browser component calls it with the session cookie.

Offsets are UTF-16 code units (JavaScript string indexes) into a segment's current text. Checked like the
segments API: another case's hearing or segment answers exactly like a missing one (404), only judges,
clerks and admins write (403 for a viewer), and each write is `Store.edit_segment` or a store method as
audited as it (an edits row with the account, searchable at once). Every segment carries its `version`;
a write made against an older one is refused as stale and names who changed it.

A locked hearing is read-only here (`may_edit` false; the store refuses its writes with 409 "locked"
whoever asks); the view lists the sealed (不公开) ranges and marks each segment sealed or not, and an account
that may not see sealed text (a viewer) gets "【不公开】" for a sealed segment's text, with no words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workbench import settings
from workbench.api.core import ApiError, Call, JsonSchema, Param, Reply, endpoint
from workbench.api.segments import (
    SEALED_PLACEHOLDER,
    audit_opened,
    check_cap,
    int_value,
    only_fields,
    text_value,
    version_field,
    visible_segment,
)
from workbench.desk import (
    DeskSegment,
    DeskSpeaker,
    DeskView,
    low_confidence,
    replace_in,
    replacements,
    speakers_in_order,
    stored_word_spans,
)
from workbench.store import NotFound
from workbench.store.desk import SegmentEdit
from workbench.web.pagedata import NAME_MAX, SEGMENT_TEXT_MAX

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.store import Hearing, Store, StoredSegment
    from workbench.store.desk import DeskRow

TAG = "desk"
EDITS_MAX = 200  # items in one POST /edits (the desk sends every dirty row at once)
REPLACE_LISTED_MAX = 1000  # segments a replace preview lists
FIND_MAX = 200  # characters of a find or replace text

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
SEGMENT_ID = Param("segment_id", int, "path", required=True, help="The segment's id.")

# --- schemas -----------------------------------------------------------------------------------------

WORD: JsonSchema = {
    "type": "array",
    "description": "[start_s, end_s, from, to, prob|null]: from/to are UTF-16 offsets into the current text.",
    "items": {"type": ["number", "null"]},
    "minItems": 5,
    "maxItems": 5,
}
DESK_SEGMENT: JsonSchema = {
    "type": "object",
    "required": ["id", "start", "end", "speaker", "text", "version", "edited", "words", "sealed"],
    "properties": {
        "id": {"type": "integer"},
        "start": {"type": "number"},
        "end": {"type": "number"},
        "speaker": {"type": ["string", "null"]},
        "text": {"type": "string", "description": f"{SEALED_PLACEHOLDER} for a sealed one, to a viewer."},
        "version": {"type": "integer", "minimum": 0},
        "edited": {"type": "boolean"},
        "words": {"type": "array", "items": WORD, "description": "Empty for a sealed one, to a viewer."},
        "sealed": {"type": "boolean", "description": "It overlaps a sealed (不公开) range."},
    },
}
SEALED_RANGE: JsonSchema = {
    "type": "object",
    "required": ["id", "start", "end", "reason"],
    "properties": {
        "id": {"type": "integer"},
        "start": {"type": "number"},
        "end": {"type": "number", "description": "Exclusive."},
        "reason": {"type": "string"},
    },
}
CHECKED: JsonSchema = {
    "type": ["object", "null"],
    "required": ["segment_id", "t", "by", "at"],
    "properties": {
        "segment_id": {"type": "integer"},
        "t": {"type": "number", "description": "The segment's end: where to resume."},
        "by": {"type": "string"},
        "at": {"type": "string"},
    },
}
DESK: JsonSchema = {
    "type": "object",
    "required": ["hearing", "threshold", "low_confidence", "checked", "speakers", "segments", "sealed"],
    "properties": {
        "hearing": {
            "type": "object",
            "required": ["id", "case_number", "duration", "recording_id", "may_edit", "status"],
            "properties": {
                "id": {"type": "integer"},
                "case_number": {"type": "string"},
                "duration": {"type": ["number", "null"]},
                "recording_id": {"type": ["integer", "null"]},
                "may_edit": {"type": "boolean", "description": "False for a viewer, and for anyone once locked."},
                "status": {"type": "string"},
            },
        },
        "threshold": {"type": "number"},
        "low_confidence": {"type": "integer", "description": "Words below the threshold in the current texts."},
        "checked": CHECKED,
        "speakers": {
            "type": "array",
            "description": "In order of first appearance: number keys 1..9 pick speakers[0..8].",
            "items": {
                "type": "object",
                "required": ["label", "role", "name", "display", "version"],
                "properties": {
                    "label": {"type": "string"},
                    "role": {"type": ["string", "null"]},
                    "name": {"type": ["string", "null"]},
                    "display": {"type": "string"},
                    "version": {"type": "integer"},
                },
            },
        },
        "segments": {"type": "array", "items": DESK_SEGMENT},
        "sealed": {"type": "array", "items": SEALED_RANGE, "description": "The sealed (不公开) ranges, by start."},
    },
}
EDIT_ITEM: JsonSchema = {
    "type": "object",
    "required": ["segment_id", "version"],
    "properties": {
        "segment_id": {"type": "integer"},
        "text": {"type": "string", "maxLength": SEGMENT_TEXT_MAX},
        "speaker": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
        "version": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
EDITS_BODY: JsonSchema = {
    "type": "object",
    "required": ["edits"],
    "properties": {"edits": {"type": "array", "minItems": 1, "maxItems": EDITS_MAX, "items": EDIT_ITEM}},
    "additionalProperties": False,
}
EDIT_RESULT: JsonSchema = {
    "type": "object",
    "required": ["segment_id", "ok"],
    "properties": {
        "segment_id": {"type": "integer"},
        "ok": {"type": "boolean"},
        "version": {"type": "integer"},
        "text": {"type": "string"},
        "speaker": {"type": ["string", "null"]},
        "words": {"type": "array", "items": WORD},
        "before": {"type": "string", "description": "Replace only: the text before, for an undo."},
        "error": {"type": "string", "enum": ["stale", "not_found"]},
        "detail": {"type": "string"},
        "current": {
            "type": "object",
            "description": "Stale only: the segment as it is now.",
            "required": ["text", "speaker", "version", "reshaped", "words"],
            "properties": {
                "text": {"type": "string"},
                "speaker": {"type": ["string", "null"]},
                "version": {"type": "integer"},
                "reshaped": {
                    "type": "boolean",
                    "description": "Its latest change was a split or merge: do not resend the old edit, take theirs.",
                },
                "words": {"type": "array", "items": WORD, "description": "Placed on the current text."},
            },
        },
    },
}
EDITS_RESULT: JsonSchema = {
    "type": "object",
    "required": ["results"],
    "properties": {"results": {"type": "array", "items": EDIT_RESULT}},
}
SPLIT_BODY: JsonSchema = {
    "type": "object",
    "required": ["at", "version"],
    "properties": {
        "at": {"type": "integer", "minimum": 1, "description": "UTF-16 offset of the cut in the current text."},
        "version": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}
SPLIT_RESULT: JsonSchema = {
    "type": "object",
    "required": ["segments"],
    "properties": {"segments": {"type": "array", "items": DESK_SEGMENT, "minItems": 2, "maxItems": 2}},
}
MERGE_BODY: JsonSchema = {
    "type": "object",
    "required": ["version", "next_version"],
    "properties": {"version": {"type": "integer", "minimum": 0}, "next_version": {"type": "integer", "minimum": 0}},
    "additionalProperties": False,
}
MERGE_RESULT: JsonSchema = {
    "type": "object",
    "required": ["segment", "removed", "joined_at"],
    "properties": {
        "segment": DESK_SEGMENT,
        "removed": {"type": "integer", "description": "The id of the segment merged into this one."},
        "joined_at": {"type": "integer", "description": "UTF-16 offset where its text begins (split there to undo)."},
    },
}
REPLACE_BODY: JsonSchema = {
    "type": "object",
    "required": ["find", "replace"],
    "properties": {
        "find": {"type": "string", "minLength": 1, "maxLength": FIND_MAX},
        "replace": {"type": "string", "maxLength": FIND_MAX},
        "match_case": {"type": "boolean", "default": True},
        "apply": {"type": "boolean", "default": False},
        "segments": {
            "type": "array",
            "description": "apply: the preview's segments and versions; absent: every match at its current version.",
            "items": {
                "type": "object",
                "required": ["segment_id", "version"],
                "properties": {"segment_id": {"type": "integer"}, "version": {"type": "integer", "minimum": 0}},
            },
        },
    },
    "additionalProperties": False,
}
REPLACE_RESULT: JsonSchema = {
    "type": "object",
    "properties": {
        "matches": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["segment_id", "version", "before", "after", "count"],
                "properties": {
                    "segment_id": {"type": "integer"},
                    "version": {"type": "integer"},
                    "before": {"type": "string"},
                    "after": {"type": "string"},
                    "count": {"type": "integer"},
                },
            },
        },
        "total": {"type": "integer", "description": "Every occurrence in the hearing (also past the listed)."},
        "more": {
            "type": "integer",
            "description": f"Matching segments past the first {REPLACE_LISTED_MAX}: not listed (preview) or not "
            "changed (apply without `segments`); apply again for them.",
        },
        "results": {"type": "array", "items": EDIT_RESULT},
    },
}
CHECKED_BODY: JsonSchema = {
    "type": "object",
    "required": ["segment_id"],
    "properties": {"segment_id": {"type": ["integer", "null"], "description": "null clears the mark."}},
    "additionalProperties": False,
}


# --- the view ----------------------------------------------------------------------------------------


def threshold() -> float:
    return float(settings.get("low_confidence"))


def _desk_segment(store: Store, row: DeskRow, *, hidden: bool = False) -> DeskSegment:
    if hidden:  # sealed, and the caller may not see sealed text: neither the text nor its words leave
        return DeskSegment(row.id, float(row.start), float(row.end), row.speaker, SEALED_PLACEHOLDER, row.version,
                           row.edited, [])  # fmt: skip
    words = stored_word_spans(str(store.path), row.id, row.words_json, row.text)
    return DeskSegment(row.id, float(row.start), float(row.end), row.speaker, row.text, row.version, row.edited, words)


def desk_view(access: Access, hearing: Hearing, sealed: set[int] | None = None) -> DeskView:
    """The whole hearing as the desk draws it; the text of the `sealed` segments hidden unless the caller
    may see sealed text."""
    store = access.store
    sealed = store.sealed_segment_ids(hearing.id) if sealed is None else sealed
    hide = sealed and not access.may_see_sealed(hearing.case_id)
    segments = [_desk_segment(store, r, hidden=bool(hide and r.id in sealed)) for r in store.desk_rows(hearing.id)]
    limit = threshold()
    versions = store.speaker_versions(hearing.id)
    known = [
        DeskSpeaker(s.label, s.role, s.name, s.display(), versions.get(s.label, 0)) for s in store.speakers(hearing.id)
    ]
    recordings = store.recordings(hearing.id)
    mark = store.checked(hearing.id)
    duration = hearing.duration if hearing.duration is not None else (segments[-1].end if segments else None)
    return DeskView(
        hearing={"id": hearing.id, "case_number": hearing.case_number, "duration": duration,
                 "recording_id": recordings[0].id if recordings else None,
                 "may_edit": access.may_edit_record(hearing), "status": hearing.status.value},
        threshold=limit,
        low_confidence=sum(low_confidence(s.words, limit) for s in segments),
        checked=mark.to_json() if mark else None,
        speakers=speakers_in_order((s.speaker for s in segments), known),
        segments=segments,
    )  # fmt: skip


def desk_json(access: Access, hearing: Hearing) -> dict[str, Any]:
    """GET /hearings/{id}/desk's answer: the view, each segment marked sealed or not, and the sealed ranges."""
    store = access.store
    sealed = store.sealed_segment_ids(hearing.id)
    data = desk_view(access, hearing, sealed).to_json()
    for seg in data["segments"]:
        seg["sealed"] = seg["id"] in sealed
    data["sealed"] = [{"id": p.id, "start": float(p.start), "end": float(p.end), "reason": p.reason}
                      for p in store.sealed_parts(hearing.id)]  # fmt: skip
    return data


def desk_segments_json(store: Store, hearing_id: int, segment_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Segments after a write (only editors write, and every editor may see sealed text: shown in full)."""
    sealed = store.sealed_segment_ids(hearing_id)
    out = {}
    for r in store.desk_rows(hearing_id, segment_ids):
        out[r.id] = {**_desk_segment(store, r).to_json(), "sealed": r.id in sealed}
    return out


@endpoint(
    "GET",
    "/hearings/{hearing_id}/desk",
    summary="The review desk's view of a hearing: every segment with its words placed on the current text",
    tag=TAG,
    params=(HEARING_ID,),
    response=DESK,
)
def get_desk(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    data = desk_json(access, hearing)
    audit_opened(access, hearing.id, hearing.case_id, "desk")
    return Reply(data)


# --- batched edits -----------------------------------------------------------------------------------


def _edit_items(call: Call) -> list[dict[str, Any]]:
    """The `edits` list, each item checked (ApiError 422 naming the item and the field)."""
    only_fields(call, ("edits",))
    items = call.body_field("edits", list, required=True)
    if not items:
        raise ApiError(422, "bad_field", "edits: 应为非空列表 (expected a non-empty list)")
    if len(items) > EDITS_MAX:
        raise ApiError(422, "bad_field", f"edits: 最多 {EDITS_MAX} 项 (at most {EDITS_MAX} items, got {len(items)})")
    out = []
    for i, item in enumerate(items):
        name = f"edits[{i}]"
        if not isinstance(item, dict):
            raise ApiError(422, "bad_field", f"{name}: 应为对象 (expected an object)")
        unknown = sorted(set(item) - {"segment_id", "text", "speaker", "version"})
        if unknown:
            raise ApiError(422, "unknown_field", f"{name}.{', '.join(unknown)}: 不认识的字段 (unknown field)")
        segment_id = int_value(item.get("segment_id"), f"{name}.segment_id", minimum=1)
        version = int_value(item.get("version"), f"{name}.version")
        text, speaker = item.get("text"), item.get("speaker")
        if text is not None:
            text_value(text, f"{name}.text", 2**31)  # its cap in apply_edits, once the stored text is known
        if speaker is not None:
            speaker = text_value(speaker, f"{name}.speaker", NAME_MAX, allow_empty=False).strip()
        if text is None and speaker is None:
            raise ApiError(422, "missing_field", f"{name}: text, speaker 至少给出一个 (give text and/or speaker)")
        out.append({"segment_id": segment_id, "text": text, "speaker": speaker, "version": version})
    return out


def _editable_hearing(access: Access, hearing_id: int) -> Hearing:
    hearing = access.hearing(hearing_id)  # 404 for another case's, like a missing one
    access.require_edit(hearing.case_id)  # 403 for a viewer
    return hearing


def apply_edits(access: Access, hearing: Hearing, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each item as `edit_segment` would make it, against its own version, in order (`Store.edit_segments`: one
    transaction); a stale or missing one is reported and the rest go on. The texts' caps are checked first (as
    the review page's box: a longer stored text stays editable, only not longer): a request fits or is refused
    whole."""
    store = access.store
    long = [i for i in items if i["text"] is not None and len(i["text"]) > SEGMENT_TEXT_MAX]
    if long:  # only then does the stored text matter (a cap is never below SEGMENT_TEXT_MAX): read it
        stored = {r.id: r.text for r in store.desk_rows(hearing.id, sorted({i["segment_id"] for i in long}))}
        for n, item in enumerate(items):
            check_cap(item["text"], stored.get(item["segment_id"]), f"edits[{n}].text")
    edits = [SegmentEdit(i["segment_id"], i["text"], i["speaker"], i["version"]) for i in items]
    outcomes = store.edit_segments(hearing.id, edits, actor=access.actor)
    stale = [o.segment_id for o in outcomes if o.error == "stale"]
    now = {r.id: r for r in store.desk_rows(hearing.id, stale)} if stale else {}
    results: list[dict[str, Any]] = []
    for o in outcomes:
        r: dict[str, Any] = {"segment_id": o.segment_id, "ok": o.ok}
        if not o.ok:
            r.update(error=o.error, detail=o.detail)
            if o.segment_id in now:
                # what the desk needs to show theirs: the text with its words, and whether keeping mine is
                # safe (after a split or merge it is not: the old text would bring back the moved part)
                cur = now[o.segment_id]
                r["current"] = {"text": cur.text, "speaker": cur.speaker, "version": cur.version,
                                "reshaped": cur.reshaped, "words": _desk_segment(store, cur).words}  # fmt: skip
        results.append(r)
    done = desk_segments_json(store, hearing.id, [r["segment_id"] for r in results if r["ok"]])
    for r in results:
        if r["ok"]:
            seg = done[r["segment_id"]]
            r.update(version=seg["version"], text=seg["text"], speaker=seg["speaker"], words=seg["words"])
    return results


@endpoint(
    "POST",
    "/hearings/{hearing_id}/edits",
    summary="Save a batch of segment edits (text and/or speaker), each against its version (audited)",
    tag=TAG,
    params=(HEARING_ID,),
    body=EDITS_BODY,
    response=EDITS_RESULT,
)
def post_edits(call: Call) -> Reply:
    access = call.access
    hearing = _editable_hearing(access, call.params["hearing_id"])
    items = _edit_items(call)
    return Reply({"results": apply_edits(access, hearing, items)})


# --- split and merge ---------------------------------------------------------------------------------


def _editable_segment(access: Access, segment_id: int) -> StoredSegment:
    seg = visible_segment(access, segment_id)  # 404 for another case's, like a missing one
    access.require_edit(access.store.hearing(seg.hearing_id).case_id)  # 403 for a viewer
    return seg


@endpoint(
    "POST",
    "/segments/{segment_id}/split",
    summary="Split a segment in two at a UTF-16 offset of its text (audited); 409 stale if `version` is not current",
    tag=TAG,
    params=(SEGMENT_ID,),
    body=SPLIT_BODY,
    response=SPLIT_RESULT,
)
def post_split(call: Call) -> Reply:
    access = call.access
    seg = _editable_segment(access, call.params["segment_id"])
    only_fields(call, ("at", "version"))
    at = version_field(call, "at", required=True, minimum=1)
    version = version_field(call, required=True)
    assert at is not None  # required
    first, second = access.store.split_segment(seg.id, at, actor=access.actor, expected_version=version)
    done = desk_segments_json(access.store, seg.hearing_id, [first.id, second.id])
    return Reply({"segments": [done[first.id], done[second.id]]})


@endpoint(
    "POST",
    "/segments/{segment_id}/merge",
    summary="Merge a segment with the one after it (audited; the removed one is kept); 409 stale if either changed",
    tag=TAG,
    params=(SEGMENT_ID,),
    body=MERGE_BODY,
    response=MERGE_RESULT,
)
def post_merge(call: Call) -> Reply:
    access = call.access
    seg = _editable_segment(access, call.params["segment_id"])
    only_fields(call, ("version", "next_version"))
    version = version_field(call, required=True)
    next_version = version_field(call, "next_version", required=True)
    merged, removed, joined_at = access.store.merge_segments(  # a joined text over the cap: ValueError, 422
        seg.id, actor=access.actor, expected_version=version, next_version=next_version, text_max=SEGMENT_TEXT_MAX
    )
    done = desk_segments_json(access.store, seg.hearing_id, [merged.id])
    return Reply({"segment": done[merged.id], "removed": removed, "joined_at": joined_at})


# --- find and replace --------------------------------------------------------------------------------


def _replace_request(call: Call) -> tuple[str, str, bool, bool, list[tuple[int, int]] | None]:
    only_fields(call, ("find", "replace", "match_case", "apply", "segments"))
    find = text_value(call.body_field("find", str, required=True), "find", FIND_MAX, allow_empty=False)
    replacement = text_value(call.body_field("replace", str, required=True), "replace", FIND_MAX)
    match_case = call.body_field("match_case", bool, default=True)
    apply = call.body_field("apply", bool, default=False)
    listed = call.body_field("segments", list)
    chosen = None
    if listed is not None:
        if len(listed) > REPLACE_LISTED_MAX:
            raise ApiError(422, "bad_field", f"segments: 最多 {REPLACE_LISTED_MAX} 项 (at most {REPLACE_LISTED_MAX} "
                           f"items, got {len(listed)})")  # fmt: skip
        chosen = []
        for i, item in enumerate(listed):
            if not isinstance(item, dict) or set(item) - {"segment_id", "version"}:
                raise ApiError(422, "bad_field", f"segments[{i}]: 应为 {{segment_id, version}} (expected that object)")
            sid = int_value(item.get("segment_id"), f"segments[{i}].segment_id", minimum=1)
            version = int_value(item.get("version"), f"segments[{i}].version")
            chosen.append((sid, version))
    return find, replacement, match_case, apply, chosen  # type: ignore[return-value]


@endpoint(
    "POST",
    "/hearings/{hearing_id}/replace",
    summary="Find and replace across a hearing: a preview, or (apply) each replacement an ordinary edit (audited)",
    tag=TAG,
    params=(HEARING_ID,),
    body=REPLACE_BODY,
    response=REPLACE_RESULT,
)
def post_replace(call: Call) -> Reply:
    access = call.access
    hearing = _editable_hearing(access, call.params["hearing_id"])
    find, replacement, match_case, apply, chosen = _replace_request(call)
    rows = access.store.desk_rows(hearing.id)
    matches = replacements(rows, find, replacement, match_case=match_case)
    more = max(0, len(matches) - REPLACE_LISTED_MAX)  # as many as a preview lists, and the rest said
    if not apply:
        total = sum(m.count for m in matches)
        listed = [m.to_json() for m in matches[:REPLACE_LISTED_MAX]]
        return Reply({"matches": listed, "total": total, "more": more})
    if chosen is None:
        chosen = [(m.segment_id, m.version) for m in matches[:REPLACE_LISTED_MAX]]
    else:
        more = 0  # the caller chose which
    by_id = {r.id: r for r in rows}
    items = []
    for sid, version in chosen:
        row = by_id.get(sid)
        # the replacement made in the text as it is now; a stale version is refused by the store
        text = replace_in(row.text, find, replacement, match_case=match_case)[0] if row else ""
        items.append({"segment_id": sid, "text": text, "speaker": None, "version": version})
    results = apply_edits(access, hearing, items)
    for r in results:
        if r["segment_id"] in by_id:
            r["before"] = by_id[r["segment_id"]].text
    return Reply({"results": results, "more": more})


# --- checked up to here ------------------------------------------------------------------------------


@endpoint(
    "GET",
    "/hearings/{hearing_id}/checked",
    summary='The hearing\'s "checked up to here" mark, or null',
    tag=TAG,
    params=(HEARING_ID,),
    response=CHECKED,
)
def get_checked(call: Call) -> Reply:
    # who may see the hearing may see how far it is checked; no text is read, so it is not an opening
    hearing = call.access.hearing(call.params["hearing_id"])
    mark = call.access.store.checked(hearing.id)
    return Reply(mark.to_json() if mark else None)


@endpoint(
    "PUT",
    "/hearings/{hearing_id}/checked",
    summary='Set the hearing\'s "checked up to here" mark at a segment, or clear it with null (audited)',
    tag=TAG,
    params=(HEARING_ID,),
    body=CHECKED_BODY,
    response=CHECKED,
)
def put_checked(call: Call) -> Reply:
    access = call.access
    hearing = _editable_hearing(access, call.params["hearing_id"])
    only_fields(call, ("segment_id",))
    segment_id = version_field(call, "segment_id", minimum=1)  # also says so for a body that is not an object
    if not isinstance(call.body, dict) or "segment_id" not in call.body:
        raise ApiError(422, "missing_field", "segment_id: 必填，null 清除 (required; null clears the mark)")
    try:
        mark = access.store.set_checked(hearing.id, segment_id, actor=access.actor)
    except NotFound as e:
        raise ApiError(404, "not_found", str(e)) from e
    return Reply(mark.to_json() if mark else None)
