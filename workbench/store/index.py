"""The keyword index: the `postings` table, what goes into it, and what is cached about it.

Why an index of our own and not `PRAGMA create_fts_index`: DuckDB's fts extension builds its index
in one pass over the whole table and has no incremental update, so a new hearing (or one corrected
word) would mean rebuilding the index of a million segments (tens of seconds), and its tokenizer
splits on spaces, which Chinese does not have. Here the index is the `postings` table, written in the
same transaction as the segments it describes, so a hearing is searchable the moment it commits and
an edit the moment it is saved.

What is indexed, per segment, for the current text (`tf`) and the original recognition (`tf_orig`):
- Latin words and numbers, NFKC-normalised and lowercased;
- every CJK character bigram, so any Chinese substring of two or more characters can be found even
  where the word segmenter cut the text differently;
- jieba's search-mode words of three or more characters (人民法院, 起诉状), so long words are one
  lookup and rank as words.
A term is stored as a 64-bit hash (`term_id`): fixed width, no vocabulary table to keep in step.

The table (created by schema migration 2, which keeps its own frozen copy of the DDL, as released
migrations must): `postings(term, segment_id, hearing_id, tf, tf_orig, dl, dl_orig)`, the segment
lengths also in `segments.dl`/`dl_orig`, and `search_meta.sorted_rows`. Lookups rely on DuckDB's zone
maps, which prune row groups only where `postings` is sorted by term; new hearings append an unsorted
tail (`unsorted_tail`) until `sort_postings` rewrites the table in term order.

This module is the only one that writes postings, and it imports nothing of the workbench: the store
calls it inside its own write transactions (a `con` is always the caller's), the migrations build the
first index with it, and `workbench.store.search` reads through it. It also keeps the collection
statistics that BM25 needs per database file (`stats_for`), forgotten by `invalidate` whenever
segments change, and `clear_caches` for "Unload models".
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import duckdb

log = logging.getLogger("workbench.store.index")

TAIL_LIMIT = 2_000_000  # unsorted postings rows tolerated before sorting pays off
CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
RUN = re.compile(f"[{CJK}]+|[a-z0-9]+")  # a run of CJK characters, or a Latin word or number (normalized text)
IS_CJK = re.compile(f"[{CJK}]")
_jieba_lock = threading.Lock()


# --- analysis ------------------------------------------------------------------------------------


def _jieba() -> Any:
    import jieba  # about a second to load its dictionary: only when Chinese text needs cutting

    with _jieba_lock:  # the dictionary loads once; two threads must not both build it
        if not jieba.dt.initialized:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
    return jieba


def prepare() -> None:
    """Loads jieba's dictionary now (about a second) instead of in the first text that needs it."""
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
    for m in RUN.finditer(normalize(text)):
        run = m.group()
        if not IS_CJK.match(run):
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


def words(run: str) -> list[str]:
    """jieba's words of a run of Chinese characters (how a query is cut; the index holds bigrams too)."""
    return [w for w in _jieba().lcut(run) if w.strip()]


def phrase_terms(phrase: str) -> list[str]:
    """Indexed terms every segment containing `phrase` (normalized) must have."""
    terms: list[str] = []
    for m in RUN.finditer(phrase):
        run = m.group()
        if IS_CJK.match(run) and len(run) >= 2:
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        elif not IS_CJK.match(run):
            terms.append(run)
    return list(dict.fromkeys(terms))


def doc_length(terms: Counter[str]) -> int:
    return min(sum(terms.values()), 65535)


# --- writing (inside the caller's transaction) -----------------------------------------------------


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
    import pyarrow as pa  # a few hundred ms to import: only once there is something to write

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


def delete_hearing(con: duckdb.DuckDBPyConnection, hearing_id: int) -> None:
    """Drops a hearing's postings (its segments are being replaced or deleted in the same transaction)."""
    con.execute("DELETE FROM postings WHERE hearing_id = ?", [hearing_id])


def delete_segment(con: duckdb.DuckDBPyConnection, segment_id: int) -> None:
    """Drops one segment's postings (it is leaving the hearing in the same transaction: merged away)."""
    con.execute("DELETE FROM postings WHERE segment_id = ?", [segment_id])


