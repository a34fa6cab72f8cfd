"""Where to decode and where to cut: Silero VAD windows for Whisper, and sentences out of a window's words."""

from __future__ import annotations

import re
from collections.abc import Iterator

import numpy as np

from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.transcript import Word


def speech_windows(chunk: np.ndarray, max_window: float = 30.0, vad_slice: float = 60.0) -> list[dict[str, float]]:
    """Speech regions (Silero VAD) merged into windows of at most `max_window` seconds.

    faster-whisper would run its VAD over the whole chunk at once, and its memory grows with the
    chunk (about 3 MB per second of audio); running it over 60 s slices keeps that flat.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(max_speech_duration_s=max_window, min_silence_duration_ms=160)
    step = int(vad_slice * SAMPLE_RATE)
    limit = max_window * SAMPLE_RATE
    windows: list[list[int]] = []
    for begin in range(0, chunk.shape[0], step):
        for region in get_speech_timestamps(chunk[begin : begin + step], vad):
            start, end = begin + region["start"], begin + region["end"]
            if windows and end - windows[-1][0] <= limit:
                windows[-1][1] = end
            else:
                windows.append([start, end])
    return [{"start": s / SAMPLE_RATE, "end": e / SAMPLE_RATE} for s, e in windows]


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
