"""Sealed parts (不公开审理部分) left out of an export: one placeholder line per part, nothing of what was said.

A segment overlapping a part's [start, end) at all is left out, words included (a sealed part must not
leak); in its place the record shows one line per part, with no speaker:
`【不公开审理部分 00:10:00—00:20:00 已略去。理由：……】`. A part over silence still gets its line, so
the reader knows the record has a gap. A correction request's change (the appendix) whose segment
[start, end) overlaps a part by the same rule loses its texts too. The stored record never changes: this
works on a copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from workbench import formats
from workbench.record.manifest import SEALED_PREFIX
from workbench.speech.transcript import CorrectionNote, HearingRecord, Segment

SEALED_TEXT = "（不公开审理部分，已略去）"


def placeholder_text(start: float, end: float, reason: str) -> str:
    span = f"{formats.timestamp(start).split('.')[0]}—{formats.timestamp(end).split('.')[0]}"
    return f"{SEALED_PREFIX} {span} 已略去。理由：{formats.clean_text(reason).strip()}】"


def overlaps(seg_start: float, seg_end: float, start: float, end: float) -> bool:
    """Whether a segment touches [start, end): any overlap at all, a zero-length one inside it too."""
    if seg_end <= seg_start:
        return start <= seg_start < end
    return seg_start < end and seg_end > start


def _check(parts: Sequence[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
    out = []
    for start, end, reason in parts:
        if not (0 <= start < end):
            raise ValueError(f"不公开部分的时间不对 (sealed part needs 0 ≤ start < end): {start}—{end}")
        out.append((float(start), float(end), reason))
    return sorted(out, key=lambda p: (p[0], p[1]))


def _seal_correction(note: CorrectionNote, parts: list[tuple[float, float, str]]) -> CorrectionNote:
    """The note with the texts of each change whose segment overlaps a part (the dialogue's rule) blanked."""
    changes = tuple(
        (start, end, SEALED_TEXT, SEALED_TEXT)
        if any(overlaps(start, end, s, e) for s, e, _ in parts)
        else (start, end, before, after)
        for start, end, before, after in note.changes
    )
    return dataclasses.replace(note, changes=changes) if changes != note.changes else note


def seal(record: HearingRecord, parts: Sequence[tuple[float, float, str]]) -> HearingRecord:
    """A copy of `record` with the segments overlapping each (start, end, reason) part replaced by one line.

    The line stands where the part's first segment stood (by time where no segment overlaps it); a segment
    overlapping two parts is left out once and both lines are shown.
    """
    ordered = _check(parts)
    if not ordered:
        return record
    placed = [False] * len(ordered)
    out: list[Segment] = []

    def place(i: int) -> None:
        if not placed[i]:
            start, end, reason = ordered[i]
            out.append(Segment(start, end, placeholder_text(start, end, reason), speaker=None))
            placed[i] = True

    segments = record.transcript.segments
    hits = [[i for i, (s, e, _) in enumerate(ordered) if overlaps(seg.start, seg.end, s, e)] for seg in segments]
    silent = [i for i in range(len(ordered)) if not any(i in hit for hit in hits)]
    for seg, hit in zip(segments, hits, strict=True):
        if hit:
            for i in hit:
                place(i)
            continue
        # Parts over silence before this segment: their line goes here, in time order.
        for i in silent:
            if ordered[i][0] <= seg.start:
                place(i)
        out.append(seg)
    for i in range(len(ordered)):
        place(i)
    transcript = dataclasses.replace(record.transcript, segments=out)
    corrections = tuple(_seal_correction(c, ordered) for c in record.corrections)
    return dataclasses.replace(record, transcript=transcript, corrections=corrections)
