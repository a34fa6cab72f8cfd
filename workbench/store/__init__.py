"""The hearing store: cases, hearings, recordings, speakers, hotwords, segments, edits and jobs in DuckDB.

Concurrency. DuckDB lets one process open a file read-write; inside that process any number of
connections may read while one writes (MVCC: a reader sees the last committed state, never a
half-written hearing). So:
- In a process, every `Store` on the same file shares one DuckDB instance (DuckDB's own instance
  cache). Each operation takes a fresh cursor (`reading()`), so Streamlit page threads never share a
  connection object. All writes go through `writing()`, which holds one per-file lock for the whole
  transaction: one writer at a time, no write-write conflicts to retry.
- Across processes (the Streamlit server and a CLI), opening waits for the other process to let go,
  retrying for `db_lock_timeout` seconds, then fails naming the holder. A long-lived process can pass
  `idle_close_s`: the file is closed after that many seconds without an operation, so a CLI command
  gets in whenever the server is idle. While a job runs the worker keeps the file open.
- A transaction that is cut short (exception, SIGKILL) leaves nothing: DuckDB's WAL replays only
  committed transactions on the next open. A hearing's segments, postings and its job's state are
  written in one transaction.

Current text is `text`; `text_orig` is the recognition, never changed; every change is an `edits`
row (segment, field, before, after, user, time), so `derived_text()` (original + edits) always equals
`text` — the tests check it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from workbench import settings
from workbench.speech.text import Hotword
from workbench.speech.transcript import (
    EngineInfo,
    HearingRecord,
    Party,
    Segment,
    SpeakerLabel,
    SpeakerSummary,
    Transcript,
    Word,
)
from workbench.store import migrations
from workbench.store.status import Event, HearingStatus, StatusError, next_status

log = logging.getLogger("workbench.store")

ROLES = (
    "审判长",
    "审判员",
    "人民陪审员",
    "书记员",
    "原告",
    "被告",
    "第三人",
    "代理人",
    "公诉人",
    "辩护人",
    "证人",
    "鉴定人",
)


class StoreError(Exception):
    """A store operation that cannot be done; the message names the thing, the reason and the fix."""


class StoreLocked(StoreError):
    """Another process holds the database file."""


class NotFound(StoreError, KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""


# --- records ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    number: str
    cause: str
    court: str
    parties: tuple[Party, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Hearing:
    id: int
    case_id: int
    case_number: str
    starts_at: datetime | None
    ends_at: datetime | None
    courtroom: str
    presiding_judge: str
    clerk: str
    status: HearingStatus
    language: str
    created_at: datetime
    segments: int  # how many are stored
    duration: float | None  # of its recording, seconds


@dataclass(frozen=True, slots=True)
class Recording:
    id: int
    hearing_id: int
    file_name: str
    stored_path: Path
    sha256: str
    duration: float | None
    format: str
    size_bytes: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Speaker:
    hearing_id: int
    label: str
    role: str | None
    name: str | None
    speech_time: float | None
    first_appearance: float | None
    embedding: tuple[float, ...] | None

    def display(self) -> str:
        return SpeakerLabel(self.role, self.name).display(self.label)


@dataclass(frozen=True, slots=True)
class StoredSegment:
    id: int
    hearing_id: int
    idx: int
    start: float
    end: float
    speaker: str | None
    speaker_orig: str | None
    text: str
    text_orig: str
    engine: str
    model: str

    @property
    def edited(self) -> bool:
        return self.text != self.text_orig or self.speaker != self.speaker_orig


@dataclass(frozen=True, slots=True)
class Edit:
    id: int
    segment_id: int | None  # None: an edit to a hearing's speaker label (field role or name)
    hearing_id: int | None
    field: str  # text, speaker, role:S1, name:S1
    before: str | None
    after: str | None
    user: str
    at: datetime


# --- the store -------------------------------------------------------------------------------------

_write_locks: dict[Path, threading.RLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    with _write_locks_guard:
        return _write_locks.setdefault(path, threading.RLock())


def default_user() -> str:
    if settings.get("user"):
        return str(settings.get("user"))
    for var in ("USER", "USERNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return "unknown"


class Store:
    """One hearing database. Cheap to create; opens the file on first use and migrates it."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        audio_dir: str | Path | None = None,
        lock_timeout: float | None = None,
        idle_close_s: float | None = None,
    ) -> None:
        self.path = Path(path) if path else settings.db_path()
        self.path = self.path.resolve() if self.path.parent.exists() else self.path.absolute()
        # Audio lives beside the database (`data/audio/` for the default `data/workbench.duckdb`),
        # so a database and its recordings move together.
        self.audio_dir = Path(audio_dir) if audio_dir else self.path.parent / "audio"
        self.lock_timeout = float(settings.get("db_lock_timeout") if lock_timeout is None else lock_timeout)
        self.idle_close_s = idle_close_s
        self._con: duckdb.DuckDBPyConnection | None = None
        self._state = threading.Condition()
        self._active = 0
        self._timer: threading.Timer | None = None
        self._write = _write_lock(self.path)
        self._searcher: Any = None

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    # -- connections --

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as e:
                if "lock" not in str(e).lower():
                    raise StoreError(f"{self.path}: cannot open the database: {e}") from e
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"{self.path}: the database is in use by another process ({e}). Wait for it to finish, "
                        "stop it (e.g. the workbench server), or raise WORKBENCH_DB_LOCK_TIMEOUT"
                    ) from e
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
        try:
            threads = int(settings.get("db_threads"))
            if threads > 0:
                # One thread per query: measured on this 2-core machine under a running job, searches
                # were steadier single-threaded (median 47 vs 61 ms) than waiting on a second thread.
                con.execute(f"SET threads = {threads}")
            with self._write:
                if migrations.migrate(con):
                    # Schema changes go to the main file at once: DuckDB 1.5.5 cannot replay a WAL holding
                    # CREATE TABLE ... DEFAULT nextval(...) after a crash ("no default database set").
                    con.execute("CHECKPOINT")
        except Exception:
            con.close()
            raise
        return con

    @contextlib.contextmanager
    def _use(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._state:
            cur = self._cursor() if self._con is not None else None
        if cur is None:
            # Opening migrates under the write lock. Take it before `_state`, in the order `writing()`
            # does: a reader that opened under `_state` and then waited for the write lock deadlocked
            # with a writer holding the write lock and waiting for `_state` (after "Unload models"
            # had closed the file).
            with self._write, self._state:
                if self._con is None:
                    self._con = self._open()
                    # another process may have written while the file was closed
                    self.segments_changed()
                cur = self._cursor()
        try:
            yield cur
        finally:
            cur.close()
            with self._state:
                self._active -= 1
                if self._active == 0 and self.idle_close_s is not None:
                    self._timer = threading.Timer(self.idle_close_s, self.release)
                    self._timer.daemon = True
                    self._timer.start()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor on the open file, counted as active (call with `_state` held)."""
        assert self._con is not None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._active += 1
        return self._con.cursor()

    def release(self) -> bool:
        """Closes the file now if no operation is using it (the next one reopens it); True if it closed.

        Closing gives back DuckDB's buffer pool and caches; "Unload models" calls it.
        """
        with self._state:
            if self._active or self._con is None:
                return False
            self._con.close()
            self._con = None
        log.debug("closed %s (idle)", self.path)
        return True

    def close(self) -> None:
        with self._state:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._con is not None:
                self._con.close()
                self._con = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def reading(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for reads; sees the last committed state."""
        with self._use() as cur:
            yield cur

    @contextlib.contextmanager
    def writing(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction, holding the file's write lock: all of it commits or none."""
        with self._write, self._use() as cur:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def segments_changed(self) -> None:
        """Search statistics (segment count, mean length, term frequencies) are recomputed on the next query."""
        from workbench.store import search

        search.invalidate(self.path)

    @property
    def searcher(self) -> Any:
        """The `workbench.store.search.Searcher` for this store."""
        if self._searcher is None:
            from workbench.store.search import Searcher

            self._searcher = Searcher(self)
        return self._searcher

    def schema_version(self) -> int:
        with self.reading() as con:
            return migrations.current_version(con)

    # -- cases --

    def add_case(self, number: str, *, cause: str = "", court: str = "", parties: Sequence[Party] = ()) -> Case:
        number = number.strip()
        if not number:
            raise StoreError("a case needs its number, e.g. （2024）京0105民初1234号")
        with self.writing() as con:
            if con.execute("SELECT 1 FROM cases WHERE number = ?", [number]).fetchone():
                raise StoreError(f"case {number} already exists: use it, or `cases list` to see all cases")
            row = con.execute(
                "INSERT INTO cases (number, cause, court, parties) VALUES (?, ?, ?, ?) RETURNING id",
                [number, cause, court, _parties_json(parties)],
            ).fetchone()
        return self.case(row[0])

    def ensure_case(self, number: str) -> Case:
        """The case with this number, created empty when new."""
        try:
            return self.case(number)
        except NotFound:
            return self.add_case(number)

    def case(self, key: int | str) -> Case:
        """A case by id or by number."""
        with self.reading() as con:
            if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
                row = con.execute(_CASE_SQL + " WHERE id = ? OR number = ?", [int(key), str(key)]).fetchone()
            else:
                row = con.execute(_CASE_SQL + " WHERE number = ?", [key.strip()]).fetchone()
        if row is None:
            raise NotFound(f"no case {key}: `workbench cases list` shows the cases, `cases add` creates one")
        return _case(row)

    def cases(self) -> list[Case]:
        with self.reading() as con:
            return [_case(r) for r in con.execute(_CASE_SQL + " ORDER BY created_at, id").fetchall()]

    # -- hearings --

    def add_hearing(
        self,
        case_id: int,
        *,
        starts_at: datetime | None = None,
        courtroom: str = "",
        presiding_judge: str = "",
        clerk: str = "",
        panel: Sequence[tuple[str, str]] = (),
        public: bool = True,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> int:
        """Creates a hearing (status queued); pass `con` to do it inside a caller's transaction."""
        if con is None:
            with self.writing() as c:
                return self.add_hearing(
                    case_id,
                    starts_at=starts_at,
                    courtroom=courtroom,
                    presiding_judge=presiding_judge,
                    clerk=clerk,
                    panel=panel,
                    public=public,
                    con=c,
                )
        row = con.execute(
            "INSERT INTO hearings (case_id, starts_at, courtroom, presiding_judge, clerk, panel, public) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [case_id, starts_at, courtroom, presiding_judge, clerk, json.dumps([list(p) for p in panel]), public],
        ).fetchone()
        return int(row[0])

    def hearing(self, hearing_id: int) -> Hearing:
        with self.reading() as con:
            row = con.execute(_HEARING_SQL + " WHERE h.id = ?", [hearing_id]).fetchone()
        if row is None:
            raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
        return _hearing(row)

    def hearings(
        self,
        *,
        case: str | int | None = None,
        status: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int | None = None,
    ) -> list[Hearing]:
        where, params = [], []
        if case is not None:
            where.append("(c.number = ? OR CAST(c.id AS VARCHAR) = ?)")
            params += [str(case), str(case)]
        if status:
            where.append("h.status = ?")
            params.append(status)
        if date_from:
            where.append("CAST(h.starts_at AS DATE) >= ?")
            params.append(date_from)
        if date_to:
            where.append("CAST(h.starts_at AS DATE) <= ?")
            params.append(date_to)
        sql = _HEARING_SQL + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY h.starts_at DESC NULLS LAST, h.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.reading() as con:
            return [_hearing(r) for r in con.execute(sql, params).fetchall()]

    def advance(self, hearing_id: int, event: Event, con: duckdb.DuckDBPyConnection | None = None) -> HearingStatus:
        """Moves the hearing's status on after `event` (see `status.next_status`); returns the new status."""
        if con is None:
            with self.writing() as c:
                return self.advance(hearing_id, event, c)
        row = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()
        if row is None:
            raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
        new = next_status(row[0], event)
        if new != row[0]:
            con.execute("UPDATE hearings SET status = ? WHERE id = ?", [new.value, hearing_id])
        return new

    def set_verified(self, hearing_id: int, verified: bool = True) -> HearingStatus:
        """The clerk's mark that the record was checked against the recording (or its withdrawal)."""
        try:
            return self.advance(hearing_id, Event.VERIFIED if verified else Event.UNVERIFIED)
        except StatusError as e:
            raise StoreError(f"hearing {hearing_id}: {e}") from e

    # -- recordings --

    def store_audio(self, source: str | Path) -> tuple[str, Path]:
        """Copies a file under `audio/<sha[:2]>/<sha256><suffix>`; returns its sha256 and stored path.

        The same content uploaded twice is stored once.
        """
        source = Path(source)
        if not source.is_file():
            raise StoreError(f"{source}: no such recording file")
        self.audio_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        tmp = self.audio_dir / f".incoming-{os.getpid()}-{threading.get_ident()}{source.suffix.lower()}"
        try:
            with source.open("rb") as src, tmp.open("wb") as dst:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    dst.write(chunk)
            sha = digest.hexdigest()
            target = self.audio_dir / sha[:2] / f"{sha}{source.suffix.lower()}"
            if target.exists():
                tmp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                tmp.replace(target)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise StoreError(f"{source}: could not copy it into {self.audio_dir}: {e}") from e
        return sha, target

    def recording_by_sha(self, sha256: str) -> Recording | None:
        with self.reading() as con:
            row = con.execute(_RECORDING_SQL + " WHERE sha256 = ? ORDER BY id LIMIT 1", [sha256]).fetchone()
        return None if row is None else _recording(row)

    def recordings(self, hearing_id: int) -> list[Recording]:
        with self.reading() as con:
            rows = con.execute(_RECORDING_SQL + " WHERE hearing_id = ? ORDER BY id", [hearing_id]).fetchall()
        return [_recording(r) for r in rows]

    def recording(self, recording_id: int) -> Recording:
        with self.reading() as con:
            row = con.execute(_RECORDING_SQL + " WHERE id = ?", [recording_id]).fetchone()
        if row is None:
            raise NotFound(f"no recording {recording_id}")
        return _recording(row)

    def add_recording(
        self,
        hearing_id: int,
        *,
        file_name: str,
        stored_path: Path,
        sha256: str,
        duration: float | None = None,
        format: str = "",
        con: duckdb.DuckDBPyConnection,
    ) -> int:
        row = con.execute(
            "INSERT INTO recordings (hearing_id, file_name, stored_path, sha256, duration, format, size_bytes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [hearing_id, file_name, str(stored_path), sha256, duration, format, stored_path.stat().st_size],
        ).fetchone()
        return int(row[0])

    # -- transcripts --

    def save_transcript(
        self, hearing_id: int, transcript: Transcript, *, con: duckdb.DuckDBPyConnection | None = None
    ) -> int:
        """Replaces the hearing's segments (and their index) with `transcript`'s, atomically.

        Speaker roles and names already assigned are kept; embeddings and speech times are updated.
        Returns the number of segments stored. Pass `con` to join a caller's transaction.
        """
        if con is None:
            with self.writing() as c:
                n = self.save_transcript(hearing_id, transcript, con=c)
            self.segments_changed()
            return n
        from workbench.store import search

        if not con.execute("SELECT 1 FROM hearings WHERE id = ?", [hearing_id]).fetchone():
            raise NotFound(f"no hearing {hearing_id}")
        if con.execute("SELECT 1 FROM segments WHERE hearing_id = ? LIMIT 1", [hearing_id]).fetchone():
            # A new transcript of a hearing (retry, other engine) replaces the old one; edits made to
            # the old segments stay in `edits` as history.
            con.execute("DELETE FROM postings WHERE hearing_id = ?", [hearing_id])
            con.execute("DELETE FROM segments WHERE hearing_id = ?", [hearing_id])
        n = len(transcript.segments)
        ids = [r[0] for r in con.execute(f"SELECT nextval('segment_ids') FROM range({n})").fetchall()] if n else []
        seg_rows, postings = [], []
        for i, (seg_id, seg) in enumerate(zip(ids, transcript.segments, strict=True)):
            p, dl, _ = search.posting_rows(seg_id, hearing_id, seg.text, seg.text)
            postings.extend(p)
            words = json.dumps([[w.start, w.end, w.text, w.prob] for w in seg.words], ensure_ascii=False)
            seg_rows.append(
                (seg_id, hearing_id, i, seg.start, seg.end, seg.speaker, seg.speaker, seg.text, seg.text, words,
                 transcript.engine.asr, transcript.engine.model, dl, dl)
            )  # fmt: skip
        if seg_rows:
            import pyarrow as pa

            cols = list(zip(*seg_rows, strict=True))
            names = ["id", "hearing_id", "idx", "start_s", "end_s", "speaker", "speaker_orig", "text", "text_orig",
                     "words", "engine", "model", "dl", "dl_orig"]  # fmt: skip
            con.register("_new_segments", pa.table(dict(zip(names, cols, strict=True))))
            try:
                con.execute(f"INSERT INTO segments ({', '.join(names)}) SELECT * FROM _new_segments")
            finally:
                con.unregister("_new_segments")
        search.insert_postings(con, postings)
        for spk in transcript.speakers or []:
            con.execute(
                "INSERT INTO speakers (hearing_id, label, embedding, speech_time, first_appearance) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hearing_id, label) DO UPDATE SET embedding = excluded.embedding, "
                "speech_time = excluded.speech_time, first_appearance = excluded.first_appearance",
                [hearing_id, spk.id, spk.embedding, spk.speech_time, spk.first_appearance],
            )
        labels = {s.speaker for s in transcript.segments if s.speaker} - {s.id for s in transcript.speakers or []}
        for label in sorted(labels):
            con.execute(
                "INSERT INTO speakers (hearing_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING", [hearing_id, label]
            )
        engine = json.dumps(
            {**transcript.to_dict()["engine"], "file": transcript.file, "duration": transcript.duration},
            ensure_ascii=False,
        )
        con.execute(
            "UPDATE hearings SET language = ?, engine = ? WHERE id = ?", [transcript.language, engine, hearing_id]
        )
        self.advance(hearing_id, Event.JOB_DONE, con)
        con.execute(
            "UPDATE recordings SET duration = ? WHERE hearing_id = ? AND duration IS NULL",
            [transcript.duration, hearing_id],
        )
        return n

    def segments(self, hearing_id: int) -> list[StoredSegment]:
        with self.reading() as con:
            rows = con.execute(_SEGMENT_SQL + " WHERE hearing_id = ? ORDER BY idx", [hearing_id]).fetchall()
        return [StoredSegment(*r) for r in rows]

    def segment(self, segment_id: int) -> StoredSegment:
        with self.reading() as con:
            row = con.execute(_SEGMENT_SQL + " WHERE id = ?", [segment_id]).fetchone()
        if row is None:
            raise NotFound(f"no segment {segment_id}: `workbench hearings show HEARING` lists segment ids")
        return StoredSegment(*row)

    def edit_segment(
        self, segment_id: int, *, text: str | None = None, speaker: str | None = None, user: str | None = None
    ) -> StoredSegment:
        """Changes a segment's text and/or speaker; one edits row per changed field, searchable at once."""
        from workbench.store import search

        user = user or default_user()
        with self.writing() as con:
            row = con.execute("SELECT hearing_id, text, speaker FROM segments WHERE id = ?", [segment_id]).fetchone()
            if row is None:
                raise NotFound(f"no segment {segment_id}: `workbench hearings show HEARING` lists segment ids")
            hearing_id, old_text, old_speaker = row
            if text is not None and text != old_text:
                con.execute("UPDATE segments SET text = ? WHERE id = ?", [text, segment_id])
                self._log_edit(con, segment_id, hearing_id, "text", old_text, text, user)
                search.reindex_segment(con, segment_id)
            if speaker is not None and speaker != old_speaker:
                con.execute("UPDATE segments SET speaker = ? WHERE id = ?", [speaker, segment_id])
                con.execute(
                    "INSERT INTO speakers (hearing_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    [hearing_id, speaker],
                )
                self._log_edit(con, segment_id, hearing_id, "speaker", old_speaker, speaker, user)
            self.advance(hearing_id, Event.EDITED, con)
        self.segments_changed()
        return self.segment(segment_id)

    @staticmethod
    def _log_edit(
        con: duckdb.DuckDBPyConnection,
        segment_id: int | None,
        hearing_id: int,
        field: str,
        before: str | None,
        after: str | None,
        user: str,
    ) -> None:
        con.execute(
            "INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name, edited_at) "
            "VALUES (?, ?, ?, ?, ?, ?, current_timestamp)",
            [segment_id, hearing_id, field, before, after, user],
        )

    def edits(self, *, hearing_id: int | None = None, segment_id: int | None = None) -> list[Edit]:
        where, params = [], []
        if hearing_id is not None:
            where.append("hearing_id = ?")
            params.append(hearing_id)
        if segment_id is not None:
            where.append("segment_id = ?")
            params.append(segment_id)
        sql = "SELECT id, segment_id, hearing_id, field, before, after, user_name, edited_at FROM edits"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self.reading() as con:
            return [Edit(*r) for r in con.execute(sql, params).fetchall()]

    def derived_text(self, segment_id: int) -> str:
        """The original recognition with every text edit applied in order: must equal the current text."""
        seg = self.segment(segment_id)
        text = seg.text_orig
        for e in self.edits(segment_id=segment_id):
            if e.field == "text":
                if e.before != text:
                    raise StoreError(f"segment {segment_id}: edit {e.id} does not follow from the one before it")
                text = e.after or ""
        return text

    # -- speakers --

    def speakers(self, hearing_id: int) -> list[Speaker]:
        with self.reading() as con:
            rows = con.execute(
                "SELECT hearing_id, label, role, name, speech_time, first_appearance, embedding FROM speakers "
                "WHERE hearing_id = ? ORDER BY first_appearance NULLS LAST, label",
                [hearing_id],
            ).fetchall()
        return [Speaker(*r[:6], tuple(r[6]) if r[6] is not None else None) for r in rows]

    def set_speaker(
        self,
        hearing_id: int,
        label: str,
        *,
        role: str | None = None,
        name: str | None = None,
        user: str | None = None,
    ) -> Speaker:
        """Gives a diarized speaker a court role and/or a name ("" clears it); each change is an edits row."""
        user = user or default_user()
        with self.writing() as con:
            if not con.execute("SELECT 1 FROM hearings WHERE id = ?", [hearing_id]).fetchone():
                raise NotFound(f"no hearing {hearing_id}")
            row = con.execute(
                "SELECT role, name FROM speakers WHERE hearing_id = ? AND label = ?", [hearing_id, label]
            ).fetchone()
            if row is None:
                known = [
                    r[0]
                    for r in con.execute("SELECT label FROM speakers WHERE hearing_id = ?", [hearing_id]).fetchall()
                ]
                raise NotFound(f"hearing {hearing_id} has no speaker {label}; it has: {', '.join(known) or 'none'}")
            for field, value, old in (("role", role, row[0]), ("name", name, row[1])):
                if value is None:
                    continue
                new = value.strip() or None
                if new != old:
                    con.execute(
                        f"UPDATE speakers SET {field} = ? WHERE hearing_id = ? AND label = ?", [new, hearing_id, label]
                    )
                    self._log_edit(con, None, hearing_id, f"{field}:{label}", old, new, user)
        return next(s for s in self.speakers(hearing_id) if s.label == label)

    # -- hotwords --

    def set_hotwords(self, hotwords: Sequence[Hotword], *, case_id: int | None = None) -> None:
        """Replaces the global list (case_id None) or a case's list."""
        with self.writing() as con:
            con.execute("DELETE FROM hotwords WHERE case_id IS NOT DISTINCT FROM ?", [case_id])
            for h in hotwords:
                con.execute("INSERT INTO hotwords VALUES (?, ?, ?)", [case_id, h.term, h.weight])

    def hotwords(self, *, case_id: int | None = None) -> tuple[Hotword, ...]:
        with self.reading() as con:
            rows = con.execute(
                "SELECT term, weight FROM hotwords WHERE case_id IS NOT DISTINCT FROM ? ORDER BY rowid", [case_id]
            ).fetchall()
        return tuple(Hotword(t, w) for t, w in rows)

    # -- what the exporters and the review page read --

    def transcript(self, hearing_id: int, *, original: bool = False) -> Transcript:
        """The hearing's transcript: corrected text and speakers, or the recognition with `original`."""
        hearing = self.hearing(hearing_id)
        recs = self.recordings(hearing_id)
        with self.reading() as con:
            rows = con.execute(
                "SELECT start_s, end_s, speaker, speaker_orig, text, text_orig, words, engine, model FROM segments "
                "WHERE hearing_id = ? ORDER BY idx",
                [hearing_id],
            ).fetchall()
            engine_json = con.execute("SELECT engine FROM hearings WHERE id = ?", [hearing_id]).fetchone()[0]
        info = json.loads(engine_json or "{}")
        file_name = info.pop("file", recs[0].file_name if recs else "")
        duration = info.pop("duration", None)
        if info.get("asr"):
            info["hotwords"] = tuple(info.get("hotwords", ()))
            engine = EngineInfo(**info)
        else:
            engine = EngineInfo(asr=rows[0][7] if rows else "", model=rows[0][8] if rows else "")
        segments = []
        for start, end, spk, spk_orig, text, text_orig, words_json, _, _ in rows:
            edited_text = text != text_orig
            # Word timings belong to the recognised text; they are dropped once the text is corrected.
            words = [] if edited_text and not original else [Word(*w) for w in json.loads(words_json or "[]")]
            segments.append(Segment(start, end, text_orig if original else text, spk_orig if original else spk, words))
        speakers = [
            SpeakerSummary(
                s.label, s.speech_time or 0.0, s.first_appearance or 0.0, list(s.embedding) if s.embedding else None
            )
            for s in self.speakers(hearing_id)
        ]
        return Transcript(
            file=file_name,
            sha256=recs[0].sha256 if recs else "",
            duration=float(
                duration if duration is not None else (recs[0].duration if recs and recs[0].duration else 0.0)
            ),
            language=hearing.language,
            engine=engine,
            segments=segments,
            speakers=speakers or None,
        )

    def hearing_record(self, hearing_id: int, original: bool = False) -> HearingRecord:
        """Everything the court record and the interchange formats need, for `workbench.record.docx`."""
        hearing = self.hearing(hearing_id)
        case = self.case(hearing.case_id)
        with self.reading() as con:
            panel_json, public = con.execute("SELECT panel, public FROM hearings WHERE id = ?", [hearing_id]).fetchone()
        panel = tuple((r, n) for r, n in json.loads(panel_json or "[]"))
        if not panel and hearing.presiding_judge:
            panel = (("审判长", hearing.presiding_judge),)
        labels = {s.label: SpeakerLabel(s.role, s.name) for s in self.speakers(hearing_id) if s.role or s.name}
        return HearingRecord(
            transcript=self.transcript(hearing_id, original=original),
            labels=labels,
            court=case.court,
            case_number=case.number,
            cause=case.cause,
            start=hearing.starts_at.isoformat(timespec="minutes") if hearing.starts_at else "",
            end=hearing.ends_at.isoformat(timespec="minutes") if hearing.ends_at else "",
            place=hearing.courtroom,
            public=bool(public),
            panel=panel,
            clerk=hearing.clerk,
            parties=case.parties,
            verified=hearing.status == HearingStatus.VERIFIED,
            original_text=original,
        )


# --- row mapping -----------------------------------------------------------------------------------

_CASE_SQL = "SELECT id, number, cause, court, parties, created_at FROM cases"
_HEARING_SQL = """
SELECT h.id, h.case_id, c.number, h.starts_at, h.ends_at, h.courtroom, h.presiding_judge, h.clerk, h.status,
       h.language, h.created_at,
       (SELECT count(*) FROM segments s WHERE s.hearing_id = h.id),
       (SELECT max(r.duration) FROM recordings r WHERE r.hearing_id = h.id)
FROM hearings h JOIN cases c ON c.id = h.case_id"""
_RECORDING_SQL = (
    "SELECT id, hearing_id, file_name, stored_path, sha256, duration, format, size_bytes, created_at FROM recordings"
)
_SEGMENT_SQL = (
    "SELECT id, hearing_id, idx, start_s, end_s, speaker, speaker_orig, text, text_orig, engine, model FROM segments"
)


def _parties_json(parties: Sequence[Party]) -> str:
    return json.dumps(
        [{"role": p.role, "name": p.name, "representatives": list(p.representatives)} for p in parties],
        ensure_ascii=False,
    )


def _case(row: tuple) -> Case:
    parties = tuple(
        Party(p["role"], p["name"], tuple(p.get("representatives", ()))) for p in json.loads(row[4] or "[]")
    )
    return Case(row[0], row[1], row[2], row[3], parties, row[5])


def _hearing(row: tuple) -> Hearing:
    return Hearing(*row[:8], HearingStatus(row[8]), *row[9:11], segments=int(row[11]), duration=row[12])


def _recording(row: tuple) -> Recording:
    return Recording(row[0], row[1], row[2], Path(row[3]), *row[4:])
