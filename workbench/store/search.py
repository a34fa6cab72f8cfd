"""Keyword search across hearings, Chinese and English, over the store's keyword index.

The index (`workbench.store.index`) says what is indexed and keeps it in step with the segments;
this module asks it questions. BM25 is computed in SQL with the same formula as DuckDB's fts (k1=1.2,
b=0.75, idf = log10(1 + (N - df + 0.5) / (df + 0.5))); tests check the scores against fts's own
`match_bm25` on the same tokens (`fts_extension_path()` loads the pinned extension from its wheel).

Queries (`workbench.store.query`): free words are OR-ed and ranked by BM25; a "quoted phrase" must
occur exactly and is found through its rarest indexed terms, then checked in the text. A single
Chinese character, which is not indexed, falls back to a scan.

Access: `Filters.case_ids` (the account's cases) is applied in the SQL that picks the hearings, so every
path (ranking, phrases, the scan) reads only postings and segments of those hearings.

Speed: lookups are fast where `postings` is sorted by term; `optimize()` sorts it when the unsorted
tail of new hearings outgrows `index.TAIL_LIMIT` (the worker calls it after a job).

Log notes (the clerk's stage marks, notes and recesses, `workbench.store.notes`) are found by `search_notes`:
a few dozen short texts a hearing, matched by scanning them (no index), with the same query language and the
same scope (the account's cases, the case and date filters); a note in a sealed part is left out for an account
that may not see sealed text.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb

from workbench.store import index
from workbench.store.index import IS_CJK, normalize, phrase_terms, stats_for, term_id
from workbench.store.notes import NOTE_SEALED
from workbench.store.query import Filters, Hit, Query, parse_query, phrase_pattern, snippet
from workbench.store.signoff import SEALED_OVERLAP
from workbench.store.store import Store

log = logging.getLogger("workbench.store.search")

K1 = 1.2
B = 0.75
COMMON_SHARE = 0.02  # a word in more segments than this share is "common" for Searcher._rare_first
MAX_CHECKED = 20_000  # ranked candidates checked at most for phrases and speaker filters


def prepare() -> None:
    """Loads what the first query would (jieba's dictionary, about a second) now; servers call it at start."""
    index.prepare()
    _changed_by_normalizing()


# --- keeping the index fast ------------------------------------------------------------------------


def optimize(store: Store, *, force: bool = False) -> bool:
    """Rewrites `postings` in term order when its unsorted tail is large (or `force`); True if it did.

    Readers keep reading the old version meanwhile (MVCC); the rewrite holds the store's write lock.
    """
    with store.reading() as con:
        if not force and index.unsorted_tail(con) < index.TAIL_LIMIT:
            return False
    started = time.monotonic()
    with store.writing() as con:
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.execute(f"SET threads = {os.cpu_count() or 1}")  # a one-off sort of millions of rows
        try:
            n = index.sort_postings(con)
        finally:
            con.execute(f"SET threads = {int(threads)}")
    with store.reading() as con:
        con.execute("CHECKPOINT")
    log.info("search index sorted: %d postings in %.1f s", n, time.monotonic() - started)
    return True


def fts_extension_path() -> Path:
    """The fts extension shipped in the pinned `duckdb-extension-fts` wheel (loaded with LOAD, no network)."""
    import duckdb_extension_fts  # only the tests that compare scores with fts's need it

    path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: duckdb-extension-fts must match duckdb {duckdb.__version__}; "
            f"install duckdb-extension-fts=={duckdb.__version__}"
        )
    return path


# --- searching -------------------------------------------------------------------------------------


def _f(x: float) -> str:
    """A float literal DuckDB reads as DOUBLE (a bare 1.2 is a DECIMAL, which overflows in products)."""
    return f"{float(x)!r}::DOUBLE"


def _sql_list(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)


