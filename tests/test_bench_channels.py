"""The channel bench's builder (bench/channels.py): deterministic, the bleed and overlap it promises, and its scoring.

Quick: a 1-minute input is built from the real test clips (about a second); no model is loaded.
"""

from __future__ import annotations

import itertools
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from workbench.speech.seats import parse_channels
from workbench.speech.transcript import EngineInfo, Segment, Transcript, Word

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is scripts, not an installed package
from bench import channels


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> channels.Built:
    return channels.build(1.0, seed=3, out_dir=tmp_path_factory.mktemp("a"))


def _read(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        assert w.getframerate() == 16000 and w.getsampwidth() == 2
        n = w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, n).T / 32767.0
    return n, data


def test_same_seed_same_bytes_other_seed_other_input(built: channels.Built, tmp_path: Path) -> None:
    again = channels.build(1.0, seed=3, out_dir=tmp_path / "b")
    for mine, theirs in zip(built.files(), again.files(), strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), mine.name
    other = channels.build(1.0, seed=4, out_dir=tmp_path / "c")
    assert other.turns_path.read_text() != built.turns_path.read_text()
    assert other.wav.read_bytes() != built.wav.read_bytes()


def test_four_channels_and_a_mono_mix_of_the_same_length(built: channels.Built) -> None:
    n, data = _read(built.wav)
    m, mix = _read(built.mix)
    assert (n, m) == (4, 1)
    assert data.shape[1] == mix.shape[1]
    turns = channels.load_turns(built.turns_path)
    assert data.shape[1] / 16000 == pytest.approx(turns[-1].end + 1.0, abs=0.01)
    assert {t.channel for t in turns} <= {0, 1, 2, 3}


def test_neighbours_bleed_15_to_25_db_down_where_one_voice_speaks(built: channels.Built) -> None:
    _, data = _read(built.wav)
    clear = [t for t in channels.load_turns(built.turns_path) if not t.overlapped]
    assert clear
    for t in clear:
        part = data[:, int(t.start * 16000) : int(t.end * 16000)]
        level = 10 * np.log10(np.square(part).mean(axis=1))
        down = level[t.channel] - np.delete(level, t.channel)
        assert np.all((down > 14.5) & (down < 25.5)), (t.speaker, down)


def test_plan_overlaps_thirty_percent_of_speech_never_three_voices() -> None:
    clips = channels.load_clips(channels.SETS["mixed"])
    turns = channels.plan(10.0, seed=0, clips=clips)
    shares = channels.overlap_shares(turns)
    assert 0.25 <= shares["speech_overlapped"] <= 0.30
    assert 0.2 < shares["turns_overlapped"] < 0.95  # both kinds of turn to score
    for a, b in itertools.pairwise(turns):
        assert a.speaker != b.speaker
    for t in turns:
        assert t.overlapped == any(o is not t and o.start < t.end and t.start < o.end for o in turns)
    for a, c in zip(turns, turns[2:], strict=False):
        assert c.start >= a.end  # a third voice never joins two
    by_clip = {c.source: c for own in clips for c in own}
    for t in turns:
        assert by_clip[t.clip].voice.name == t.speaker and clips[t.channel][0].voice.name == t.speaker
        assert t.end - t.start == pytest.approx(by_clip[t.clip].duration, abs=0.002)
        assert t.start <= t.regions[0][0] and t.regions[-1][1] <= t.end + 0.001


def test_references_name_the_voices_and_their_text(built: channels.Built) -> None:
    turns = channels.load_turns(built.turns_path)
    lines = built.rttm.read_text().splitlines()
    assert len(lines) == sum(len(t.regions) for t in turns)
    assert {line.split()[7] for line in lines} == {t.speaker for t in turns}
    texts = {t.speaker: t.text for t in turns}
    assert texts.get("zh_S0764", "甚至出现交易几乎停滞的情况") == "甚至出现交易几乎停滞的情况"
    assert all(t.language == ("zh" if t.speaker.startswith("zh") else "en") for t in turns)


def _transcript(turns: list[channels.Turn], labels: dict[str, str], drop: int | None = None) -> Transcript:
    """A hypothesis that says exactly the reference (words spread over each region), under other labels."""
    segments = []
    for t in turns:
        if t.index == drop:
            continue
        pieces = list(t.text) if t.language == "zh" else [" " + w for w in t.text.split()]
        total = sum(e - s for s, e in t.regions)
        cuts = np.round(np.cumsum([0.0] + [(e - s) / total for s, e in t.regions]) * len(pieces)).astype(int)
        words = []
        for (s, e), a, b in zip(t.regions, cuts, cuts[1:], strict=False):
            own = pieces[a:b] or [""]  # a short region may get no word: it still sounds
            times = np.linspace(s, e, len(own) + 1)
            words += [Word(float(x), float(y), p) for x, y, p in zip(times[:-1], times[1:], own, strict=True)]
        segments.append(Segment(t.start, t.end, t.text, labels[t.speaker], words))
    return Transcript("x.wav", "0", turns[-1].end, "zh", EngineInfo("test", "test"), segments)


def test_a_perfect_hypothesis_scores_zero_under_any_labels(built: channels.Built) -> None:
    turns = channels.load_turns(built.turns_path)
    labels = {name: f"S{i}" for i, name in enumerate(sorted({t.speaker for t in turns}, reverse=True))}
    scores = channels.score(built, _transcript(turns, labels))
    assert scores["der25"] < 0.005  # word spans bridge the reference's pauses only where the reference does
    assert scores["stray_words"] == 0
    assert all(v["errors"] == 0 for v in scores["text"].values())
    assert scores["mapping"] == {v: k for k, v in labels.items()}


def test_a_missing_turn_costs_der_and_cer(built: channels.Built) -> None:
    turns = channels.load_turns(built.turns_path)
    labels = {t.speaker: t.speaker for t in turns}
    scores = channels.score(built, _transcript(turns, labels, drop=turns[0].index))
    assert scores["der25"] > 0.02
    lost = scores["text"][f"{turns[0].language}_{'overlapped' if turns[0].overlapped else 'clear'}"]
    assert lost["errors"] >= len(turns[0].text.split() if turns[0].language == "en" else turns[0].text) - 2


def test_the_english_set_has_a_spare_channel_that_only_hears_bleed(tmp_path: Path) -> None:
    built = channels.build(1.0, seed=1, out_dir=tmp_path, voice_set="en")
    assert built.channels == ("审判长", "原告", "被告", "-")
    assert [s.spec() for s in parse_channels(built.channels)] == ["审判席:审判长", "原告席:原告", "被告席:被告", "-"]
    turns = channels.load_turns(built.turns_path)
    assert {t.channel for t in turns} == {0, 1, 2} and {t.language for t in turns} == {"en"}
    assert {t.clip for t in turns if t.speaker == "en_ss01"} <= set(channels.SETS["en"][0].clips)
    _, data = _read(built.wav)
    for t in (t for t in turns if not t.overlapped):
        part = data[:, int(t.start * 16000) : int(t.end * 16000)]
        level = 10 * np.log10(np.square(part).mean(axis=1))
        assert level[t.channel] - level[3] > 14.5


def test_bad_lengths_and_sets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="minutes 0"):
        channels.build(0, out_dir=tmp_path)
    with pytest.raises(ValueError, match="too short for one turn"):
        channels.build(0.05, out_dir=tmp_path)
    with pytest.raises(ValueError, match="voice set 'fr'"):
        channels.build(1.0, out_dir=tmp_path, voice_set="fr")
