"""Running diarization: the embedded engine (streamed) or an imported pyannote pipeline, on a file or blocks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pyannote.audio import Pipeline

from workbench import settings
from workbench.models import memory, registry
from workbench.progress import ProgressHook, no_progress
from workbench.speech import audio
from workbench.speech.diarization.embedding import load_campp
from workbench.speech.diarization.segmentation import SEGMENTATION_STEP, load_segmentation
from workbench.speech.diarization.streaming import CAMPP_PARAMS, CamppSpeakerDiarization
from workbench.speech.diarization.types import Diarization, DiarizationError, SpeakerCount, SpeakerTurn
from workbench.speech.transcript import SpeakerSummary

SEGMENTATION_MODEL = "pyannote-segmentation-3.0"
EMBEDDING_MODEL = "campplus-zh-en"


def set_threads() -> None:
    """torch's CPU threads from the `cpu_threads` setting (0 leaves torch's default: all cores)."""
    threads = int(settings.get("cpu_threads"))
    if threads > 0 and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def load_embedded(
    device: str = "cpu", params: dict[str, Any] | None = None, segmentation_step: float = SEGMENTATION_STEP
) -> CamppSpeakerDiarization:
    """The embedded pipeline (segmentation-3.0 + CAM++), models loaded once through `workbench.models.memory`."""
    set_threads()
    seg_entry = registry.get(SEGMENTATION_MODEL)
    emb_entry = registry.get(EMBEDDING_MODEL)
    segmentation = memory.load(
        ("pyannote-segmentation", str(seg_entry.path), device),
        seg_entry.name,
        seg_entry.path,
        lambda: load_segmentation(seg_entry.path, device),
    )
    embedding = memory.load(
        ("campplus", str(emb_entry.path), device),
        emb_entry.name,
        emb_entry.path,
        lambda: load_campp(emb_entry.path, device),
    )
    # the pipeline object itself is cheap and holds per-call state (parameters), so each call builds its own
    pipeline = CamppSpeakerDiarization(segmentation, embedding, segmentation_step=segmentation_step)
    pipeline.instantiate(params or CAMPP_PARAMS)
    return pipeline


def _load_imported(entry: registry.ModelEntry, device: str) -> Any:
    def loader() -> Any:
        try:
            pipeline = Pipeline.from_pretrained(str(entry.path))
        except Exception as e:  # pyannote raises many kinds on a bad folder
            raise DiarizationError(
                f"{entry.path}: cannot load the pyannote pipeline ({e}); the folder must be a complete copy "
                "(config.yaml and the model files it names), imported with `workbench models import`"
            ) from e
        if pipeline is None:
            raise DiarizationError(f"{entry.path}: pyannote found no pipeline in the folder")
        return pipeline.to(torch.device(device))

    return memory.load(("pyannote-pipeline", str(entry.path), device), entry.name, entry.path, loader)


def _summaries(
    raw_turns: list[tuple[float, float, Any]], embeddings: dict[Any, np.ndarray | None]
) -> tuple[list[SpeakerTurn], list[SpeakerSummary]]:
    """Renames labels S1, S2, ... by first appearance; one summary per speaker."""
    raw_turns = sorted(raw_turns, key=lambda t: (t[0], t[1]))
    names: dict[Any, str] = {}
    for _, _, label in raw_turns:
        if label not in names:
            names[label] = f"S{len(names) + 1}"
    turns = [SpeakerTurn(round(s, 3), round(e, 3), names[label]) for s, e, label in raw_turns]
    speakers = []
    for label, name in names.items():
        own = [t for t in turns if t.speaker == name]
        vector = embeddings.get(label)
        speakers.append(
            SpeakerSummary(
                id=name,
                speech_time=round(sum(t.end - t.start for t in own), 3),
                first_appearance=own[0].start,
                embedding=None if vector is None else [round(float(v), 6) for v in vector],
            )
        )
    return turns, speakers


def _hook_adapter(progress: ProgressHook) -> Callable[..., None]:
    """pyannote's `hook(step, artifact, file=, completed=, total=)` -> ours `hook(step, completed, total)`."""

    def hook(
        step: str, artifact: Any, file: Any = None, completed: float | None = None, total: float | None = None
    ) -> None:
        if completed is not None and total:
            progress(f"diarization: {step}", float(completed), float(total))

    return hook


