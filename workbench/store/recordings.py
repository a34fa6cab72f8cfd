"""Recordings: the audio files kept in the store's audio folder by content hash, and their rows.

A file is copied to `<audio_dir>/<sha[:2]>/<sha256><suffix>`, so the same content uploaded twice is
stored once. Its row holds the path relative to the audio folder (`records.stored_name`), and a
`Recording` as read holds it absolute again, so the data folder can be moved whole.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import duckdb

from workbench.store.db import Database
from workbench.store.records import RECORDING_SQL, NotFound, Recording, StoreError, recording_from_row, stored_name


class Recordings(Database):
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
            row = con.execute(RECORDING_SQL + " WHERE sha256 = ? ORDER BY id LIMIT 1", [sha256]).fetchone()
        return None if row is None else recording_from_row(row, self.audio_dir)

    def recordings(self, hearing_id: int) -> list[Recording]:
        with self.reading() as con:
            rows = con.execute(RECORDING_SQL + " WHERE hearing_id = ? ORDER BY id", [hearing_id]).fetchall()
        return [recording_from_row(r, self.audio_dir) for r in rows]

    def recording(self, recording_id: int) -> Recording:
        with self.reading() as con:
            row = con.execute(RECORDING_SQL + " WHERE id = ?", [recording_id]).fetchone()
        if row is None:
            raise NotFound(f"no recording {recording_id}")
        return recording_from_row(row, self.audio_dir)

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
        """A recordings row for a file `store_audio` stored (or one kept elsewhere, by absolute path)."""
        row = con.execute(
            "INSERT INTO recordings (hearing_id, file_name, stored_path, sha256, duration, format, size_bytes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [
                hearing_id,
                file_name,
                stored_name(stored_path, self.audio_dir),
                sha256,
                duration,
                format,
                stored_path.stat().st_size,
            ],
        ).fetchone()
        return int(row[0])