class Searcher:
    """Runs queries against a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _scope(self, con: duckdb.DuckDBPyConnection, f: Filters) -> tuple[frozenset[int] | None, str]:
        """The statistics' scope: None for every hearing, else the account's cases and the SQL restricting
        to their hearings. BM25 counts (segments, mean length, document frequency) over what the account may
        see: counted over every case, a hit's score would tell whether a word occurs in cases it may not."""
        if f.case_ids is None:
            return None, ""
        visible = [r[0] for r in con.execute(
            f"SELECT id FROM hearings WHERE case_id IN ({_sql_list(sorted(f.case_ids) or [-1])})"
        ).fetchall()]  # fmt: skip
        return f.case_ids, f" AND hearing_id IN ({_sql_list(visible or [-1])})"

    def _collection(
        self, con: duckdb.DuckDBPyConnection, original: bool, scope: frozenset[int] | None = None, within: str = ""
    ) -> tuple[int, float]:
        st = stats_for(self.store.path)
        hit = st.collection.get((original, scope))
        if hit is not None:
            return hit
        col = "dl_orig" if original else "dl"
        where = f" WHERE true{within}" if within else ""
        n, avg = con.execute(f"SELECT count(*), coalesce(avg({col}), 1) FROM segments{where}").fetchone()
        st.collection[(original, scope)] = (int(n), float(avg) or 1.0)
        return st.collection[(original, scope)]

    def invalidate(self) -> None:
        index.invalidate(self.store.path)

    def _hearing_ids(self, con: duckdb.DuckDBPyConnection, f: Filters) -> list[int] | None:
        """The hearings the filters allow, or None when every hearing is allowed.

        Role and speaker filters narrow to hearings having such a speaker here (a name is usually one
        hearing); the segment's own speaker is checked after ranking.
        """
        where, params = [], []
        if f.case_ids is not None:
            if not f.case_ids:
                return []
            where.append(f"h.case_id IN ({_sql_list(sorted(f.case_ids))})")
        if f.case:
            where.append("(c.number = ? OR CAST(c.id AS VARCHAR) = ?)")
            params += [f.case, f.case]
        if f.date_from:
            where.append("CAST(h.starts_at AS DATE) >= ?")
            params.append(f.date_from)
        if f.date_to:
            where.append("CAST(h.starts_at AS DATE) <= ?")
            params.append(f.date_to)
        if f.hearing_id is not None:
            where.append("h.id = ?")
            params.append(f.hearing_id)
        if f.role:
            where.append("h.id IN (SELECT hearing_id FROM speakers WHERE role = ?)")
            params.append(f.role)
        if f.speaker:
            where.append("h.id IN (SELECT hearing_id FROM speakers WHERE name = ? OR label = ?)")
            params += [f.speaker, f.speaker]
        if not where:
            return None
        rows = con.execute(
            "SELECT h.id FROM hearings h JOIN cases c ON c.id = h.case_id WHERE " + " AND ".join(where), params
        ).fetchall()
        return [r[0] for r in rows]

    def search(
        self,
        query: str,
        filters: Filters | None = None,
        *,
        limit: int = 20,
        original: bool = False,
        include_sealed: bool,
    ) -> list[Hit]:
        """Segments matching `query`, best first. `original` searches the recognition instead of the corrected text.
        `include_sealed=False` (an account that may not see sealed text) leaves out every segment overlapping a
        sealed part of its hearing; required, so that no caller forgets to ask (`Access.may_see_sealed`).

        Plan: (1) score candidates from `postings` in SQL — BM25 of the free words and of each phrase's
        indexed terms, a phrase's terms all required; (2) fetch the best few candidates' rows by id;
        (3) check what the index cannot (a phrase's characters adjacent, the segment's speaker and
        role) in Python, asking for a larger batch while too few pass. Most queries need one batch.
        """
        f = filters or Filters()
        q = parse_query(query)
        if q.empty or limit <= 0:
            return []
        tf, dl = ("tf_orig", "dl_orig") if original else ("tf", "dl")
        with self.store.reading() as con:
            hearings = self._hearing_ids(con, f)
            if hearings is not None and not hearings:
                return []
            cond = f" AND hearing_id IN ({_sql_list(hearings)})" if hearings is not None else ""
            scope, within = self._scope(con, f)
            n, avgdl = self._collection(con, original, scope, within)
            n = max(n, 1)

            def dfs(lookups: dict[str, int]) -> dict[str, int]:
                return self._dfs(con, lookups, tf, scope, within)

            words = list(q.words)
            phrases = list(q.phrases)
            df = dfs({w: term_id(w) for w in words})
            # A Chinese word the index has no posting for: two characters (always indexed as a bigram)
            # or fewer do not occur, unless it is the whole query (a lone character: scanned). A
            # longer one may have been cut differently by jieba: alone it is matched as an exact
            # substring (a phrase); among other words its bigrams join the OR.
            for w in [w for w in words if not df[w] and IS_CJK.search(w)]:
                words.remove(w)
                if len(w) >= 3 and (q.words == (w,) and not q.phrases):
                    phrases.append(w)
                elif len(w) >= 3:
                    grams = [g for g in phrase_terms(w) if g not in words]
                    df.update(dfs({g: term_id(g) for g in grams}))
                    words += grams
                elif len(w) == 1 and q.words == (w,) and not q.phrases:
                    phrases.append(w)
            required = list(dict.fromkeys(t for p in phrases for t in phrase_terms(p)))
            df.update(dfs({t: term_id(t) for t in required if t not in df}))
            if any(df[t] == 0 for t in required):
                return []
            unindexed = [p for p in phrases if not phrase_terms(p)]  # a lone Chinese character
            # Each phrase is narrowed by its two rarest terms only (the text check does the rest): the
            # cost of the ranking grows with the postings it reads, and a phrase's common bigrams or
            # single letters ("b" in "Exhibit B-12") would only add rows, not precision.
            required = list(dict.fromkeys(t for p in phrases for t in sorted(phrase_terms(p), key=lambda t: df[t])[:2]))
            if unindexed and not required:
                candidates = self._scan(con, unindexed, original, cond, limit)
                return self._hits(con, candidates, q, phrases, f, original, limit, include_sealed)

            def idf(d: int) -> float:
                return math.log10(1 + (n - d + 0.5) / (d + 0.5))

            norm = f"{_f(K1)} * (1 - {_f(B)} + {_f(B)} * {dl} / {_f(avgdl)})"
            bits = {t: 1 << i for i, t in enumerate(required[:62])}

            def part(t: str, extra: str = "") -> str:
                return (
                    f"SELECT segment_id, {_f(idf(df[t]))} * {tf} * {_f(K1 + 1)} / ({tf} + {norm}) AS s, "
                    f"{bits.get(t, 0)}::BIGINT AS m FROM postings WHERE term = {term_id(t)} AND {tf} > 0{cond}{extra}"
                )

            free = [w for w in words if df[w]]
            parts = [part(t) for t in dict.fromkeys([*required, *free])]
            if not parts:
                return []
            post = bool(phrases or f.role or f.speaker)
            if not post and len(free) > 1:
                early = self._rare_first(con, free, df, n, part, tf, cond, limit, idf)
                if early is not None:
                    return self._hits(con, early, q, phrases, f, original, limit, include_sealed)
            union = " UNION ALL ".join(parts)
            if len(parts) == 1:
                ranked = f"SELECT segment_id, s FROM ({union})"
            else:
                having = f" HAVING bit_or(m) = {sum(bits.values())}" if bits else ""
                ranked = f"SELECT segment_id, sum(s) AS s FROM ({union}) GROUP BY segment_id{having}"
            # Checks the index cannot make (phrase adjacency, the segment's speaker) are made on the
            # best-scored candidates in growing batches; the ranking itself runs once, or twice when
            # the first few thousand candidates do not give enough hits.
            caps = (max(2000, limit * 4), MAX_CHECKED) if post else (limit,)
            hits: list[Hit] = []
            checked, batch = 0, limit * 4 if post else limit
            for cap in caps:
                top = con.execute(f"{ranked} ORDER BY s DESC, segment_id LIMIT {cap}").fetchall()
                while checked < len(top) and len(hits) < limit:
                    chunk = top[checked : checked + batch]
                    checked += len(chunk)
                    hits += self._hits(con, chunk, q, phrases, f, original, limit - len(hits), include_sealed)
                    batch *= 4
                if len(hits) >= limit or len(top) < cap:
                    return hits
            log.info("search %r: stopped checking after %d candidates", query, checked)
            return hits

    @staticmethod
    def _rare_first(
        con: duckdb.DuckDBPyConnection,
        free: list[str],
        df: dict[str, int],
        n: int,
        part: Any,
        tf: str,
        cond: str,
        limit: int,
        idf: Any,
    ) -> list[tuple[int, float]] | None:
        """Top hits of an OR query without aggregating every posting of its common words, when provable.

        A segment holding only common words (in more than COMMON_SHARE of segments) scores at most
        the sum of their idf * (k1 + 1). Score exactly the segments holding a rarer word; when the
        last of the best `limit` beats that bound, no common-only segment can enter them (the
        MaxScore idea). Otherwise None: the caller ranks everything.
        """
        common = [t for t in free if df[t] > n * COMMON_SHARE]
        rare = [t for t in free if t not in common]
        if not common or not rare:
            return None
        bound = sum(idf(df[t]) * (K1 + 1) for t in common)
        holders = " UNION ALL ".join(
            f"SELECT segment_id FROM postings WHERE term = {term_id(t)} AND {tf} > 0{cond}" for t in rare
        )
        narrowed = [part(t) for t in rare] + [part(t, f" AND segment_id IN ({holders})") for t in common]
        top = con.execute(
            f"SELECT segment_id, sum(s) AS s FROM ({' UNION ALL '.join(narrowed)}) GROUP BY segment_id "
            f"ORDER BY s DESC, segment_id LIMIT {int(limit)}"
        ).fetchall()
        if len(top) == limit and top[-1][1] > bound:
            return [(i, float(sc)) for i, sc in top]
        return None

    def _scan(
        self, con: duckdb.DuckDBPyConnection, needles: list[str], original: bool, cond: str, limit: int
    ) -> list[tuple[int, float]]:
        """Segments containing every needle, by scanning the text (nothing in the index narrows them)."""
        col = "text_orig" if original else "text"
        where = " AND ".join(f"contains(lower({col}), ?)" for _ in needles)
        rows = con.execute(
            f"SELECT id, 1.0 FROM segments WHERE {where}{cond.replace('hearing_id', 'segments.hearing_id')} "
            f"ORDER BY id LIMIT {int(limit) * 4}",
            needles,
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def _hits(
        self,
        con: duckdb.DuckDBPyConnection,
        ranked: list[tuple[int, float]],
        q: Query,
        phrases: list[str],
        f: Filters,
        original: bool,
        limit: int,
        include_sealed: bool,
    ) -> list[Hit]:
        """The candidates that pass the checks the index cannot make, as Hits, best first (without the sealed ones
        unless `include_sealed`)."""
        if not ranked:
            return []
        if not include_sealed:
            sealed = {
                r[0]
                for r in con.execute(
                    f"SELECT s.id FROM segments s WHERE s.id IN ({_sql_list(i for i, _ in ranked)}) AND EXISTS "
                    f"(SELECT 1 FROM sealed_parts p WHERE p.hearing_id = s.hearing_id AND {SEALED_OVERLAP})"
                ).fetchall()
            }
            ranked = [(i, sc) for i, sc in ranked if i not in sealed]
            if not ranked:
                return []
        col = "text_orig" if original else "text"
        speakers: dict[tuple[int, str], tuple[str | None, str | None]] = {}
        if f.role or f.speaker:
            # speaker first (small columns), text only for the segments whose speaker passes
            who = con.execute(
                f"SELECT id, hearing_id, speaker FROM segments WHERE id IN ({_sql_list(i for i, _ in ranked)})"
            ).fetchall()
            speakers = self._speakers(con, {r[1] for r in who})
            keep = set()
            for seg_id, hearing_id, label in who:
                role, name = speakers.get((hearing_id, label), (None, None))
                if (not f.role or role == f.role) and (not f.speaker or f.speaker in (name, label)):
                    keep.add(seg_id)
            ranked = [(i, sc) for i, sc in ranked if i in keep]
            if not ranked:
                return []
        rows = {
            r[0]: r
            for r in con.execute(
                f"SELECT id, hearing_id, start_s, end_s, speaker, {col}, text <> text_orig FROM segments "
                f"WHERE id IN ({_sql_list(i for i, _ in ranked)})"
            ).fetchall()
        }
        hearing_ids = {r[1] for r in rows.values()}
        meta: dict[int, tuple[int, str, str | None]] = {}
        for r in con.execute(  # hearings, their cases and speakers in one round trip
            "SELECT h.id, h.case_id, c.number, strftime(h.starts_at, '%Y-%m-%dT%H:%M:%S'), sp.label, sp.role, "
            "sp.name FROM hearings h JOIN cases c ON c.id = h.case_id "
            f"LEFT JOIN speakers sp ON sp.hearing_id = h.id WHERE h.id IN ({_sql_list(hearing_ids)})"
        ).fetchall():
            meta[r[0]] = (r[1], r[2], r[3])
            if r[4] is not None:
                speakers[(r[0], r[4])] = (r[5], r[6])
        needles = list(phrases) + list(q.words)
        hits: list[Hit] = []
        for seg_id, score in ranked:
            r = rows.get(seg_id)
            if r is None or r[1] not in meta:
                continue
            _, hearing_id, start, end, label, text, edited = r
            if phrases:
                norm = normalize(text)
                if not all(phrase_pattern(p).search(norm) for p in phrases):
                    continue
            role, name = speakers.get((hearing_id, label), (None, None))
            if f.role and role != f.role:
                continue
            if f.speaker and f.speaker not in (name, label):
                continue
            case_id, case_number, hearing_start = meta[hearing_id]
            snip, marks = snippet(text, needles)
            hits.append(
                Hit(
                    segment_id=seg_id,
                    hearing_id=hearing_id,
                    case_id=case_id,
                    case_number=case_number,
                    hearing_start=hearing_start or "",
                    start=start,
                    end=end,
                    speaker=label,
                    role=role,
                    name=name,
                    score=float(score),
                    text=text,
                    snippet=snip,
                    marks=marks,
                    edited=bool(edited),
                )
            )
            if len(hits) == limit:
                break
        return hits

    @staticmethod
    def _speakers(
        con: duckdb.DuckDBPyConnection, hearing_ids: set[int]
    ) -> dict[tuple[int, str], tuple[str | None, str | None]]:
        rows = con.execute(
            f"SELECT hearing_id, label, role, name FROM speakers WHERE hearing_id IN ({_sql_list(hearing_ids)})"
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3]) for r in rows}

    def _dfs(
        self,
        con: duckdb.DuckDBPyConnection,
        lookups: dict[str, int],
        tf: str,
        scope: frozenset[int] | None = None,
        within: str = "",
    ) -> dict[str, int]:
        """Document frequency of each term (segments whose current, or original, text has it), in the scope."""
        original = tf == "tf_orig"
        st = stats_for(self.store.path)
        out = {t: st.df[(t, original, scope)] for t in lookups if (t, original, scope) in st.df}
        items = [(t, tid) for t, tid in lookups.items() if t not in out]
        if items:
            sql = " UNION ALL ".join(
                f"SELECT {i} AS i, count(*) AS n FROM postings WHERE term = {tid} AND {tf} > 0{within}"
                for i, (_, tid) in enumerate(items)
            )
            for i, c in con.execute(sql).fetchall():
                out[items[i][0]] = st.df[(items[i][0], original, scope)] = int(c)
        return out


