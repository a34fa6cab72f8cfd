"""Diarization: the count parser, RTTM, and the real models on short clips (loaded once per session)."""

from __future__ import annotations

import subprocess
import sys
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from workbench.speech import audio
from workbench.speech.diarization import Diarization, SpeakerCount, SpeakerTurn, to_rttm
from workbench.speech.diarization.clustering import BoundedAgglomerativeClustering
from workbench.speech.diarization.pipeline import diarize_file, load_embedded
from workbench.speech.diarization.streaming import STREAM_WINDOW_S
from workbench.speech.transcript import Segment

DIARIZATION = Path(__file__).resolve().parent.parent.parent / "shared" / "testdata" / "diarization"
ASR = DIARIZATION.parent / "asr"


def _write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def _der(path: Path, result: Diarization, collar: float) -> float:
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    reference = next(iter(load_rttm(path.with_suffix(".rttm")).values()))
    hypothesis = Annotation()
    for turn in result.turns:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    return DiarizationErrorRate(collar=collar)(reference, hypothesis)


# --- no models --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("auto", SpeakerCount()), ("", SpeakerCount()), ("3", SpeakerCount(3, 3)), ("2-4", SpeakerCount(2, 4))],
)
def test_speaker_count_parse(text: str, expected: SpeakerCount) -> None:
    assert SpeakerCount.parse(text) == expected
    assert SpeakerCount.parse(str(expected)) == expected


@pytest.mark.parametrize("bad", ["0", "4-2", "two", "2-", "-3", "1.5"])
def test_speaker_count_rejects(bad: str) -> None:
    with pytest.raises(ValueError, match="speaker"):
        SpeakerCount.parse(bad)


def test_rttm() -> None:
    result = Diarization(turns=[SpeakerTurn(0.5, 1.25, "S1"), SpeakerTurn(1.0, 2.0, "S2")])
    lines = to_rttm(result, "my hearing").splitlines()
    assert lines == [
        "SPEAKER my_hearing 1 0.500 0.750 <NA> <NA> S1 <NA> <NA>",
        "SPEAKER my_hearing 1 1.000 1.000 <NA> <NA> S2 <NA> <NA>",
    ]
    assert to_rttm(Diarization(), "x") == ""


def test_rttm_of_segments_skips_those_without_a_speaker() -> None:
    """The same writer serves transcript segments (the rttm export): no speaker, no line; no negative length."""
    segments = [Segment(0.0, 1.5, "a", speaker="S1"), Segment(1.5, 2.0, "b"), Segment(3.0, 2.999, "c", speaker="S2")]
    assert to_rttm(segments, "").splitlines(keepends=True) == [
        "SPEAKER recording 1 0.000 1.500 <NA> <NA> S1 <NA> <NA>\n",
        "SPEAKER recording 1 3.000 0.000 <NA> <NA> S2 <NA> <NA>\n",
    ]


