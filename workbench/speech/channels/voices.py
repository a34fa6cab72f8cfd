"""Voices: embedding pieces, the mean CAM++ embedding, a shared seat's diarization, the speaker summaries.

Stage 3 of `workbench.speech.channels` (see its docstring). torch and the diarization engine are imported inside
the functions that need them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from workbench.progress import ProgressHook
from workbench.speech.channels.activity import Turn
from workbench.speech.channels.packing import _Layout
from workbench.speech.seats import ChannelSeat
from workbench.speech.transcript import Segment, SpeakerSummary

# --- voices ---------------------------------------------------------------------------------------


PIECE_S = 3.0  # embedding pieces are all this long: one tensor shape, so CAM++ runs them as batches


def embedding_pieces(turns: Sequence[Turn], piece_s: float = PIECE_S, most: int = 32) -> list[Turn]:
    """Up to `most` pieces of speech of exactly `piece_s` each, spread over the hearing.

    The voice's embedding is their mean: a bounded cost however long the seat talks. Only turns of short
    speech: their longest turn (cut to `piece_s` at most), so that a voice always gets an embedding.
    """
    pieces: list[Turn] = []
    for turn in turns:
        t = turn.start
        while turn.end - t >= piece_s:
            pieces.append(Turn(round(t, 3), round(t + piece_s, 3)))
            t += piece_s
    if not pieces:
        longest = max(turns, key=lambda t: t.duration, default=None)
        return [longest] if longest is not None and longest.duration >= 0.3 else []
    if len(pieces) > most:
        pick = np.unique(np.linspace(0, len(pieces) - 1, most).round().astype(int))
        pieces = [pieces[i] for i in pick]
    return pieces


def _campp(device: str) -> Any:
    """CAM++, loaded once per process under the same key as diarization's (`pipeline.load_embedded`)."""
    from workbench.models import memory, registry
    from workbench.speech.diarization.embedding import load_campp
    from workbench.speech.diarization.pipeline import EMBEDDING_MODEL, set_threads

    set_threads()
    entry = registry.get(EMBEDDING_MODEL)
    return memory.load(
        ("campplus", str(entry.path), device), entry.name, entry.path, lambda: load_campp(entry.path, device)
    )


def mean_embedding(pieces: Sequence[np.ndarray], device: str = "cpu", batch: int = 8) -> list[float] | None:
    """The mean CAM++ embedding of some pieces of one voice (None when none is long enough).

    Pieces of one length go through CAM++ as batches: a new input shape costs its kernels' set-up again,
    which for 3-second pieces one by one was most of the time.
    """
    import torch

    model = _campp(device)
    usable = [p for p in pieces if p.shape[0] >= model.min_num_samples]
    vectors: list[np.ndarray] = []
    with torch.inference_mode():
        by_length: dict[int, list[np.ndarray]] = {}
        for piece in usable:
            by_length.setdefault(piece.shape[0], []).append(piece)
        for same in by_length.values():
            for lo in range(0, len(same), batch):
                stacked = torch.from_numpy(np.stack(same[lo : lo + batch]).astype(np.float32))[:, None, :]
                vectors.extend(v for v in model(stacked) if np.all(np.isfinite(v)))
    if not vectors:
        return None
    return [round(float(v), 6) for v in np.mean(vectors, axis=0)]


@dataclass(slots=True)
class _Voice:
    channel: int
    seat: ChannelSeat
    label: str  # local to the channel
    turns: list[Turn]
    embedding: list[float] | None = None


def _diarize_seat(
    path: Path, channel: int, seat: ChannelSeat, turns: list[Turn], device: str, progress: ProgressHook
) -> tuple[list[tuple[float, float, str]], dict[str, list[float] | None], str]:
    """A shared seat's voices: the embedded diarization over its own turns only, laid end to end.

    Returns (start, end, local label) in the recording's time, each label's embedding, the engine's name.
    """
    from workbench.speech.diarization import SpeakerCount
    from workbench.speech.diarization.pipeline import diarize_stream

    layout = _Layout(turns)
    result = diarize_stream(
        layout.blocks(path, channel),
        SpeakerCount(1, len(seat.roles)),
        total=layout.duration,
        device=device,
        progress=progress,
    )
    mapped = layout.map_turns((t.start, t.end, t.speaker) for t in result.turns)
    embeddings = {s.id: s.embedding for s in result.speakers}
    return mapped, embeddings, result.engine


def _as_diarization(turns: list[tuple[float, float, str]]) -> Any:
    from workbench.speech.diarization import Diarization, SpeakerTurn

    return Diarization(turns=[SpeakerTurn(a, b, label) for a, b, label in sorted(turns)])


def _speakers(voices: list[_Voice], segments: list[Segment]) -> tuple[list[SpeakerSummary], dict[str, str]]:
    """Summaries S1, S2, ... by first appearance, for the voices that have at least one recognised line."""
    spoken = {s.speaker for s in segments if s.speaker}
    heard = sorted((v for v in voices if v.label in spoken and v.turns), key=lambda v: (v.turns[0].start, v.channel))
    names: dict[str, str] = {}
    speakers: list[SpeakerSummary] = []
    for voice in heard:
        name = f"S{len(names) + 1}"
        names[voice.label] = name
        speakers.append(
            SpeakerSummary(
                id=name,
                speech_time=round(sum(t.duration for t in voice.turns), 3),
                first_appearance=round(voice.turns[0].start, 3),
                embedding=voice.embedding,
                channel=voice.channel,
                seat=voice.seat.seat,
                role=voice.seat.role,
            )
        )
    return speakers, names