def reindex_segment(con: duckdb.DuckDBPyConnection, segment_id: int) -> None:
    """Rewrites one segment's postings after its text changed."""
    row = con.execute("SELECT hearing_id, text, text_orig FROM segments WHERE id = ?", [segment_id]).fetchone()
    if row is None:
        raise KeyError(f"segment {segment_id} does not exist")
    rows, dl, dl_orig = posting_rows(segment_id, row[0], row[1], row[2])
    con.execute("DELETE FROM postings WHERE segment_id = ?", [segment_id])
    insert_postings(con, rows)
    con.execute("UPDATE segments SET dl = ?, dl_orig = ? WHERE id = ?", [dl, dl_orig, segment_id])


def reindex_segments(con: duckdb.DuckDBPyConnection, segment_ids: Sequence[int]) -> None:
    """`reindex_segment` for several at once (one delete, one insert): the review desk saves a batch of edits."""
    ids = sorted({int(i) for i in segment_ids})
    if not ids:
        return
    marks = ", ".join("?" * len(ids))
    segs = con.execute(f"SELECT id, hearing_id, text, text_orig FROM segments WHERE id IN ({marks})", ids).fetchall()
    if len(segs) != len(ids):
        missing = sorted(set(ids) - {r[0] for r in segs})
        raise KeyError(f"segments {missing} do not exist")
    rows: list[tuple] = []
    lengths = []
    for seg_id, hearing_id, text, text_orig in segs:
        r, dl, dl_orig = posting_rows(seg_id, hearing_id, text, text_orig)
        rows.extend(r)
        lengths.append((seg_id, dl, dl_orig))
    con.execute(f"DELETE FROM postings WHERE segment_id IN ({marks})", ids)
    insert_postings(con, rows)
    con.execute(
        "UPDATE segments SET dl = v.dl::USMALLINT, dl_orig = v.dl_orig::USMALLINT FROM (VALUES "
        + ", ".join(["(?, ?, ?)"] * len(lengths))
        + ") AS v(id, dl, dl_orig) WHERE segments.id = v.id",
        [x for length in lengths for x in length],
    )


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
    sort_postings(con)
    return len(segs)


# --- order -----------------------------------------------------------------------------------------


def sort_postings(con: duckdb.DuckDBPyConnection) -> int:
    """Rewrites `postings` in term order (so zone maps prune lookups); returns its rows."""
    con.execute("CREATE TEMP TABLE _sorted AS SELECT * FROM postings ORDER BY term, segment_id")
    con.execute("DELETE FROM postings")
    con.execute("INSERT INTO postings SELECT * FROM _sorted")
    con.execute("DROP TABLE _sorted")
    n = con.execute("SELECT count(*) FROM postings").fetchone()[0]
    con.execute("UPDATE search_meta SET value = ? WHERE key = 'sorted_rows'", [n])
    return int(n)


def unsorted_tail(con: duckdb.DuckDBPyConnection) -> int:
    """Postings rows appended since the last sort (every query scans them)."""
    total = con.execute("SELECT count(*) FROM postings").fetchone()[0]
    done = con.execute("SELECT value FROM search_meta WHERE key = 'sorted_rows'").fetchone()[0]
    return max(int(total) - int(done), 0)


# --- collection statistics and caches --------------------------------------------------------------


@dataclass(slots=True)
class Stats:
    """Collection statistics of one database file: segment count, mean length, document frequencies.

    Exact, not sampled: every change of segments in this process calls `invalidate(path)`, and a
    change by another process can only happen while this one has the file closed (DuckDB's lock), after
    which the store invalidates on reopening. STATS_TTL is a safety net only.
    """

    at: float = 0.0
    # (original?, scope) → (segments, mean dl); the scope is the asking account's cases, None for every case
    collection: dict[tuple[bool, frozenset[int] | None], tuple[int, float]] = field(default_factory=dict)
    # (term, original?, scope) → segments having it
    df: dict[tuple[str, bool, frozenset[int] | None], int] = field(default_factory=dict)


STATS_TTL = 300.0
_stats: dict[Path, Stats] = {}
_stats_lock = threading.Lock()


def stats_for(path: Path) -> Stats:
    """The statistics kept for a database file, fresh ones when they were forgotten, stale or too many."""
    with _stats_lock:
        st = _stats.get(path)
        if st is None or time.monotonic() - st.at > STATS_TTL or len(st.df) > 200_000:
            st = _stats[path] = Stats(at=time.monotonic())
        return st


def invalidate(path: Path) -> None:
    """Forget the statistics of a database file (its segments changed)."""
    with _stats_lock:
        _stats.pop(Path(path), None)


def clear_caches() -> None:
    """Gives back what the index keeps in memory (term hashes grow with every transcript stored, and the
    statistics of each file); both are recomputed on the next use."""
    term_id.cache_clear()
    with _stats_lock:
        _stats.clear()
