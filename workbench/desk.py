"""The review desk's text work, without a database: recognised words placed on the corrected text, the
low-confidence count, find and replace, where a split cuts, how a merge joins, and the desk view's JSON.

Offsets the desk hands out and takes are UTF-16 code units (JavaScript string indexes), since the editor
is JavaScript; Python indexes count code points, so a character outside the BMP (an emoji, a rare CJK
extension character) counts 2 there and 1 here. `to_utf16` / `from_utf16` convert.

Word alignment: a segment's stored words are the recogniser's (Whisper words carry a leading space;
FunASR's are characters or tokens with no probability; inverse text normalisation may have turned
"十二" into "12"), and the clerk may have retyped the text since. Each word's characters are matched onto
the current text: first the fast exact cases (the words are the text, or the text is the words with
punctuation and spaces added), else `difflib.SequenceMatcher(autojunk=False)` over the concatenated word
texts against the text. A word's span runs from its first matched non-space character to its last + 1;
a word none of whose characters survive is left out.
"""

from __future__ import annotations

import difflib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench.speech.transcript import Word

# [start_s, end_s, from, to, prob|null]: from/to are UTF-16 offsets into the current text
WordSpan = list[Any]


# --- UTF-16 offsets --------------------------------------------------------------------------------


def _bmp_only(text: str) -> bool:
    return text.isascii() or len(text.encode("utf-16-le")) == 2 * len(text)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _prefix16(text: str) -> list[int]:
    """UTF-16 offset of every code-point index 0..len(text)."""
    out = [0] * (len(text) + 1)
    n = 0
    for i, ch in enumerate(text):
        n += 2 if ord(ch) > 0xFFFF else 1
        out[i + 1] = n
    return out


def to_utf16(text: str, index: int) -> int:
    """The UTF-16 offset of code-point `index` in `text`."""
    if _bmp_only(text):
        return index
    return utf16_len(text[:index])


def from_utf16(text: str, offset: int) -> int:
    """The code-point index at UTF-16 `offset`; ValueError for one outside the text or inside a surrogate pair."""
    if _bmp_only(text):
        if not 0 <= offset <= len(text):
            raise ValueError(f"偏移 {offset} 不在文本内 (offset {offset} is outside the text of length {len(text)})")
        return offset
    prefix = _prefix16(text)
    lo, hi = 0, len(prefix) - 1
    while lo < hi:  # the first index whose offset is >= `offset`
        mid = (lo + hi) // 2
        if prefix[mid] < offset:
            lo = mid + 1
        else:
            hi = mid
    if prefix[lo] != offset:
        raise ValueError(f"偏移 {offset} 落在一个字符中间 (offset {offset} splits a character in two)")
    return lo


# --- words onto the text ---------------------------------------------------------------------------


def _char_map(joined: str, text: str) -> list[int]:
    """For each character of `joined`, its index in `text`, or -1 when it has no match there."""
    out = [-1] * len(joined)
    for a, b, size in difflib.SequenceMatcher(None, joined, text, autojunk=False).get_matching_blocks():
        out[a : a + size] = range(b, b + size)
    return out


# Spaces and punctuation the text may hold between recognised words (the punctuation model's, the clerk's):
# a fast check with str.strip. Anything not listed only sends the segment to difflib, which is always right.
_FILLERS = " \t\r\n\u3000\u00a0，。、；：？！“”‘’（）《》〈〉【】「」『』…—–·,.;:?!\"'()[]{}<>~～/／-"


def _find_words(pieces: list[str], text: str) -> list[tuple[int, int, int]] | None:
    """The exact case in one pass of `str.find`: every word, stripped of spaces, found in order in the text with
    only spaces and punctuation between them. None when that is not so (something was retyped)."""
    out = []
    pos = 0
    for k, piece in enumerate(pieces):
        p = piece.strip()
        if not p:
            continue
        j = text.find(p, pos)
        if j < 0 or (j > pos and text[pos:j].strip(_FILLERS)):
            return None
        out.append((k, j, j + len(p)))
        pos = j + len(p)
    return out


