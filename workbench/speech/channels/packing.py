"""Recognition of the seats' turns: units, pieces, windows, the packer, the piece map, edge snapping, the passes.

Stage 2 of `workbench.speech.channels` (see its docstring): Whisper gets every seat's speech packed into shared
windows in one decoding pass (`_recognise_packed`); FunASR gets each seat's turns laid end to end
(`_recognise_one_seat`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from workbench.progress import ProgressHook
from workbench.speech import audio, text
from workbench.speech.asr.engine import AsrEngine, AsrOptions
from workbench.speech.asr.whisper import WhisperEngine
from workbench.speech.channels.activity import Turn
from workbench.speech.transcript import Segment, Word

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
