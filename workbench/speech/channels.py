"""Speakers from a courtroom's microphones: one channel per seat, speech activity per channel, crosstalk rejected.

With a channel map (`workbench.speech.seats`) the seats say who spoke, so there is no diarization of the mix:

1. Activity, one decoding pass over all channels: the mean power of every 10 ms frame of every channel, in
   numpy (an hour of four channels is 1.4 million numbers). A seat is speaking where its frame stands well
   above its own noise floor and above the crosstalk the other seats' speech puts on its microphone. That
   crosstalk is measured, not assumed: for each pair of seats, the level difference while one seat talks
   alone gives how strongly its voice reaches the other's microphone (`estimate_coupling`), so a voice heard
   15-25 dB down on a neighbour's microphone is predicted there and rejected, while two people talking at once
   each stand far above what the other puts on their microphone and are both active. Hysteresis (start high,
   continue lower), gap merging, a minimum length and a little padding turn frames into turns.
2. Recognition, one decoding pass per seat channel (the channel's row only is kept): only the seat's turns,
   laid end to end with a second of silence between them (`_Layout`; nothing of a neighbour's bleed between
   turns reaches the recogniser, and the engine batches long stretches as it does a mono recording), then
   mapped back to the recording's time, words kept within their turn and a line split where it ran over two.
   Overlapped speech thus gives two segments with overlapping times, each from its own microphone.
3. Voices: one per seat of one person (its role from the map); a shared seat (`ChannelSeat.shared`) is
   diarized within its channel by the embedded engine (`diarize_stream`, 1..len(roles) voices), fed only the
   seat's own turns, and its voices get no role: the clerk, the roster or the voice library names them. Each
   voice's embedding is the mean CAM++ embedding of its speech (the diarization model, so the voice library
   can match it with voices from mono hearings). Ids S1, S2, ... by first appearance.

`mix` and `-` channels are decoded but never recognised and never compared against (a mix carries everyone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.progress import Fraction, ProgressHook, no_progress
from workbench.speech import align, audio, text
from workbench.speech.asr.engine import AsrEngine, AsrError, AsrOptions, LanguageBox, to_script
from workbench.speech.asr.whisper import _ZH_PROMPT as ZH_PROMPT  # the same steer to Simplified Chinese
from workbench.speech.asr.whisper import WhisperEngine
from workbench.speech.asr.windows import split_sentences
from workbench.speech.seats import ChannelSeat
from workbench.speech.transcript import Segment, SpeakerSummary, Word

log = logging.getLogger("workbench.speech.channels")

FRAME = audio.SAMPLE_RATE // 100  # 10 ms: the unit of speech activity
FRAME_S = FRAME / audio.SAMPLE_RATE
_TINY = 1e-12  # power floor: log10 of digital silence


@dataclass(frozen=True, slots=True)
class ActivityParams:
    """How speech activity is decided per channel: margins in dB over the noise floor and over predicted crosstalk."""

    noise_on_db: float = 10.0  # a turn starts where a frame stands this far above the channel's noise floor ...
    bleed_on_db: float = 6.0  # ... and this far above the crosstalk predicted from the other seats
    noise_off_db: float = 6.0  # it lasts while its frames stay this far above both
    bleed_off_db: float = 3.0
    # ... and within this much of the channel's own speech level (its loudest frames): a seat's background
    # (a recording's hiss, a room's murmur) that stands over the noise floor is still not speech
    level_on_db: float = 28.0
    level_off_db: float = 30.0
    level_percentile: float = 99.5  # the channel's speech level: this percentile of its candidate frames
    smooth_frames: int = 3  # power averaged over 30 ms before anything is decided
    bleed_reach_frames: int = 2  # a neighbour's level is its maximum over ±20 ms (acoustic delay, echo)
    floor_percentile: float = 10.0  # a channel's noise floor: this percentile of its frame levels
    coupling_percentile: float = 30.0  # the crosstalk level among level differences (the low cluster)
    coupling_min_db: float = -40.0  # a coupling measured weaker than this is taken as this
    coupling_max_db: float = -10.0  # never assume a neighbour closer than this (two talkers stay apart)
    coupling_unknown_db: float = -12.0  # too little of a seat alone to measure: compare with the loudest
    merge_gap_s: float = 0.6  # pauses shorter than this stay inside one turn (breaths between words)
    min_turn_s: float = 0.25  # shorter bursts are knocks and coughs
    pad_s: float = 0.05  # each turn widened by this much (onsets and decays under the threshold)


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of one channel's own speech, in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


# --- speech activity (numpy only) ---------------------------------------------------------------


def frame_powers(source: Iterable[np.ndarray]) -> np.ndarray:
    """(channels, n) blocks -> (channels, frames) float32 mean power of each 10 ms frame (the last partial dropped)."""
    parts: list[np.ndarray] = []
    carry: np.ndarray | None = None
    for block in source:
        block = np.asarray(block, dtype=np.float32)
        if carry is not None and carry.shape[1]:
            block = np.concatenate([carry, block], axis=1)
        n = block.shape[1] // FRAME
        frames = block[:, : n * FRAME].reshape(block.shape[0], n, FRAME)
        parts.append(np.einsum("cnf,cnf->cn", frames, frames, dtype=np.float32) / FRAME)
        carry = block[:, n * FRAME :]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1)


def _smooth(powers: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along frames."""
    if width <= 1 or powers.shape[1] < width:
        return powers
    kernel = np.ones(width, dtype=np.float32) / width
    return np.stack([np.convolve(row, kernel, mode="same") for row in powers])


