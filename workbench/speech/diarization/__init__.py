"""Who spoke when: pyannote.audio's `SpeakerDiarization` pipeline, offline, in bounded memory.

Two engines, both run by `pipeline` (`diarize_file`, `diarize_stream`, `load_embedded`):

- the embedded default, `streaming.CamppSpeakerDiarization`: pyannote segmentation-3.0 (`segmentation`,
  its filterbank shared across a window's chunks) + CAM++ zh+en speaker embeddings (`embedding`, masks
  honoured by weighted statistics pooling), clustered by `clustering.BoundedAgglomerativeClustering`. Audio
  streams through in windows of about `STREAM_WINDOW_S`; only per-chunk segmentation and float16
  embeddings outlive a window, and clustering runs on a bounded sample, so no matrix grows with the
  square of the duration;
- a pyannote pipeline folder imported with `workbench models import`, used as it is on the whole waveform.

`types` (the dataclasses) and `rttm` (the one RTTM writer) need neither torch nor pyannote and are imported
here; the names that do are loaded on first use (a module `__getattr__`), so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from workbench.models.imports import hide_optional_transformers
from workbench.speech.diarization.rttm import SpeakerSpan, rttm_speaker_count, to_rttm
from workbench.speech.diarization.types import Diarization, DiarizationError, SpeakerCount, SpeakerTurn

# Before any submodule imports pyannote (this package's init runs first): pyannote -> Lightning -> torchmetrics
# would otherwise load transformers' models for a metric never computed, ~30 MB in every diarizing process.
hide_optional_transformers()

if TYPE_CHECKING:
    from workbench.speech.diarization.embedding import CamppEmbedding
    from workbench.speech.diarization.pipeline import diarize_file, diarize_stream, load_embedded

# name -> submodule, imported (with torch and pyannote) when the name is first looked up
_LAZY = {
    "CamppEmbedding": "embedding",
    "diarize_file": "pipeline",
    "diarize_stream": "pipeline",
    "load_embedded": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "CamppEmbedding",
    "Diarization",
    "DiarizationError",
    "SpeakerCount",
    "SpeakerSpan",
    "SpeakerTurn",
    "diarize_file",
    "diarize_stream",
    "load_embedded",
    "rttm_speaker_count",
    "to_rttm",
]
