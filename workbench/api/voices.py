"""A case's voices through the API: names proposed for a hearing's speakers from the same case's other hearings
(`workbench.store.voices`), accepted or declined one at a time.

Checked like naming a speaker (`workbench.api.segments`): a hearing of another case answers exactly like a
missing one (404, the same words); anyone who may see the hearing reads its proposals; only judges, clerks
and admins of the case accept or decline (403 for a viewer). Accepting names the speaker through the same
store write as `PATCH /hearings/{id}/speakers/{label}` (audited edits; 409 "locked" on a locked record). A
voice of another case is never proposed, and naming one in the body answers like a missing voice (404).
"""

from __future__ import annotations

from typing import Any

from workbench.api.core import PAGE_PARAMS, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.api.segments import SPEAKER, int_value, only_fields, speaker_json, text_value
from workbench.store.voices import VOICE_THRESHOLD, VoiceDecision, VoiceProposal
from workbench.web.pagedata import NAME_MAX

TAG = "voices"

HEARING_ID = Param("hearing_id", int, "path", required=True, help="The hearing's id.")
LABEL = Param("label", str, "path", required=True, help="The speaker's label, S1, S2, ...")

# --- schemas -----------------------------------------------------------------------------------------

PROPOSAL: JsonSchema = {
    "type": "object",
    "required": ["label", "from_hearing", "from_label", "role", "name", "display", "similarity"],
    "properties": {
        "label": {"type": "string", "description": "The hearing's speaker without a name."},
        "from_hearing": {"type": "integer", "description": "Another hearing of the same case."},
        "from_label": {"type": "string", "description": "Its named speaker whose voice matches."},
        "role": {"type": ["string", "null"]},
        "name": {"type": ["string", "null"]},
        "display": {"type": "string", "description": "What the speaker would be shown as, e.g. 原告张三."},
        "similarity": {"type": "number", "description": f"Cosine similarity of the mean CAM++ embeddings "
                       f"(proposed from {VOICE_THRESHOLD})."},
    },
}  # fmt: skip
FROM_BODY: JsonSchema = {
    "type": "object",
    "required": ["from_hearing", "from_label"],
    "properties": {
        "from_hearing": {"type": "integer", "minimum": 1, "description": "The proposal's from_hearing."},
        "from_label": {"type": "string", "minLength": 1, "maxLength": NAME_MAX},
    },
    "additionalProperties": False,
}
DECISION: JsonSchema = {
    "type": "object",
    "required": ["hearing_id", "label", "from_hearing", "from_label", "decision", "decided_by", "decided_at"],
    "properties": {
        "hearing_id": {"type": "integer"},
        "label": {"type": "string"},
        "from_hearing": {"type": "integer"},
        "from_label": {"type": "string"},
        "decision": {"type": "string", "enum": ["accepted", "declined"]},
        "decided_by": {"type": "string"},
        "decided_at": {"type": "string", "format": "date-time"},
    },
}


def proposal_json(p: VoiceProposal) -> dict[str, Any]:
    return {"label": p.label, "from_hearing": p.from_hearing, "from_label": p.from_label, "role": p.role,
            "name": p.name, "display": p.display(), "similarity": p.similarity}  # fmt: skip


def decision_json(d: VoiceDecision) -> dict[str, Any]:
    return {"hearing_id": d.hearing_id, "label": d.label, "from_hearing": d.from_hearing, "from_label": d.from_label,
            "decision": d.decision, "decided_by": d.decided_by, "decided_at": d.decided_at.isoformat()}  # fmt: skip


def _from(call: Call) -> tuple[int, str]:
    """The body's (from_hearing, from_label), checked (422 naming the field)."""
    only_fields(call, ("from_hearing", "from_label"))
    from_hearing = int_value(call.body_field("from_hearing", int, required=True), "from_hearing", minimum=1)
    label = text_value(call.body_field("from_label", str, required=True), "from_label", NAME_MAX, allow_empty=False)
    assert from_hearing is not None  # required
    return from_hearing, label.strip()


def _label(call: Call) -> str:
    return text_value(call.params["label"], "label", NAME_MAX, allow_empty=False).strip()


# --- endpoints ---------------------------------------------------------------------------------------


@endpoint("GET", "/hearings/{hearing_id}/voices",
          summary="Names proposed for the hearing's unnamed speakers: the matching named voice of another hearing "
          "of the same case (never another case's)", tag=TAG, params=(HEARING_ID, *PAGE_PARAMS),
          response=page_schema(PROPOSAL))  # fmt: skip
def list_voices(call: Call) -> Reply:
    hearing = call.access.hearing(call.params["hearing_id"])
    return paged(call, [proposal_json(p) for p in call.access.store.voice_proposals(hearing.id)])


@endpoint("POST", "/hearings/{hearing_id}/voices/{label}/accept",
          summary="Accept a proposed voice: the speaker gets its role and name (a judge or clerk of the case; "
          "audited; 409 locked on a locked record)", tag=TAG, params=(HEARING_ID, LABEL), body=FROM_BODY,
          response=SPEAKER)  # fmt: skip
def post_accept(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_edit(hearing.case_id)
    label = _label(call)
    from_hearing, from_label = _from(call)
    speaker = access.store.accept_voice(hearing.id, label, from_hearing, from_label, actor=access.actor)
    return Reply(speaker_json(speaker, access.store.speaker_versions(hearing.id).get(speaker.label, 0)))


@endpoint("POST", "/hearings/{hearing_id}/voices/{label}/decline",
          summary="Decline a proposed voice: kept, and that person is not proposed for the speaker again (a judge "
          "or clerk of the case; audited)", tag=TAG, params=(HEARING_ID, LABEL), body=FROM_BODY,
          response=DECISION)  # fmt: skip
def post_decline(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])
    access.require_edit(hearing.case_id)
    label = _label(call)
    from_hearing, from_label = _from(call)
    return Reply(decision_json(access.store.decline_voice(hearing.id, label, from_hearing, from_label,
                                                          actor=access.actor)))  # fmt: skip
