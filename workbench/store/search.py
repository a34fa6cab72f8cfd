"""Keyword search across hearings, Chinese and English, over an inverted index kept in DuckDB.

Why an index of our own and not `PRAGMA create_fts_index`: DuckDB's fts extension builds its index
in one pass over the whole table and has no incremental update, so a new hearing (or one corrected
word) would mean rebuilding the index of a million segments (tens of seconds), and its tokenizer
splits on spaces, which Chinese does not have. Here the index is the `postings` table, written in the
same transaction as the segments it describes, so a hearing is searchable the moment it commits and
an edit the moment it is saved. BM25 is computed in SQL with the same formula as fts (k1=1.2,
b=0.75, idf = log10(1 + (N - df + 0.5) / (df + 0.5))); tests check the scores against fts's own
`match_bm25` on the same tokens (`fts_extension_path()` loads the pinned extension from its wheel).

What is indexed, per segment, for the current text (`tf`) and the original recognition (`tf_orig`):
- Latin words and numbers, NFKC-normalised and lowercased;
- every CJK character bigram, so any Chinese substring of two or more characters can be found even
  where the word segmenter cut the text differently;
- jieba's search-mode words of three or more characters (人民法院, 起诉状), so long words are one
  lookup and rank as words.
A term is stored as a 64-bit hash (`term_id`): fixed width, no vocabulary table to keep in step.

Queries: free words (jieba splits a Chinese query into words) are OR-ed and ranked by BM25; a
"quoted phrase" must occur exactly (case-insensitive) and is found through its rarest indexed term,
then checked with `contains`. A single Chinese character, which is not indexed, falls back to a scan.

Speed: lookups rely on DuckDB's zone maps, which prune row groups only where `postings` is sorted by
term. New hearings append an unsorted tail that every query scans; `optimize()` rewrites the table in
term order and the worker calls it when the tail outgrows `TAIL_LIMIT`.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from workbench.store import Store

log = logging.getLogger("workbench.store.search")

K1 = 1.2
B = 0.75
TAIL_LIMIT = 2_000_000  # unsorted postings rows tolerated before optimize() pays off
COMMON_SHARE = 0.02  # a word in more segments than this share is "common" for Searcher._rare_first
MAX_CHECKED = 20_000  # ranked candidates checked at most for phrases and speaker filters
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(f"[{_CJK}]+|[a-z0-9]+")
_IS_CJK = re.compile(f"[{_CJK}]")
_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”|「([^」]+)」')
_jieba_lock = threading.Lock()


# --- analysis ------------------------------------------------------------------------------------


def _jieba() -> Any:
    import jieba

    with _jieba_lock:  # the dictionary loads once; two threads must not both build it
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    return jieba


def prepare() -> None:
    """Loads jieba's dictionary now (about a second) instead of in the first query; servers call it at start."""
    _jieba()


def normalize(text: str) -> str:
    """Full-width letters and digits to ASCII, lowercase: what both index and query see."""
    return unicodedata.normalize("NFKC", text).lower()


@lru_cache(maxsize=1 << 20)
def term_id(term: str) -> int:
    """The postings key of a term: a signed 64-bit hash (collisions: ~1 in 10^10 for a million terms)."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


def analyze(text: str) -> Counter[str]:
    """The indexed terms of one segment's text, with their counts."""
    jieba = None
    terms: Counter[str] = Counter()
    for m in _RUN.finditer(normalize(text)):
        run = m.group()
        if not _IS_CJK.match(run):
            terms[run] += 1
            continue
        if len(run) == 1:
            terms[run] += 1
            continue
        for i in range(len(run) - 1):
            terms[run[i : i + 2]] += 1
        if len(run) >= 3:
            jieba = jieba or _jieba()
            for word in jieba.cut_for_search(run, HMM=False):
                if len(word) >= 3:
                    terms[word] += 1
    return terms


def doc_length(terms: Counter[str]) -> int:
    return min(sum(terms.values()), 65535)


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
    for m in _RUN.finditer(rest):
        run = m.group()
        if not _IS_CJK.match(run) or len(run) <= 2:
            words.append(run)
            continue
        pieces = [w for w in _jieba().lcut(run) if w.strip()]
        # Single characters (的, 了, 在) carry little meaning inside a longer query; alone, they are searched.
        longer = [w for w in pieces if len(w) >= 2]
        words.extend(longer or pieces)
    seen: dict[str, None] = dict.fromkeys(words)
    return Query(tuple(seen), tuple(p for p in dict.fromkeys(phrases) if p))