def search(
    store: Store,
    query: str,
    *,
    case: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    role: str | None = None,
    speaker: str | None = None,
    hearing_id: int | None = None,
    case_ids: frozenset[int] | None = None,
    limit: int = 20,
    original: bool = False,
    include_sealed: bool,
) -> list[Hit]:
    """One-call search: `search(store, '"张三" 证据', case='（2024）京0105民初1234号', limit=10, include_sealed=False)`.

    `case_ids`: the cases the asking account may see (`Access.case_ids()`; None for every case).
    `include_sealed` (required): False for an account that may not see sealed text (`Access.may_see_sealed`):
    segments overlapping a sealed part are never hits then.
    """
    filters = Filters(case, date_from, date_to, role, speaker, hearing_id, case_ids)
    return Searcher(store).search(query, filters, limit=limit, original=original, include_sealed=include_sealed)


# --- log notes ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteHit:
    """A log note whose text matches a query, with its hearing and the hit spans in its snippet."""

    note_id: int
    hearing_id: int
    case_id: int
    case_number: str
    hearing_start: str  # ISO date-time of the hearing, "" when unknown
    kind: str  # "stage" | "note" | "recess"
    at: float  # seconds into the recording
    end: float | None  # a recess's end
    text: str
    snippet: str
    marks: tuple[tuple[int, int], ...] = field(default_factory=tuple)


