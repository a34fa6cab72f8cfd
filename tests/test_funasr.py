"""The funasr engine end to end: real fsmn-vad, a randomly initialised Paraformer, real clips.

The tiny model's words mean nothing; the plumbing is judged: segments and times, the hotword
argument reaching the model, punctuation recorded as absent, errors surfaced with the model's name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import clip

from workbench.models import memory
from workbench.models import registry as models
from workbench.speech import asr
from workbench.speech.options import TranscribeOptions
from workbench.speech.pipeline import transcribe
from workbench.speech.text import Hotword


@pytest.fixture
def funasr_registry(tiny_paraformer: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("WORKBENCH_MODELS", str(tiny_paraformer))
    yield tiny_paraformer
    memory.unload_all()


def test_paraformer_with_fsmn_vad(funasr_registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = asr.load_engine("funasr", device="cpu")
    seen: list[dict] = []
    real_generate = engine.asr.generate

    def recording_generate(*args, **kwargs):
        seen.append(kwargs)
        return real_generate(*args, **kwargs)

    monkeypatch.setattr(engine.asr, "generate", recording_generate)
    # FunASR downloads a hotword string that starts with "http": a term that looks like one must not be fetched.
    words = (Hotword("https://court.example/terms.txt"), Hotword("张三"))
    options = TranscribeOptions(engine="funasr", diarize=False, device="cpu", itn=True, hotwords=words)
    result = transcribe(clip("pyannote_sample.wav"), options)

    assert seen and seen[0]["hotword"].split() == ["https://court.example/terms.txt", "张三"]
    assert not seen[0]["hotword"].startswith("http")
    assert result.engine.asr == "funasr" and result.engine.model == "tiny-paraformer"
    assert result.engine.punctuation is None  # no ct-punc imported, and the transcript says so
    assert result.language == "zh"
    assert result.segments, "the VAD found the speech and the model produced text"
    for a, b in zip(result.segments, result.segments[1:], strict=False):
        assert a.end <= b.start
    # pyannote_sample: speech runs from about 6 s to the end at 30 s
    assert 5.0 < result.segments[0].start < 8.0 and result.segments[-1].end <= 30.1


def test_silence_through_funasr(funasr_registry: Path, tmp_path: Path) -> None:
    import numpy as np
    from media import write_wav

    path = write_wav(np.zeros(8 * 16000, dtype=np.float32), tmp_path / "silence.wav")
    result = transcribe(path, TranscribeOptions(engine="funasr", diarize=False, device="cpu"))
    assert result.segments == []


def test_a_broken_model_is_an_error_naming_it(tiny_paraformer: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(tiny_paraformer, root)
    (root / "tiny-paraformer" / "model.pt").write_bytes(b"not a checkpoint")
    entry = models.get("tiny-paraformer", root)
    with pytest.raises(asr.AsrError, match="tiny-paraformer"):
        asr.FunAsrEngine(entry, models.get("fsmn-vad", root), device="cpu")


def test_funasr_without_a_speech_model_says_what_to_import(tmp_path: Path, models_dir: Path, monkeypatch) -> None:
    root = tmp_path / "models"
    shutil.copytree(models_dir / "fsmn-vad", root / "fsmn-vad")
    monkeypatch.setenv("WORKBENCH_MODELS", str(root))
    with pytest.raises(asr.AsrError, match="workbench models import"):
        asr.load_engine("funasr")