def _max_reach(levels: np.ndarray, reach: int) -> np.ndarray:
    """Each frame's maximum over ±`reach` frames, along frames."""
    out = levels.copy()
    for shift in range(1, reach + 1):
        np.maximum(out[:, shift:], levels[:, :-shift], out=out[:, shift:])
        np.maximum(out[:, :-shift], levels[:, shift:], out=out[:, :-shift])
    return out


def estimate_coupling(levels: np.ndarray, floors: np.ndarray, params: ActivityParams = ActivityParams()) -> np.ndarray:
    """(seats, seats) dB: how far down seat k's voice arrives on seat s's microphone (`coupling[s, k]`).

    Measured over the frames where k talks loudly (25 dB over its floor) and stands out the most of all
    seats: there the level difference s - k is the crosstalk (or s's noise, when the crosstalk stays under
    it) where s is silent, and s's own level where s talks too; the low cluster (a low percentile) is the
    crosstalk. Where k's voice stays under s's noise the value comes out low, and predicts nothing.
    """
    count = levels.shape[0]
    coupling = np.full((count, count), params.coupling_min_db, dtype=np.float32)
    if count < 2:
        return coupling
    snr = levels - floors[:, None]
    loudest = np.argmax(snr, axis=0)
    for k in range(count):
        alone = (loudest == k) & (snr[k] > 25.0)
        frames = int(alone.sum())
        for s in range(count):
            if s == k:
                continue
            if frames < 100:  # under a second of k alone: cannot measure, so compare with the loudest
                coupling[s, k] = params.coupling_unknown_db
                continue
            difference = levels[s, alone] - levels[k, alone]
            value = float(np.percentile(difference, params.coupling_percentile))
            coupling[s, k] = min(max(value, params.coupling_min_db), params.coupling_max_db)
    return coupling


