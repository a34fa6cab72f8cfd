"""The whole pipeline with diarization (Whisper base + segmentation-3.0 + CAM++) on a real two-speaker clip,
and `workbench diarize`: how many speakers, who speaks when, checked against the clip's RTTM reference.

The clip is pyannote's 30-second tutorial sample (2 speakers, manifest.json). Every check on a list first
asserts that the list is not empty: `all()` over nothing proves nothing. The models are loaded once per
session (`whisper_engine`, and `workbench.models.memory` for the diarization models the CLI reuses).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import TESTDATA
from hearing_samples import MANIFEST, read_rttm

from workbench.cli import main
from workbench.speech.options import TranscribeOptions
from workbench.speech.pipeline import transcribe
from workbench.speech.transcript import Transcript

pytestmark = pytest.mark.slow

CLIP = "diarization/pyannote_sample.wav"
PATH = TESTDATA / CLIP
SPEAKERS = MANIFEST[CLIP]["speakers"]  # 2
DURATION = MANIFEST[CLIP]["duration_s"]  # 30.0
REFERENCE = read_rttm(PATH.with_suffix(".rttm"))  # (start, end, speaker), in time order


def _reference_speaker(start: float, end: float) -> str | None:
    """The reference speaker who talks most within [start, end]."""
    shared: dict[str, float] = {}
    for a, b, spk in REFERENCE:
        overlap = min(end, b) - max(start, a)
        if overlap > 0:
            shared[spk] = shared.get(spk, 0.0) + overlap
    return max(shared, key=shared.__getitem__) if shared else None


def _agreement(spans: list[tuple[float, float, str]]) -> float:
    """Share of the spans' time whose speaker matches the reference's, under the best one-to-one naming."""
    votes: dict[tuple[str, str], float] = {}
    for start, end, spk in spans:
        ref = _reference_speaker(start, end)
        if ref is not None:
            votes[(spk, ref)] = votes.get((spk, ref), 0.0) + end - start
    total = sum(end - start for start, end, _ in spans)
    ours = sorted({s for s, _ in votes})
    theirs = sorted({r for _, r in votes})
    assert len(ours) == len(theirs) == 2, votes
    straight = votes.get((ours[0], theirs[0]), 0.0) + votes.get((ours[1], theirs[1]), 0.0)
    crossed = votes.get((ours[0], theirs[1]), 0.0) + votes.get((ours[1], theirs[0]), 0.0)
    return max(straight, crossed) / total


@pytest.fixture(scope="module")
def result(whisper_engine) -> Transcript:
    return transcribe(PATH, TranscribeOptions(engine="whisper", language="en", diarize=True, device="cpu"))


def test_the_pipeline_finds_the_two_speakers(result: Transcript) -> None:
    assert SPEAKERS == 2
    assert result.engine.diarization, result.engine  # the transcript says diarization ran, and with what
    assert result.speakers is not None and [s.id for s in result.speakers] == ["S1", "S2"]
    assert all(s.speech_time > 1.0 for s in result.speakers)  # each one really speaks
    assert result.segments, "no segments"
    assert all(seg.speaker is not None for seg in result.segments)
    assert {seg.speaker for seg in result.segments} == {"S1", "S2"}


def test_segments_carry_the_right_speaker(result: Transcript) -> None:
    spans = [(s.start, s.end, s.speaker) for s in result.segments]
    assert spans
    for start, end, _ in spans:
        assert 0.0 <= start < end <= DURATION + 0.5
    words = [w for s in result.segments for w in s.words]
    assert words and all(w.speaker == s.speaker for s in result.segments for w in s.words)
    assert _agreement(spans) >= 0.9  # measured 1.00 here


def test_diarize_command_writes_an_rttm_of_the_two_speakers(tmp_path: Path) -> None:
    out = CliRunner().invoke(main, ["diarize", str(PATH), "--out", str(tmp_path), "--device", "cpu"])
    assert out.exit_code == 0, out.output
    rttm = tmp_path / "pyannote_sample.rttm"
    lines = rttm.read_text(encoding="utf-8").splitlines()
    assert lines, "empty RTTM"
    fields = [line.split() for line in lines]
    assert all(f[0] == "SPEAKER" and f[1] == "pyannote_sample" and len(f) == 10 for f in fields), lines
    turns = read_rttm(rttm)
    assert len(turns) == len(lines)
    assert {spk for _, _, spk in turns} == {"S1", "S2"}
    for start, end, _ in turns:
        assert 0.0 <= start < end <= DURATION + 0.01
    assert f"pyannote_sample.wav: 2 speaker(s), {len(turns)} turns" in out.output
    assert _agreement(turns) >= 0.9  # measured 0.99 here


def test_a_truncated_recording_says_so_in_its_transcript(whisper_engine, tmp_path: Path) -> None:
    """The warning decoding adds on the way (the file stops before its header's length) reaches the transcript,
    which is what the job keeps: a clerk must learn that part of the hearing is missing."""
    import numpy as np
    from media import encode

    from workbench.speech import audio

    speech = audio.load(TESTDATA / "asr" / "en_librivox_ss01_0880.wav")
    full = encode(np.tile(speech, 5), tmp_path / "full.mp3", "mp3")  # 15 s
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    done = transcribe(cut, TranscribeOptions(engine="whisper", language="en", diarize=False, device="cpu"))
    assert any("truncated" in w for w in done.warnings), done.warnings