def test_package_import_loads_neither_torch_nor_pyannote() -> None:
    """The dataclasses and the RTTM writer are light: CLI start-up and the export path must not pay for torch."""
    code = (
        "import sys, workbench.speech.diarization, workbench.formats\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'pyannote', 'funasr'))\n"
        "sys.exit(f'imported: {heavy[:5]}' if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_heavy_names_load_on_first_use() -> None:
    from workbench.speech import diarization

    assert diarization.diarize_file is diarize_file  # through the module __getattr__, the same function
    assert "diarize_file" in dir(diarization)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        diarization.nope  # noqa: B018


# --- real models --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sample_result(models_dir: Path) -> Diarization:
    return diarize_file(DIARIZATION / "pyannote_sample.wav")


@pytest.mark.slow
def test_sample_finds_two_speakers(sample_result: Diarization) -> None:
    assert [s.id for s in sample_result.speakers] == ["S1", "S2"]
    assert _der(DIARIZATION / "pyannote_sample.wav", sample_result, collar=0.25) <= 0.05
    turns = sample_result.turns
    assert all(t.end > t.start for t in turns) and turns == sorted(turns, key=lambda t: (t.start, t.end))
    first = {s.id: s.first_appearance for s in sample_result.speakers}
    assert first["S1"] <= first["S2"] and turns[0].speaker == "S1"
    for summary in sample_result.speakers:
        assert summary.embedding is not None and len(summary.embedding) == 192
        assert np.isfinite(summary.embedding).all()
        own = sum(t.end - t.start for t in turns if t.speaker == summary.id)
        assert summary.speech_time == pytest.approx(own, abs=0.01)


@pytest.mark.slow
def test_exact_count_and_range(models_dir: Path) -> None:
    assert len(diarize_file(DIARIZATION / "pyannote_sample.wav", SpeakerCount(1, 1)).speakers) == 1
    assert len(diarize_file(DIARIZATION / "pyannote_sample.wav", SpeakerCount(1, 2)).speakers) <= 2


@pytest.mark.slow
def test_single_speaker_gives_one(models_dir: Path) -> None:
    result = diarize_file(ASR / "en_librispeech_1995-1837-0001.wav")
    assert [s.id for s in result.speakers] == ["S1"]
    assert result.speakers[0].speech_time > 5.0


@pytest.mark.slow
def test_silence_gives_none(models_dir: Path, tmp_path: Path) -> None:
    result = diarize_file(_write_wav(tmp_path / "silence.wav", np.zeros(16000 * 12, dtype=np.float32)))
    assert result.turns == [] and result.speakers == []


@pytest.mark.slow
def test_two_second_file(models_dir: Path, tmp_path: Path) -> None:
    clip = audio.load(DIARIZATION / "pyannote_sample.wav")[16000 * 8 : 16000 * 10]
    result = diarize_file(_write_wav(tmp_path / "short.wav", clip))
    assert len(result.speakers) <= 1 and all(0.0 <= t.start < t.end <= 2.1 for t in result.turns)


@pytest.mark.slow
def test_streaming_windows_match_the_chunk_grid(models_dir: Path) -> None:
    """Audio longer than one streaming window: every chunk of pyannote's grid is there, once."""
    clips = [audio.load(DIARIZATION / f"pyannote_ami_{n}.wav") for n in ("dev00", "dev01", "tst00")]
    samples = np.concatenate([*clips, clips[0][: 16000 * 43 + 123]])  # not a multiple of anything
    pipeline = load_embedded()
    blocks = (samples[i : i + 16000 * 7] for i in range(0, samples.shape[0], 16000 * 7))
    binary, embeddings, duration = pipeline.extract(blocks, None)
    assert samples.shape[0] > STREAM_WINDOW_S * 16000  # more than one window
    step, window = pipeline.chunk_step * 16000, pipeline.chunk_duration * 16000
    expected = int((samples.shape[0] - window) // step) + 1 + int((samples.shape[0] - window) % step > 0)
    assert binary.shape[0] == embeddings.shape[0] == expected
    assert duration == pytest.approx(samples.shape[0] / 16000)
    annotation, centroids = pipeline.finish(binary, embeddings, SpeakerCount())
    assert 4 <= len(annotation.labels()) <= 8 and centroids.shape[1] == 192  # 6 voices in the reference


def test_shared_filterbank_segmentation_matches_pyannote_inference(models_dir: Path) -> None:
    """The window-wide first convolution gives the chunks' segmentation pyannote's Inference gives."""
    import torch

    pipeline = load_embedded()
    samples = audio.load(DIARIZATION / "pyannote_ami_tst00.wav")[: 16000 * 25 + 4321]  # a padded last chunk
    shared = pipeline._shared(samples)
    waveform = torch.from_numpy(samples)[None]
    scores = pipeline._segmentation({"waveform": waveform, "sample_rate": 16000}).data
    reference = np.nan_to_num(scores, nan=0.0).astype(np.uint8)
    assert shared.shape == reference.shape and shared.shape[0] == 17
    assert (shared == reference).mean() > 0.999  # float rounding may flip a rare near-tie frame
    assert np.array_equal(pipeline._shared(samples, 4), shared[:4])


def _merge(hard: np.ndarray, unit: np.ndarray, ratio: float = 5.0, min_clusters: int = 1) -> np.ndarray:
    return BoundedAgglomerativeClustering._merge_one_voice(SimpleNamespace(merge_ratio=ratio), hard, unit, min_clusters)


def test_one_voice_merge_joins_clusters_the_segmentation_kept_as_one_speaker() -> None:
    # 20 chunks, 3 local speakers, 4 sub-windows. Local speaker 0 moves between clusters 0 and 1 inside
    # its chunks (one voice, two acoustic conditions); local speaker 1 is cluster 2, at the same time.
    hard = np.full((20, 3, 4), -2, dtype=np.int16)
    hard[:, 0] = [0, 0, 1, 1]
    hard[:, 1] = 2
    unit = np.array([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])
    assert _merge(hard, unit).tolist() == [0, 0, 1]


def test_one_voice_merge_keeps_voices_heard_together_apart() -> None:
    hard = np.full((20, 3, 4), -2, dtype=np.int16)
    hard[:, 0] = 0
    hard[:, 1] = 1  # two local speakers in the same chunks: two people, however similar
    hard[:5, 0] = [0, 0, 1, 1]  # and a few chunks where one local speaker spans both
    unit = np.array([[1.0, 0.0], [0.9, 0.436]])
    assert _merge(hard, unit).tolist() == [0, 1]
    # without the second local speaker they are one voice, unless a minimum count or the ratio says no
    hard[:, 1] = -2
    assert _merge(hard, unit).tolist() == [0, 0]
    assert _merge(hard, unit, min_clusters=2).tolist() == [0, 1]
    assert _merge(hard, unit, ratio=6.0).tolist() == [0, 1]  # same 5, apart 0: 5 / (0 + 1) < 6