def speech_margins(powers: np.ndarray, params: ActivityParams = ActivityParams()) -> tuple[np.ndarray, np.ndarray]:
    """(seats, frames) power -> dB by which each frame stands over its noise floor, and over predicted crosstalk."""
    smoothed = _smooth(powers.astype(np.float32, copy=False), params.smooth_frames)
    levels = 10.0 * np.log10(smoothed + _TINY)
    del smoothed
    floors = np.percentile(levels, params.floor_percentile, axis=1).astype(np.float32)
    coupling = estimate_coupling(levels, floors, params)
    reach = _max_reach(levels, params.bleed_reach_frames)
    over_bleed = np.empty_like(levels)
    for s in range(levels.shape[0]):
        expected = np.full(levels.shape[1], _TINY, dtype=np.float32)
        for k in range(levels.shape[0]):
            if k != s:
                expected += 10.0 ** ((reach[k] + coupling[s, k]) / 10.0)
        over_bleed[s] = levels[s] - 10.0 * np.log10(expected)
    log.debug("floors %s dB; coupling (dB) %s", np.round(floors, 1).tolist(), np.round(coupling, 1).tolist())
    return levels - floors[:, None], over_bleed


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def turns_from_margins(
    over_noise: np.ndarray, over_bleed: np.ndarray, duration: float, params: ActivityParams = ActivityParams()
) -> list[Turn]:
    """One channel's frame margins -> its turns: hysteresis, then merged gaps, minimum length, padding."""
    lasting = (over_noise > params.noise_off_db) & (over_bleed > params.bleed_off_db)
    if not lasting.any():
        return []
    # the channel's own speech level, from the frames that pass the noise and crosstalk tests
    level = float(np.percentile(over_noise[lasting], params.level_percentile))
    lasting &= over_noise > level - params.level_off_db
    starts, ends = _runs(lasting)
    if starts.size == 0:
        return []
    above = (
        (over_noise > params.noise_on_db)
        & (over_bleed > params.bleed_on_db)
        & (over_noise > level - params.level_on_db)
    ).astype(np.int8)
    keep = np.maximum.reduceat(above, starts) > 0
    spans: list[list[float]] = []
    for a, b in zip(starts[keep], ends[keep], strict=True):
        begin, end = a * FRAME_S, b * FRAME_S
        if spans and begin - spans[-1][1] < params.merge_gap_s:
            spans[-1][1] = end
        else:
            spans.append([begin, end])
    turns: list[Turn] = []
    for begin, end in spans:
        if end - begin < params.min_turn_s:
            continue
        begin, end = max(0.0, begin - params.pad_s), min(duration, end + params.pad_s)
        if turns and begin <= turns[-1].end:
            turns[-1] = Turn(turns[-1].start, end)
        else:
            turns.append(Turn(round(begin, 3), round(end, 3)))
    return turns


def channel_turns(powers: np.ndarray, params: ActivityParams = ActivityParams()) -> list[list[Turn]]:
    """(seats, frames) frame powers of the seat channels -> each seat's turns, crosstalk rejected."""
    if powers.size == 0:
        return [[] for _ in range(powers.shape[0])]
    duration = powers.shape[1] * FRAME_S
    over_noise, over_bleed = speech_margins(powers, params)
    return [turns_from_margins(n, b, duration, params) for n, b in zip(over_noise, over_bleed, strict=True)]


# --- one channel's audio, streamed ---------------------------------------------------------------


def _one_channel(path: Path, channel: int) -> Iterator[np.ndarray]:
    """The row of one channel from a fresh decoding pass (the other rows are dropped block by block)."""
    for block in audio.channel_blocks(path):
        yield block[channel].copy()


def _spans_audio(source: Iterable[np.ndarray], spans: Sequence[tuple[int, int]]) -> Iterator[np.ndarray]:
    """The samples [a, b) of each span (sorted, sample indices) from a stream of mono blocks, in order.

    Holds at most one span plus one block: samples before the next span are let go as the stream passes.
    """
    if not spans:
        return
    buffer = np.zeros(0, dtype=np.float32)
    base = 0  # index of buffer[0] in the stream
    i = 0
    for block in source:
        buffer = np.concatenate([buffer, block]) if buffer.size else block
        while i < len(spans) and spans[i][1] <= base + buffer.shape[0]:
            a, b = spans[i]
            yield buffer[max(a - base, 0) : b - base].copy()
            i += 1
        if i == len(spans):
            return
        drop = min(max(spans[i][0] - base, 0), buffer.shape[0])
        buffer, base = buffer[drop:], base + drop
    while i < len(spans):  # spans reaching past the end of the stream: what there is
        a, b = spans[i]
        yield buffer[max(a - base, 0) : max(b - base, 0)].copy()
        i += 1


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


# --- the whole channel path -----------------------------------------------------------------------


