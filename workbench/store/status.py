"""A hearing's status, its labels, and the one function that moves it on.

    queued → processing → transcribed → in review ⇄ verified
                 ↓  ↑
               failed

The status follows the hearing's jobs and the clerk's work on it. Every change goes through
`next_status()` (the store applies it in the same transaction as the change that caused it), so no
caller writes a status by hand. A failed job leaves its hearing `failed`, not `queued`: the list must
not say 排队中 for a recording that could not be transcribed.
"""

from __future__ import annotations

from enum import StrEnum


class HearingStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    TRANSCRIBED = "transcribed"
    IN_REVIEW = "in review"
    VERIFIED = "verified"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    HearingStatus.QUEUED: "排队中",
    HearingStatus.PROCESSING: "处理中",
    HearingStatus.TRANSCRIBED: "已转写",
    HearingStatus.IN_REVIEW: "审阅中",
    HearingStatus.VERIFIED: "已核对",
    HearingStatus.FAILED: "转写失败",
}


class Event(StrEnum):
    JOB_QUEUED = "job queued"  # a job for the hearing was queued (again)
    JOB_STARTED = "job started"  # a worker claimed it
    JOB_DONE = "job done"  # its transcript was stored
    JOB_FAILED = "job failed"  # the pipeline failed, or the worker died too often
    JOB_CANCELLED = "job cancelled"  # stopped on request before it finished
    EDITED = "edited"  # a clerk changed a segment or a speaker
    VERIFIED = "verified"  # the clerk marked the record checked
    UNVERIFIED = "unverified"  # ... and took the mark back


S, E = HearingStatus, Event
_WORKING = frozenset({S.QUEUED, S.PROCESSING, S.FAILED})  # no transcript of the current job yet

# event → (statuses it applies in, the status it leads to); in any other status the event changes nothing
_RULES: dict[Event, tuple[frozenset[HearingStatus], HearingStatus]] = {
    E.JOB_QUEUED: (frozenset({S.PROCESSING, S.FAILED}), S.QUEUED),
    E.JOB_STARTED: (frozenset(S), S.PROCESSING),
    E.JOB_DONE: (_WORKING, S.TRANSCRIBED),
    E.JOB_FAILED: (frozenset({S.QUEUED, S.PROCESSING}), S.FAILED),
    E.JOB_CANCELLED: (frozenset({S.PROCESSING}), S.QUEUED),
    E.EDITED: (frozenset({S.TRANSCRIBED}), S.IN_REVIEW),
    E.VERIFIED: (frozenset(S) - _WORKING, S.VERIFIED),
    E.UNVERIFIED: (frozenset({S.VERIFIED}), S.IN_REVIEW),
}


class StatusError(ValueError):
    """The event is not allowed in the hearing's status (verifying a hearing with no transcript)."""


def next_status(current: str, event: Event) -> HearingStatus:
    """The status after `event`; the same status when the event does not move it.

    Raises `StatusError` only for the clerk's own steps (verify) taken where they make no sense;
    job events never fail, they are facts to record.
    """
    status = HearingStatus(current)
    applies_in, target = _RULES[event]
    if status in applies_in:
        return target
    if event is E.VERIFIED and status in _WORKING:
        raise StatusError(f"a hearing that is {status.label} ({status.value}) has no transcript to verify yet")
    return status
