"""The dataclasses that cross every stage boundary, and their JSON form.

A `Transcript` is what `workbench transcribe` writes as `<stem>.json`; the store keeps the same
segments, and the exporters read them. Times are seconds from the start of the recording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Word:
    start: float
    end: float
    text: str
    prob: float | None = None
    speaker: str | None = None


@dataclass(slots=True)
class Segment:
    start: float
    end: float
    text: str
    speaker: str | None = None
    words: list[Word] = field(default_factory=list)


@dataclass(slots=True)
class SpeakerSummary:
    """One diarized voice: `id` is S1, S2, ... in order of first appearance."""

    id: str
    speech_time: float
    first_appearance: float
    embedding: list[float] | None = None
    # from a courtroom's channel map (workbench.speech.seats): the channel (0-based) and seat the voice was
    # heard on, and the seat's role when one person sits there; None on a mono or mixed recording
    channel: int | None = None
    seat: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """Which engines and models made a transcript, and with which text options."""

    asr: str
    model: str
    device: str = "cpu"
    punctuation: str | None = None  # "model" (the ASR writes it), a punc model name, or None
    itn: bool = True
    hotwords: tuple[str, ...] = ()
    diarization: str | None = None
    channels: tuple[str, ...] = ()  # the channel map used (workbench.speech.seats items); () for mono/mixed


@dataclass(slots=True)
class Transcript:
    file: str
    sha256: str
    duration: float
    language: str
    engine: EngineInfo
    segments: list[Segment] = field(default_factory=list)
    speakers: list[SpeakerSummary] | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(s.text for s in self.segments)

    def to_dict(self, *, embeddings: bool = False) -> dict[str, Any]:
        data = asdict(self)
        data["engine"]["hotwords"] = list(self.engine.hotwords)
        data["engine"]["channels"] = list(self.engine.channels)
        for seg in data["segments"]:
            for word in seg["words"]:
                word.pop("speaker")
        if data["speakers"] is not None and not embeddings:
            for spk in data["speakers"]:
                spk.pop("embedding")
        return data

    def to_json(self, *, embeddings: bool = False) -> str:
        return json.dumps(self.to_dict(embeddings=embeddings), ensure_ascii=False, indent=1)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Transcript:
        engine = dict(data["engine"])
        engine["hotwords"] = tuple(engine.get("hotwords", ()))
        engine["channels"] = tuple(engine.get("channels", ()))
        segments = [
            Segment(
                start=s["start"],
                end=s["end"],
                text=s["text"],
                speaker=s.get("speaker"),
                words=[Word(**w) for w in s.get("words", [])],
            )
            for s in data["segments"]
        ]
        speakers = data.get("speakers")
        return cls(
            file=data["file"],
            sha256=data["sha256"],
            duration=data["duration"],
            language=data["language"],
            engine=EngineInfo(**engine),
            segments=segments,
            speakers=None if speakers is None else [SpeakerSummary(**s) for s in speakers],
            warnings=list(data.get("warnings", [])),
        )

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


# --- what the court record needs beyond the transcript ----------------------------------------


@dataclass(frozen=True, slots=True)
class SpeakerLabel:
    """The court role and name a clerk gave a diarized speaker (S1, S2, ...)."""

    # 审判长, 审判员, 人民陪审员, 书记员, 原告, 被告, 第三人, 代理人, 公诉人, 辩护人, 证人, 鉴定人
    role: str | None = None
    name: str | None = None

    def display(self, speaker_id: str) -> str:
        """ "审判长张三", "原告", "张三" or the bare id when nothing was assigned."""
        return (self.role or "") + (self.name or "") or speaker_id


def speaker_display(speaker_id: str | None, labels: Mapping[str, SpeakerLabel] | None) -> str:
    """The label's display ("审判长张三") when the clerk gave one, else the id; "" when there is no speaker."""
    if speaker_id is None:
        return ""
    label = (labels or {}).get(speaker_id)
    return label.display(speaker_id) if label is not None else speaker_id


@dataclass(frozen=True, slots=True)
class Party:
    role: str  # 原告, 被告, 第三人, 公诉机关, ...
    name: str
    representatives: tuple[str, ...] = ()  # 委托诉讼代理人 / 辩护人, as written


@dataclass(frozen=True, slots=True)
class SignoffNote:
    """One sign-off step as the record prints it: 核对 / 审批 / 锁定 by whom, when (ISO time as stored)."""

    step: str  # "checked" | "unchecked" | "approved" | "locked" | "reopened" | "returned"
    account: str
    at: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CorrectionNote:
    """One correction request (补正申请) on a locked record and what became of it, for the appendix."""

    number: int
    requester: str
    requester_kind: str  # "party" | "lawyer" | "member"
    reason: str
    filed_at: str
    # (segment start, segment end in seconds, text before, proposed text): the segment's span, so that sealing can
    # blank a change whose segment overlaps a sealed part at all, as it does the dialogue
    changes: tuple[tuple[float, float, str, str], ...]
    outcome: str  # "pending" | "accepted" | "rejected"
    decided_by: str = ""
    decided_at: str = ""
    decision_reason: str = ""


# The stages of a hearing (庭审阶段) a clerk marks, in their usual order; a clerk may name another.
STAGES = ("宣布开庭", "法庭调查", "举证质证", "法庭辩论", "最后陈述", "调解", "宣判", "休庭", "闭庭")
NOTE_KINDS = ("stage", "note", "recess")


@dataclass(frozen=True, slots=True)
class LogNote:
    """A clerk's timed mark on the hearing (FTR/JAVS log notes): a stage begins, a note, or a recess.

    `at` and `end` are seconds from the start of the recording; `end` only for a recess (when it resumed).
    """

    kind: str  # "stage" | "note" | "recess"
    at: float
    text: str  # stage: its name (STAGES or the clerk's own); note: the note; recess: why (may be empty)
    end: float | None = None
    id: int | None = None
    author: str = ""


# States in which the record carries no draft mark: a judge approved it (and maybe it was filed, locked).
APPROVED_STATES = ("approved", "locked")


@dataclass(slots=True)
class HearingRecord:
    """Everything the court record (庭审笔录) and the interchange formats are made from."""

    transcript: Transcript
    labels: dict[str, SpeakerLabel] = field(default_factory=dict)
    court: str = ""
    case_number: str = ""
    cause: str = ""  # 案由
    start: str = ""  # ISO date-time, as stored
    end: str = ""
    place: str = ""  # courtroom
    public: bool = True
    panel: tuple[tuple[str, str], ...] = ()  # (role, name): 审判长, 审判员, 人民陪审员
    clerk: str = ""
    parties: tuple[Party, ...] = ()
    original_text: bool = False  # the segments carry the original recognition, not the corrected text
    hearing_id: int | None = None
    state: str = "transcribed"  # the hearing's status when the record was read (workbench.store.status values)
    signoffs: tuple[SignoffNote, ...] = ()  # oldest first
    corrections: tuple[CorrectionNote, ...] = ()  # by number
    notes: tuple[LogNote, ...] = ()  # stage marks, notes and recesses, by time
    roster: tuple[tuple[str, str], ...] = ()  # (role, name): the case's roster (case_participants), for redaction

    @property
    def approved(self) -> bool:
        """A judge approved the record (it may also be locked): only then does the draft mark go."""
        return self.state in APPROVED_STATES

    def speaker_display(self, speaker_id: str | None) -> str:
        return speaker_display(speaker_id, self.labels) or "?"
