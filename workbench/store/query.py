"""What a search is and what it finds, apart from any database: the query language, hits, snippets.

A query is free words and "quoted phrases" (also “…” and 「…」): the words are OR-ed and ranked, the
phrases must all occur exactly (case-insensitive, whole Latin words at their edges). A Chinese run of
three or more characters is cut into words by jieba, as the index cuts long words. `Filters` narrow by
case, date, hearing and speaker, and to the cases the asking account may see; a `Hit` is one matching
segment with its snippet and the hit spans.
`workbench.store.search` runs them against a store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from workbench.speech.transcript import SpeakerLabel
from workbench.store import index
from workbench.store.index import IS_CJK, RUN, normalize

_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」')


@dataclass(frozen=True, slots=True)
class Query:
    """A parsed query: free words (OR, ranked), exact phrases (all required) and scan-only fragments."""

    words: tuple[str, ...]
    phrases: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.words and not self.phrases


def parse_query(text: str) -> Query:
    phrases = [normalize(next(g for g in m.groups() if g)).strip() for m in _QUOTED.finditer(text)]
    rest = normalize(_QUOTED.sub(" ", text))
    words: list[str] = []
    for m in RUN.finditer(rest):
        run = m.group()
        if not IS_CJK.match(run) or len(run) <= 2:
            words.append(run)
            continue
        pieces = index.words(run)
        # Single characters (的, 了, 在) carry little meaning inside a longer query; alone, they are searched.
        longer = [w for w in pieces if len(w) >= 2]
        words.extend(longer or pieces)
    seen: dict[str, None] = dict.fromkeys(words)
    return Query(tuple(seen), tuple(p for p in dict.fromkeys(phrases) if p))


@lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Matches `phrase` in normalized text; a phrase that starts or ends with a Latin word or number
    matches whole words there ("contract" not in "contractor", "B-12" not in "B-123")."""
    head = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", phrase) else ""
    tail = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", phrase) else ""
    return re.compile(head + re.escape(phrase) + tail)


@dataclass(frozen=True, slots=True)
class Filters:
    case: str | None = None  # case number, or the case id as text
    date_from: date | None = None
    date_to: date | None = None
    role: str | None = None
    speaker: str | None = None  # display name or label (S1)
    hearing_id: int | None = None
    # The cases the asking account may see (None: every case). Applied where the hearings are picked,
    # so nothing of another case is ranked, counted or shown; an empty set finds nothing.
    case_ids: frozenset[int] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    segment_id: int
    hearing_id: int
    case_id: int
    case_number: str
    hearing_start: str  # ISO date-time of the hearing, "" when unknown
    start: float  # seconds into the recording
    end: float
    speaker: str | None  # label S1..
    role: str | None
    name: str | None
    score: float
    text: str  # the whole segment, current text (or the original with original=True)
    snippet: str
    marks: tuple[tuple[int, int], ...] = field(default_factory=tuple)  # hit spans in `snippet`
    edited: bool = False  # the current text differs from the recognition

    @property
    def who(self) -> str:
        """The speaker as the record shows it ("审判长张三"), the bare label, or "" when none was found."""
        return SpeakerLabel(self.role, self.name).display(self.speaker or "")

    def marked(self, before: str = "【", after: str = "】") -> str:
        """The snippet with each hit wrapped in `before`/`after` (e.g. "<mark>", "</mark>")."""
        out, pos = [], 0
        for a, b in self.marks:
            out += [self.snippet[pos:a], before, self.snippet[a:b], after]
            pos = b
        out.append(self.snippet[pos:])
        return "".join(out)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["marks"] = [list(m) for m in self.marks]
        data["snippet_marked"] = self.marked()
        return data


def snippet(text: str, needles: Iterable[str], width: int = 40) -> tuple[str, tuple[tuple[int, int], ...]]:
    """A window of `text` around its first hit, and the hit spans inside that window."""
    low = normalize(text) if len(normalize(text)) == len(text) else text.lower()
    spans: list[tuple[int, int]] = []
    for needle in needles:
        if not needle:
            continue
        pattern = re.escape(needle)
        if not IS_CJK.search(needle):  # Latin words match whole words only
            pattern = rf"(?<![a-z0-9]){pattern}(?![a-z0-9])"
        spans += [(m.start(), m.end()) for m in re.finditer(pattern, low)]
    spans.sort()
    merged: list[tuple[int, int]] = []
    for a, b in spans:
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    if len(text) <= 2 * width or not merged:
        lo, hi = 0, min(len(text), 2 * width)
    else:
        lo = max(0, merged[0][0] - width // 2)
        hi = min(len(text), lo + 2 * width)
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(text) else ""
    shift = len(prefix) - lo
    inside = tuple((a + shift, min(b, hi) + shift) for a, b in merged if a >= lo and a < hi)
    return prefix + text[lo:hi] + suffix, inside