@dataclass(slots=True)
class ChannelsResult:
    segments: list[Segment]
    speakers: list[SpeakerSummary]
    language: str | None  # the language of most of the recognised speech; None when nothing was recognised
    diarization: str  # "channels", or "channels+<engine>" when a shared seat was diarized
    warnings: list[str] = field(default_factory=list)


@dataclass(slots=True)
class _Voice:
    channel: int
    seat: ChannelSeat
    label: str  # local to the channel
    turns: list[Turn]
    embedding: list[float] | None = None


# consecutive turns of a seat share a Whisper window up to this long; 0: a window per turn (the default). Packed,
# Whisper drops a sentence said again in the same window (a repeated "同意。", the bench's voices each repeating
# one clip: CER 0.13 -> 0.8 on bench/channels.py's 3-minute input), and a court record must not lose a repeated
# answer; a window per turn pays the 30 s encoder per turn (about 3x the CPU on that input).
WINDOW_PACK_S = 0.0
GAP_S = 1.0  # silence between a seat's turns laid end to end: a pause the recogniser and the diarization both see


def _window_cuts(samples: np.ndarray, most_s: float = 28.0) -> list[tuple[int, int]]:
    """A turn's sample ranges of at most `most_s` (Whisper's window is 30 s), cut at the quietest 100 ms nearby."""
    most = int(most_s * audio.SAMPLE_RATE)
    cuts: list[tuple[int, int]] = []
    start = 0
    while samples.shape[0] - start > most:
        search = int(3 * audio.SAMPLE_RATE)
        cut = audio._quiet_point(samples, start + most - search, start + most)
        cuts.append((start, cut))
        start = cut
    cuts.append((start, samples.shape[0]))
    return cuts


