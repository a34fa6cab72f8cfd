"""The hearing store's schema, one version at a time, and the upgrade of an older file in place.

Each `Migration` moves a database from version N-1 to N inside one transaction, so a file is either
at the old version or at the new one, never in between. `schema_version` keeps one row per applied
version. Never edit a released migration: add the next one (a court keeps its files for years, and
every old file must still open).

Foreign keys are deliberately not declared: DuckDB checks them eagerly and forbids updating a
referenced row's columns and altering a referenced table, which would make later migrations and plain
status updates fail. The store's write functions keep the references consistent instead.

Columns are added as `ADD COLUMN x T` + `ALTER COLUMN x SET DEFAULT` + `UPDATE`, never `ADD COLUMN x T
DEFAULT v`: DuckDB 1.5.5 fails to commit a transaction that adds several columns with defaults to a
table holding rows ("another transaction has altered this table"), which the v1-file test caught.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

log = logging.getLogger("workbench.store.migrations")

# Version 1: the core records. Kept verbatim: tests build a version-1 file from it.
V1_DDL = """
CREATE TABLE schema_version (
    version INTEGER PRIMARY KEY,
    description VARCHAR NOT NULL,
    applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE case_ids;
CREATE TABLE cases (
    id INTEGER PRIMARY KEY DEFAULT nextval('case_ids'),
    number VARCHAR NOT NULL UNIQUE,          -- （2024）京0105民初1234号
    cause VARCHAR NOT NULL DEFAULT '',       -- 案由
    court VARCHAR NOT NULL DEFAULT '',
    parties VARCHAR NOT NULL DEFAULT '[]',   -- JSON list of {role, name, representatives}
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE hearing_ids;
CREATE TABLE hearings (
    id INTEGER PRIMARY KEY DEFAULT nextval('hearing_ids'),
    case_id INTEGER NOT NULL,
    starts_at TIMESTAMP,
    ends_at TIMESTAMP,
    courtroom VARCHAR NOT NULL DEFAULT '',
    presiding_judge VARCHAR NOT NULL DEFAULT '',
    clerk VARCHAR NOT NULL DEFAULT '',
    status VARCHAR NOT NULL DEFAULT 'queued', -- queued, processing, transcribed, in review, verified
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE recording_ids;
CREATE TABLE recordings (
    id INTEGER PRIMARY KEY DEFAULT nextval('recording_ids'),
    hearing_id INTEGER NOT NULL,
    file_name VARCHAR NOT NULL,
    stored_path VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    duration DOUBLE,
    format VARCHAR NOT NULL DEFAULT '',
    size_bytes BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE speakers (
    hearing_id INTEGER NOT NULL,
    label VARCHAR NOT NULL,                   -- S1, S2, ...
    role VARCHAR,
    name VARCHAR,
    embedding FLOAT[],
    speech_time DOUBLE,
    first_appearance DOUBLE,
    PRIMARY KEY (hearing_id, label)
);
CREATE TABLE hotwords (
    case_id INTEGER,                          -- NULL: the global list
    term VARCHAR NOT NULL,
    weight DOUBLE
);
CREATE SEQUENCE segment_ids;
CREATE TABLE segments (
    id BIGINT PRIMARY KEY,
    hearing_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    speaker VARCHAR,
    speaker_orig VARCHAR,
    text VARCHAR NOT NULL,                    -- current text: text_orig with every edit applied
    text_orig VARCHAR NOT NULL,               -- the recognition, never changed
    words VARCHAR,                            -- JSON list of the recognised words
    engine VARCHAR NOT NULL DEFAULT '',
    model VARCHAR NOT NULL DEFAULT ''
);
CREATE SEQUENCE edit_ids;
CREATE TABLE edits (
    id BIGINT PRIMARY KEY DEFAULT nextval('edit_ids'),
    segment_id BIGINT NOT NULL,
    field VARCHAR NOT NULL,                   -- text, speaker
    before VARCHAR,
    after VARCHAR,
    user_name VARCHAR NOT NULL,
    edited_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE job_ids;
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY DEFAULT nextval('job_ids'),
    hearing_id INTEGER NOT NULL,
    recording_id INTEGER NOT NULL,
    state VARCHAR NOT NULL DEFAULT 'queued',  -- queued, running, done, failed, cancelled
    progress DOUBLE NOT NULL DEFAULT 0,
    eta_s DOUBLE,
    step VARCHAR NOT NULL DEFAULT '',
    error VARCHAR,
    attempts INTEGER NOT NULL DEFAULT 0,
    params VARCHAR NOT NULL DEFAULT '{}',     -- JSON: the TranscribeOptions fields chosen at upload
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    started_at TIMESTAMP,
    finished_at TIMESTAMP
);
"""

# Version 2: the keyword index (see workbench/search.py for why it is a table of our own).
V2_DDL = """
ALTER TABLE segments ADD COLUMN dl USMALLINT;       -- indexed terms in text (filled by the reindex below)
ALTER TABLE segments ADD COLUMN dl_orig USMALLINT;  -- indexed terms in text_orig
ALTER TABLE segments ALTER COLUMN dl SET DEFAULT 0;
ALTER TABLE segments ALTER COLUMN dl_orig SET DEFAULT 0;
CREATE TABLE postings (
    term BIGINT NOT NULL,         -- 64-bit hash of the term (search.term_id)
    segment_id BIGINT NOT NULL,
    hearing_id INTEGER NOT NULL,
    tf USMALLINT NOT NULL,        -- occurrences in the current text (0: only in the original)
    tf_orig USMALLINT NOT NULL,   -- occurrences in the original text
    dl USMALLINT NOT NULL,        -- the segment's length, copied here so scoring needs no join
    dl_orig USMALLINT NOT NULL
);
CREATE TABLE search_meta (
    key VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO search_meta VALUES ('sorted_rows', 0);
"""

# Version 3: what the worker needs to survive crashes and cancel, the transcript's provenance,
# and edits to a hearing's speaker labels (segment_id NULL, hearing_id set).
V3_DDL = """
ALTER TABLE jobs ADD COLUMN worker VARCHAR;                 -- host:pid:start-time of the process running it
ALTER TABLE jobs ADD COLUMN heartbeat_at TIMESTAMP;
ALTER TABLE jobs ADD COLUMN cancel_requested BOOLEAN;
ALTER TABLE jobs ALTER COLUMN cancel_requested SET DEFAULT false;
UPDATE jobs SET cancel_requested = false;
ALTER TABLE hearings ADD COLUMN language VARCHAR;
ALTER TABLE hearings ADD COLUMN engine VARCHAR;  -- JSON EngineInfo
ALTER TABLE hearings ALTER COLUMN language SET DEFAULT '';
ALTER TABLE hearings ALTER COLUMN engine SET DEFAULT '{}';
UPDATE hearings SET language = '', engine = '{}';
ALTER TABLE edits ADD COLUMN hearing_id INTEGER;
ALTER TABLE edits ALTER COLUMN segment_id DROP NOT NULL;
UPDATE edits SET hearing_id = (SELECT s.hearing_id FROM segments s WHERE s.id = edits.segment_id);
"""


# Version 4: the rest of what the court record needs.
V4_DDL = """
ALTER TABLE hearings ADD COLUMN public BOOLEAN;
ALTER TABLE hearings ADD COLUMN panel VARCHAR;   -- JSON [[role, name], ...]
ALTER TABLE hearings ALTER COLUMN public SET DEFAULT true;
ALTER TABLE hearings ALTER COLUMN panel SET DEFAULT '[]';
UPDATE hearings SET public = true, panel = '[]';
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str
    after: Callable[[duckdb.DuckDBPyConnection], None] | None = None  # data work in Python, same transaction


def _index_existing(con: duckdb.DuckDBPyConnection) -> None:
    from workbench.store import search  # search imports nothing from here; late import keeps the layers clear

    search.reindex_all(con)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "cases, hearings, recordings, speakers, hotwords, segments, edits, jobs", V1_DDL),
    Migration(2, "keyword index: postings with BM25 statistics", V2_DDL, _index_existing),
    Migration(3, "job heartbeat and cancel, transcript provenance, speaker-label edits", V3_DDL),
    Migration(4, "hearing panel and public flag", V4_DDL),
)
LATEST = MIGRATIONS[-1].version


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    """0 for an empty file."""
    exists = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0] or 0) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, target: int = LATEST) -> list[int]:
    """Applies every migration above the file's version up to `target`; returns those applied."""
    version = current_version(con)
    if version > LATEST:
        raise RuntimeError(
            f"database schema version {version} is newer than this program knows ({LATEST}): "
            "upgrade the workbench before opening this file"
        )
    applied = []
    for m in MIGRATIONS:
        if m.version <= version or m.version > target:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(m.sql)
            if m.after is not None:
                m.after(con)
            con.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)", [m.version, m.description])
            con.execute("COMMIT")
        except Exception as e:
            with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT has rolled back already
                con.execute("ROLLBACK")
            raise RuntimeError(f"schema migration to version {m.version} ({m.description}) failed: {e}") from e
        log.info("database migrated to schema version %d: %s", m.version, m.description)
        applied.append(m.version)
    return applied
