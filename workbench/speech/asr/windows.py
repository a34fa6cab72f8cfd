"""Where to decode and where to cut: speech regions packed into Whisper windows, and sentences out of words."""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.transcript import Word

# Silence kept around each speech region (faster-whisper's default).
SPEECH_PAD_MS = 400


def speech_regions(
    chunk: np.ndarray, max_window: float = 30.0, vad_slice: float = 60.0, pad_ms: int = SPEECH_PAD_MS
) -> list[tuple[int, int]]:
    """Silero VAD's speech regions of a mono chunk, (start, end) in samples, each at most `max_window` seconds.

    faster-whisper would run its VAD over the whole chunk at once, and its memory grows with the
    chunk (about 3 MB per second of audio); running it over 60 s slices keeps that flat. A region cut
    at a slice edge is joined again to the one the next slice begins with, unless that would make
    it longer than `max_window`.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(max_speech_duration_s=max_window, min_silence_duration_ms=160, speech_pad_ms=pad_ms)
    step = int(vad_slice * SAMPLE_RATE)
    limit = int(max_window * SAMPLE_RATE)
    regions: list[tuple[int, int]] = []
    for begin in range(0, chunk.shape[0], step):
        for i, region in enumerate(get_speech_timestamps(chunk[begin : begin + step], vad)):
            start, end = begin + region["start"], begin + region["end"]
            if i == 0 and regions and regions[-1][1] == begin == start and end - regions[-1][0] <= limit:
                regions[-1] = (regions[-1][0], end)
            else:
                regions.append((start, end))
    return regions


@dataclass(slots=True)
class Piece:
    """A stretch of speech in a packed window: where it was in the recording, and its samples."""

    start: float  # seconds in the recording
    samples: np.ndarray  # float32, a copy (the chunk it came from can go)

    @property
    def end(self) -> float:
        return self.start + self.samples.shape[0] / SAMPLE_RATE


@dataclass(slots=True)
class PackedBatch:
    """Windows ready for one decoding call: their speech laid end to end, and where each piece came from."""

    samples: np.ndarray  # every window's pieces, in order, silences between pieces left out
    windows: list[dict[str, float]]  # {"start", "end"} seconds within `samples`, each at most 30 s
    timeline: Timeline


class Timeline:
    """Maps a time in a packed batch's samples back to the recording's time, piece by piece."""

    def __init__(self) -> None:
        self._packed: list[float] = []  # where each piece begins in the packed samples
        self._recorded: list[float] = []  # where it began in the recording
        self._length: list[float] = []

    def add(self, packed_start: float, recorded_start: float, length: float) -> None:
        """A piece; one that carries on the last both in the packed samples and in the recording extends it."""
        if self._packed:
            packed_end, recorded_end = self._packed[-1] + self._length[-1], self._recorded[-1] + self._length[-1]
            if abs(packed_end - packed_start) < 1e-6 and abs(recorded_end - recorded_start) < 1e-6:
                self._length[-1] += length
                return
        self._packed.append(packed_start)
        self._recorded.append(recorded_start)
        self._length.append(length)

    def span(self, start: float, end: float) -> tuple[float, float]:
        """A word's (start, end) in the recording, both in the piece that holds its middle: a word Whisper
        places across a seam would otherwise stretch over the silence left out between two pieces."""
        middle = (start + end) / 2
        i = max(bisect.bisect_right(self._packed, middle) - 1, 0)
        lo, hi = self._packed[i], self._packed[i] + self._length[i]
        to = self._recorded[i] - lo
        begin = min(max(start, lo), hi) + to
        return begin, max(min(max(end, lo), hi) + to, begin)

    def start(self, t: float) -> float:
        """A start time: the piece that begins at or before `t` (a word at a seam begins in the later piece)."""
        i = max(bisect.bisect_right(self._packed, t) - 1, 0)
        return self._recorded[i] + min(max(t - self._packed[i], 0.0), self._length[i])

    def end(self, t: float) -> float:
        """An end time: the piece that begins before `t` (a word ending at a seam ends in the earlier piece)."""
        i = max(bisect.bisect_left(self._packed, t) - 1, 0)
        return self._recorded[i] + min(max(t - self._packed[i], 0.0), self._length[i])


class WindowPacker:
    """Lays speech regions end to end into windows of up to `max_window` seconds, across chunk edges.

    Whisper encodes 30 s whatever a window holds, so the fewer and fuller the windows, the less it
    costs: silences between regions are left out (Silero's padding around each region is kept), and
    a window is not cut where one chunk ends and the next begins. A window closes between two
    regions (Silero's, split at pauses of 160 ms or more), never inside one, but a region the chunk
    edge cut in two moves whole to the next window. Pieces are copied out of their chunk, so what
    waits here is at most a batch of windows (batch × 30 s of samples), not chunks.
    """

    def __init__(self, max_window: float = 30.0) -> None:
        self.limit = int(max_window * SAMPLE_RATE)
        self._closed: list[list[Piece]] = []
        self._open: list[Piece] = []
        self._open_len = 0

    def add(self, offset: float, chunk: np.ndarray, regions: list[tuple[int, int]]) -> None:
        """The regions (samples within `chunk`, whose first sample is at `offset` s) in the order spoken."""
        for start, end in regions:
            last = self._open[-1] if self._open else None
            # a region at the chunk's first sample that the previous chunk's last region runs into
            carries_on = start == 0 and last is not None and abs(last.end - offset) < 1e-6
            for begin in range(start, end, self.limit):  # a region longer than a window (Silero caps them at one)
                samples = np.array(chunk[begin : min(end, begin + self.limit)], dtype=np.float32)
                self._place(Piece(offset + begin / SAMPLE_RATE, samples), carries_on)
                carries_on = False

    def _place(self, piece: Piece, carries_on: bool) -> None:
        length = piece.samples.shape[0]
        if self._open_len + length > self.limit:
            last = self._open[-1] if carries_on else None
            if last is not None and last.samples.shape[0] + length <= self.limit:
                self._open.pop()  # the two halves of a region cut at a chunk edge stay together
                self._open_len -= last.samples.shape[0]
                self._close()
                self._open, self._open_len = [last], last.samples.shape[0]
            else:
                self._close()
        self._open.append(piece)
        self._open_len += length

    def _close(self) -> None:
        if self._open:
            self._closed.append(self._open)
        self._open, self._open_len = [], 0

    def ready(self) -> int:
        """Windows full enough to decode now."""
        return len(self._closed)

    def pending_start(self) -> float | None:
        """Where the earliest speech not yet decoded begins, in the recording; None when nothing waits."""
        first = self._closed[0] if self._closed else self._open
        return first[0].start if first else None

    def take(self, count: int) -> PackedBatch | None:
        """The first `count` full windows as one batch; None when none is full."""
        windows, self._closed = self._closed[:count], self._closed[count:]
        return _batch(windows) if windows else None

    def flush(self) -> list[PackedBatch]:
        """Whatever waits, the last window however short, in batches of any size (the caller splits)."""
        self._close()
        windows, self._closed = self._closed, []
        return [_batch(windows)] if windows else []


def _batch(windows: list[list[Piece]]) -> PackedBatch:
    timeline = Timeline()
    parts: list[np.ndarray] = []
    bounds: list[dict[str, float]] = []
    position = 0
    for pieces in windows:
        begin = position
        for piece in pieces:
            timeline.add(position / SAMPLE_RATE, piece.start, piece.samples.shape[0] / SAMPLE_RATE)
            parts.append(piece.samples)
            position += piece.samples.shape[0]
        bounds.append({"start": begin / SAMPLE_RATE, "end": position / SAMPLE_RATE})
    return PackedBatch(np.concatenate(parts), bounds, timeline)


_SENTENCE_END = tuple("。！？!?；;")
_CLAUSE_END = tuple("，,、：:")


def split_sentences(words: list[Word], max_seconds: float = 20.0) -> Iterator[list[Word]]:
    """Cuts a batched decoding window (up to 30 s) into sentences, so a transcript line is one.

    A cut follows sentence-final punctuation; a sentence still longer than `max_seconds` is cut at
    its last clause punctuation, or at the longest pause between words.
    """
    piece: list[Word] = []
    for word in words:
        piece.append(word)
        stripped = word.text.strip()
        if stripped.endswith(_SENTENCE_END) or (stripped.endswith(".") and not _ABBREVIATION.search(stripped)):
            yield from _limit(piece, max_seconds)
            piece = []
    if piece:
        yield from _limit(piece, max_seconds)


_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|No|vs)\.$")


def _limit(piece: list[Word], max_seconds: float) -> Iterator[list[Word]]:
    if piece[-1].end - piece[0].start <= max_seconds or len(piece) < 2:
        yield piece
        return
    clause = [i for i, w in enumerate(piece[:-1]) if w.text.strip().endswith(_CLAUSE_END)]
    if clause:
        cut = clause[-1] + 1 if piece[clause[-1]].end - piece[0].start <= max_seconds else clause[0] + 1
    else:
        # The longest pause; among equal pauses the one nearest the middle.
        mid = (len(piece) - 1) / 2
        cut = 1 + max(range(len(piece) - 1), key=lambda i: (piece[i + 1].start - piece[i].end, -abs(i - mid)))
    yield from _limit(piece[:cut], max_seconds)
    yield from _limit(piece[cut:], max_seconds)