class _Layout:
    """A seat's turns laid end to end, `GAP_S` of silence between them, and the way back to the recording's time.

    Recognition and the shared seat's diarization run on this laid-out audio: the seat's own speech only (no
    neighbour's bleed in the gaps), in long stretches that the recogniser batches as it does a mono recording.
    """

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.spans = [(round(t.start * audio.SAMPLE_RATE), round(t.end * audio.SAMPLE_RATE)) for t in turns]
        self.gap = round(GAP_S * audio.SAMPLE_RATE)
        lengths = np.array([b - a for a, b in self.spans], dtype=np.int64)
        self.lengths = lengths / audio.SAMPLE_RATE
        self.laid = np.concatenate([[0], np.cumsum(lengths + self.gap)[:-1]]) / audio.SAMPLE_RATE
        self.original = np.array([a for a, _ in self.spans], dtype=np.int64) / audio.SAMPLE_RATE
        self.duration = float(self.laid[-1] + self.lengths[-1]) if len(self.spans) else 0.0

    def piece(self, t: float) -> int:
        """The turn whose laid-out stretch (or the gap after it) holds laid-out time `t`."""
        return int(min(max(np.searchsorted(self.laid, t, side="right") - 1, 0), len(self.spans) - 1))

    def to_original(self, t: float, piece: int) -> float:
        """Laid-out time `t` in the recording's time, kept within turn `piece`."""
        return round(float(self.original[piece] + min(max(t - self.laid[piece], 0.0), self.lengths[piece])), 3)

    def blocks(
        self, path: Path, channel: int, on_turn: Callable[[int, np.ndarray], None] | None = None
    ) -> Iterator[np.ndarray]:
        """The laid-out audio of one channel, decoded afresh, in blocks of about 30 s."""
        block: list[np.ndarray] = []
        size = 0
        silence = np.zeros(self.gap, dtype=np.float32)
        for i, samples in enumerate(_spans_audio(_one_channel(path, channel), self.spans)):
            if on_turn is not None:
                on_turn(i, samples)
            block += [samples, silence]
            size += samples.shape[0] + self.gap
            if size >= 30 * audio.SAMPLE_RATE:
                yield np.concatenate(block)
                block, size = [], 0
        if block:
            yield np.concatenate(block)

    def chunks(
        self, path: Path, channel: int, on_turn: Callable[[int, np.ndarray], None] | None = None, most_s: float = 240.0
    ) -> Iterator[tuple[float, np.ndarray, list[dict[str, float]]]]:
        """(laid-out offset, audio, windows) of consecutive turns, about `most_s` at most: what Whisper batches.

        Whisper's windows are the turns (a turn over 30 s cut at its quietest moments), consecutive turns
        packed into one window up to `WINDOW_PACK_S`: the encoder always works on 30 s, so a window per
        short turn would cost several times a mono recording's recognition. Silero is not run again: the
        seat's activity already says where its speech is.
        """
        parts: list[np.ndarray] = []
        windows: list[dict[str, float]] = []
        offset = 0.0
        size = 0
        silence = np.zeros(self.gap, dtype=np.float32)
        for i, samples in enumerate(_spans_audio(_one_channel(path, channel), self.spans)):
            if on_turn is not None:
                on_turn(i, samples)
            if parts and size + samples.shape[0] > most_s * audio.SAMPLE_RATE:
                yield offset, np.concatenate(parts), windows
                parts, windows, size = [], [], 0
            if not parts:
                offset = float(self.laid[i])
            start = size
            for a, b in _window_cuts(samples):
                begin, end = (start + a) / audio.SAMPLE_RATE, (start + b) / audio.SAMPLE_RATE
                if windows and end - windows[-1]["start"] <= WINDOW_PACK_S:
                    windows[-1]["end"] = end  # packed with the turn before, the gap of silence between them
                else:
                    windows.append({"start": begin, "end": end})
            parts += [samples, silence]
            size += samples.shape[0] + self.gap
        if parts:
            yield offset, np.concatenate(parts), windows

    def map_segments(self, segments: Iterable[Segment], language: str | None, itn: bool) -> list[Segment]:
        """Laid-out segments in the recording's time; one that runs over two turns is split between them."""
        out: list[Segment] = []
        for segment in segments:
            if not segment.words:
                i = self.piece((segment.start + segment.end) / 2)
                start, end = self.to_original(segment.start, i), self.to_original(segment.end, i)
                out.append(Segment(start, max(end, start), segment.text, None, []))
                continue
            groups: list[tuple[int, list[Word]]] = []
            for word in segment.words:
                i = self.piece((word.start + word.end) / 2)
                mapped = replace(word, start=self.to_original(word.start, i), end=self.to_original(word.end, i))
                if groups and groups[-1][0] == i:
                    groups[-1][1].append(mapped)
                else:
                    groups.append((i, [mapped]))
            if len(groups) == 1:
                i, words = groups[0]
                start, end = self.to_original(segment.start, i), self.to_original(segment.end, i)
                out.append(Segment(start, max(end, start), segment.text, None, words))
                continue
            for _, words in groups:  # the text of a split segment is rebuilt from its words, then finished again
                line = text.finish("".join(w.text for w in words).strip(), language or "zh", itn=itn)
                if line:
                    out.append(Segment(words[0].start, words[-1].end, line, None, words))
        return out

    def map_turns(self, turns: Iterable[tuple[float, float, str]]) -> list[tuple[float, float, str]]:
        """Laid-out (start, end, label) turns in the recording's time, cut at the gaps."""
        mapped: list[tuple[float, float, str]] = []
        for start, end, label in turns:
            for i in range(self.piece(start), len(self.spans)):
                if self.laid[i] >= end:
                    break
                a, b = max(start, self.laid[i]), min(end, self.laid[i] + self.lengths[i])
                if b > a:
                    mapped.append((self.to_original(a, i), self.to_original(b, i), label))
        return mapped


