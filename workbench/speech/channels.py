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
2. Recognition, one more decoding pass over all channels together: each seat's turns, merged where the seat
   pauses briefly and no one else speaks (`recognition_units`), cut from the seat's own channel as the stream
   passes and laid, in time order across seats, into Whisper windows of up to `WINDOW_S` with a second of
   silence between pieces (`_Packer`): the encoder always works on 30 s, so a window per short turn would cost
   several times the speech, and consecutive pieces of a window come from different seats (Whisper lets go of
   a sentence said again right after itself in one window; a piece that still gets no words is decoded again
   alone). One window holds one language's seats (the options' language, or each seat's detected once from its
   first speech). The piece map (`_Layout`) takes each word back to its seat and the recording's time, words
   kept within their piece and a line split where it ran over two; nothing of a neighbour's bleed between
   turns reaches the recogniser. Overlapped speech thus gives two segments with overlapping times, each from
   its own microphone. (FunASR, with its own VAD, gets each seat's turns laid end to end, one pass per seat.)
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
from workbench.speech.asr.engine import AsrEngine, AsrError, AsrOptions
from workbench.speech.asr.whisper import WhisperEngine
from workbench.speech.seats import ChannelSeat
from workbench.speech.transcript import Segment, SpeakerSummary, Word

log = logging.getLogger("workbench.speech.channels")

FRAME = audio.SAMPLE_RATE // 100  # 10 ms: the unit of speech activity
FRAME_S = FRAME / audio.SAMPLE_RATE
_TINY = 1e-12  # power floor: log10 of digital silence
SILENT_DB = -100.0  # a frame below this is digital silence (a muted input), not a room's noise


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


def _noise_floors(levels: np.ndarray, percentile: float) -> np.ndarray:
    """Each channel's noise floor (dB) among its frames above digital silence: a microphone muted to exact zeros
    before the opening or in a recess must not put its floor at -120 dB, or its live room noise reads as speech."""
    floors = np.full(levels.shape[0], SILENT_DB, dtype=np.float32)
    for c, row in enumerate(levels):
        live = row[row > SILENT_DB]
        if live.size:
            floors[c] = np.percentile(live, percentile)
    return floors


def speech_margins(powers: np.ndarray, params: ActivityParams = ActivityParams()) -> tuple[np.ndarray, np.ndarray]:
    """(seats, frames) power -> dB by which each frame stands over its noise floor, and over predicted crosstalk."""
    smoothed = _smooth(powers.astype(np.float32, copy=False), params.smooth_frames)
    levels = 10.0 * np.log10(smoothed + _TINY)
    del smoothed
    floors = _noise_floors(levels, params.floor_percentile)
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


def _spans_audio(
    source: Iterable[np.ndarray], spans: Sequence[tuple[int, int]], rows: Sequence[int] | None = None
) -> Iterator[np.ndarray]:
    """The samples [a, b) of each span (sorted by start, sample indices) from a stream of blocks, in order.

    Blocks are mono, or (channels, n) with `rows` naming each span's channel (spans of several channels may
    overlap). Holds the stream from the start of the first span not yet given, plus one block: samples
    before it are let go as the stream passes.
    """
    if not spans:
        return

    def cut(buffer: np.ndarray, i: int, a: int, b: int) -> np.ndarray:
        return (buffer[a:b] if rows is None else buffer[rows[i], a:b]).copy()

    buffer: np.ndarray | None = None
    base = 0  # index of buffer[..., 0] in the stream
    i = 0
    for block in source:
        buffer = block if buffer is None or not buffer.shape[-1] else np.concatenate([buffer, block], axis=-1)
        while i < len(spans) and spans[i][1] <= base + buffer.shape[-1]:
            a, b = spans[i]
            yield cut(buffer, i, max(a - base, 0), b - base)
            i += 1
        if i == len(spans):
            return
        drop = min(max(spans[i][0] - base, 0), buffer.shape[-1])
        buffer, base = buffer[..., drop:], base + drop
    while buffer is not None and i < len(spans):  # spans reaching past the end of the stream: what there is
        a, b = spans[i]
        yield cut(buffer, i, max(a - base, 0), max(b - base, 0))
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

    def piece_of(self, start: float, end: float) -> int:
        """The turn a laid-out stretch belongs to: the one it overlaps the most, else the nearest.

        Not its midpoint's: Whisper starts the first word after a pause early, in the silence before it, so
        a short first word's midpoint can lie in the gap after the turn before (another seat's, in a packed
        window).
        """
        i = self.piece((start + end) / 2)
        best, most = i, 0.0
        for k in (i - 1, i, i + 1):
            if 0 <= k < len(self.spans):
                overlap = min(end, self.laid[k] + self.lengths[k]) - max(start, self.laid[k])
                if overlap > most:
                    best, most = k, overlap
        if most > 0.0 or i + 1 >= len(self.spans):
            return best
        after_end = (start + end) / 2 - (self.laid[i] + self.lengths[i])  # in the gap after turn i
        return i + 1 if after_end > 0 and self.laid[i + 1] - (start + end) / 2 < after_end else i

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

    def map_segments(self, segments: Iterable[Segment], language: str | None, itn: bool) -> list[Segment]:
        """Laid-out segments in the recording's time; one that runs over two turns is split between them."""
        return [segment for _, segment in self.map_pieces(segments, language, itn)]

    def map_pieces(self, segments: Iterable[Segment], language: str | None, itn: bool) -> list[tuple[int, Segment]]:
        """`map_segments`, each segment with the index of the turn (piece) it lies in."""
        out: list[tuple[int, Segment]] = []
        for segment in segments:
            if not segment.words:
                i = self.piece_of(segment.start, segment.end)
                start, end = self.to_original(segment.start, i), self.to_original(segment.end, i)
                out.append((i, Segment(start, max(end, start), segment.text, None, [])))
                continue
            groups: list[tuple[int, list[Word]]] = []
            for word in segment.words:
                i = self.piece_of(word.start, word.end)
                mapped = replace(word, start=self.to_original(word.start, i), end=self.to_original(word.end, i))
                if groups and groups[-1][0] == i:
                    groups[-1][1].append(mapped)
                else:
                    groups.append((i, [mapped]))
            if len(groups) == 1:
                i, words = groups[0]
                start, end = self.to_original(segment.start, i), self.to_original(segment.end, i)
                out.append((i, Segment(start, max(end, start), segment.text, None, words)))
                continue
            for i, words in groups:  # the text of a split segment is rebuilt from its words, then finished again
                line = text.finish("".join(w.text for w in words).strip(), language or "zh", itn=itn)
                if line:
                    out.append((i, Segment(words[0].start, words[-1].end, line, None, words)))
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


def _recognise_one_seat(
    path: Path,
    channel: int,
    turns: list[Turn],
    engine: AsrEngine,
    options: AsrOptions,
    progress: ProgressHook,
    keep_pieces: list[Turn],
) -> tuple[list[Segment], str | None, list[np.ndarray]]:
    """One seat's turns recognised from its own channel by an engine with its own VAD (FunASR), in one
    decoding pass of that channel; also the audio of the embedding pieces asked for."""
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

    # FunASR's own VAD cuts at the silences between the laid-out turns
    chunks = audio.speech_chunks(layout.blocks(path, channel, keep))
    segments_iter, box = engine.transcribe(chunks, options, layout.duration, progress)
    segments = layout.map_segments(segments_iter, box.value, options.itn)
    return _snap_edges(segments, turns), box.value, pieces_audio


# --- Whisper: windows filled with the seats' turns in time order ----------------------------------

WINDOW_S = 28.0  # a Whisper window's pieces and the gaps between them (its encoder always works on 30 s)
MERGE_GAP_S = 2.0  # a seat's turns this close, no other seat speaking between them: one stretch of speech
OPEN_WINDOWS = 2  # windows filled at once per language: room to put another seat between two of one seat's
LANGUAGE_SAMPLE_S = 20.0  # with "auto", a seat's language is detected once from this much of its first speech
QUEUE_S = 90.0  # ... while at most this much speech waits for it
LONGEST_UNIT_S = 4 * WINDOW_S  # a longer stretch is cut into parts of this length (memory while it is decoded)
REDO_MIN_S = 0.5  # a piece this long that gets no words in its window is decoded again in a window of its own


@dataclass(frozen=True, slots=True)
class Unit:
    """What recognition gets of a seat: one turn, or a seat's turns merged where no other seat spoke between."""

    channel: int
    start: float
    end: float


def recognition_units(
    turns_of: dict[int, list[Turn]], merge_gap_s: float = MERGE_GAP_S, most_s: float = WINDOW_S
) -> list[Unit]:
    """Each seat's turns merged into stretches of speech, all seats' stretches in time order.

    Two turns of a seat merge (the pause between them kept, as recorded) when the pause is under
    `merge_gap_s`, no other seat's turn reaches into it and the stretch stays within `most_s`: a seat's
    turns packed next to each other in a window are then one stretch of speech, never two separate
    utterances (Whisper drops a sentence said again in the same window).
    """
    bounds = {c: (np.array([t.start for t in ts]), np.array([t.end for t in ts])) for c, ts in turns_of.items()}

    def others_speak(channel: int, a: float, b: float) -> bool:
        for c, (starts, ends) in bounds.items():
            if c != channel and starts.size:
                i = int(np.searchsorted(starts, b, side="left"))  # turns starting before b ...
                if i and float(ends[:i].max()) > a:  # ... one of which ends after a
                    return True
        return False

    units: list[Unit] = []
    for channel, turns in turns_of.items():
        current: Turn | None = None
        for turn in turns:
            if (
                current is not None
                and turn.start - current.end < merge_gap_s
                and turn.end - current.start <= most_s
                and not others_speak(channel, current.end, turn.start)
            ):
                current = Turn(current.start, turn.end)
                continue
            if current is not None:
                units.append(Unit(channel, current.start, current.end))
            current = turn
        if current is not None:
            units.append(Unit(channel, current.start, current.end))
    units = [part for unit in units for part in _split_long(unit)]
    units.sort(key=lambda u: (u.start, u.channel))
    return units


def _split_long(unit: Unit, longest_s: float = LONGEST_UNIT_S) -> list[Unit]:
    """A unit over `longest_s` (a judgment read for forty minutes) as consecutive parts of at most that length:
    the decoding pass holds a unit's audio of every channel until it ends."""
    if unit.end - unit.start <= longest_s:
        return [unit]
    parts, start = [], unit.start
    while start < unit.end:
        end = min(start + longest_s, unit.end)
        parts.append(Unit(unit.channel, start, end))
        start = end
    return parts


@dataclass(slots=True)
class _Piece:
    """A stretch of one seat's audio in a window: a unit, or a part of one over `WINDOW_S`."""

    channel: int
    start: float  # in the recording's time
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return self.samples.shape[0] / audio.SAMPLE_RATE


@dataclass(slots=True)
class _Window:
    pieces: list[_Piece] = field(default_factory=list)
    seconds: float = 0.0  # pieces and the gaps between them

    def takes(self, piece: _Piece, most_s: float) -> bool:
        """Room for `piece`, and the window's last piece is another seat's."""
        if not self.pieces:
            return True
        return self.pieces[-1].channel != piece.channel and self.seconds + GAP_S + piece.seconds <= most_s

    def add(self, piece: _Piece) -> None:
        self.seconds += (GAP_S if self.pieces else 0.0) + piece.seconds
        self.pieces.append(piece)


class _Packer:
    """Windows of one language, filled with the pieces in the order they come (time order across seats).

    A piece goes into the first open window that has room and does not end with the same seat; with none,
    a new window opens (the oldest is closed when `OPEN_WINDOWS` are open). Closed windows are decoded in
    batches of the engine's batch size. Holds at most the open windows and one batch.
    """

    def __init__(self, decode: Callable[[list[_Window]], None], batch: int, most_s: float = WINDOW_S) -> None:
        self.decode = decode
        self.batch = max(batch, 1)
        self.most_s = most_s
        self.open: list[_Window] = []
        self.closed: list[_Window] = []

    def add(self, piece: _Piece) -> None:
        for window in self.open:
            if window.takes(piece, self.most_s):
                window.add(piece)
                break
        else:
            if len(self.open) >= OPEN_WINDOWS:
                self._close(self.open.pop(0))
            window = _Window()
            window.add(piece)
            self.open.append(window)
        for window in [w for w in self.open if w.seconds >= self.most_s - GAP_S - 0.5]:  # full: let it go
            self.open.remove(window)
            self._close(window)

    def _close(self, window: _Window) -> None:
        self.closed.append(window)
        if len(self.closed) >= self.batch:
            self.flush()

    def flush(self, everything: bool = False) -> None:
        if everything:
            self.closed += self.open
            self.open = []
        if self.closed:
            windows, self.closed = self.closed, []
            self.decode(windows)


@dataclass(slots=True)
class _Heard:
    """What the packed recognition found: each seat's segments (recording time), language, embedding audio."""

    segments: dict[int, list[Segment]]
    languages: dict[int, str]
    pieces_audio: dict[int, list[np.ndarray]]
    redone: int = 0  # pieces decoded again alone (no words in their window)


def _decode_windows(
    engine: WhisperEngine, windows: list[_Window], options: AsrOptions, language: str
) -> list[tuple[_Piece, list[Segment]]]:
    """The windows' pieces laid end to end (`GAP_S` of silence between), decoded, mapped back to each piece."""
    pieces = [p for w in windows for p in w.pieces]
    layout = _Layout([Turn(p.start, p.start + p.seconds) for p in pieces])  # the piece map
    laid = [round(float(t) * audio.SAMPLE_RATE) for t in layout.laid]
    samples = np.zeros(laid[-1] + pieces[-1].samples.shape[0], dtype=np.float32)
    for at, piece in zip(laid, pieces, strict=True):
        samples[at : at + piece.samples.shape[0]] = piece.samples
    clips: list[dict[str, float]] = []
    first = 0
    for window in windows:
        last = first + len(window.pieces) - 1
        start, end = laid[first] / audio.SAMPLE_RATE, (laid[last] + pieces[last].samples.shape[0]) / audio.SAMPLE_RATE
        clips.append({"start": start, "end": end})
        first = last + 1
    found = engine.transcribe_windows(samples, clips, options, language)
    heard: list[list[Segment]] = [[] for _ in pieces]
    for i, segment in layout.map_pieces(found, language, options.itn):
        heard[i].append(segment)
    return list(zip(pieces, heard, strict=True))


def _recognise_packed(
    path: Path,
    info: audio.AudioInfo,
    turns_of: dict[int, list[Turn]],
    engine: WhisperEngine,
    options: AsrOptions,
    progress: ProgressHook,
    duration: float,
    keep_pieces: dict[int, list[Turn]],
) -> _Heard:
    """All seats' speech recognised in one decoding pass of the recording (all channels together).

    The seats' units (`recognition_units`), each cut from its own channel, go in time order into Whisper
    windows of up to `WINDOW_S`, a second of silence between pieces, so that consecutive pieces of a window
    come from different seats where the hearing alternates; one window holds one language's seats only (the
    language fixed by the options, or detected once per seat from its first `LANGUAGE_SAMPLE_S` of speech).
    A piece of `REDO_MIN_S` or more that gets no words is decoded again in a window of its own.
    """
    units = recognition_units(turns_of)
    heard = _Heard({c: [] for c in turns_of}, {}, {c: [] for c in keep_pieces})
    wanted: dict[tuple[int, int], list[Turn]] = {}
    unit_index = {c: [i for i, u in enumerate(units) if u.channel == c] for c in turns_of}
    for c, pieces in keep_pieces.items():  # each embedding piece lies within one turn, so within one unit
        starts = np.array([units[i].start for i in unit_index[c]])
        for piece in pieces:
            k = int(np.searchsorted(starts, piece.start + 1e-6, side="right") - 1)
            wanted.setdefault((c, unit_index[c][max(k, 0)]), []).append(piece)
    fixed = None if options.language == "auto" else options.language
    packers: dict[str, _Packer] = {}
    reached = 0.0  # how far into the recording the pieces given to the packers reach

    def decode(language: str) -> Callable[[list[_Window]], None]:
        def run(windows: list[_Window]) -> None:
            results = _decode_windows(engine, windows, options, language)
            again = [p for p, found in results if not found and p.seconds >= REDO_MIN_S]
            if again:  # a sentence Whisper let go in a shared window (it skips what sounds like a repeat)
                heard.redone += len(again)
                redone = {
                    id(p): found
                    for p, found in _decode_windows(engine, [_Window([p], p.seconds) for p in again], options, language)
                }
                results = [(p, found or redone.get(id(p), [])) for p, found in results]
            for piece, found in results:
                heard.segments[piece.channel].extend(found)
            progress("recognition", reached, duration)

        return run

    def pack(piece: _Piece, language: str) -> None:
        if language not in packers:
            packers[language] = _Packer(decode(language), engine.batch_size)
        packers[language].add(piece)

    # With "auto", the pieces wait in time order while a seat among them has no language yet: a seat's
    # language is detected from its first `LANGUAGE_SAMPLE_S` of speech (or what it has when the queue holds
    # `QUEUE_S`, or at the end), then the queue's head goes to the packers up to the next unsettled seat's piece.
    queue: list[_Piece] = []

    def settle(channel: int) -> None:
        own = [p.samples for p in queue if p.channel == channel]
        sample = np.concatenate(own)[: int(30 * audio.SAMPLE_RATE)]
        heard.languages[channel] = engine.detect_language(
            sample, [{"start": 0.0, "end": sample.shape[0] / audio.SAMPLE_RATE}]
        )

    def release() -> None:
        while queue and queue[0].channel in heard.languages:
            piece = queue.pop(0)
            pack(piece, heard.languages[piece.channel])

    def offer(piece: _Piece) -> None:
        if fixed is not None:
            heard.languages.setdefault(piece.channel, fixed)
        if piece.channel in heard.languages and not queue:
            pack(piece, heard.languages[piece.channel])
            return
        queue.append(piece)
        own = sum(p.seconds for p in queue if p.channel == piece.channel)
        if piece.channel not in heard.languages and own >= LANGUAGE_SAMPLE_S:
            settle(piece.channel)
        if sum(p.seconds for p in queue) >= QUEUE_S:
            settle(queue[0].channel)
        release()

    spans = [(round(u.start * audio.SAMPLE_RATE), round(u.end * audio.SAMPLE_RATE)) for u in units]
    rows = [u.channel for u in units]
    for n, samples in enumerate(_spans_audio(audio.channel_blocks(path, info=info), spans, rows)):
        unit = units[n]
        reached = max(reached, unit.end)
        for piece in wanted.get((unit.channel, n), ()):
            a = round((piece.start - unit.start) * audio.SAMPLE_RATE)
            b = round((piece.end - unit.start) * audio.SAMPLE_RATE)
            heard.pieces_audio[unit.channel].append(samples[max(a, 0) : b].copy())
        for a, b in _window_cuts(samples):
            if b > a:  # nothing of a turn reaching past the end of the stream
                offer(_Piece(unit.channel, round(unit.start + a / audio.SAMPLE_RATE, 3), samples[a:b]))
    while queue:
        settle(queue[0].channel)
        release()
    reached = duration
    for packer in packers.values():
        packer.flush(everything=True)
    for c, turns in turns_of.items():
        heard.segments[c] = _snap_edges(sorted(heard.segments[c], key=lambda s: (s.start, s.end)), turns)
    return heard


def _snap_edges(segments: list[Segment], turns: Sequence[Turn], reach_s: float = 1.0) -> list[Segment]:
    """Words kept within the seat's turns, and the first and last word of each turn moved out to its edges.

    The seat's activity says when its speech began and ended, to within a few frames; Whisper's word times
    are approximate at the ends of a stretch of speech (a first word starting late, a last one ending early)
    and across a pause (a word stretched over it). Each word goes to the turn it overlaps the most (else the
    nearest), is cut to that turn, and the first and last word of a turn move out to its edges when they are
    within `reach_s` of them. A line without words is treated as one word. Lines span their words again.
    """
    if not segments or not turns:
        return segments
    starts = np.array([t.start for t in turns])

    def turn_of(a: float, b: float) -> int:
        i = int(min(max(np.searchsorted(starts, (a + b) / 2, side="right") - 1, 0), len(turns) - 1))
        near = [k for k in (i - 1, i, i + 1) if 0 <= k < len(turns)]
        overlaps = [(min(b, turns[k].end) - max(a, turns[k].start), k) for k in near]
        most, best = max(overlaps)
        if most > 0:
            return best
        return min(near, key=lambda k: max(turns[k].start - b, a - turns[k].end, 0.0))

    # items: (segment, word or -1 for a line without words) -> [start, end], its turn
    spans: dict[tuple[int, int], list[float]] = {}
    first: dict[int, tuple[int, int]] = {}
    last: dict[int, tuple[int, int]] = {}
    for n, segment in enumerate(segments):
        items = [((n, k), w.start, w.end) for k, w in enumerate(segment.words)] or [
            ((n, -1), segment.start, segment.end)
        ]
        for key, a, b in items:
            i = turn_of(a, b)
            turn = turns[i]
            a, b = min(max(a, turn.start), turn.end), min(max(b, turn.start), turn.end)
            spans[key] = [a, max(a, b)]
            if i not in first or a < spans[first[i]][0]:
                first[i] = key
            if i not in last or b > spans[last[i]][1]:
                last[i] = key
    for i, key in first.items():
        if 0 < spans[key][0] - turns[i].start <= reach_s:
            spans[key][0] = turns[i].start
    for i, key in last.items():
        if 0 < turns[i].end - spans[key][1] <= reach_s:
            spans[key][1] = turns[i].end
    out: list[Segment] = []
    for n, segment in enumerate(segments):
        if not segment.words:
            a, b = spans[(n, -1)]
            out.append(replace(segment, start=round(a, 3), end=round(b, 3)))
            continue
        words = [
            replace(w, start=round(spans[(n, k)][0], 3), end=round(spans[(n, k)][1], 3))
            for k, w in enumerate(segment.words)
        ]
        out.append(replace(segment, start=min(w.start for w in words), end=max(w.end for w in words), words=words))
    return out


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
    powers_duration = powers.shape[1] * FRAME_S
    del powers
    turns_of = dict(zip(seat_channels, per_seat, strict=True))
    speech = {c: sum(t.duration for t in turns_of[c]) for c in seat_channels}
    weight = sum(speech.values()) or 1.0
    progress("speech activity", 1.0, 1.0)

    warnings: list[str] = []
    for c in seat_channels:
        if not turns_of[c]:
            warnings.append(f"声道 {c + 1}（{seats[c].spec()}）没有检测到讲话 (no speech detected on channel {c + 1})")
    spoken = [c for c in seat_channels if turns_of[c]]
    # progress: recognition up to `asr_end`, then the shared seats' diarization (about a fifth of their share)
    asr_end = 0.05 + 0.95 * (1.0 - 0.2 * sum(speech[c] for c in spoken if seats[c].shared) / weight)
    pieces_of = {c: embedding_pieces(turns_of[c]) for c in spoken if not seats[c].shared}
    recognised: dict[int, tuple[list[Segment], str | None, list[np.ndarray]]] = {}
    if isinstance(engine, WhisperEngine):
        try:
            heard = _recognise_packed(
                path,
                info,
                {c: turns_of[c] for c in spoken},
                engine,
                asr_options,
                Fraction(progress, 0.05, asr_end, "recognition"),
                powers_duration,
                pieces_of,
            )
        except AsrError as e:
            raise AsrError(f"{path.name}: {e}") from e
        log.debug("windows: %d piece(s) decoded again alone", heard.redone)
        for c in spoken:
            recognised[c] = (heard.segments[c], heard.languages.get(c), heard.pieces_audio.get(c, []))
    else:
        done = 0.05
        for c in spoken:
            share = (asr_end - 0.05) * speech[c] / weight
            try:
                recognised[c] = _recognise_one_seat(
                    path,
                    c,
                    turns_of[c],
                    engine,
                    asr_options,
                    Fraction(progress, done, done + share, "recognition"),
                    pieces_of.get(c, []),
                )
            except AsrError as e:
                raise AsrError(f"{path.name}: channel {c + 1}: {e}") from e
            done += share

    segments: list[Segment] = []
    voices: list[_Voice] = []
    languages: dict[str, float] = {}
    diarized_by: str | None = None
    done = asr_end
    for c in spoken:
        seat, turns = seats[c], turns_of[c]
        found, language, pieces_audio = recognised[c]
        if language:
            languages[language] = languages.get(language, 0.0) + sum(s.end - s.start for s in found)
        mapped: list[tuple[float, float, str]] = []
        if seat.shared:
            share = 0.95 * 0.2 * speech[c] / weight
            mapped, embeddings, diarized_by = _diarize_seat(
                path, c, seat, turns, device, Fraction(progress, done, done + share, "speakers")
            )
            done += share
        if mapped:  # a shared seat's voices, told apart within its channel
            labelled = align.assign_speakers(found, _as_diarization(mapped))
            for label in dict.fromkeys(lbl for _, _, lbl in mapped):
                own = [Turn(a, b) for a, b, lbl in mapped if lbl == label]
                voices.append(_Voice(c, seat, f"{c}:{label}", own, embeddings.get(label)))
            for segment in labelled:
                segment.speaker = f"{c}:{segment.speaker}" if segment.speaker else None
                # a line split between the two voices is rebuilt from its words: finish it again, as mono does
                segment.text = text.finish(segment.text, language, itn=asr_options.itn)
            found = labelled
        else:  # one person's seat; or a shared seat with too little speech to tell two voices: one voice, no role
            voices.append(_Voice(c, seat, f"{c}:", turns, mean_embedding(pieces_audio, device)))
            for segment in found:
                segment.speaker = f"{c}:"
        segments.extend(found)
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
