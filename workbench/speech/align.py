"""Speaker attribution: each recognised segment and word gets the diarized speaker who overlaps it most.

A segment whose words change speaker is split at those word boundaries; a word that no speaker
overlaps (a pause, a diarization miss) takes the speaker of its nearest word in time, and a segment
with no overlap at all takes the nearest turn's. Speaker ids are the diarization's (S1, S2, ... in
order of first appearance). Turns are searched by bisection over start times with a running maximum
of end times, so a 3-hour hearing (thousands of segments and turns) costs O((n + m) log m), not n * m.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace

from workbench.speech.diarization import Diarization, SpeakerTurn
from workbench.speech.transcript import Segment, Word


class TurnIndex:
    """Overlap queries over speaker turns (which may overlap each other)."""

    def __init__(self, turns: Sequence[SpeakerTurn]) -> None:
        self.turns = sorted((t for t in turns if t.end > t.start), key=lambda t: (t.start, t.end))
        self.starts = [t.start for t in self.turns]
        self.mids = [(t.start + t.end) / 2 for t in self.turns]
        # reach[i] = the latest end among turns[0..i]: non-decreasing, so bisectable
        self.reach: list[float] = []
        latest = float("-inf")
        for t in self.turns:
            latest = max(latest, t.end)
            self.reach.append(latest)

    def __bool__(self) -> bool:
        return bool(self.turns)

    def overlaps(self, start: float, end: float) -> dict[str, float]:
        """Seconds of [start, end] covered by each speaker's turns."""
        found: dict[str, float] = {}
        first = bisect.bisect_right(self.reach, start)  # turns before this all end by `start`
        last = bisect.bisect_left(self.starts, end)  # turns from here on start at or after `end`
        for turn in self.turns[first:last]:
            shared = min(end, turn.end) - max(start, turn.start)
            if shared > 0:
                found[turn.speaker] = found.get(turn.speaker, 0.0) + shared
        return found

    def best(self, start: float, end: float) -> str | None:
        """The speaker overlapping [start, end] most; ties go to the earlier speaker id order of appearance."""
        found = self.overlaps(start, end)
        if not found:
            if end <= start:  # a zero-length word: the speaker talking at that instant
                found = self.overlaps(start - 1e-3, start + 1e-3)
            if not found:
                return None
        return max(found.items(), key=lambda item: item[1])[0]

    def nearest(self, start: float, end: float) -> str | None:
        """The speaker of the turn closest in time to [start, end] (for spans no turn overlaps)."""
        if not self.turns:
            return None
        centre = (start + end) / 2
        i = bisect.bisect_left(self.starts, centre)
        best: tuple[float, str] | None = None
        for j in range(max(i - 1, 0), min(i + 1, len(self.turns))):
            turn = self.turns[j]
            gap = max(turn.start - centre, centre - turn.end, 0.0)
            if best is None or gap < best[0]:
                best = (gap, turn.speaker)
        # a long turn that began well before may still be the closest: it covers `centre` or ends near it
        k = bisect.bisect_right(self.reach, centre) - 1
        for j in (k, k + 1):
            if 0 <= j < len(self.turns):
                turn = self.turns[j]
                gap = max(turn.start - centre, centre - turn.end, 0.0)
                if best is None or gap < best[0]:
                    best = (gap, turn.speaker)
        return best[1] if best else None


def _fill_gaps(speakers: list[str | None], words: Sequence[Word]) -> list[str | None]:
    """Words without a speaker take the speaker of the nearest word (in time) that has one."""
    known = [i for i, s in enumerate(speakers) if s is not None]
    if not known or len(known) == len(speakers):
        return speakers
    filled = list(speakers)
    for i, speaker in enumerate(speakers):
        if speaker is not None:
            continue
        k = bisect.bisect_left(known, i)
        candidates = [known[j] for j in (k - 1, k) if 0 <= j < len(known)]

        def distance(j: int, i: int = i) -> float:
            return max(words[j].start - words[i].end, words[i].start - words[j].end, 0.0)

        filled[i] = speakers[min(candidates, key=lambda j: (distance(j), abs(j - i)))]
    return filled


def _join(words: Sequence[Word]) -> str:
    """Word texts as the recogniser wrote them (Whisper keeps a leading space on Latin words)."""
    return "".join(w.text for w in words).strip()


def _attribute(segment: Segment, index: TurnIndex) -> list[Segment]:
    if not segment.words:
        speaker = index.best(segment.start, segment.end) or index.nearest(segment.start, segment.end)
        return [Segment(segment.start, segment.end, segment.text, speaker, [])]
    speakers = _fill_gaps([index.best(w.start, w.end) for w in segment.words], segment.words)
    if all(s is None for s in speakers):  # nobody overlaps any word: the whole segment goes to the nearest turn
        whole = index.best(segment.start, segment.end) or index.nearest(segment.start, segment.end)
        speakers = [whole] * len(segment.words)
    words = [replace(w, speaker=s) for w, s in zip(segment.words, speakers, strict=True)]
    runs: list[list[Word]] = []
    for word in words:
        if runs and runs[-1][-1].speaker == word.speaker:
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:
        return [Segment(segment.start, segment.end, segment.text, runs[0][0].speaker, words)]
    pieces = []
    for i, run in enumerate(runs):
        start = segment.start if i == 0 else run[0].start
        end = segment.end if i == len(runs) - 1 else run[-1].end
        pieces.append(Segment(start, end, _join(run), run[0].speaker, run))
    return pieces


def assign_speakers(segments: list[Segment], diarization: Diarization) -> list[Segment]:
    """New segments carrying speakers (split where the speaker changes inside one); inputs are not changed."""
    index = TurnIndex(diarization.turns)
    if not index:
        return [Segment(s.start, s.end, s.text, None, [replace(w, speaker=None) for w in s.words]) for s in segments]
    out: list[Segment] = []
    for segment in segments:
        out.extend(_attribute(segment, index))
    return out
