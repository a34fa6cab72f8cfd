"""Hearing records built from the test recordings' references (RTTM turns, human transcripts), no ASR run.

The pyannote sample's RTTM gives real turn timing and overlap; its speech is English, so the text here is
a plausible Chinese civil hearing laid on those turns, to exercise a Chinese court record.
"""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TESTDATA

from workbench.speech.transcript import (
    EngineInfo,
    HearingRecord,
    Party,
    Segment,
    SpeakerLabel,
    SpeakerSummary,
    Transcript,
)

MANIFEST = {entry["file"]: entry for entry in json.loads((TESTDATA / "manifest.json").read_text(encoding="utf-8"))}

# One line per RTTM row of pyannote_sample.rttm, in time order.
SAMPLE_TEXT = [
    "现在开庭。",
    "审判长好。",
    "请原告陈述诉讼请求。",
    "好的。",
    "陈述时请简明扼要，说明事实和理由。",
    "请求判令被告支付货款十二万元，以及自二〇二三年六月起的逾期付款利息。",
    "原告还有补充吗？",
    "有。",
    "原告与被告于二〇二三年三月签订买卖合同，原告已按约交付货物，被告至今未付款，经多次催告无果。",
    "下面进行法庭调查，由被告答辩。",
]


def read_rttm(path: Path) -> list[tuple[float, float, str]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, dur = float(fields[3]), float(fields[4])
            rows.append((start, start + dur, fields[7]))
    return sorted(rows)


def transcript_from_rttm(name: str, texts: list[str], language: str = "zh") -> Transcript:
    """Segments at the RTTM's turns, speakers renamed S1, S2, ... in order of first appearance."""
    rel = f"diarization/{name}.wav"
    rows = read_rttm(TESTDATA / "diarization" / f"{name}.rttm")
    ids: dict[str, str] = {}
    segments = []
    for (start, end, spk), text in zip(rows, texts, strict=False):
        sid = ids.setdefault(spk, f"S{len(ids) + 1}")
        segments.append(Segment(start=start, end=end, text=text, speaker=sid))
    speakers = [
        SpeakerSummary(
            id=sid,
            speech_time=round(sum(s.end - s.start for s in segments if s.speaker == sid), 3),
            first_appearance=min(s.start for s in segments if s.speaker == sid),
        )
        for sid in ids.values()
    ]
    entry = MANIFEST[rel]
    return Transcript(
        file=str(TESTDATA / rel),
        sha256=entry["sha256"],
        duration=entry["duration_s"],
        language=language,
        engine=EngineInfo(asr="reference", model="rttm+text", diarization="reference"),
        segments=segments,
        speakers=speakers,
    )


def transcript_from_reference(rel: str) -> Transcript:
    """A single-speaker ASR clip's human transcript as one segment."""
    entry = MANIFEST[rel]
    return Transcript(
        file=str(TESTDATA / rel),
        sha256=entry["sha256"],
        duration=entry["duration_s"],
        language=entry["language"].split("-")[0],
        engine=EngineInfo(asr="reference", model="human"),
        segments=[Segment(0.0, entry["duration_s"], entry["reference"], speaker="S1")],
        speakers=[SpeakerSummary("S1", entry["duration_s"], 0.0)],
    )


SAMPLE_LABELS = {"S1": SpeakerLabel("审判长", "张明"), "S2": SpeakerLabel("原告委托诉讼代理人", "李华")}


def sample_record(*, approved: bool = False, state: str | None = None, labels: bool = True) -> HearingRecord:
    """The pyannote sample as a civil hearing: 审判长 (S1) and the plaintiff's lawyer (S2).

    `state` is the hearing status the record was read in; `approved=True` is short for state "approved".
    """
    return HearingRecord(
        transcript=transcript_from_rttm("pyannote_sample", SAMPLE_TEXT),
        labels=dict(SAMPLE_LABELS) if labels else {},
        court="北京市朝阳区人民法院",
        case_number="（2024）京0105民初12345号",
        cause="买卖合同纠纷",
        start="2024-03-05T09:30:00",
        end="2024-03-05T11:10:00",
        place="第十二法庭",
        public=True,
        panel=(("审判长", "张明"), ("审判员", "王芳"), ("人民陪审员", "赵强")),
        clerk="刘洋",
        parties=(
            Party("原告", "北京某某科技有限公司", ("李华",)),
            Party("被告", "陈某", ()),
        ),
        hearing_id=7,
        state=state or ("approved" if approved else "transcribed"),
    )
