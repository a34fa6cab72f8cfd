"""CAM++ (zh+en speaker embeddings, from FunASR) wrapped to be called like any pyannote embedding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchaudio

from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.diarization.segmentation import SILENT_PEAK
from workbench.speech.diarization.types import DiarizationError

# CAM++ trunk runs over sub-blocks of this many seconds (plus context) to bound activation memory. 15 s,
# not 30: diarizing 20 minutes, RSS inside the trunk peaked 126-216 MB lower (its 2-D convolutional head's
# activations grow with the block), the whole stage 90-180 MB lower, for 2% more time; DER no worse on any
# file of bench/diarization.py (dev00 19.0 -> 11.6%, dev01 25.5 -> 23.1%, the 1-hour built input 41.9 ->
# 40.6% with 15 voices found for 8 instead of 16), though 10 s (35% on dev00) and 20 s blocks are worse:
# the fbank mean and CAM++'s context pooling are per block. The cost: bench/voices.py names 55% of returning
# voices at the 0.73 threshold instead of 63% (still none wrongly; the most similar different pair stays 0.677).
TRUNK_BLOCK_S = 15.0
TRUNK_CONTEXT_S = 1.0


class CamppEmbedding:
    """CAM++ with the interface of pyannote's `PretrainedSpeakerEmbedding`.

    `embedding(waveforms (B, 1, N), masks (B, F))` returns (B, 192) float32 numpy embeddings, NaN for a
    row whose mask is all zero, as pyannote's own embeddings do. The mask (segmentation frames) is
    resampled to CAM++'s 50 frames/s and used as weights in its statistics pooling, so only the frames
    where that speaker talks shape the embedding. `trunk()` and `pool()` expose the two halves so
    that the diarization pipeline can run the trunk once per window and pool many masks from it.
    """

    sample_rate = SAMPLE_RATE
    dimension = 192
    metric = "cosine"
    frame_rate = 50.0  # trunk output frames per second (10 ms fbank, then a stride-2 TDNN)
    min_num_samples = 1600  # 0.1 s: shorter crops give too few frames to pool

    def __init__(self, model: torch.nn.Module, device: torch.device | None = None) -> None:
        self.model = model.eval()
        self.device = device or torch.device("cpu")
        self.model.to(self.device)
        xvector = self.model.xvector
        names = [name for name, _ in xvector.named_children()]
        # everything before statistics pooling is the frame-level trunk
        self._trunk_layers = [module for name, module in xvector.named_children() if name not in ("stats", "dense")]
        if "stats" not in names or "dense" not in names:
            raise DiarizationError("CAM++ model has no stats/dense layers; expected a segment-level CAMPPlus")
        self._dense = xvector.dense
        # the trunk's output channels: the dense layer takes their mean and standard deviation
        self._channels = int(self._dense.linear.in_channels) // 2

    def to(self, device: torch.device) -> CamppEmbedding:
        self.model.to(device)
        self.device = device
        return self

    @staticmethod
    def fbank(waveform: torch.Tensor) -> torch.Tensor:
        """(N,) float waveform in [-1, 1] -> (T, 80) Kaldi fbank with the mean removed, as CAM++ was trained."""
        feats = torchaudio.compliance.kaldi.fbank(
            waveform[None] * 32768.0, num_mel_bins=80, dither=0.0, sample_frequency=SAMPLE_RATE
        )
        return feats - feats.mean(dim=0, keepdim=True)

    @torch.inference_mode()
    def trunk(self, feats: torch.Tensor) -> torch.Tensor:
        """(B, T, 80) fbank -> (B, 512, T') frame-level features at 50 frames/s."""
        x = self.model.head(feats.permute(0, 2, 1).to(self.device))
        for layer in self._trunk_layers:
            x = layer(x)
        return x

    @torch.inference_mode()
    def pool(self, frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """(B, C, T') frames, (B, T') weights -> (B, 192) embeddings; NaN where the weights sum to 0."""
        weights = weights.to(frames.dtype).to(frames.device)
        total = weights.sum(dim=1, keepdim=True)  # (B, 1)
        w = weights[:, None, :] / total.clamp(min=1e-8)[:, :, None]
        mean = (frames * w).sum(dim=2)
        var = (w * (frames - mean[:, :, None]) ** 2).sum(dim=2)
        stats = torch.cat([mean, var.clamp(min=1e-8).sqrt()], dim=1)
        embeddings = self._dense(stats)
        embeddings[total[:, 0] <= 0] = float("nan")
        return embeddings

    def __call__(self, waveforms: torch.Tensor, masks: torch.Tensor | None = None) -> np.ndarray:
        batch = waveforms.shape[0]
        feats = torch.stack([self.fbank(w.reshape(-1).float()) for w in waveforms])
        frames = self.trunk(feats)
        num_frames = frames.shape[2]
        if masks is None:
            weights = torch.ones(batch, num_frames)
        else:
            weights = F.interpolate(masks.float()[:, None, :], size=num_frames, mode="nearest")[:, 0]
        return self.pool(frames, weights).cpu().numpy()

    def trunk_long(self, samples: np.ndarray) -> torch.Tensor:
        """(N,) samples -> (512, T') frame features at 50 frames/s over the whole array.

        Computed in sub-blocks of `TRUNK_BLOCK_S` with `TRUNK_CONTEXT_S` of context on each side
        (dropped afterwards), so activation memory stays bounded whatever the length.
        """
        hop = int(SAMPLE_RATE / self.frame_rate)  # 320 samples per trunk frame
        block = int(TRUNK_BLOCK_S * self.frame_rate) * hop
        context = int(TRUNK_CONTEXT_S * self.frame_rate) * hop
        total_frames = max(samples.shape[0] // hop, 1)
        parts = []
        for start in range(0, samples.shape[0], block):
            lo = max(start - context, 0)
            hi = min(start + block + context, samples.shape[0])
            keep = min(block, samples.shape[0] - start) // hop
            if float(np.abs(samples[lo:hi]).max(initial=0.0)) < SILENT_PEAK:
                # silence (a muted microphone, a recess): no speaker is marked there, so no mask pools these
                parts.append(torch.zeros(self._channels, max(keep, 1), device=self.device))
                continue
            piece = torch.from_numpy(np.ascontiguousarray(samples[lo:hi]))
            if piece.shape[0] < 400 * 2:  # shorter than two fbank windows: pad (only at the very end)
                piece = F.pad(piece, (0, 800 - piece.shape[0]))
            frames = self.trunk(self.fbank(piece.float())[None])[0]
            skip = (start - lo) // hop
            parts.append(frames[:, skip : skip + max(keep, 1)])
        out = torch.cat(parts, dim=1)
        if out.shape[1] < total_frames:
            out = F.pad(out, (0, total_frames - out.shape[1]), mode="replicate")
        return out[:, :total_frames]


def load_campp(path: Path, device: str) -> CamppEmbedding:
    """The CAM++ state dict in the model folder `path`, on `device`."""
    from workbench.models.imports import without_package_init

    # only FunASR's CAM++ module, here and not at the top: its package import costs 100 MB and 9 s
    with without_package_init("funasr"):
        from funasr.models.campplus.model import CAMPPlus

    files = sorted(p for p in path.iterdir() if p.suffix in (".pt", ".bin"))
    if not files:
        raise DiarizationError(f"{path}: no CAM++ weights (.pt) in the folder; run `workbench models pull`")
    model = CAMPPlus(feat_dim=80, embedding_size=192)
    try:
        state = torch.load(files[0], map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, OSError, ValueError) as e:
        raise DiarizationError(
            f"{files[0]}: not a CAM++ (192-dim, 80 fbank) state dict ({e}); run `workbench models pull`"
        ) from e
    return CamppEmbedding(model, torch.device(device))
