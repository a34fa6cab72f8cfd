"""The database file: opening it (and migrating it), connections, the write lock, closing when idle.

DuckDB lets one process open a file read-write; inside that process any number of connections may
read while one writes (MVCC: a reader sees the last committed state, never a half-written hearing).
So:
- In a process, every `Store` on the same file shares one DuckDB instance (DuckDB's own instance
  cache). Each operation takes a fresh cursor (`reading()`), so Streamlit page threads never share a
  connection object. All writes go through `writing()`, which holds one per-file lock for the whole
  transaction: one writer at a time, no write-write conflicts to retry.
- Across processes (the Streamlit server and a CLI), opening waits for the other process to let go,
  retrying for `db_lock_timeout` seconds, then fails naming the holder. A long-lived process can pass
  `idle_close_s`: the file is closed after that many seconds without an operation, so a CLI command
  gets in whenever the server is idle. While a job runs the worker keeps the file open.
- A transaction that is cut short (exception, SIGKILL) leaves nothing: DuckDB's WAL replays only
  committed transactions on the next open.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Self

import duckdb

from workbench import settings
from workbench.store import index, migrations
from workbench.store.records import StoreError, StoreLocked

log = logging.getLogger("workbench.store")

_write_locks: dict[Path, threading.RLock] = {}
_write_locks_guard = threading.Lock()


def _write_lock(path: Path) -> threading.RLock:
    with _write_locks_guard:
        return _write_locks.setdefault(path, threading.RLock())


class Database:
    """One DuckDB file and the audio folder beside it. Cheap to create; opens the file on first use."""

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
        # so a database and its recordings move together; recordings are stored relative to it.
        self.audio_dir = (Path(audio_dir) if audio_dir else self.path.parent / "audio").absolute()
        self.lock_timeout = float(settings.get("db_lock_timeout") if lock_timeout is None else lock_timeout)
        self.idle_close_s = idle_close_s
        self._con: duckdb.DuckDBPyConnection | None = None
        self._state = threading.Condition()
        self._active = 0
        self._timer: threading.Timer | None = None
        self._write = _write_lock(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def _open(self) -> duckdb.DuckDBPyConnection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.05
        while True:
            try:
                # No extension is ever fetched from extensions.duckdb.org: fts comes from its pinned wheel.
                con = duckdb.connect(str(self.path), config={"autoinstall_known_extensions": False})
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
                if migrations.migrate(con, audio_dir=self.audio_dir):
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

    def __enter__(self) -> Self:
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
        index.invalidate(self.path)

    def schema_version(self) -> int:
        with self.reading() as con:
            return migrations.current_version(con)
