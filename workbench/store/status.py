"""A hearing's status, its labels, and the one function that moves it on.

    queued → processing → transcribed → in review → checked → approved → locked
                 ↓  ↑                   (edit)      (check)   (approve)  (lock)
               failed

    transcribed → checked                  check, straight from the transcript
    checked → in review                    uncheck (the clerk takes the mark back), or an edit
    approved → in review                   an edit (the approval no longer covers the text)
    checked, approved, locked → in review  reopen (the judge, with a reason)

The status follows the hearing's jobs and the court's work on it. Every change goes through
`next_status()` (the store applies it in the same transaction as the change that caused it), so no
caller writes a status by hand. A failed job leaves its hearing `failed`, not `queued`: the list must
not say 排队中 for a recording that could not be transcribed.

Sign-off: a clerk checks the record against the recording (CHECKED), the case's judge approves
it (APPROVED), it is filed (LOCKED); until approval the record carries its draft mark. An edit to a checked
or approved record sends it back to in review (nobody re-checked the new text). A locked record does not
move on an edit: the store refuses every edit to it but an accepted correction request, which leaves it
locked. REOPENED (the judge, with a reason) takes a checked, approved or locked record back to in review.
The sign-off steps raise `StatusError` in any other state, naming the state and what may be done next;
job events and edits never raise: they are facts to record.
"""

from __future__ import annotations

from enum import StrEnum


class HearingStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    TRANSCRIBED = "transcribed"
    IN_REVIEW = "in review"
    CHECKED = "checked"
    APPROVED = "approved"
    LOCKED = "locked"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    HearingStatus.QUEUED: "排队中",
    HearingStatus.PROCESSING: "处理中",
    HearingStatus.TRANSCRIBED: "已转写",
    HearingStatus.IN_REVIEW: "审阅中",
    HearingStatus.CHECKED: "已核对",
    HearingStatus.APPROVED: "已审批",
    HearingStatus.LOCKED: "已锁定",
    HearingStatus.FAILED: "转写失败",
}


class Event(StrEnum):
    JOB_QUEUED = "job queued"  # a job for the hearing was queued (again)
    JOB_STARTED = "job started"  # a worker claimed it
    JOB_DONE = "job done"  # its transcript was stored
    JOB_FAILED = "job failed"  # the pipeline failed, or the worker died too often
    JOB_CANCELLED = "job cancelled"  # stopped on request before it finished
    EDITED = "edited"  # someone changed a segment, a speaker, split or merged
    CHECKED = "checked"  # a clerk checked the record against the recording
    UNCHECKED = "unchecked"  # ... and took the mark back
    APPROVED = "approved"  # the case's judge approved the checked record
    LOCKED = "locked"  # the approved record was filed: no more edits, only correction requests
    REOPENED = "reopened"  # the judge took it back to review, with a reason


S, E = HearingStatus, Event
_WORKING = frozenset({S.QUEUED, S.PROCESSING, S.FAILED})  # no transcript of the current job yet
SIGNED = frozenset({S.CHECKED, S.APPROVED})  # a mark an edit takes away
SIGNOFF_EVENTS = (E.CHECKED, E.UNCHECKED, E.APPROVED, E.LOCKED, E.REOPENED)  # the court's steps, in order

# event → (statuses it applies in, the status it leads to); in any other status the event changes nothing
# (job events, edits) or raises StatusError (the sign-off steps)
_RULES: dict[Event, tuple[frozenset[HearingStatus], HearingStatus]] = {
    E.JOB_QUEUED: (frozenset({S.PROCESSING, S.FAILED}), S.QUEUED),
    # a locked record keeps its text: the store refuses to queue a job for it; one queued before the lock
    # cannot move it (its transcript is refused, the job fails)
    E.JOB_STARTED: (frozenset(S) - {S.LOCKED}, S.PROCESSING),
    E.JOB_DONE: (_WORKING, S.TRANSCRIBED),
    E.JOB_FAILED: (frozenset({S.QUEUED, S.PROCESSING}), S.FAILED),
    E.JOB_CANCELLED: (frozenset({S.PROCESSING}), S.QUEUED),
    E.EDITED: (frozenset({S.TRANSCRIBED}) | SIGNED, S.IN_REVIEW),
    E.CHECKED: (frozenset({S.TRANSCRIBED, S.IN_REVIEW}), S.CHECKED),
    E.UNCHECKED: (frozenset({S.CHECKED}), S.IN_REVIEW),
    E.APPROVED: (frozenset({S.CHECKED}), S.APPROVED),
    E.LOCKED: (frozenset({S.APPROVED}), S.LOCKED),
    E.REOPENED: (frozenset({S.CHECKED, S.APPROVED, S.LOCKED}), S.IN_REVIEW),
}

# each sign-off step in words, for messages: (Chinese, English)
STEP_WORDS: dict[Event, tuple[str, str]] = {
    E.CHECKED: ("核对", "check"),
    E.UNCHECKED: ("撤回核对", "uncheck"),
    E.APPROVED: ("审批", "approve"),
    E.LOCKED: ("锁定", "lock"),
    E.REOPENED: ("重新打开", "reopen"),
}


class StatusError(ValueError):
    """The step is not allowed in the hearing's status (approving a record nobody checked)."""


def allowed_steps(current: str) -> tuple[Event, ...]:
    """The sign-off steps the status allows, in order (whoever may take them: `Access.next_steps`)."""
    status = HearingStatus(current)
    return tuple(e for e in SIGNOFF_EVENTS if status in _RULES[e][0])


def next_status(current: str, event: Event) -> HearingStatus:
    """The status after `event`; the same status when a job event or an edit does not move it.

    Raises `StatusError` for a sign-off step taken in a status that does not allow it; the message names
    the status and the steps it allows.
    """
    status = HearingStatus(current)
    applies_in, target = _RULES[event]
    if status in applies_in:
        return target
    if event in SIGNOFF_EVENTS:
        zh, en = STEP_WORDS[event]
        raise StatusError(f"庭审状态为{status.label}，不能{zh}；{_what_next(status)} "
                          f"(the hearing is {status.value}: it cannot {en}; {_what_next_en(status)})")  # fmt: skip
    return status


def _what_next(status: HearingStatus) -> str:
    steps = allowed_steps(status)
    if steps:
        return "现在可以：" + "、".join(STEP_WORDS[e][0] for e in steps)
    if status in _WORKING:
        return "请等待转写完成"
    return "没有可进行的步骤"


def _what_next_en(status: HearingStatus) -> str:
    steps = allowed_steps(status)
    if steps:
        return "the next step allowed is " + " or ".join(STEP_WORDS[e][1] for e in steps)
    if status in _WORKING:
        return "wait for the transcript first"
    return "no step is allowed"