def _latin_word(needle: str) -> re.Pattern[str]:
    """A free word as `snippet` matches it: a Latin word or number whole, a Chinese word anywhere."""
    if IS_CJK.search(needle):
        return re.compile(re.escape(needle))
    return re.compile(rf"(?<![a-z0-9]){re.escape(needle)}(?![a-z0-9])")


@lru_cache(maxsize=1)
def _changed_by_normalizing() -> dict[str, str]:
    """Every character `normalize` changes (full-width letters, ①, ﬁ, compatibility ideographs ...), with what it
    becomes, and the marks that compose with the character before them (Mn, Mc, Me and the Hangul jamo), as
    themselves. Built once, on the first notes search (0.2 s)."""
    changed = {}
    for code in range(0x30000):  # past plane 2 nothing normalizes to anything else
        if 0xD800 <= code < 0xE000:
            continue
        ch = chr(code)
        norm = normalize(ch)
        if norm != ch.lower() or unicodedata.category(ch).startswith("M") or _JAMO.match(ch):
            changed[ch] = norm
    return changed


_JAMO = re.compile("[\u1100-\u11ff\ua960-\ua97f\ud7b0-\ud7ff]")


def _char_class(chars: Iterable[str]) -> str:
    """A regular-expression class of the characters, as ranges (RE2's \\x{...})."""
    codes = sorted({ord(c) for c in chars})
    ranges: list[list[int]] = []
    for code in codes:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "[" + "".join(f"\\x{{{a:X}}}" + (f"-\\x{{{b:X}}}" if b > a else "") for a, b in ranges) + "]"


