"""Speaker attribution on hand-made segments and turns."""

from __future__ import annotations

import copy
import random

from workbench.speech.align import TurnIndex, assign_speakers
from workbench.speech.diarization import Diarization, SpeakerTurn
from workbench.speech.transcript import Segment, Word


def _diar(*turns: tuple[float, float, str]) -> Diarization:
    return Diarization(turns=[SpeakerTurn(s, e, spk) for s, e, spk in turns])


def _seg(*words: tuple[float, float, str]) -> Segment:
    ws = [Word(s, e, t) for s, e, t in words]
    return Segment(ws[0].start, ws[-1].end, "".join(w.text for w in ws).strip(), None, ws)


def test_whole_segment_gets_the_speaker_who_overlaps_most() -> None:
    out = assign_speakers([_seg((0.0, 0.5, " Good"), (0.5, 1.0, " morning"))], _diar((0.0, 0.9, "S1"), (0.9, 2, "S2")))
    assert [s.speaker for s in out] == ["S1"]
    assert [w.speaker for w in out[0].words] == ["S1", "S1"]  # " morning": 0.4 s of S1 against 0.1 s of S2
    assert out[0].text == "Good morning"


def test_segment_spanning_a_speaker_change_is_split_at_word_boundaries() -> None:
    seg = _seg((0.0, 0.4, " Yes"), (0.4, 0.9, " sir."), (1.2, 1.6, " Next"), (1.6, 2.0, " witness."))
    out = assign_speakers([seg], _diar((0.0, 1.0, "S1"), (1.1, 2.1, "S2")))
    assert [(s.speaker, s.text) for s in out] == [("S1", "Yes sir."), ("S2", "Next witness.")]
    assert out[0].start == 0.0 and out[0].end == 0.9 and out[1].start == 1.2 and out[1].end == 2.0
    assert all(w.speaker == s.speaker for s in out for w in s.words)


def test_chinese_words_split_without_spaces() -> None:
    seg = _seg((0.0, 0.3, "请"), (0.3, 0.6, "坐"), (1.0, 1.3, "谢"), (1.3, 1.6, "谢"))
    out = assign_speakers([seg], _diar((0.0, 0.7, "S1"), (0.9, 1.7, "S2")))
    assert [(s.speaker, s.text) for s in out] == [("S1", "请坐"), ("S2", "谢谢")]


def test_word_without_speaker_takes_nearest_neighbour() -> None:
    seg = _seg((0.0, 0.5, " a"), (0.5, 1.0, " b"), (3.0, 3.2, " c"), (5.0, 5.5, " d"))
    out = assign_speakers([seg], _diar((0.0, 1.0, "S1"), (5.0, 6.0, "S2")))
    words = [w for s in out for w in s.words]
    # " c" (3.0-3.2) overlaps nobody; its nearest word in time is " d" (1.8 s away), not " b" (2.0 s)
    assert [w.speaker for w in words] == ["S1", "S1", "S2", "S2"]


def test_segment_without_words_and_without_overlap() -> None:
    segs = [Segment(0.0, 1.0, "hello"), Segment(10.0, 11.0, "later")]
    out = assign_speakers(segs, _diar((0.2, 0.8, "S1"), (0.5, 0.6, "S2"), (12.0, 13.0, "S2")))
    assert [s.speaker for s in out] == ["S1", "S2"]  # the second: nearest turn


def test_overlapping_turns_pick_the_larger_share() -> None:
    out = assign_speakers([Segment(1.0, 3.0, "x")], _diar((0.0, 1.5, "S1"), (1.2, 3.5, "S2")))
    assert out[0].speaker == "S2"


def test_no_turns_leaves_speakers_empty_and_inputs_untouched() -> None:
    segs = [_seg((0.0, 0.5, " a"))]
    before = copy.deepcopy(segs)
    assert assign_speakers(segs, Diarization())[0].speaker is None
    out = assign_speakers(segs, _diar((0.0, 1.0, "S1")))
    assert segs == before and out[0] is not segs[0] and out[0].words[0].speaker == "S1"


def test_turn_index_matches_brute_force() -> None:
    rng = random.Random(7)
    turns = []
    for _ in range(300):
        start = rng.uniform(0, 600)
        turns.append(SpeakerTurn(start, start + rng.uniform(0.1, 30), f"S{rng.randint(1, 4)}"))
    index = TurnIndex(turns)
    for _ in range(300):
        a = rng.uniform(0, 620)
        b = a + rng.uniform(0, 10)
        brute: dict[str, float] = {}
        for t in turns:
            shared = min(b, t.end) - max(a, t.start)
            if shared > 0:
                brute[t.speaker] = brute.get(t.speaker, 0.0) + shared
        got = index.overlaps(a, b)
        assert got.keys() == brute.keys() and all(abs(got[k] - brute[k]) < 1e-9 for k in got)


class _CountedTurn(SpeakerTurn):
    """A turn that counts every read of its fields, whatever algorithm does the reading."""

    __slots__ = ()
    reads = 0
    budget = 0

    def __getattribute__(self, name: str) -> object:
        counts = type(self)
        counts.reads += 1
        if counts.reads > counts.budget:
            raise AssertionError(f"more than {counts.budget} reads of speaker turns: a scan over all turns per word?")
        return object.__getattribute__(self, name)


def test_three_hour_scale_reads_each_turn_a_bounded_number_of_times() -> None:
    """24,000 words against ~1,000 turns. Timing is for bench/; here the work is counted: an interval search
    reads a few turns per word (about 100,000 reads here), a scan over all turns per word about 70 million."""
    rng = random.Random(3)
    turns, t = [], 0.0
    while t < 10800:
        d = rng.uniform(1, 20)
        turns.append(_CountedTurn(t, t + d, f"S{rng.randint(1, 6)}"))
        t += d + rng.uniform(0, 1)
    segs = []
    for i in range(3000):
        start = i * 3.6
        segs.append(_seg(*[(start + k * 0.4, start + k * 0.4 + 0.35, f" w{k}") for k in range(8)]))
    words = sum(len(s.words) for s in segs)
    _CountedTurn.reads, _CountedTurn.budget = 0, 40 * (words + len(segs) + len(turns))  # ~1.1 million
    try:
        out = assign_speakers(segs, Diarization(turns=turns))
    finally:
        reads, _CountedTurn.budget = _CountedTurn.reads, 0
    assert sum(len(s.words) for s in out) == 3000 * 8 and all(s.speaker for s in out)
    assert len(turns) > 900 and reads > words  # every word was looked up among the turns
