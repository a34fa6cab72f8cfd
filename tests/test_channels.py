"""The channel path: a courtroom's one-microphone-per-seat recording, speakers from the seats.

The recordings are built here from the real test clips (`../shared/testdata/asr`, human transcripts in
manifest.json): each voice levelled on its own channel, every other voice bleeding in 15 dB down (the
near end of what a courtroom's neighbouring microphones hear) with a few milliseconds of path delay, and
low room noise. The activity tests need no model; the rest run Whisper base and CAM++ (`slow`), loaded
once per session. Every check on a list first asserts that the list is not empty.
"""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import clip
from hearing_samples import MANIFEST

from workbench.cli import main
from workbench.speech import audio, channels, text
from workbench.speech.options import TranscribeOptions
from workbench.speech.pipeline import transcribe
from workbench.speech.transcript import Segment, Transcript

RATE = audio.SAMPLE_RATE
ZH_A = "zh_aishell1_BAC009S0764W0121.wav"
ZH_B = "zh_aishell1_BAC009S0724W0121.wav"
EN_A = "en_librispeech_1995-1837-0001.wav"
EN_JFK = "en_jfk.flac"


def reference(name: str) -> str:
    return MANIFEST[f"asr/{name}"]["reference"]


def voice(name: str, level_dbfs: float = -26.0) -> np.ndarray:
    """A clip levelled to `level_dbfs` of active speech (frames within 30 dB of its loudest)."""
    samples = audio.load(clip(name)).astype(np.float64)
    n = samples.shape[0] // 480
    energy = np.square(samples[: n * 480].reshape(n, 480)).mean(axis=1)
    active = energy[energy > energy.max() / 1000]
    return (samples * 10 ** (level_dbfs / 20) / np.sqrt(active.mean())).astype(np.float32)


def extent(samples: np.ndarray) -> tuple[float, float]:
    """First and last 30 ms frame within 30 dB of the clip's loudest, in seconds."""
    n = samples.shape[0] // 480
    energy = np.square(samples[: n * 480].reshape(n, 480)).mean(axis=1)
    active = np.flatnonzero(energy > energy.max() / 1000)
    return active[0] * 0.03, (active[-1] + 1) * 0.03


def seat_recording(
    placements: list[tuple[int, str, float]],
    channels_count: int,
    seconds: float,
    *,
    bleed_db: float = 15.0,
    seed: int = 0,
) -> tuple[np.ndarray, list[tuple[int, float, float]]]:
    """(channels, n) float32: each (channel, clip, start s) on its own channel, bled into the others.

    Returns the audio and each placement's speech extent (channel, start, end) in seconds.
    """
    rng = np.random.default_rng(seed)
    total = int(seconds * RATE)
    dry = np.zeros((channels_count, total), dtype=np.float32)
    spans = []
    for channel, name, start in placements:
        samples = voice(name)
        at = int(start * RATE)
        dry[channel, at : at + samples.shape[0]] += samples[: total - at]
        first, last = extent(samples)
        spans.append((channel, start + first, start + last))
    wet = dry.copy()
    for mic in range(channels_count):
        for source in range(channels_count):
            if mic != source:
                delay = int(rng.uniform(0.003, 0.012) * RATE)
                wet[mic, delay:] += 10 ** (-bleed_db / 20) * dry[source, : total - delay]
    wet += 10 ** (-66 / 20) * rng.standard_normal(wet.shape).astype(np.float32)
    return wet, spans