def diarize_stream(
    source: Iterator[np.ndarray],
    count: SpeakerCount | None = None,
    *,
    total: float | None = None,
    device: str = "cpu",
    progress: ProgressHook = no_progress,
    params: dict[str, Any] | None = None,
) -> Diarization:
    """Diarizes 16 kHz mono float32 blocks with the embedded engine, holding one window at a time."""
    count = count or SpeakerCount()
    pipeline = load_embedded(device, params)
    with torch.inference_mode():
        segmentations, embeddings, _ = pipeline.extract(source, total, progress)
        annotation, centroids = pipeline.finish(segmentations, embeddings, count)
    del segmentations, embeddings
    raw = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    vectors = {k: centroids[k] if np.all(np.isfinite(centroids[k])) else None for k in range(centroids.shape[0])}
    turns, speakers = _summaries(raw, vectors)
    memory.trim()
    return Diarization(turns=turns, speakers=speakers, engine=f"{SEGMENTATION_MODEL}+{EMBEDDING_MODEL}")


def diarize_file(
    path: str | Path,
    count: SpeakerCount | None = None,
    *,
    model: str | None = None,
    device: str = "cpu",
    progress: ProgressHook = no_progress,
) -> Diarization:
    """Who spoke when in one recording. `model`: None for the embedded engine, or an imported pipeline's name.

    Raises `audio.AudioError` for an unreadable file, `models.ModelError` for a missing model and
    `DiarizationError` for a model that does not load.
    """
    count = count or SpeakerCount()
    path = Path(path)
    info = audio.probe(path)
    total = info.duration or None
    entry = None
    if model and model not in (SEGMENTATION_MODEL, f"{SEGMENTATION_MODEL}+{EMBEDDING_MODEL}"):
        entry = registry.resolve(model, registry.PYANNOTE_PIPELINE)
    progress("diarization", 0.0, total)
    if entry is None:
        result = diarize_stream(audio.blocks(path), count, total=total, device=device, progress=progress)
    else:
        result = _diarize_imported(path, entry, count, device, progress, total)
    progress("diarization", total or 1.0, total or 1.0)
    return result


def _diarize_imported(
    path: Path,
    entry: registry.ModelEntry,
    count: SpeakerCount,
    device: str,
    progress: ProgressHook,
    total: float | None,
) -> Diarization:
    """An imported pipeline, used as it is, on the whole decoded waveform (it does not stream)."""
    set_threads()
    pipeline = _load_imported(entry, device)
    samples = audio.load(path)
    waveform = torch.from_numpy(samples)[None]
    del samples
    try:
        output = pipeline(
            {"waveform": waveform, "sample_rate": audio.SAMPLE_RATE, "uri": path.stem},
            num_speakers=count.exact,
            min_speakers=count.min if count.exact is None else None,
            max_speakers=count.max if count.exact is None else None,
            hook=_hook_adapter(progress),
        )
    except (RuntimeError, ValueError) as e:
        raise DiarizationError(f"{path.name}: the imported pipeline {entry.name!r} failed ({e})") from e
    del waveform
    annotation = getattr(output, "speaker_diarization", output)
    vectors: dict[Any, np.ndarray | None] = {}
    embeddings = getattr(output, "speaker_embeddings", None)
    if embeddings is not None:
        for label, vector in zip(annotation.labels(), embeddings, strict=False):
            vectors[label] = None if not np.all(np.isfinite(vector)) else vector
    raw = [(seg.start, seg.end, label) for seg, _, label in annotation.itertracks(yield_label=True)]
    turns, speakers = _summaries(raw, vectors)
    memory.trim()
    return Diarization(turns=turns, speakers=speakers, engine=f"pyannote-pipeline:{entry.name}")