def _recognise(
    path: Path,
    channel: int,
    turns: list[Turn],
    engine: AsrEngine,
    options: AsrOptions,
    progress: ProgressHook,
    keep_pieces: list[Turn],
) -> tuple[list[Segment], str | None, list[np.ndarray]]:
    """One seat's turns recognised from its own channel; also the audio of the embedding pieces asked for."""
    layout = _Layout(turns)
    pieces_audio: list[np.ndarray] = []
    wanted: dict[int, list[Turn]] = {}
    for piece in keep_pieces:  # each piece lies within one turn
        i = int(np.searchsorted(layout.original, piece.start, side="right") - 1)
        wanted.setdefault(i, []).append(piece)

    def keep(i: int, samples: np.ndarray) -> None:
        for piece in wanted.get(i, ()):
            a = round((piece.start - layout.original[i]) * audio.SAMPLE_RATE)
            b = round((piece.end - layout.original[i]) * audio.SAMPLE_RATE)
            pieces_audio.append(samples[max(a, 0) : b].copy())

    if isinstance(engine, WhisperEngine):
        box = LanguageBox(None if options.language == "auto" else options.language)
        segments_iter: Iterable[Segment] = _whisper_turns(
            engine, layout.chunks(path, channel, keep), options, layout.duration, progress, box
        )
    else:  # FunASR's own VAD cuts at the silences between the laid-out turns
        chunks = audio.speech_chunks(layout.blocks(path, channel, keep))
        segments_iter, box = engine.transcribe(chunks, options, layout.duration, progress)
    segments = layout.map_segments(segments_iter, box.value, options.itn)
    return _snap_edges(segments, turns), box.value, pieces_audio


def _snap_edges(segments: list[Segment], turns: Sequence[Turn], reach_s: float = 1.0) -> list[Segment]:
    """The first and last word heard in each turn moved out to the turn's edges when they are within `reach_s`.

    Whisper's word times are approximate at the ends of a stretch of speech (a first word starting late, a last
    one ending early); the seat's activity says when the speech began and ended, to within a few frames.
    """
    if not segments:
        return segments
    starts = np.array([t.start for t in turns])

    def turn_of(t: float) -> int:
        return int(min(max(np.searchsorted(starts, t, side="right") - 1, 0), len(turns) - 1))

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for n, segment in enumerate(segments):
        i = turn_of((segment.start + segment.end) / 2)
        if i not in first or segment.start < segments[first[i]].start:
            first[i] = n
        if i not in last or segment.end > segments[last[i]].end:
            last[i] = n
    out = list(segments)
    for i, n in first.items():
        segment, turn = out[n], turns[i]
        if 0 < segment.start - turn.start <= reach_s:
            words = list(segment.words)
            if words:
                words[0] = replace(words[0], start=turn.start)
            out[n] = replace(segment, start=turn.start, words=words)
    for i, n in last.items():
        segment, turn = out[n], turns[i]
        if 0 < turn.end - segment.end <= reach_s:
            words = list(segment.words)
            if words:
                words[-1] = replace(words[-1], end=turn.end)
            out[n] = replace(segment, end=turn.end, words=words)
    return out


def _whisper_turns(
    engine: WhisperEngine,
    chunks: Iterable[tuple[float, np.ndarray, list[dict[str, float]]]],
    options: AsrOptions,
    duration: float,
    progress: ProgressHook,
    box: LanguageBox,
) -> Iterator[Segment]:
    """`WhisperEngine`'s decoding with the turns as its windows (instead of Silero's), batched the same way.

    Mirrors `WhisperEngine._segments` (same decoding options, sentence cuts and text step); only where the
    windows come from differs.
    """
    hotwords = " ".join(h.term for h in options.hotwords) or None
    for offset, chunk, windows in chunks:
        if box.value is None:
            box.value = engine.detect_language(chunk, windows)
        language = box.value
        found, _ = engine.pipeline.transcribe(
            chunk,
            clip_timestamps=windows,
            language=language,
            initial_prompt=ZH_PROMPT if language == "zh" else None,
            hotwords=hotwords,
            batch_size=engine.batch_size,
            word_timestamps=True,
            beam_size=5,
        )
        for seg in found:
            words = [
                Word(offset + w.start, offset + w.end, to_script(w.word, language), w.probability)
                for w in seg.words or ()
            ]
            if not words:
                line = text.finish(seg.text.strip(), language, itn=options.itn)
                if line:
                    yield Segment(offset + seg.start, offset + seg.end, line, None, [])
                continue
            for sentence in split_sentences(words):
                line = text.finish("".join(w.text for w in sentence).strip(), language, itn=options.itn)
                if line:
                    yield Segment(sentence[0].start, sentence[-1].end, line, None, sentence)
        progress("recognition", offset + chunk.shape[0] / audio.SAMPLE_RATE, duration)


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


