"""Keyword search through the API: the search page's `Filters` and `Searcher`, scoped to the caller's cases.

The caller's cases go into the query itself (`Filters.case_ids`), so nothing of another case is ranked,
counted or shown; each search is audited (SEARCHED) like the page's. Sealed (不公开) text is searched only for
an account that may see it (judges, clerks, admins): a viewer never finds it, nor learns it is there.

The answer's first page also lists the clerk's log notes that match (`store.search.search_notes`: stage marks,
notes, recesses), in the same scope; a note in a sealed part only for an account that may see sealed text.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from workbench.api.core import (
    MAX_LIMIT,
    PAGE_PARAMS,
    ApiError,
    Call,
    JsonSchema,
    Param,
    Reply,
    endpoint,
    page_schema,
    paged,
    window,
)
from workbench.store import audit
from workbench.store.query import Filters, Hit
from workbench.store.search import NoteHit, Searcher, search_notes
from workbench.web.pagedata import NAME_MAX, QUERY_MAX

HIT: JsonSchema = {
    "type": "object",
    "required": ["hearing_id", "segment_id", "case", "case_id", "starts_at", "start", "end", "speaker", "role",
                 "name", "who", "text", "snippet", "marks", "snippet_marked", "edited", "score"],
    "properties": {
        "hearing_id": {"type": "integer"},
        "segment_id": {"type": "integer"},
        "case": {"type": "string", "description": "The case number."},
        "case_id": {"type": "integer"},
        "starts_at": {"type": ["string", "null"], "description": "When the hearing began (ISO 8601)."},
        "start": {"type": "number", "description": "Seconds into the recording."},
        "end": {"type": "number"},
        "speaker": {"type": ["string", "null"], "description": "Label, S1, S2, ..."},
        "role": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "who": {"type": "string", "description": "The speaker as the record shows it (审判长张三), or the label."},
        "text": {"type": "string", "description": "The whole segment (the recognition with ?original)."},
        "snippet": {"type": "string"},
        "marks": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                             "maxItems": 2}, "description": "[from, to) of each hit in the snippet."},
        "snippet_marked": {"type": "string", "description": "The snippet with each hit in 【】."},
        "edited": {"type": "boolean"},
        "score": {"type": "number", "description": "BM25 (higher is better)."},
    },
}  # fmt: skip


NOTE_HIT: JsonSchema = {
    "type": "object",
    "required": ["note_id", "hearing_id", "case", "case_id", "starts_at", "kind", "at", "end", "text", "snippet",
                 "marks", "snippet_marked"],
    "properties": {
        "note_id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "case": {"type": "string", "description": "The case number."},
        "case_id": {"type": "integer"},
        "starts_at": {"type": ["string", "null"], "description": "When the hearing began (ISO 8601)."},
        "kind": {"type": "string", "enum": ["stage", "note", "recess"]},
        "at": {"type": "number", "description": "Seconds into the recording."},
        "end": {"type": ["number", "null"], "description": "A recess: when the hearing resumed."},
        "text": {"type": "string", "description": "A stage's name, the note, or why the hearing recessed."},
        "snippet": {"type": "string"},
        "marks": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                                             "maxItems": 2}, "description": "[from, to) of each hit in the snippet."},
        "snippet_marked": {"type": "string", "description": "The snippet with each hit in 【】."},
    },
}  # fmt: skip

SEARCH_ANSWER: JsonSchema = page_schema(HIT)
SEARCH_ANSWER["required"] = [*SEARCH_ANSWER["required"], "notes"]
SEARCH_ANSWER["properties"]["notes"] = {
    "type": "array",
    "items": NOTE_HIT,
    "description": "The log notes that match, best first, at most `limit`, on the first page only (offset 0; "
    "later pages: empty). None with `speaker`, `role` or `original`: a note has no speaker and no recognition.",
}


def note_json(n: NoteHit) -> dict[str, Any]:
    out, pos = [], 0
    for a, b in n.marks:
        out += [n.snippet[pos:a], "【", n.snippet[a:b], "】"]
        pos = b
    out.append(n.snippet[pos:])
    return {
        "note_id": n.note_id,
        "hearing_id": n.hearing_id,
        "case": n.case_number,
        "case_id": n.case_id,
        "starts_at": n.hearing_start or None,
        "kind": n.kind,
        "at": n.at,
        "end": n.end,
        "text": n.text,
        "snippet": n.snippet,
        "marks": [list(m) for m in n.marks],
        "snippet_marked": "".join(out),
    }


def hit_json(h: Hit) -> dict[str, Any]:
    return {
        "hearing_id": h.hearing_id,
        "segment_id": h.segment_id,
        "case": h.case_number,
        "case_id": h.case_id,
        "starts_at": h.hearing_start or None,
        "start": float(h.start),
        "end": float(h.end),
        "speaker": h.speaker,
        "role": h.role,
        "name": h.name,
        "who": h.who,
        "text": h.text,
        "snippet": h.snippet,
        "marks": [list(m) for m in h.marks],
        "snippet_marked": h.marked(),
        "edited": h.edited,
        "score": h.score,
    }


def _date(call: Call, name: str) -> date | None:
    raw = call.params[name]
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            422, "bad_param", f"{name}: 应为日期，如 2024-03-05 (a date like 2024-03-05, got {raw[:40]!r})"
        ) from None


def _short(call: Call, name: str, limit: int) -> str | None:
    value = (call.params[name] or "").strip()
    if len(value) > limit:
        raise ApiError(422, "bad_param", f"{name}: 最多 {limit} 个字符 (at most {limit} characters)")
    return value or None


@endpoint(
    "GET",
    "/search",
    summary='Find words or a "quoted phrase" across the hearings the caller may see, best first (audited)',
    tag="search",
    params=(
        Param("q", str, required=True, help='Words (any, ranked) and "quoted phrases" (all, exact).'),
        Param("case", str, help="Case number or id."),
        Param("hearing", int, help="One hearing's id."),
        Param("speaker", str, help="A speaker's name or label (S1)."),
        Param("role", str, help="A court role, e.g. 原告."),
        Param("from", str, help="Hearings from this date (inclusive), YYYY-MM-DD."),
        Param("to", str, help="Hearings up to this date (inclusive), YYYY-MM-DD."),
        Param("original", bool, help="Search the recognition instead of the corrected text.", default=False),
        *PAGE_PARAMS,
    ),
    response=SEARCH_ANSWER,
)
def search(call: Call) -> Reply:
    access = call.access
    query = call.params["q"]
    if not query.strip():
        raise ApiError(422, "bad_param", "q: 不能为空 (must not be empty)")
    if len(query) > QUERY_MAX:
        raise ApiError(422, "bad_param", f"q: 最多 {QUERY_MAX} 个字符 (at most {QUERY_MAX} characters)")
    limit, offset = window(call)
    if offset + limit > MAX_LIMIT * 10:  # the ranking is cut at the best few thousand candidates anyway
        raise ApiError(
            422, "bad_param", f"offset: 最多看到第 {MAX_LIMIT * 10} 条 (hits past {MAX_LIMIT * 10} not shown)"
        )
    filters = Filters(
        case=_short(call, "case", NAME_MAX),
        date_from=_date(call, "from"),
        date_to=_date(call, "to"),
        role=_short(call, "role", NAME_MAX),
        speaker=_short(call, "speaker", NAME_MAX),
        hearing_id=call.params["hearing"],
        case_ids=access.case_ids(),  # inside the query: other cases give no hits, counts or snippets
    )
    original = bool(call.params["original"])
    # One past the page: `total` counts the hits found so far, `next_offset` says whether there are more.
    hits = Searcher(access.store).search(
        query, filters, limit=offset + limit + 1, original=original,
        include_sealed=access.account.role.may_see_sealed,  # roles are per account: a viewer's in every case
    )  # fmt: skip
    notes: list[NoteHit] = []
    if offset == 0 and not (original or filters.role or filters.speaker):  # a note has no speaker, no recognition
        notes = search_notes(
            access.store, query, case=filters.case, date_from=filters.date_from, date_to=filters.date_to,
            hearing_id=filters.hearing_id, case_ids=filters.case_ids, limit=limit,
            include_sealed=access.account.role.may_see_sealed,
        )  # fmt: skip
    access.store.record(
        access.actor,
        audit.SEARCHED,
        detail={"query": query, "case": filters.case, "hearing": filters.hearing_id, "role": filters.role,
                "speaker": filters.speaker, "original": original, "offset": offset,
                "dates": [str(d) for d in (filters.date_from, filters.date_to) if d], "hits": len(hits),
                "notes": len(notes), "via": "api"},
    )  # fmt: skip
    reply = paged(call, [hit_json(h) for h in hits])
    reply.data["notes"] = [note_json(n) for n in notes]
    return reply
