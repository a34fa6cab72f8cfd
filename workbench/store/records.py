"""What the store hands out: frozen records, the court roles, the store's errors, and how a row becomes a record.

Recordings are kept relative to the store's audio folder when they lie under it (schema version 5),
so a data folder moved whole still finds them; a `Recording` as read always has an absolute path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from workbench.speech.transcript import Party, SpeakerLabel
from workbench.store.status import HearingStatus, StatusError

ROLES = (
    "审判长",
    "审判员",
    "人民陪审员",
    "书记员",
    "原告",
    "被告",
    "第三人",
    "代理人",
    "公诉人",
    "辩护人",
    "证人",
    "鉴定人",
)


class StoreError(Exception):
    """A store operation that cannot be done; the message names the thing, the reason and the fix."""


class StoreLocked(StoreError):
    """Another process holds the database file."""


class Conflict(StoreError):
    """The change meets a newer state than the one it was made against (a stale edit, a job already done)."""


class StaleEdit(Conflict):
    """The segment was changed by someone else since the editor loaded it: "changed by X at T, reload"."""


LOCKED_MESSAGE = "庭审笔录已锁定，不能修改；如需更正请提交补正申请 (the record is locked: file a correction request)"


class Locked(StoreError):
    """The hearing's record is locked (filed): only an accepted correction request changes it."""

    def __init__(self, message: str = LOCKED_MESSAGE) -> None:
        super().__init__(message)


class WrongState(Conflict, StatusError):
    """A sign-off step (or a correction decision) in a state that does not allow it; the message names the state
    and what may be done next. A `StatusError` (the status machine's word) and a `Conflict` (the API's 409)."""


