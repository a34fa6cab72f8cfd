"""pyannote segmentation-3.0: loading it, and running it over a window's chunks with a shared filterbank."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.diarization.types import DiarizationError

# Segmentation window step, as a fraction of the 10 s window: pyannote's default. On the dev clips it
# beats 0.15, 0.2 and 0.25 (bench/tune_diarization.py --step), at about twice the cost of 0.25
# (diarization real-time factor 0.044-0.056 on this 2-core machine, against 0.024 at 0.25; 0.039 since
# `SharedSincSegmentation`).
SEGMENTATION_STEP = 0.1
# A chunk whose loudest sample stays below this (-60 dBFS) holds no speech: its segmentation is all zero
# without running the model (a muted microphone, a recess). Speech peaks 30-50 dB above it.
SILENT_PEAK = 1e-3
# The shared filterbank is computed over spans of this many batches of chunks rather than the whole
# streaming window: its three float32 copies (filtered, max- and min-pooled) of a 120 s window held
# ~200 MB; over 16 chunks (25 s at the batch of 8) ~40 MB (computed), for 56% more filterbank work, about 2% of
# segmentation's time (4 batches a span measured no faster and no smaller).
SPAN_BATCHES = 2


class SharedSincSegmentation:
    """segmentation-3.0 over overlapping chunks, its first filterbank and pooling shared between chunks.

    At the 1 s step every sample lies in ten 10 s chunks, and pyannote's `Inference` runs the whole
    model on each, so SincNet's 80 x 251-tap filterbank filters every sample ten times. The
    filterbank is linear and each chunk's waveform normalisation is affine,
    (x - mean) / std * gamma + beta, so a chunk's filterbank output is `a * conv(x) + o` with
    a = gamma / std and o = (beta - gamma * mean / std) * sum(filter), per chunk (and channel).
    SincNet then takes |.| and a max-pool of 3, and max over 3 of |a * c + o| is
    |a| * max(max(c) + o / a, -(min(c) + o / a)). So the convolution and the max- and min-pools of
    a span of chunks (`SPAN_BATCHES`) are computed once (one pool per phase: a chunk starts 1600
    filterbank frames after the previous, which is not a multiple of 3), and each chunk only adds
    its offset, scales and goes on through the model. Measured here: 25-30% less segmentation time;
    the output is the same as `Inference(skip_aggregation=True)`'s (tests/test_diarize.py compares them).
    """

    def __init__(self, inference: Any, silent_peak: float = SILENT_PEAK) -> None:
        model = inference.model
        sinc = model.sincnet
        self.inference = inference
        self.model = model
        self.stride = int(sinc.stride)
        self.window = model.audio.get_num_samples(inference.duration)
        self.step = round(inference.step * SAMPLE_RATE)
        pool = sinc.pool1d[0]
        self.pool = int(pool.kernel_size)
        if self.step % self.stride or int(pool.stride) != self.pool or int(pool.padding) != 0:
            raise ValueError("segmentation model or step does not fit the shared filterbank (use Inference)")
        with torch.inference_mode():
            self.filters = sinc.conv1d[0].get_filters().detach().clone()  # (80, 1, 251)
        self.filter_sums = self.filters.sum(dim=(1, 2))
        norm = sinc.wav_norm1d
        self.gamma, self.beta, self.eps = float(norm.weight), float(norm.bias), float(norm.eps)
        self.pooled_per_chunk = ((self.window - self.filters.shape[-1]) // self.stride + 1) // self.pool
        self.batch_size = int(inference.batch_size)
        self.silent_peak = silent_peak
        self.num_frames = int(model.num_frames(self.window))
        self.num_classes = len(model.specifications.classes)

    def __call__(self, samples: np.ndarray, max_chunks: int | None = None) -> np.ndarray:
        """(chunks, frames, local speakers) 0/1 for the chunks of `samples`, a last partial one zero-padded."""
        n = samples.shape[0]
        full = 0 if n < self.window else (n - self.window) // self.step + 1
        num_chunks = full + int(n < self.window or (n - self.window) % self.step > 0)
        if max_chunks is not None:
            num_chunks = min(num_chunks, max_chunks)
        length = (num_chunks - 1) * self.step + self.window
        x = torch.zeros(length, dtype=torch.float32)
        x[: min(n, length)] = torch.from_numpy(np.ascontiguousarray(samples[:length], dtype=np.float32))
        step_frames, width = self.step // self.stride, self.pooled_per_chunk
        with torch.inference_mode():
            chunks = x.unfold(0, self.window, self.step)  # (chunks, window), a view
            mean = chunks.mean(dim=1)
            std = torch.sqrt(chunks.var(dim=1, unbiased=False) + self.eps)
            del chunks
            # the LSTM is about 70% of the model's time: not run on chunks of silence (each chunk's peak from
            # one pass over the samples; `chunks.abs()` would copy every sample ten times)
            peaks = F.max_pool1d(x.abs()[None, None], self.window, self.step)[0, 0]
            sounding = (peaks >= self.silent_peak).tolist()
            scale = self.gamma / std  # (chunks,)
            shift = (self.beta / scale - mean)[:, None] * self.filter_sums  # o / a, (chunks, 80)
            result = np.zeros((num_chunks, self.num_frames, self.num_classes), dtype=np.uint8)
            span_chunks = self.batch_size * SPAN_BATCHES
            for first_chunk in range(0, num_chunks, span_chunks):
                span = range(first_chunk, min(first_chunk + span_chunks, num_chunks))
                heard = [c for c in span if sounding[c]]
                if not heard:
                    continue
                begin = first_chunk * self.step
                highs, neg_lows = self._pooled_filterbank(x[begin : span[-1] * self.step + self.window])
                for lo in range(0, len(heard), self.batch_size):
                    batch = heard[lo : lo + self.batch_size]
                    frame = [(c - first_chunk) * step_frames for c in batch]  # the chunk's first frame in the span
                    phase = [f % self.pool for f in frame]
                    first = [(f - r) // self.pool for f, r in zip(frame, phase, strict=True)]
                    high = torch.stack([highs[r][:, f : f + width] for r, f in zip(phase, first, strict=True)])
                    neg_low = torch.stack([neg_lows[r][:, f : f + width] for r, f in zip(phase, first, strict=True)])
                    o = shift[batch, :, None]
                    # |a| * max(max(c) + o/a, -(min(c) + o/a)); neg_low is -min(c)
                    pooled = torch.maximum(high.add_(o), neg_low.sub_(o))
                    pooled.mul_(scale[batch, None, None].abs())
                    scores = self._after_filterbank(pooled)
                    result[batch] = self.inference.conversion(scores).cpu().numpy()
        return result

    def _pooled_filterbank(self, samples: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The filterbank over `samples`, max-pooled and min-pooled (as max of -c) at each of the pool's phases."""
        filtered = F.conv1d(samples[None, None], self.filters, stride=self.stride)  # (1, 80, frames)
        highs = [F.max_pool1d(filtered[..., r:], self.pool)[0] for r in range(self.pool)]
        filtered.neg_()  # in place: max of -c is -min(c)
        neg_lows = [F.max_pool1d(filtered[..., r:], self.pool)[0] for r in range(self.pool)]
        return highs, neg_lows

    def _after_filterbank(self, first: torch.Tensor) -> torch.Tensor:
        """The rest of PyanNet's forward pass from SincNet's first pooled output on."""
        sinc, model = self.model.sincnet, self.model
        outputs = first
        for c, (conv1d, pool1d, norm1d) in enumerate(zip(sinc.conv1d, sinc.pool1d, sinc.norm1d, strict=True)):
            if c > 0:
                outputs = pool1d(conv1d(outputs))
            outputs = F.leaky_relu(norm1d(outputs))
        outputs = outputs.transpose(1, 2)  # (batch, frame, feature)
        if model.hparams.lstm["monolithic"]:
            outputs, _ = model.lstm(outputs)
        else:
            for lstm in model.lstm:
                outputs, _ = lstm(outputs)
        if model.hparams.linear["num_layers"] > 0:
            for linear in model.linear:
                outputs = F.leaky_relu(linear(outputs))
        return model.activation(model.classifier(outputs))