def _phrase_terms(phrase: str) -> list[str]:
    """Indexed terms every segment containing `phrase` must have."""
    terms: list[str] = []
    for m in _RUN.finditer(phrase):
        run = m.group()
        if _IS_CJK.match(run) and len(run) >= 2:
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif not _IS_CJK.match(run):
            terms.append(run)
    return list(dict.fromkeys(terms))


# --- writing the index (called by the store inside its write transactions) ------------------------


@lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Matches `phrase` in normalized text; a phrase that starts or ends with a Latin word or number
    matches whole words there ("contract" not in "contractor", "B-12" not in "B-123")."""
    head = r"(?<![a-z0-9])" if re.match(r"[a-z0-9]", phrase) else ""
    tail = r"(?![a-z0-9])" if re.search(r"[a-z0-9]$", phrase) else ""
    return re.compile(head + re.escape(phrase) + tail)


def posting_rows(segment_id: int, hearing_id: int, text: str, text_orig: str) -> tuple[list[tuple], int, int]:
    """Postings rows for one segment, and its current and original lengths."""
    cur = analyze(text)
    orig = cur if text_orig == text else analyze(text_orig)
    dl, dl_orig = doc_length(cur), doc_length(orig)
    rows = [
        (term_id(t), segment_id, hearing_id, min(cur.get(t, 0), 65535), min(orig.get(t, 0), 65535), dl, dl_orig)
        for t in cur.keys() | orig.keys()
    ]
    return rows, dl, dl_orig


def insert_postings(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple]) -> None:
    if not rows:
        return
    import pyarrow as pa

    cols = list(zip(*rows, strict=True))
    table = pa.table(
        {
            "term": pa.array(cols[0], pa.int64()),
            "segment_id": pa.array(cols[1], pa.int64()),
            "hearing_id": pa.array(cols[2], pa.int32()),
            "tf": pa.array(cols[3], pa.uint16()),
            "tf_orig": pa.array(cols[4], pa.uint16()),
            "dl": pa.array(cols[5], pa.uint16()),
            "dl_orig": pa.array(cols[6], pa.uint16()),
        }
    )
    con.register("_new_postings", table)
    try:
        con.execute("INSERT INTO postings SELECT * FROM _new_postings")
    finally:
        con.unregister("_new_postings")


def reindex_segment(con: duckdb.DuckDBPyConnection, segment_id: int) -> None:
    """Rewrites one segment's postings after its text changed (inside the caller's transaction)."""
    row = con.execute("SELECT hearing_id, text, text_orig FROM segments WHERE id = ?", [segment_id]).fetchone()
    if row is None:
        raise KeyError(f"segment {segment_id} does not exist")
    rows, dl, dl_orig = posting_rows(segment_id, row[0], row[1], row[2])
    con.execute("DELETE FROM postings WHERE segment_id = ?", [segment_id])
    insert_postings(con, rows)
    con.execute("UPDATE segments SET dl = ?, dl_orig = ? WHERE id = ?", [dl, dl_orig, segment_id])


def reindex_all(con: duckdb.DuckDBPyConnection) -> int:
    """Indexes every segment from scratch (migration to schema 2, repair); returns the segments indexed."""
    con.execute("DELETE FROM postings")
    segs = con.execute("SELECT id, hearing_id, text, text_orig FROM segments ORDER BY id").fetchall()
    rows: list[tuple] = []
    lengths: list[tuple[int, int, int]] = []
    for seg_id, hearing_id, text, text_orig in segs:
        r, dl, dl_orig = posting_rows(seg_id, hearing_id, text, text_orig)
        rows.extend(r)
        lengths.append((seg_id, dl, dl_orig))
    insert_postings(con, rows)
    if lengths:
        import pyarrow as pa

        ids, dls, dlos = zip(*lengths, strict=True)
        con.register("_lengths", pa.table({"id": ids, "dl": dls, "dl_orig": dlos}))
        try:
            con.execute("UPDATE segments SET dl = l.dl, dl_orig = l.dl_orig FROM _lengths l WHERE segments.id = l.id")
        finally:
            con.unregister("_lengths")
    _sort_postings(con)
    return len(segs)


def _sort_postings(con: duckdb.DuckDBPyConnection) -> int:
    con.execute("CREATE TEMP TABLE _sorted AS SELECT * FROM postings ORDER BY term, segment_id")
    con.execute("DELETE FROM postings")
    con.execute("INSERT INTO postings SELECT * FROM _sorted")
    con.execute("DROP TABLE _sorted")
    n = con.execute("SELECT count(*) FROM postings").fetchone()[0]
    con.execute("UPDATE search_meta SET value = ? WHERE key = 'sorted_rows'", [n])
    return int(n)


def unsorted_tail(con: duckdb.DuckDBPyConnection) -> int:
    total = con.execute("SELECT count(*) FROM postings").fetchone()[0]
    done = con.execute("SELECT value FROM search_meta WHERE key = 'sorted_rows'").fetchone()[0]
    return max(int(total) - int(done), 0)


def optimize(store: Store, *, force: bool = False) -> bool:
    """Rewrites `postings` in term order when its unsorted tail is large (or `force`); True if it did.

    Readers keep reading the old version meanwhile (MVCC); the rewrite holds the store's write lock.
    """
    with store.reading() as con:
        if not force and unsorted_tail(con) < TAIL_LIMIT:
            return False
    started = time.monotonic()
    with store.writing() as con:
        threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
        con.execute(f"SET threads = {os.cpu_count() or 1}")  # a one-off sort of millions of rows
        try:
            n = _sort_postings(con)
        finally:
            con.execute(f"SET threads = {int(threads)}")
    with store.reading() as con:
        con.execute("CHECKPOINT")
    log.info("search index sorted: %d postings in %.1f s", n, time.monotonic() - started)
    return True


def fts_extension_path() -> Path:
    """The fts extension shipped in the pinned `duckdb-extension-fts` wheel (loaded with LOAD, no network)."""
    import duckdb_extension_fts

    path = Path(duckdb_extension_fts.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "fts.duckdb_extension"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: duckdb-extension-fts must match duckdb {duckdb.__version__}; "
            f"install duckdb-extension-fts=={duckdb.__version__}"
        )
    return path


# --- searching -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Filters:
    case: str | None = None  # case number, or the case id as text
    date_from: date | None = None
    date_to: date | None = None
    role: str | None = None
    speaker: str | None = None  # display name or label (S1)
    hearing_id: int | None = None


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
        if not _IS_CJK.search(needle):  # Latin words match whole words only
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


def _f(x: float) -> str:
    """A float literal DuckDB reads as DOUBLE (a bare 1.2 is a DECIMAL, which overflows in products)."""
    return f"{float(x)!r}::DOUBLE"


def _sql_list(values: Iterable[int]) -> str:
    return ",".join(str(int(v)) for v in values)


@dataclass(slots=True)
class _Stats:
    """Collection statistics of one database file: segment count, mean length, document frequencies.

    Exact, not sampled: every change of segments in this process calls `invalidate(path)`, and a
    change by another process can only happen while this one has the file closed (DuckDB's lock), after
    which the store invalidates on reopening. STATS_TTL is a safety net only.
    """

    at: float = 0.0
    collection: dict[bool, tuple[int, float]] = field(default_factory=dict)
    df: dict[tuple[str, bool], int] = field(default_factory=dict)


STATS_TTL = 300.0
_stats: dict[Path, _Stats] = {}
_stats_lock = threading.Lock()


def invalidate(path: Path) -> None:
    """Forget the statistics of a database file (its segments changed)."""
    with _stats_lock:
        _stats.pop(Path(path), None)


def _stats_for(path: Path) -> _Stats:
    with _stats_lock:
        st = _stats.get(path)
        if st is None or time.monotonic() - st.at > STATS_TTL or len(st.df) > 200_000:
            st = _stats[path] = _Stats(at=time.monotonic())
        return st


class Searcher:
    """Runs queries against a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _collection(self, con: duckdb.DuckDBPyConnection, original: bool) -> tuple[int, float]:
        st = _stats_for(self.store.path)
        hit = st.collection.get(original)
        if hit is not None:
            return hit
        col = "dl_orig" if original else "dl"
        n, avg = con.execute(f"SELECT count(*), coalesce(avg({col}), 1) FROM segments").fetchone()
        st.collection[original] = (int(n), float(avg) or 1.0)
        return st.collection[original]

    def invalidate(self) -> None:
        invalidate(self.store.path)

    def _hearing_ids(self, con: duckdb.DuckDBPyConnection, f: Filters) -> list[int] | None:
        """The hearings the filters allow, or None when every hearing is allowed.

        Role and speaker filters narrow to hearings having such a speaker here (a name is usually one
        hearing); the segment's own speaker is checked after ranking.
        """
        where, params = [], []
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
        self, query: str, filters: Filters | None = None, *, limit: int = 20, original: bool = False
    ) -> list[Hit]:
        """Segments matching `query`, best first. `original` searches the recognition instead of the corrected text.

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
            n, avgdl = self._collection(con, original)
            n = max(n, 1)

            words = list(q.words)
            phrases = list(q.phrases)
            df = self._dfs(con, {w: term_id(w) for w in words}, tf)
            # A Chinese word the index has no posting for: two characters (always indexed as a bigram)
            # or fewer do not occur, unless it is the whole query (a lone character: scanned). A
            # longer one may have been cut differently by jieba: alone it is matched as an exact
            # substring (a phrase); among other words its bigrams join the OR.
            for w in [w for w in words if not df[w] and _IS_CJK.search(w)]:
                words.remove(w)
                if len(w) >= 3 and (q.words == (w,) and not q.phrases):
                    phrases.append(w)
                elif len(w) >= 3:
                    grams = [g for g in _phrase_terms(w) if g not in words]
                    df.update(self._dfs(con, {g: term_id(g) for g in grams}, tf))
                    words += grams
                elif len(w) == 1 and q.words == (w,) and not q.phrases:
                    phrases.append(w)
            required = list(dict.fromkeys(t for p in phrases for t in _phrase_terms(p)))
            df.update(self._dfs(con, {t: term_id(t) for t in required if t not in df}, tf))
            if any(df[t] == 0 for t in required):
                return []
            unindexed = [p for p in phrases if not _phrase_terms(p)]  # a lone Chinese character
            # Each phrase is narrowed by its two rarest terms only (the text check does the rest): the
            # cost of the ranking grows with the postings it reads, and a phrase's common bigrams or
            # single letters ("b" in "Exhibit B-12") would only add rows, not precision.
            required = list(
                dict.fromkeys(t for p in phrases for t in sorted(_phrase_terms(p), key=lambda t: df[t])[:2])
            )
            if unindexed and not required:
                candidates = self._scan(con, unindexed, original, cond, limit)
                return self._hits(con, candidates, q, phrases, f, original, limit)

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
                    return self._hits(con, early, q, phrases, f, original, limit)
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
                    hits += self._hits(con, chunk, q, phrases, f, original, limit - len(hits))
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
    ) -> list[Hit]:
        """The candidates that pass the checks the index cannot make, as Hits, best first."""
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

    def _dfs(self, con: duckdb.DuckDBPyConnection, lookups: dict[str, int], tf: str) -> dict[str, int]:
        """Document frequency of each term (segments whose current, or original, text has it)."""
        original = tf == "tf_orig"
        st = _stats_for(self.store.path)
        out = {t: st.df[(t, original)] for t in lookups if (t, original) in st.df}
        items = [(t, tid) for t, tid in lookups.items() if t not in out]
        if items:
            sql = " UNION ALL ".join(
                f"SELECT {i} AS i, count(*) AS n FROM postings WHERE term = {tid} AND {tf} > 0"
                for i, (_, tid) in enumerate(items)
            )
            for i, c in con.execute(sql).fetchall():
                out[items[i][0]] = st.df[(items[i][0], original)] = int(c)
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
    limit: int = 20,
    original: bool = False,
) -> list[Hit]:
    """One-call search: `search(store, '"张三" 证据', case='（2024）京0105民初1234号', limit=10)`."""
    filters = Filters(case, date_from, date_to, role, speaker, hearing_id)
    return store.searcher.search(query, filters, limit=limit, original=original)
