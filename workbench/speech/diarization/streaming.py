"""The embedded engine: pyannote's `SpeakerDiarization` with CAM++ embeddings, streamed window by window."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from pyannote.audio import Audio, Inference, Pipeline
from pyannote.audio.pipelines import SpeakerDiarization
from pyannote.audio.pipelines.utils.diarization import set_num_speakers
from pyannote.core import Annotation, SlidingWindow, SlidingWindowFeature
from pyannote.pipeline.parameter import ParamDict, Uniform

from workbench.models import memory
from workbench.progress import ProgressHook, no_progress
from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.diarization.clustering import BoundedAgglomerativeClustering
from workbench.speech.diarization.embedding import CamppEmbedding
from workbench.speech.diarization.segmentation import SEGMENTATION_STEP, SharedSincSegmentation
from workbench.speech.diarization.types import DiarizationError, SpeakerCount

# Audio per streaming window: CAM++'s trunk runs once over each window (plus one chunk of overlap).
STREAM_WINDOW_S = 120.0
# Each local speaker's 10 s mask is cut into this many slices, each embedded and clustered on its own.
SUB_WINDOWS = 4
# Frames per block when picking each frame's most active clusters (bounds the sort's index arrays).
RECONSTRUCT_BLOCK = 65536

# Clustering for CAM++, the best point of bench/tune_diarization.py on development data only (dev00, dev01,
# the pyannote sample and a 12-minute concatenation of the three; never tst00) at the 0.1 step: right count
# on the three clips, pooled DER 18.9%, 7 voices found for 4 on the concatenation. Complete linkage (our
# earlier choice) splits voices as inputs grow, its distance being the cluster's diameter (15 for 4 there);
# without the one-voice merge (merge_ratio 0) average linkage finds 10. pyannote caps min_cluster_size at
# 10% of the embeddings.
CAMPP_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {
        "method": "average",
        "threshold": 0.5,
        "min_cluster_size": 12,
        "min_train_s": 0.5,
        "merge_ratio": 5.0,
    },
}


class CamppSpeakerDiarization(SpeakerDiarization):
    """pyannote's `SpeakerDiarization` with CAM++ embeddings, streamed in windows, clustered by sub-window.

    Built without `SpeakerDiarization.__init__` (which fetches an embedding and a PLDA from the
    hub); it sets the same attributes, so the inherited `get_segmentations`, `get_embeddings`
    (per chunk and local speaker, through `CamppEmbedding.__call__`) and `to_annotation` work.

    What differs from `apply()`: segmentation-3.0 often gives two similar voices one local
    speaker within a 10 s chunk (on pyannote_ami_dev01 even oracle clustering of pyannote's
    local speakers leaves 43% DER). So each local speaker's mask is cut into `sub_windows`
    time slices and each slice gets its own CAM++ embedding and cluster; the speaker count
    and overlap come from the segmentation as in pyannote.
    """

    def __init__(
        self,
        segmentation: Any,
        embedding: CamppEmbedding,
        segmentation_step: float = SEGMENTATION_STEP,
        sub_windows: int = SUB_WINDOWS,
        # 8, not pyannote's 32 or our earlier 16: diarizing the 20-minute built input peaked at 1,360-1,376 MB
        # and took 44 CPU s, against 1,431-1,453 MB and 52 CPU s at 16 (4: no smaller, slower)
        segmentation_batch_size: int = 8,
        max_train: int = 2000,
    ) -> None:
        Pipeline.__init__(self)
        self.legacy = True
        self.segmentation_model = segmentation
        self.segmentation_step = segmentation_step
        self.sub_windows = sub_windows
        self.embedding = embedding
        self.embedding_batch_size = 8
        self.embedding_exclude_overlap = False
        self.klustering = "BoundedAgglomerativeClustering"
        self.der_variant = {"collar": 0.0, "skip_overlap": False}
        duration = segmentation.specifications.duration
        self._segmentation = Inference(
            segmentation,
            duration=duration,
            step=segmentation_step * duration,
            skip_aggregation=True,
            batch_size=segmentation_batch_size,
        )
        if not segmentation.specifications.powerset:
            raise DiarizationError("segmentation model is not a powerset model (expected segmentation-3.0)")
        # the shared filterbank on CPU (diarization RTF 0.039 instead of 0.046-0.056 on 1 hour); a GPU
        # runs pyannote's own chunk-by-chunk inference
        on_cpu = torch.device(segmentation.device).type == "cpu"
        self._shared = SharedSincSegmentation(self._segmentation) if on_cpu else None
        self.segmentation = ParamDict(min_duration_off=Uniform(0.0, 1.0))
        self._embedding = embedding
        self._audio = Audio(sample_rate=SAMPLE_RATE, mono="downmix")  # for the inherited get_embeddings
        self.clustering = BoundedAgglomerativeClustering(metric=embedding.metric, max_train=max_train)
        self._expects_num_speakers = False

    @property
    def chunk_duration(self) -> float:
        return float(self._segmentation.duration)

    @property
    def chunk_step(self) -> float:
        return float(self._segmentation.step)

    def _chunks_window(self) -> SlidingWindow:
        return SlidingWindow(start=0.0, duration=self.chunk_duration, step=self.chunk_step)

    # -- streaming extraction -----------------------------------------------------------

    def extract(
        self, source: Iterator[np.ndarray], total: float | None, progress: ProgressHook = no_progress
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """Binary segmentation (chunks, frames, 3) uint8 and embeddings (chunks, 3, sub_windows, 192).

        Also returns the duration read. Audio is held one window (`STREAM_WINDOW_S`) at a time.
        """
        step = round(self.chunk_step * SAMPLE_RATE)
        window = round(self.chunk_duration * SAMPLE_RATE)
        window_chunks = max(1, round(STREAM_WINDOW_S / self.chunk_step))
        span = (window_chunks - 1) * step + window  # samples needed for `window_chunks` full chunks
        seg_parts: list[np.ndarray] = []
        emb_parts: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        pending_len = 0
        consumed = 0  # samples before the buffer start (always a multiple of `step`)
        for block in source:
            pending.append(block)
            pending_len += block.shape[0]
            if pending_len < span:
                continue
            buffer = np.concatenate(pending)
            while buffer.shape[0] >= span:
                seg, emb = self._window(buffer[:span], exact_chunks=window_chunks)
                seg_parts.append(seg)
                emb_parts.append(emb)
                advance = window_chunks * step
                buffer = buffer[advance:].copy()
                consumed += advance
                progress("diarization: embeddings", consumed / SAMPLE_RATE, total)
            pending, pending_len = [buffer], buffer.shape[0]
        tail = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
        duration = (consumed + tail.shape[0]) / SAMPLE_RATE
        # chunks past the last full window, unless the previous window already covered the tail
        if tail.shape[0] > 0 and (tail.shape[0] > window - step or not seg_parts):
            seg, emb = self._window(tail, exact_chunks=None)
            seg_parts.append(seg)
            emb_parts.append(emb)
        del pending, tail
        progress("diarization: embeddings", duration, total)
        if not seg_parts:
            return np.zeros((0, 1, 3), np.uint8), np.zeros((0, 3, self.sub_windows, 192), np.float16), duration
        return np.concatenate(seg_parts), np.concatenate(emb_parts), duration

    def _window(self, samples: np.ndarray, exact_chunks: int | None) -> tuple[np.ndarray, np.ndarray]:
        """Segmentation and sub-window embeddings of the chunks starting in one window of audio."""
        # shape: (num_chunks, num_frames, local_num_speakers); powerset output is already 0/1
        binary = self._segment(samples, exact_chunks)
        # Segmentation's and CAM++'s buffers, each a few hundred MB, would otherwise be kept by the heap for
        # the other's peak to sit on: 1,593 → 1,444 MB diarizing the 20-minute built input, no slower
        memory.return_freed_heap()
        frames = self._embedding.trunk_long(samples)  # (512, T') for the whole window
        embeddings = self._pool_chunks(frames, binary)
        del frames
        memory.return_freed_heap()
        return binary, embeddings

    def _segment(self, samples: np.ndarray, max_chunks: int | None) -> np.ndarray:
        if self._shared is not None:
            return self._shared(samples, max_chunks)
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        scores = self._segmentation({"waveform": waveform, "sample_rate": SAMPLE_RATE}).data
        return np.nan_to_num(scores[:max_chunks], nan=0.0).astype(np.uint8)

    def _sub_bounds(self, length: int) -> list[tuple[int, int]]:
        edges = np.linspace(0, length, self.sub_windows + 1).round().astype(int)
        return list(itertools.pairwise(edges.tolist()))

    def _pool_chunks(self, frames: torch.Tensor, binary: np.ndarray) -> np.ndarray:
        """Masked CAM++ statistics pooling for every (chunk, local speaker, sub-window) with speech.

        Stored as float16: 3 hours at a 1 s step are 50 MB instead of 100, and cosine similarities
        do not change in the digits clustering looks at.
        """
        num_chunks, num_frames, num_speakers = binary.shape
        rate = self._embedding.frame_rate
        per_chunk = round(self.chunk_duration * rate)
        total = frames.shape[1]
        out = np.full((num_chunks, num_speakers, self.sub_windows, self._embedding.dimension), np.nan, dtype=np.float16)
        items: list[tuple[int, int, int, int, torch.Tensor]] = []  # chunk, speaker, sub, start frame, weights

        def flush() -> None:
            width = max(w.shape[0] for *_, w in items)
            stacked = torch.stack([F.pad(frames[:, s : s + w.shape[0]], (0, width - w.shape[0])) for *_, s, w in items])
            weights = torch.stack([F.pad(w, (0, width - w.shape[0])) for *_, w in items])
            pooled = self._embedding.pool(stacked, weights).cpu().numpy()
            for (c, j, q, _, _), vector in zip(items, pooled, strict=True):
                out[c, j, q] = vector
            items.clear()

        for c in range(num_chunks):
            start = round(c * self.chunk_step * rate)
            stop = min(start + per_chunk, total)
            if stop - start < 2:
                continue
            masks = torch.from_numpy(binary[c].T.astype(np.float32))  # (speakers, num_frames)
            # a padded last chunk reaches past the audio: keep the mask part that lies on audio
            covered = max(1, min(num_frames, round(num_frames * (stop - start) / per_chunk)))
            weights = F.interpolate(masks[None, :, :covered], size=stop - start, mode="nearest")[0]
            for q, (lo, hi) in enumerate(self._sub_bounds(per_chunk)):
                hi = min(hi, stop - start)
                if hi - lo < 2:
                    continue
                for j in range(num_speakers):
                    w = weights[j, lo:hi]
                    if float(w.sum()) >= 2:
                        items.append((c, j, q, start + lo, w))
            if len(items) >= 64:
                flush()
        if items:
            flush()
        return out

    # -- clustering and reconstruction ---------------------------------------------------

    def clean_seconds(self, binary: np.ndarray) -> np.ndarray:
        """(chunks, frames, speakers) -> (chunks, speakers, sub_windows) seconds spoken alone."""
        num_chunks, num_frames, num_speakers = binary.shape
        alone = binary * (binary.sum(axis=2, keepdims=True, dtype=np.uint8) == 1)  # uint8, like binary
        frame_s = self.chunk_duration / num_frames
        out = np.zeros((num_chunks, num_speakers, self.sub_windows), dtype=np.float32)
        for q, (lo, hi) in enumerate(self._sub_bounds(num_frames)):
            out[:, :, q] = alone[:, lo:hi].sum(axis=1, dtype=np.int32) * frame_s
        return out

    def finish(self, binary: np.ndarray, embeddings: np.ndarray, count: SpeakerCount) -> tuple[Any, np.ndarray]:
        """(Annotation with integer labels, centroids (k, 192)) from extracted chunks."""
        num_speakers, min_speakers, max_speakers = set_num_speakers(
            num_speakers=count.exact, min_speakers=count.min, max_speakers=count.max
        )
        nothing = Annotation(), np.zeros((0, self._embedding.dimension), np.float32)
        if binary.shape[0] == 0 or not binary.any() or not np.isfinite(embeddings).all(axis=-1).any():
            return nothing
        hard, centroids = self.clustering.cluster_items(
            embeddings, self.clean_seconds(binary), min_speakers, max_speakers, num_speakers
        )
        discrete = self._reconstruct(binary, hard, max_speakers)
        if discrete is None:
            return nothing
        annotation = self.to_annotation(
            discrete, min_duration_on=0.0, min_duration_off=self.segmentation.min_duration_off
        )
        return annotation, centroids

    def _reconstruct(self, binary: np.ndarray, hard: np.ndarray, max_speakers: float) -> SlidingWindowFeature | None:
        """Frame-level 0/1 (frames, clusters), overlap-added chunk by chunk (pyannote's reconstruction).

        The instantaneous speaker count is the rounded mean, over the chunks covering a frame, of
        the local speakers active (pyannote's `speaker_count`); each frame keeps that many clusters,
        the most active first (pyannote's `to_diarization`). Accumulating chunk by chunk avoids
        pyannote's (chunks, frames, clusters) float64 array and its Python loop over frames.
        """
        num_chunks, num_frames, num_speakers = binary.shape
        num_clusters = int(hard.max()) + 1
        if num_clusters <= 0:
            return None
        frames: SlidingWindow = self._segmentation.model.receptive_field
        chunks = self._chunks_window()
        starts = [frames.closest_frame(chunks[c].start + 0.5 * frames.duration) for c in range(num_chunks)]
        total = max(starts) + num_frames + 1
        speech = np.zeros(total, dtype=np.float32)
        covered = np.zeros(total, dtype=np.float32)
        activations = np.zeros((total, num_clusters), dtype=np.float32)
        bounds = self._sub_bounds(num_frames)
        for c, first in enumerate(starts):
            local = binary[c]
            speech[first : first + num_frames] += local.sum(axis=1)
            covered[first : first + num_frames] += 1.0
            clustered = np.zeros((num_frames, num_clusters), dtype=np.float32)
            for q, (lo, hi) in enumerate(bounds):
                for j in range(num_speakers):
                    k = hard[c, j, q]
                    if k >= 0:  # several local speakers in one cluster: the max, as pyannote does
                        np.maximum(clustered[lo:hi, k], local[lo:hi, j], out=clustered[lo:hi, k])
            activations[first : first + num_frames] += clustered
        with np.errstate(invalid="ignore", divide="ignore"):
            count = np.rint(np.where(covered > 0, speech / covered, 0.0))
        count = np.minimum(count, max_speakers).astype(np.int8)
        del speech, covered
        if count.max() == 0:
            return None
        # each frame keeps its `count` most active clusters; done in blocks of frames so that the
        # (frames, clusters) sort indices never span the whole hearing
        discrete = np.zeros((total, num_clusters), dtype=np.uint8)
        keep = min(int(count.max()), num_clusters)
        for lo in range(0, total, RECONSTRUCT_BLOCK):
            block = activations[lo : lo + RECONSTRUCT_BLOCK]
            top = np.argsort(-block, axis=1, kind="stable")[:, :keep]
            for rank in range(keep):
                rows = np.flatnonzero(count[lo : lo + RECONSTRUCT_BLOCK] > rank)
                cols = top[rows, rank]
                discrete[lo + rows, cols] = block[rows, cols] > 0
        del activations
        return SlidingWindowFeature(discrete, frames)