def write_channels(samples: np.ndarray, path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(samples.T, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def turns_of(samples: np.ndarray) -> list[list[channels.Turn]]:
    return channels.channel_turns(channels.frame_powers([samples]))


# --- decoding ------------------------------------------------------------------------------------


def test_channel_blocks_keep_each_channel_apart(tmp_path: Path) -> None:
    tones = np.stack([np.sin(np.arange(int(31.5 * RATE)) * f).astype(np.float32) * 0.1 * (c + 1) for c, f in
                      enumerate((0.01, 0.02, 0.03))])  # fmt: skip
    path = write_channels(tones, tmp_path / "three.wav")
    got = list(audio.channel_blocks(path, block_seconds=10))
    assert [b.shape for b in got] == [(3, 10 * RATE)] * 3 + [(3, int(1.5 * RATE))]
    joined = np.concatenate(got, axis=1)
    assert np.abs(joined - tones).max() < 1e-3, "each row is its own channel, unmixed"
    assert audio.load(path).ndim == 1, "blocks() still mixes to mono"


def test_channel_blocks_of_eight_channels_at_48k(tmp_path: Path) -> None:
    # PyAV 18's planar frames crash on 8 channels and more: the packed path must not
    samples = (np.random.default_rng(1).standard_normal((48000 * 2, 8)) * 3000).astype("<i2")
    path = tmp_path / "eight.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(8)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(samples.tobytes())
    got = np.concatenate(list(audio.channel_blocks(path)), axis=1)
    assert got.shape[0] == 8 and abs(got.shape[1] - 2 * RATE) < 200


def test_a_bad_file_is_named_like_blocks_does(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(audio.AudioError, match=r"empty\.wav: the file is empty"):
        list(audio.channel_blocks(path))


# --- activity and crosstalk (numpy only) -----------------------------------------------------------


def test_a_voice_bleeding_into_a_neighbour_is_not_that_seat_speaking() -> None:
    samples, spans = seat_recording([(0, EN_A, 1.0), (0, ZH_A, 12.0)], 2, 18.0, bleed_db=15.0)
    own, neighbour = turns_of(samples)
    assert neighbour == [], f"15 dB down crosstalk taken for speech: {neighbour}"
    assert own, "the speaking seat has turns"
    for _, start, end in spans:  # each reference span is covered, edges within 0.15 s
        covering = [t for t in own if t.start < end and t.end > start]
        assert covering, (start, end, own)
        assert abs(covering[0].start - start) < 0.15 and abs(covering[-1].end - end) < 0.15, (start, end, covering)


def test_two_people_talking_at_once_are_both_active() -> None:
    # the Mandarin voice starts 1.5 s into the English one and both talk together for about 3 s
    samples, spans = seat_recording([(0, EN_A, 1.0), (1, ZH_A, 2.5), (2, ZH_B, 12.0)], 3, 18.0, bleed_db=15.0)
    turns = turns_of(samples)
    overlap = (max(spans[0][1], spans[1][1]), min(spans[0][2], spans[1][2]))
    assert overlap[1] - overlap[0] > 2.0
    for channel in (0, 1):
        active = sum(max(0.0, min(t.end, overlap[1]) - max(t.start, overlap[0])) for t in turns[channel])
        assert active > 0.9 * (overlap[1] - overlap[0]), (channel, turns[channel], overlap)
    assert all(t.start > 11.0 for t in turns[2]) and turns[2], "the third seat speaks only when it does"
    assert all(t.end < 11.5 for t in turns[0] + turns[1]), "nor do the first two speak in its turn"


def test_coupling_is_measured_from_the_recording() -> None:
    samples, _ = seat_recording([(0, EN_A, 1.0), (1, ZH_A, 11.0), (0, EN_JFK, 16.0)], 2, 28.0, bleed_db=20.0)
    levels = 10 * np.log10(channels._smooth(channels.frame_powers([samples]), 3) + 1e-12)
    floors = np.percentile(levels, 10, axis=1)
    coupling = channels.estimate_coupling(levels, floors)
    assert -24.0 < coupling[1, 0] < -16.0, coupling  # channel 0's voice arrives 20 dB down on channel 1
    assert -24.0 < coupling[0, 1] < -16.0, coupling


def test_quiet_channels_and_short_bursts_give_no_turns() -> None:
    rng = np.random.default_rng(3)
    samples = (10 ** (-60 / 20) * rng.standard_normal((2, 10 * RATE))).astype(np.float32)
    samples[1, 5 * RATE : 5 * RATE + 800] += 0.3  # a 50 ms knock
    assert turns_of(samples) == [[], []]


def test_a_microphone_muted_to_digital_silence_keeps_its_room_noise_below_speech() -> None:
    """A seat muted (exact zeros) for most of the file: its noise floor comes from its live frames, so the room
    noise heard once it is live is not taken for that seat speaking."""
    samples, _ = seat_recording([(0, EN_A, 1.0)], 2, 30.0, bleed_db=20.0)
    rng = np.random.default_rng(5)
    samples[1, : 20 * RATE] = 0.0  # muted until 20 s, then room noise alone (no one at that seat speaks)
    samples[1, 20 * RATE :] = (10 ** (-45 / 20) * rng.standard_normal(10 * RATE)).astype(np.float32)
    samples[1, 25 * RATE : 25 * RATE + 3 * RATE] += voice(ZH_A)[: 3 * RATE]  # ... but for 3 s of speech
    turns = turns_of(samples)[1]
    assert turns and sum(t.end - t.start for t in turns) < 4.5, turns
    assert all(t.start > 24.5 for t in turns), turns


def test_nan_and_inf_samples_decode_as_silence(tmp_path: Path) -> None:
    samples = np.zeros((2, 2 * RATE), np.float32)
    samples[0, 100], samples[1, 200], samples[1, 300] = np.nan, np.inf, -np.inf
    path = tmp_path / "nan.wav"
    import soundfile

    soundfile.write(str(path), samples.T, RATE, subtype="FLOAT")
    for block in audio.channel_blocks(path):
        assert np.isfinite(block).all()
    assert all(np.isfinite(b).all() for b in audio.blocks(path))


def test_a_forty_minute_stretch_is_cut_into_parts_for_decoding() -> None:
    units = channels.recognition_units({0: [channels.Turn(10.0, 10.0 + 2400.0)], 1: [channels.Turn(5.0, 8.0)]})
    long = [u for u in units if u.channel == 0]
    assert len(long) == int(np.ceil(2400 / channels.LONGEST_UNIT_S))
    assert long[0].start == 10.0 and long[-1].end == 2410.0
    assert all(b.start == a.end for a, b in itertools.pairwise(long))
    assert all(u.end - u.start <= channels.LONGEST_UNIT_S for u in long)


def test_spans_are_cut_from_a_stream_of_blocks() -> None:
    stream = np.arange(100, dtype=np.float32)
    blocks = [stream[i : i + 7] for i in range(0, 100, 7)]
    got = list(channels._spans_audio(iter(blocks), [(3, 5), (10, 30), (29, 31), (95, 120)]))
    assert [g.tolist() for g in got[:3]] == [[3, 4], list(range(10, 30)), [29, 30]]
    assert got[3].tolist() == list(range(95, 100)), "a span past the end gets what there is"


def test_spans_of_several_channels_are_cut_in_one_pass() -> None:
    stream = np.stack([np.arange(100), 1000 + np.arange(100)]).astype(np.float32)
    blocks = [stream[:, i : i + 7] for i in range(0, 100, 7)]
    spans, rows = [(3, 40), (10, 12), (20, 30), (90, 120)], [0, 1, 0, 1]
    got = [g.tolist() for g in channels._spans_audio(iter(blocks), spans, rows)]
    assert got[0] == list(range(3, 40)) and got[1] == [1010, 1011], "overlapping spans of two channels"
    assert got[2] == list(range(20, 30)) and got[3] == [1000 + i for i in range(90, 100)]


def test_a_seats_turns_merge_only_where_no_one_else_speaks_between() -> None:
    T = channels.Turn
    turns = {
        0: [T(0.0, 2.0), T(3.0, 4.0), T(7.0, 8.0), T(8.5, 9.0), T(9.5, 40.0)],
        1: [T(4.2, 6.5), T(8.1, 8.3)],
    }
    units = channels.recognition_units(turns, merge_gap_s=2.0, most_s=28.0)
    got = [(u.channel, u.start, u.end) for u in units]
    assert got == [
        (0, 0.0, 4.0),  # a 1 s pause, no one else: one stretch
        (1, 4.2, 6.5),
        (0, 7.0, 8.0),  # seat 1 speaks in the pause after it: not merged with 8.5-9.0
        (1, 8.1, 8.3),
        (0, 8.5, 9.0),  # 9.5-40.0 would make the stretch longer than a window
        (0, 9.5, 40.0),
    ], got
    assert channels.recognition_units({0: [T(0.0, 1.0), T(3.5, 4.0)]}) == [
        channels.Unit(0, 0.0, 1.0),
        channels.Unit(0, 3.5, 4.0),
    ], "a pause of 2 s or more: two utterances"


def test_windows_never_put_one_seats_pieces_side_by_side() -> None:
    decoded: list[list[list[int]]] = []
    packer = channels._Packer(lambda ws: decoded.append([[p.channel for p in w.pieces] for w in ws]), batch=2)
    second = np.zeros(RATE, dtype=np.float32)
    for channel in [0, 1, 0, 0, 2, 0, 1]:
        packer.add(channels._Piece(channel, 0.0, second))
    packer.flush(everything=True)
    windows = [w for batch in decoded for w in batch]
    assert sorted(c for w in windows for c in w) == [0, 0, 0, 0, 1, 1, 2], "every piece decoded once"
    assert windows == [[0, 1, 0, 2, 0, 1], [0]], "the second of seat 0's back-to-back pieces waits in another window"
    # a window holds at most WINDOW_S of pieces and gaps: 10 s pieces of alternating seats, three per window
    decoded.clear()
    packer = channels._Packer(lambda ws: decoded.append([[p.channel for p in w.pieces] for w in ws]), batch=8)
    for i in range(7):
        packer.add(channels._Piece(i % 2, 0.0, np.zeros(8 * RATE, dtype=np.float32)))
    packer.flush(everything=True)
    assert [len(w) for batch in decoded for w in batch] == [3, 3, 1]


class _RepeatDroppingEngine:
    """A stand-in for WhisperEngine's window decoding: each non-silent stretch of a window is one word, its text
    the stretch's level (the test's stand-in for a seat's sentence); a level heard before in the same window is
    dropped, as Whisper lets go of a sentence said again. Records the windows it was given."""

    batch_size = 4

    def __init__(self) -> None:
        self.windows: list[list[int]] = []
        self.detected: list[int] = []

    def detect_language(self, samples: np.ndarray, windows: list[dict[str, float]]) -> str:
        level = round(float(np.abs(samples).max()) * 10)
        self.detected.append(level)
        return "zh" if level == 1 else "en"

    def transcribe_windows(self, samples, windows, options, language, offset=0.0):  # type: ignore[no-untyped-def]
        from workbench.speech.transcript import Word

        for window in windows:
            a, b = round(window["start"] * RATE), round(window["end"] * RATE)
            loud = np.abs(samples[a:b]) > 0.05
            edges = np.diff(np.concatenate([[0], loud.astype(np.int8), [0]]))
            levels: list[int] = []
            for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
                level = round(float(np.abs(samples[a + start])) * 10)
                levels.append(level)
                if levels.count(level) > 1:
                    continue
                t0, t1 = offset + (a + start) / RATE, offset + (a + end) / RATE
                yield Segment(t0, t1, f"L{level}{language}", None, [Word(t0, t1, f"L{level}{language}")])
            self.windows.append(levels)


def test_packed_recognition_maps_each_line_back_to_its_seat(tmp_path: Path) -> None:
    from workbench.speech.asr.engine import AsrOptions

    # seat 0 (level 1, "zh") alone in its language; seats 1 and 2 ("en") alternate, seat 1 overlapping seat 0
    T = channels.Turn
    turns = {
        0: [T(1.0, 3.0), T(8.0, 9.5), T(14.0, 15.0)],
        1: [T(2.0, 4.5), T(6.5, 7.5)],
        2: [T(5.0, 6.0), T(11.0, 12.0)],
    }
    samples = np.zeros((3, 17 * RATE), dtype=np.float32)
    for c, own in turns.items():
        for t in own:
            samples[c, round(t.start * RATE) : round(t.end * RATE)] = 0.1 * (c + 1)
    path = write_channels(samples, tmp_path / "levels.wav")
    engine = _RepeatDroppingEngine()
    heard = channels._recognise_packed(
        path,
        audio.probe(path),
        turns,
        engine,
        AsrOptions(),
        lambda *a: None,
        17.0,
        {},  # type: ignore[arg-type]
    )
    assert heard.languages == {0: "zh", 1: "en", 2: "en"}, "each seat's language detected once"
    assert sorted(engine.detected) == [1, 2, 3]
    for c, own in turns.items():  # every turn heard once, on its own seat, at its own times
        got = [(s.start, s.end, s.text) for s in heard.segments[c]]
        language = heard.languages[c]
        assert got == [(t.start, t.end, f"L{c + 1}{language}") for t in own], (c, got)
    assert heard.redone >= 1, "the repeat the window dropped was decoded again alone"
    assert all(1 not in levels or 2 not in levels for levels in engine.windows), "no window mixes languages"


def test_laid_out_times_map_back_to_the_turns() -> None:
    from workbench.speech.transcript import Word

    layout = channels._Layout([channels.Turn(10.0, 12.0), channels.Turn(30.0, 31.0)])  # laid out: 0-2, 3-4
    assert layout.duration == 4.0 and layout.piece(2.5) == 0 and layout.piece(3.2) == 1
    assert layout.to_original(1.5, 0) == 11.5 and layout.to_original(2.6, 0) == 12.0, "a gap stays in its turn"
    words = [Word(1.0, 1.5, "hello"), Word(1.6, 2.2, " there"), Word(3.1, 3.6, " next")]
    mapped = layout.map_segments([Segment(0.9, 3.7, "hello there next", None, words)], "en", itn=True)
    assert [(s.start, s.end, s.text) for s in mapped] == [(11.0, 12.0, "hello there"), (30.1, 30.6, "next")]
    assert layout.map_turns([(1.0, 3.5, "A")]) == [(11.0, 12.0, "A"), (30.0, 30.5, "A")]


# --- the whole channel path (Whisper base + CAM++) -------------------------------------------------


def cer(hyp: str, ref: str) -> float:
    ref_n, hyp_n = text.normalise_cer(ref), text.normalise_cer(hyp)
    return text.edit_distance(ref_n, hyp_n) / len(ref_n)


def wer(hyp: str, ref: str) -> float:
    ref_n, hyp_n = text.normalise_wer(ref), text.normalise_wer(hyp)
    return text.edit_distance(ref_n, hyp_n) / len(ref_n)


@pytest.fixture(scope="module")
def three_seats(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, float, float]]]:
    """Judge (Mandarin) and plaintiff (English) overlapping for about 3 s, a spare channel, a mix channel."""
    samples, spans = seat_recording([(0, ZH_A, 1.0), (1, EN_A, 3.0)], 3, 14.0, bleed_db=15.0)
    mix = samples.sum(axis=0, keepdims=True) * 0.5
    path = tmp_path_factory.mktemp("channels") / "court.wav"
    return write_channels(np.concatenate([samples, mix]), path), spans


@pytest.fixture(scope="module")
def seats_result(three_seats, whisper_engine) -> Transcript:
    path, _ = three_seats
    return transcribe(path, TranscribeOptions(engine="whisper", device="cpu", channels=("审判长", "原告", "-", "mix")))


@pytest.mark.slow
def test_each_seat_is_a_speaker_with_its_seat_role_and_channel(seats_result: Transcript) -> None:
    speakers = seats_result.speakers
    assert speakers is not None and len(speakers) == 2, speakers
    judge, plaintiff = speakers
    assert (judge.id, judge.channel, judge.seat, judge.role) == ("S1", 0, "审判席", "审判长")
    assert (plaintiff.id, plaintiff.channel, plaintiff.seat, plaintiff.role) == ("S2", 1, "原告席", "原告")
    for speaker in speakers:
        assert speaker.embedding is not None and len(speaker.embedding) == 192
        assert np.all(np.isfinite(speaker.embedding))
    assert seats_result.engine.channels == ("审判席:审判长", "原告席:原告", "-", "mix")
    assert seats_result.engine.diarization == "channels"


@pytest.mark.slow
def test_overlapped_speech_is_transcribed_for_both_seats(seats_result: Transcript, three_seats) -> None:
    _, spans = three_seats
    by_speaker: dict[str, list[Segment]] = {}
    for segment in seats_result.segments:
        by_speaker.setdefault(segment.speaker or "", []).append(segment)
    assert set(by_speaker) == {"S1", "S2"}, "no line from the spare or the mix channel, none without a speaker"
    judge_text = "".join(s.text for s in by_speaker["S1"])
    plaintiff_text = " ".join(s.text for s in by_speaker["S2"])
    assert cer(judge_text, reference(ZH_A)) < 0.25, judge_text
    assert wer(plaintiff_text, reference(EN_A)) < 0.25, plaintiff_text
    # the two seats' lines overlap in time, as their speech did
    shared = max(min(a.end, b.end) - max(a.start, b.start) for a in by_speaker["S1"] for b in by_speaker["S2"])
    assert shared > 1.0, seats_result.segments
    for segment in by_speaker["S1"]:  # the judge's lines lie within the judge's speech
        assert segment.start > spans[0][1] - 0.3 and segment.end < spans[0][2] + 0.3, segment


@pytest.mark.slow
def test_a_shared_seat_is_diarized_within_its_channel(tmp_path: Path, whisper_engine) -> None:
    # a Mandarin and an English voice at one table (channel 1), taking turns; the judge on channel 0
    placements = [(1, ZH_B, 0.5), (1, EN_JFK, 6.0), (1, ZH_B, 18.0), (1, EN_A, 23.5), (0, ZH_A, 33.0)]
    samples, _ = seat_recording(placements, 2, 38.0)
    path = write_channels(samples, tmp_path / "shared.wav")
    result = transcribe(
        path, TranscribeOptions(engine="whisper", device="cpu", channels=("审判长", "原告席:原告+代理人"))
    )
    assert result.speakers, result
    table = [s for s in result.speakers if s.channel == 1]
    assert len(table) == 2, result.speakers
    assert all(s.seat == "原告席" and s.role is None for s in table), "we never guess who of two spoke"
    assert all(s.embedding is not None and len(s.embedding) == 192 for s in table)
    judge = [s for s in result.speakers if s.channel == 0]
    assert len(judge) == 1 and judge[0].role == "审判长"
    assert result.engine.diarization.startswith("channels+"), result.engine.diarization
    # the English lines go to one of the table's voices, the Mandarin lines to the other
    english = {s.speaker for s in result.segments if s.start > 5.5 and s.end < 18.0}
    mandarin = {s.speaker for s in result.segments if s.start >= 17.5 and s.end < 23.5}
    assert len(english) == 1 and len(mandarin) == 1 and english != mandarin, result.segments


def test_a_file_with_another_channel_count_is_refused_naming_both(tmp_path: Path) -> None:
    samples, _ = seat_recording([(0, ZH_A, 0.2)], 2, 5.0)
    path = write_channels(samples, tmp_path / "two.wav")
    with pytest.raises(audio.AudioError, match=r"two.wav: .*has 2 channel\(s\), the channel map 3"):
        transcribe(path, TranscribeOptions(channels=("审判长", "原告", "被告")))


def test_the_cli_refuses_a_bad_channel_map(tmp_path: Path) -> None:
    samples, _ = seat_recording([(0, ZH_A, 0.2)], 2, 5.0)
    path = write_channels(samples, tmp_path / "two.wav")
    result = CliRunner().invoke(main, ["transcribe", str(path), "--out", str(tmp_path), "--channels", "审判长,,被告"])
    assert result.exit_code == 2 and "--channels" in result.output and "empty channel item" in result.output


@pytest.mark.slow
def test_the_cli_transcribes_by_channel(tmp_path: Path, whisper_engine) -> None:
    samples, _ = seat_recording([(0, ZH_A, 0.5), (1, EN_A, 6.0)], 2, 16.0)
    path = write_channels(samples, tmp_path / "seats.wav")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["transcribe", str(path), "--out", str(out), "--channels", "审判长,被告", "--engine", "whisper"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads((out / "seats.json").read_text(encoding="utf-8"))
    assert data["engine"]["channels"] == ["审判席:审判长", "被告席:被告"]
    speakers = data["speakers"]
    assert [(s["id"], s["channel"], s["seat"], s["role"]) for s in speakers] == [
        ("S1", 0, "审判席", "审判长"),
        ("S2", 1, "被告席", "被告"),
    ]
    assert data["segments"] and {s["speaker"] for s in data["segments"]} == {"S1", "S2"}
    # the channel count is checked before any model loads
    wrong = CliRunner().invoke(main, ["transcribe", str(path), "--out", str(out), "--channels", "审判长,被告,证人"])
    assert wrong.exit_code == 1 and "2 channel(s), the channel map 3" in wrong.output


def test_word_edges_move_out_to_the_turn_edges() -> None:
    from workbench.speech.transcript import Word

    turns = [channels.Turn(1.0, 4.0), channels.Turn(8.0, 9.0)]
    words = [Word(1.4, 2.0, "a"), Word(2.1, 3.2, "b")]
    far = [Word(8.1, 8.5, "c")]
    got = channels._snap_edges([Segment(1.4, 3.2, "a b", None, words), Segment(8.1, 8.5, "c", None, far)], turns)
    assert (got[0].start, got[0].end, got[0].words[0].start, got[0].words[-1].end) == (1.0, 4.0, 1.0, 4.0)
    assert (got[1].start, got[1].end) == (8.0, 9.0)
    late = channels._snap_edges([Segment(2.5, 3.0, "x", None, [])], [channels.Turn(1.0, 4.5)], reach_s=1.0)
    assert (late[0].start, late[0].end) == (2.5, 3.0), "more than reach_s away: left as it is"
    # a word Whisper stretched over the pause between two turns is cut back to the turn it lies in the most
    over = [Word(1.2, 1.6, "a"), Word(1.6, 2.7, "b"), Word(3.3, 3.8, "c")]
    turns = [channels.Turn(1.0, 2.0), channels.Turn(3.0, 4.0)]
    got = channels._snap_edges([Segment(1.2, 3.8, "a b c", None, over)], turns)
    assert [(w.start, w.end) for w in got[0].words] == [(1.0, 1.6), (1.6, 2.0), (3.0, 4.0)], got


def test_a_first_word_started_early_in_the_gap_goes_to_its_own_piece() -> None:
    layout = channels._Layout([channels.Turn(10.0, 12.0), channels.Turn(30.0, 31.0)])  # laid out: 0-2, 3-4
    assert layout.piece_of(2.3, 3.2) == 1, "overlaps the next piece only"
    assert layout.piece_of(2.7, 2.8) == 1 and layout.piece_of(2.1, 2.2) == 0, "in the gap: the nearer piece"
    assert layout.piece_of(1.5, 3.1) == 0, "overlaps the first piece more"