def transcribe_channels(
    path: str | Path,
    info: audio.AudioInfo,
    seats: Sequence[ChannelSeat],
    engine: AsrEngine,
    asr_options: AsrOptions,
    progress: ProgressHook = no_progress,
    *,
    device: str = "cpu",
    params: ActivityParams = ActivityParams(),
) -> ChannelsResult:
    """Segments and speakers of a multi-channel recording from its channel map (see the module's docstring).

    The caller has checked that the file has `len(seats)` channels. Raises `audio.AudioError` and `AsrError`.
    """
    path = Path(path)
    seat_channels = [i for i, seat in enumerate(seats) if seat.is_seat]
    progress("speech activity", 0.0, 1.0)
    powers = frame_powers(audio.channel_blocks(path, info=info))
    if powers.shape[0] != len(seats):
        raise audio.AudioError(
            path,
            f"声道数不符 (the recording decodes to {powers.shape[0]} channel(s), the channel map has {len(seats)})",
        )
    per_seat = channel_turns(powers[seat_channels], params)
    del powers
    turns_of = dict(zip(seat_channels, per_seat, strict=True))
    speech = {c: sum(t.duration for t in turns_of[c]) for c in seat_channels}
    weight = sum(speech.values()) or 1.0
    progress("speech activity", 1.0, 1.0)

    done = 0.05
    segments: list[Segment] = []
    voices: list[_Voice] = []
    languages: dict[str, float] = {}
    diarized_by: str | None = None
    warnings: list[str] = []
    for c in seat_channels:
        seat, turns = seats[c], turns_of[c]
        share = 0.95 * speech[c] / weight
        if not turns:
            warnings.append(f"声道 {c + 1}（{seat.spec()}）没有检测到讲话 (no speech detected on channel {c + 1})")
            done += share
            continue
        asr_end = done + share * (0.8 if seat.shared else 1.0)
        pieces = [] if seat.shared else embedding_pieces(turns)
        try:
            found, language, pieces_audio = _recognise(
                path, c, turns, engine, asr_options, Fraction(progress, done, asr_end, "recognition"), pieces
            )
        except AsrError as e:
            raise AsrError(f"{path.name}: channel {c + 1}: {e}") from e
        if language:
            languages[language] = languages.get(language, 0.0) + sum(s.end - s.start for s in found)
        if seat.shared:
            mapped, embeddings, diarized_by = _diarize_seat(
                path, c, seat, turns, device, Fraction(progress, asr_end, done + share, "speakers")
            )
            labelled = align.assign_speakers(found, _as_diarization(mapped))
            for label in dict.fromkeys(lbl for _, _, lbl in mapped):
                own = [Turn(a, b) for a, b, lbl in mapped if lbl == label]
                voices.append(_Voice(c, seat, f"{c}:{label}", own, embeddings.get(label)))
            for segment in labelled:
                segment.speaker = f"{c}:{segment.speaker}" if segment.speaker else None
            found = labelled
        else:
            voices.append(_Voice(c, seat, f"{c}:", turns, mean_embedding(pieces_audio, device)))
            for segment in found:
                segment.speaker = f"{c}:"
        segments.extend(found)
        done += share
    speakers, names = _speakers(voices, segments)
    for segment in segments:
        segment.speaker = names.get(segment.speaker or "")
        segment.words = [replace(w, speaker=segment.speaker) for w in segment.words]
    segments.sort(key=lambda s: (s.start, s.end))
    progress("done", 1.0, 1.0)
    language = max(languages, key=languages.__getitem__) if languages else None
    return ChannelsResult(
        segments=segments,
        speakers=speakers,
        language=language,
        diarization="channels" + (f"+{diarized_by}" if diarized_by else ""),
        warnings=warnings,
    )


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


__all__: list[str] = [
    "ActivityParams",
    "ChannelsResult",
    "Turn",
    "channel_turns",
    "embedding_pieces",
    "estimate_coupling",
    "frame_powers",
    "mean_embedding",
    "speech_margins",
    "transcribe_channels",
    "turns_from_margins",
]
