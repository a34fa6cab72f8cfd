"""Decoding: every common container and codec to 16 kHz mono, in blocks; bad files named with a reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from conftest import clip
from media import VARIANTS, encode, video_without_audio, write_wav

from workbench.files import sha256_file
from workbench.speech import audio


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    return audio.load(clip("en_jfk.flac"))[: 4 * audio.SAMPLE_RATE]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_format_decodes_to_16k_mono(variant: str, speech: np.ndarray, tmp_path: Path) -> None:
    path = encode(speech, tmp_path / f"clip{VARIANTS[variant][0]}", variant)
    info = audio.probe(path)
    decoded = audio.load(path)
    assert decoded.dtype == np.float32 and decoded.ndim == 1
    assert abs(decoded.shape[0] / audio.SAMPLE_RATE - 4.0) < 0.2, "duration survives the round trip"
    assert info.has_video == (VARIANTS[variant][5] is not None)
    # The speech is still there: lossy codecs keep the loudness envelope of the original.
    n = min(decoded.shape[0], speech.shape[0]) // 1600 * 1600
    env_in = np.abs(speech[:n]).reshape(-1, 1600).mean(axis=1)
    env_out = np.abs(decoded[:n]).reshape(-1, 1600).mean(axis=1)
    assert np.corrcoef(env_in, env_out)[0, 1] > 0.8


def test_the_original_clip_is_44k_stereo_and_comes_out_16k_mono() -> None:
    info = audio.probe(clip("en_jfk.flac"))
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert abs(audio.load(clip("en_jfk.flac")).shape[0] / audio.SAMPLE_RATE - 11.0) < 0.05


def test_blocks_stream_in_fixed_sizes(tmp_path: Path) -> None:
    tone = np.sin(np.arange(int(75.5 * audio.SAMPLE_RATE)) * 0.05).astype(np.float32) * 0.3
    path = write_wav(tone, tmp_path / "tone.wav")
    sizes = [b.shape[0] for b in audio.blocks(path, block_seconds=30)]
    assert sizes[:2] == [30 * audio.SAMPLE_RATE] * 2
    assert sum(sizes) == tone.shape[0]
    assert len(sizes) == 3


def test_speech_chunks_cut_in_the_pause(tmp_path: Path) -> None:
    sr = audio.SAMPLE_RATE
    noise = np.random.default_rng(0).normal(0, 0.2, 60 * sr).astype(np.float32)
    noise[int(37.0 * sr) : int(37.6 * sr)] = 0  # the only quiet moment near the 40 s target
    chunks = list(audio.speech_chunks(iter([noise[: 30 * sr], noise[30 * sr :]]), chunk_seconds=40, search_seconds=5))
    assert len(chunks) == 2
    (first_offset, first), (second_offset, second) = chunks
    assert first_offset == 0 and 37.0 <= second_offset <= 37.6
    assert first.shape[0] + second.shape[0] == noise.shape[0]
    assert second_offset * sr == first.shape[0]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: _write(d / "empty.wav", b""), "empty"),
        (lambda d: _write(d / "random.wav", np.random.default_rng(1).bytes(50_000)), "not a recording"),
        (lambda d: _write(d / "notes.mp3", "这不是录音".encode() * 100), "not a recording"),
        (lambda d: video_without_audio(d / "silent-film.mp4"), "no audio track"),
        (lambda d: d / "missing.wav", "no such file"),
        (lambda d: d, "folder"),
    ],
)
def test_bad_files_raise_a_one_line_reason_naming_the_file(make, reason: str, tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(audio.AudioError) as caught:
        list(audio.blocks(path))
    message = str(caught.value)
    assert path.name in message and reason in message and "\n" not in message


def test_truncated_mp3_gives_what_it_has_and_a_warning(speech: np.ndarray, tmp_path: Path) -> None:
    long = np.tile(speech, 4)  # 16 s
    full = encode(long, tmp_path / "full.mp3", "mp3")
    cut = _write(tmp_path / "cut.mp3", full.read_bytes()[: full.stat().st_size // 3])
    info = audio.probe(cut)
    decoded = audio.load(cut)
    assert 3 < decoded.shape[0] / audio.SAMPLE_RATE < 8
    list(audio.blocks(cut, info=info))
    assert info.decoded == pytest.approx(decoded.shape[0] / audio.SAMPLE_RATE)
    assert info.duration > 10, "the header still declares the whole length"
    assert info.warnings and "truncated" in info.warnings[0]


def test_a_fifth_of_a_second_decodes(tmp_path: Path) -> None:
    path = write_wav(np.zeros(3200, dtype=np.float32), tmp_path / "short.wav")
    assert audio.load(path).shape[0] == 3200


def test_hostile_file_names_are_fine(speech: np.ndarray, tmp_path: Path) -> None:
    path = write_wav(speech, tmp_path / "庭审 录音 \"第1次\" 'a';$(rm -rf x).wav")
    assert audio.probe(path).duration == pytest.approx(4.0, abs=0.01)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path
