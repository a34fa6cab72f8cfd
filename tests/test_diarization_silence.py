"""Diarization skips the models on silence: segmentation chunks and CAM++ blocks below -60 dBFS.

A muted microphone or a recess is long stretches of (near) digital silence; neither segmentation-3.0's LSTM
nor CAM++'s trunk runs there, and the chunks that hold sound give what they gave before.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from workbench.speech import audio
from workbench.speech.diarization.segmentation import SILENT_PEAK, SharedSincSegmentation

DIARIZATION = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "diarization"


@pytest.fixture(scope="module")
def speech_after_silence() -> np.ndarray:
    """25 s of near silence (a faint hiss well under the threshold), then 20 s of AMI tst00."""
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(25 * 16000) * SILENT_PEAK / 10).astype(np.float32)
    return np.concatenate([hiss, audio.load(DIARIZATION / "pyannote_ami_tst00.wav")[: 20 * 16000]])


@pytest.mark.slow
def test_silent_chunks_skip_the_model_and_the_rest_is_unchanged(
    models_dir: Path, speech_after_silence: np.ndarray
) -> None:
    from workbench.speech.diarization.pipeline import load_embedded

    pipeline = load_embedded()
    skipping = SharedSincSegmentation(pipeline._segmentation)
    everything = SharedSincSegmentation(pipeline._segmentation, silent_peak=0.0)
    ran: list[int] = []
    original = skipping._after_filterbank
    skipping._after_filterbank = lambda first: ran.append(first.shape[0]) or original(first)  # type: ignore[method-assign]
    skipped, reference = skipping(speech_after_silence), everything(speech_after_silence)
    assert skipped.shape == reference.shape == (36, 589, 3)
    silent = 16  # chunks 0..15 end by 25 s: nothing but the hiss
    assert sum(ran) == skipped.shape[0] - silent
    assert not skipped[:silent].any()
    assert (skipped[silent:] == reference[silent:]).mean() > 0.999  # other batches: a rare near-tie may flip
    assert reference[silent:].any()


@pytest.mark.slow
def test_campp_trunk_skips_silent_blocks(models_dir: Path, speech_after_silence: np.ndarray) -> None:
    import torch

    from workbench.speech.diarization.pipeline import load_embedded

    embedding = load_embedded()._embedding
    samples = np.concatenate([np.zeros(45 * 16000, np.float32), speech_after_silence[25 * 16000 :]])
    frames = embedding.trunk_long(samples)  # 65 s: 15 s blocks, the first two silent (with their context)
    assert frames.shape[1] == 65 * 50
    assert torch.count_nonzero(frames[:, : 29 * 50]) == 0  # the silent blocks were never run
    assert torch.count_nonzero(frames[:, 45 * 50 :]) > 0
    assert frames.shape[0] == embedding._channels == 512