def align(words: Sequence[Word] | Sequence[Sequence[Any]], text: str) -> list[tuple[int, int, int]]:
    """(word index, from, to) in code-point indexes of `text`, for each word with a character that survives."""
    pieces = [w[2] or "" for w in _as_lists(words)]
    found = _find_words(pieces, text)
    if found is not None:
        return found
    joined = "".join(pieces)
    if not joined or not text:
        return []
    where = _char_map(joined, text)
    out = []
    pos = 0
    for k, piece in enumerate(pieces):
        first = last = -1
        for i in range(pos, pos + len(piece)):
            t = where[i]
            if t >= 0 and not joined[i].isspace():
                if first < 0:
                    first = t
                last = t
        pos += len(piece)
        if first >= 0 and last >= first:
            out.append((k, first, last + 1))
    return out


def _as_lists(words: Sequence[Word] | Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """Words as the store keeps them, [start, end, text, prob]: `Word`s converted, stored lists as they are."""
    if words and isinstance(words[0], Word):
        return [[w.start, w.end, w.text, w.prob] for w in words]  # type: ignore[union-attr]
    return words  # type: ignore[return-value]


def word_spans(words: Sequence[Word] | Sequence[Sequence[Any]], text: str) -> list[WordSpan]:
    """The desk's words: [start_s, end_s, from, to, prob|None] with UTF-16 offsets into `text`.

    Times are rounded to milliseconds and probabilities to three digits (`offset + start` leaves 612.3400000000001):
    all the desk uses, and a third less JSON for a 3-hour hearing."""
    words = _as_lists(words)
    spans = align(words, text)
    if not spans:
        return []
    if not _bmp_only(text):
        prefix = _prefix16(text)
        spans = [(k, prefix[a], prefix[b]) for k, a, b in spans]
    out = []
    for k, a, b in spans:
        w = words[k]
        p = w[3]
        # int(x * 1000 + 0.5) / 1000 rounds a non-negative x as round(x, 3) does, in a third of the time
        out.append([int(w[0] * 1000 + 0.5) / 1000, int(w[1] * 1000 + 0.5) / 1000, a, b,
                    None if p is None else int(p * 1000 + 0.5) / 1000])  # fmt: skip
    return out


# What the desk made of each segment's words last time: (store file, segment id) -> (the stored words' length and
# hash, the text, the spans). A 3-hour hearing is opened again and again (each reload, each clerk) while few of
# its segments change in between; parsing and aligning 3,000 segments' words is most of what a desk view costs.
_SPANS_KEPT = 8_000  # segments: two 3-hour hearings, some 30 MB
_spans: OrderedDict[tuple[str, int], tuple[int, int, str, list[WordSpan]]] = OrderedDict()
_spans_lock = threading.Lock()


def stored_word_spans(store_key: str, segment_id: int, words_json: str, text: str) -> list[WordSpan]:
    """`word_spans` of a segment's stored words (their JSON text), from the cache when neither they nor the text
    changed since. The lists returned are shared: read them, do not change them."""
    key = (store_key, segment_id)
    stamp = (len(words_json), hash(words_json))
    with _spans_lock:
        hit = _spans.get(key)
        if hit is not None and hit[:2] == stamp and hit[2] == text:
            _spans.move_to_end(key)
            return hit[3]
    spans = word_spans(json.loads(words_json or "[]"), text)
    with _spans_lock:
        _spans[key] = (*stamp, text, spans)
        _spans.move_to_end(key)
        while len(_spans) > _SPANS_KEPT:
            _spans.popitem(last=False)
    return spans


def forget_spans() -> None:
    """Gives back the cache of placed words (it is rebuilt as hearings are opened)."""
    with _spans_lock:
        _spans.clear()


def low_confidence(spans: Iterable[WordSpan], threshold: float) -> int:
    """Words the recogniser gave a probability below `threshold` (words without one are not counted)."""
    return sum(1 for s in spans if s[4] is not None and s[4] < threshold)


# --- split and merge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cut:
    """Where a split divides a segment: the text at `index` (code points), the words before `word_index` go
    to the first half, the time `t` (seconds) is where the second half starts."""

    index: int
    word_index: int
    t: float


def cut(words: Sequence[Word] | Sequence[Sequence[Any]], text: str, at16: int, start: float, end: float) -> Cut:
    """The split of a segment (`text` spoken from `start` to `end`) at UTF-16 offset `at16`.

    The time is the start of the first placed word at or after the cut; without one, proportional to the
    cut's place in the text. ValueError for a cut at either edge or outside the text.
    """
    index = from_utf16(text, at16)
    if not 0 < index < len(text):
        raise ValueError(
            f"拆分位置 {at16} 应在 1 到 {utf16_len(text) - 1} 之间 (a split must leave text on both sides, "
            f"at 1..{utf16_len(text) - 1})"
        )
    words = _as_lists(words)
    after = next(((k, a) for k, a, _ in align(words, text) if a >= index), None)
    if after is not None:
        word_index, t = after[0], float(words[after[0]][0])
    else:
        word_index = len(words)
        t = start + (end - start) * index / len(text)
    return Cut(index, word_index, min(max(t, start), end))


def _latin(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def join_texts(first: str, second: str) -> str:
    """Two segments' texts as one: joined directly (Chinese has no spaces), with a space only where both sides
    are Latin letters or digits ("contract" + "signed")."""
    if first and second and _latin(first[-1]) and _latin(second[0]):
        return first + " " + second
    return first + second


# --- find and replace ------------------------------------------------------------------------------


def _pattern(find: str, match_case: bool) -> re.Pattern[str]:
    if not find:
        raise ValueError("查找内容不能为空 (find must not be empty)")
    return re.compile(re.escape(find), 0 if match_case else re.IGNORECASE)


def replace_in(text: str, find: str, replacement: str, *, match_case: bool = True) -> tuple[str, int]:
    """`text` with every occurrence of `find` replaced (literally: no patterns, no backreferences), and how many."""
    return _pattern(find, match_case).subn(lambda _m: replacement, text)


class VersionedText(Protocol):
    """A segment as find and replace needs it (the store's `DeskRow` is one)."""

    @property
    def id(self) -> int: ...
    @property
    def version(self) -> int: ...
    @property
    def text(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Replacement:
    """One segment where `find` occurs: its version, its text before and after, and how many times."""

    segment_id: int
    version: int
    before: str
    after: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "version": self.version, "before": self.before, "after": self.after,
                "count": self.count}  # fmt: skip


def replacements(
    segments: Iterable[VersionedText], find: str, replacement: str, *, match_case: bool = True
) -> list[Replacement]:
    """Every segment where `find` occurs, in the order given."""
    pattern = _pattern(find, match_case)
    out = []
    for seg in segments:
        after, count = pattern.subn(lambda _m: replacement, seg.text)
        if count:
            out.append(Replacement(seg.id, seg.version, seg.text, after, count))
    return out


# --- the desk view ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeskSpeaker:
    label: str
    role: str | None
    name: str | None
    display: str
    version: int

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "role": self.role, "name": self.name, "display": self.display,
                "version": self.version}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeskSegment:
    id: int
    start: float
    end: float
    speaker: str | None
    text: str
    version: int
    edited: bool
    words: list[WordSpan]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "start": self.start, "end": self.end, "speaker": self.speaker, "text": self.text,
                "version": self.version, "edited": self.edited, "words": self.words}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DeskView:
    """Everything the desk loads for one hearing (GET /hearings/{id}/desk)."""

    hearing: dict[str, Any]
    threshold: float
    low_confidence: int
    checked: dict[str, Any] | None
    speakers: list[DeskSpeaker] = field(default_factory=list)
    segments: list[DeskSegment] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "hearing": self.hearing,
            "threshold": self.threshold,
            "low_confidence": self.low_confidence,
            "checked": self.checked,
            "speakers": [s.to_json() for s in self.speakers],
            "segments": [s.to_json() for s in self.segments],
        }


def speakers_in_order(segment_speakers: Iterable[str | None], known: Sequence[DeskSpeaker]) -> list[DeskSpeaker]:
    """The speakers in order of first appearance in the segments; ones that never speak (any more) after them."""
    by_label = {s.label: s for s in known}
    order: dict[str, None] = {}
    for label in segment_speakers:
        if label and label not in order:
            order[label] = None
    out = [by_label.get(label) or DeskSpeaker(label, None, None, label, 0) for label in order]
    out.extend(s for s in known if s.label not in order)
    return out