@lru_cache(maxsize=256)
def _may_become(needle: str) -> str | None:
    """The characters of a note's raw text through which its normalized text could hold `needle` though the raw
    text (lowercased) does not: those that normalize to something with one of the needle's characters
    ("ＡＢＣ" for abc, "①" for 1), and the composing marks when the needle has a composed character. None: none."""
    wanted = set(needle)
    composed = any(unicodedata.normalize("NFD", c) != c for c in wanted)
    chars = [
        ch
        for ch, norm in _changed_by_normalizing().items()
        if (composed and norm == ch.lower()) or not wanted.isdisjoint(norm)
    ]
    return _char_class(chars) if chars else None


def _holds(needle: str, params: list[object]) -> str:
    """SQL: the note's text may hold `needle` (normalized), its parameters appended to `params`. The text is
    stored as written, so a note holding a character that normalizes into the needle ("出示证据１：ＡＢＣ合同" for
    abc) is kept too, for the exact check on its normalized text (few notes: a regular expression of those
    characters, 0.06 s over 300,000 notes). Lowercasing costs 6 times the test itself on Chinese text (0.30 s
    against 0.05 s over 300,000 notes), so only a needle with Latin letters, which lowercase, pays it."""
    test = "contains(lower(n.text), ?)" if re.search(r"[a-z]", needle) else "contains(n.text, ?)"
    params.append(needle)
    odd = _may_become(needle)
    if odd is None:
        return test
    params.append(odd)
    return f"({test} OR regexp_matches(n.text, ?))"