class NotFound(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    number: str
    cause: str
    court: str
    parties: tuple[Party, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Hearing:
    id: int
    case_id: int
    case_number: str
    starts_at: datetime | None
    ends_at: datetime | None
    courtroom: str
    presiding_judge: str
    clerk: str
    status: HearingStatus
    language: str
    created_at: datetime
    segments: int  # how many are stored
    duration: float | None  # of its recording, seconds
    created_by: str = ""  # the account that uploaded it ("" for hearings from before accounts)


@dataclass(frozen=True, slots=True)
class Recording:
    id: int
    hearing_id: int
    file_name: str
    stored_path: Path  # absolute, wherever the data folder is now
    sha256: str
    duration: float | None
    format: str
    size_bytes: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Speaker:
    hearing_id: int
    label: str
    role: str | None
    name: str | None
    speech_time: float | None
    first_appearance: float | None
    embedding: tuple[float, ...] | None
    channel: int | None = None  # a courtroom recording's channel (0-based) and seat the voice came from
    seat: str | None = None

    def display(self) -> str:
        return SpeakerLabel(self.role, self.name).display(self.label)


@dataclass(frozen=True, slots=True)
class StoredSegment:
    id: int
    hearing_id: int
    idx: int
    start: float
    end: float
    speaker: str | None
    speaker_orig: str | None
    text: str
    text_orig: str
    engine: str
    model: str

    @property
    def edited(self) -> bool:
        return self.text != self.text_orig or self.speaker != self.speaker_orig


@dataclass(frozen=True, slots=True)
class Edit:
    id: int
    segment_id: int | None  # None: an edit to a hearing's speaker label (field role or name)
    hearing_id: int | None
    field: str  # text, speaker, role:S1, name:S1
    before: str | None
    after: str | None
    user: str  # the account's name (before accounts: the name typed into the sidebar)
    at: datetime
    audit_id: int | None = None  # its row in the audit chain (None for edits from before accounts)
    request_id: int | None = None  # the correction request it applies (the only edits a locked record takes)


@dataclass(frozen=True, slots=True)
class SignoffStep:
    """One step of a hearing's sign-off, as the history shows it."""

    step: str  # "checked" | "unchecked" | "approved" | "locked" | "reopened" | "returned" (an edit sent it back)
    account: str
    at: datetime
    reason: str  # why (a reopen's reason, a lock's note, what sent it back); "" when none
    audit_id: int | None


@dataclass(frozen=True, slots=True)
class SealedPart:
    """A time range [start, end) of a hearing marked 不公开 (non-public): a segment overlapping it at all is sealed."""

    id: int
    hearing_id: int
    start: float
    end: float
    reason: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CorrectionRequest:
    """A correction request (补正申请) on a locked record and what became of it."""

    id: int
    hearing_id: int
    changes: tuple[tuple[int, str, int], ...]  # (segment_id, proposed text, segment version when filed)
    requester: str  # who asked: a party or lawyer by name, or a member
    requester_kind: str  # "party" | "lawyer" | "member"
    reason: str
    filed_by: str  # the account that filed it on the requester's behalf
    filed_at: datetime
    state: str  # "pending" | "accepted" | "rejected"
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    befores: tuple[str, ...] = ()  # each change's segment text when the request was filed, in `changes`' order


# --- row mapping -----------------------------------------------------------------------------------

CASE_SQL = "SELECT id, number, cause, court, parties, created_at FROM cases"
HEARING_SQL = """
SELECT h.id, h.case_id, c.number, h.starts_at, h.ends_at, h.courtroom, h.presiding_judge, h.clerk, h.status,
       h.language, h.created_at,
       (SELECT count(*) FROM segments s WHERE s.hearing_id = h.id),
       (SELECT max(r.duration) FROM recordings r WHERE r.hearing_id = h.id), coalesce(h.created_by, '')
FROM hearings h JOIN cases c ON c.id = h.case_id"""
RECORDING_SQL = (
    "SELECT id, hearing_id, file_name, stored_path, sha256, duration, format, size_bytes, created_at FROM recordings"
)
SEGMENT_SQL = (
    "SELECT id, hearing_id, idx, start_s, end_s, speaker, speaker_orig, text, text_orig, engine, model FROM segments"
)
SPEAKER_SQL = (
    "SELECT hearing_id, label, role, name, speech_time, first_appearance, embedding, channel, seat FROM speakers"
)
EDIT_SQL = (
    "SELECT id, segment_id, hearing_id, field, before, after, user_name, edited_at, audit_id, request_id FROM edits"
)
SIGNOFF_SQL = "SELECT step, account, taken_at, reason, audit_id FROM signoff_steps"
SEALED_SQL = "SELECT id, hearing_id, start_s, end_s, reason, created_by, created_at FROM sealed_parts"
CORRECTION_SQL = (
    "SELECT id, hearing_id, changes, requester, requester_kind, reason, filed_by, filed_at, state, decided_by, "
    "decided_at, decision_reason FROM correction_requests"
)


def parties_json(parties: Sequence[Party]) -> str:
    return json.dumps(
        [{"role": p.role, "name": p.name, "representatives": list(p.representatives)} for p in parties],
        ensure_ascii=False,
    )


def case_from_row(row: tuple) -> Case:
    parties = tuple(
        Party(p["role"], p["name"], tuple(p.get("representatives", ()))) for p in json.loads(row[4] or "[]")
    )
    return Case(row[0], row[1], row[2], row[3], parties, row[5])


def hearing_from_row(row: tuple) -> Hearing:
    return Hearing(
        *row[:8], HearingStatus(row[8]), *row[9:11], segments=int(row[11]), duration=row[12], created_by=row[13]
    )


def recording_from_row(row: tuple, audio_dir: Path) -> Recording:
    """A recordings row as a Recording; a path stored relative is resolved against `audio_dir`."""
    return Recording(row[0], row[1], row[2], audio_dir / row[3], *row[4:])  # an absolute row[3] stays itself


def stored_name(path: Path, audio_dir: Path) -> str:
    """What `recordings.stored_path` holds for `path`: relative to `audio_dir` when under it, else absolute."""
    path = path.absolute()
    for p, audio in ((path, audio_dir), (path.resolve(), audio_dir.resolve())):  # as given, then through links
        if p.is_relative_to(audio):
            return p.relative_to(audio).as_posix()
    return str(path)


def speaker_from_row(row: tuple) -> Speaker:
    return Speaker(*row[:6], tuple(row[6]) if row[6] is not None else None, *row[7:9])


def correction_from_row(row: tuple) -> CorrectionRequest:
    # each stored change is [segment_id, text, version, text before] (the before is for the record's appendix)
    stored = json.loads(row[2] or "[]")
    changes = tuple((int(c[0]), str(c[1]), int(c[2])) for c in stored)
    befores = tuple(str(c[3]) if len(c) > 3 else "" for c in stored)
    return CorrectionRequest(row[0], row[1], changes, *row[3:], befores=befores)