# The architectures a segmentation checkpoint may name: pyannote's own loader imports whatever module the
# checkpoint names and unpickles it in full (`weights_only=False`); ours builds only these.
SEGMENTATION_ARCHITECTURES = {("pyannote.audio.models.segmentation.PyanNet", "PyanNet")}


def _checkpoint_globals() -> list[Any]:
    """The plain classes a pyannote checkpoint stores beside its tensors, allowed in a weights-only load."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from torch.torch_version import TorchVersion

    return [TorchVersion, Specifications, Problem, Resolution]


def load_segmentation_checkpoint(weights: Path) -> dict[str, Any]:
    """The checkpoint as plain data: `torch.load(weights_only=True)`, so a pickle that would run code is refused."""
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            checkpoint = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError, EOFError, ... on a bad file
        raise DiarizationError(
            f"{weights}: not a plain-tensor pyannote checkpoint, refusing it ({str(e).splitlines()[0][:300]}); "
            "run `workbench models pull` to fetch it again"
        ) from e
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise DiarizationError(f"{weights}: not a pyannote checkpoint (no state_dict); run `workbench models pull`")
    return checkpoint


def load_segmentation(path: Path, device: str) -> Any:
    """The pyannote checkpoint in the model folder `path`, on `device`.

    Built from the checkpoint's hyper-parameters and state dict ourselves (what Lightning's
    `load_from_checkpoint` does), never through `Model.from_pretrained`, which unpickles with
    `weights_only=False` and imports the module the checkpoint names.
    """
    import inspect

    from pyannote.audio.models.segmentation import PyanNet

    weights = path / "pytorch_model.bin"
    checkpoint = load_segmentation_checkpoint(weights)
    try:
        meta = checkpoint["pyannote.audio"]
        architecture = (str(meta["architecture"]["module"]), str(meta["architecture"]["class"]))
        if architecture not in SEGMENTATION_ARCHITECTURES:
            raise DiarizationError(
                f"{weights}: architecture {'.'.join(architecture)} is not one this workbench builds (PyanNet)"
            )
        accepted = set(inspect.signature(PyanNet.__init__).parameters) - {"self", "task"}
        hyper = {k: v for k, v in dict(checkpoint.get("hyper_parameters") or {}).items() if k in accepted}
        model = PyanNet(**hyper)
        model.on_load_checkpoint(checkpoint)  # sets the task specifications and adds the classifier
        model.load_state_dict(checkpoint["state_dict"], strict=True)
    except DiarizationError:
        raise
    except Exception as e:  # a checkpoint of another shape: KeyError, TypeError, RuntimeError (state dict)
        raise DiarizationError(
            f"{weights}: cannot build the pyannote segmentation model ({e}); "
            "run `workbench models pull` to fetch it again"
        ) from e
    return model.eval().to(torch.device(device))