def search_notes(
    store: Store,
    query: str,
    *,
    case: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    hearing_id: int | None = None,
    case_ids: frozenset[int] | None = None,
    limit: int = 20,
    include_sealed: bool,
) -> list[NoteHit]:
    """Log notes whose text matches `query`: every "phrase", and any free word when there are any (a note that
    holds more of the words first, then the newest hearing, then by time). `case_ids` (the account's cases,
    None for every case) and the filters as `search` takes them; `include_sealed` (required) False leaves out
    the notes that lie in a sealed part (an account that may not see sealed text, `Access.may_see_sealed`).

    Scanned, not indexed: the SQL keeps the notes holding a needle (`_holds`), counts the words each holds and
    orders them so; the best few are read in batches and checked on the normalized text as segments' phrases are
    (whole Latin words at a phrase's or word's edges), so a common word costs a batch, not every note holding it.
    """
    q = parse_query(query)
    if q.empty or limit <= 0:
        return []
    f = Filters(case, date_from, date_to, None, None, hearing_id, case_ids)
    needles = [*q.phrases, *q.words]
    words = [_latin_word(w) for w in q.words]
    hits: list[tuple[int, int, NoteHit]] = []
    with store.reading() as con:
        hearings = Searcher(store)._hearing_ids(con, f)
        if hearings is not None and not hearings:
            return []
        where = [f"n.hearing_id IN ({_sql_list(hearings)})"] if hearings is not None else []
        found_params: list[object] = []
        found = " + ".join(f"{_holds(w, found_params)}::INTEGER" for w in q.words) or "0"
        params: list[object] = list(found_params)  # `found` comes first in the statement
        for phrase in q.phrases:  # each phrase is required
            where.append(_holds(phrase, params))
        if q.words:
            where.append(f"({found}) > 0")
            params += found_params
        if not include_sealed:
            where.append(
                f"NOT EXISTS (SELECT 1 FROM sealed_parts p WHERE p.hearing_id = n.hearing_id AND {NOTE_SEALED})"
            )
        sql = (
            f"SELECT n.id, n.hearing_id, h.case_id, c.number, strftime(h.starts_at, '%Y-%m-%dT%H:%M:%S'), n.kind, "
            f"n.at_s, n.end_s, n.text, {found} AS found FROM log_notes n JOIN hearings h ON h.id = n.hearing_id "
            f"JOIN cases c ON c.id = h.case_id WHERE {' AND '.join(where) or 'true'} "
            "ORDER BY found DESC, h.starts_at DESC NULLS LAST, n.hearing_id DESC, n.at_s, n.id"
        )
        batch, offset = max(limit * 4, 50), 0
        while len(hits) < limit:
            rows = con.execute(f"{sql} LIMIT {batch} OFFSET {offset}", params).fetchall()
            for order, (nid, hid, case_id, number, start, kind, at, end, text, _) in enumerate(rows, offset):
                norm = normalize(text)
                if not all(phrase_pattern(p).search(norm) for p in q.phrases):
                    continue
                held = sum(1 for pattern in words if pattern.search(norm))  # whole Latin words: maybe fewer
                if words and not held:
                    continue
                snip, marks = snippet(text, needles)
                hit = NoteHit(int(nid), int(hid), int(case_id), number, start or "", kind, float(at),
                              None if end is None else float(end), text, snip, marks)  # fmt: skip
                hits.append((-held, order, hit))
            if len(rows) < batch:
                break
            offset += batch
            batch *= 4
    hits.sort(key=lambda item: item[:2])
    return [hit for _, _, hit in hits[:limit]]
