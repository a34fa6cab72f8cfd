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

The keyword index's table is created here from a frozen copy of its DDL (V2_DDL), not from
`workbench.store.index`: a released migration must build the same table forever, whatever the index
module says later; a new layout is a new migration. Data steps call the index's live code.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

from workbench.store import index

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

# Version 2: the keyword index (see workbench/store/index.py for why it is a table of our own).
V2_DDL = """
ALTER TABLE segments ADD COLUMN dl USMALLINT;       -- indexed terms in text (filled by the reindex below)
ALTER TABLE segments ADD COLUMN dl_orig USMALLINT;  -- indexed terms in text_orig
ALTER TABLE segments ALTER COLUMN dl SET DEFAULT 0;
ALTER TABLE segments ALTER COLUMN dl_orig SET DEFAULT 0;
CREATE TABLE postings (
    term BIGINT NOT NULL,         -- 64-bit hash of the term (index.term_id)
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


# Version 5: no schema change. Recordings under the audio folder are stored relative to it, so a data
# folder moved whole (database and audio/ together) still finds them; see `_recordings_relative`.


# Version 6: who may do what. Accounts (`users`), browser sessions (the cookie's sha256, never the cookie),
# case membership, and the audit trail: append-only, each row hashed with the previous row's hash
# (`workbench.store.audit`). Edits link to their audit row. Existing edits keep the names they were
# made under; a file migrated here has no account yet, and its first start asks for an admin.
V6_DDL = """
CREATE SEQUENCE user_ids;
CREATE TABLE users (
    id INTEGER PRIMARY KEY DEFAULT nextval('user_ids'),
    name VARCHAR NOT NULL UNIQUE,              -- the sign-in name
    display_name VARCHAR NOT NULL DEFAULT '',
    role VARCHAR NOT NULL,                     -- admin, judge, clerk, viewer
    password_hash VARCHAR,                     -- argon2id; NULL for a directory (LDAP) account
    source VARCHAR NOT NULL DEFAULT 'local',   -- local, ldap
    must_change BOOLEAN NOT NULL DEFAULT false,
    disabled BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    password_changed_at TIMESTAMP
);
CREATE TABLE sessions (
    token_sha256 VARCHAR PRIMARY KEY,
    user_id INTEGER NOT NULL,
    client VARCHAR NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    last_seen TIMESTAMP NOT NULL DEFAULT current_timestamp,
    ended_at TIMESTAMP
);
CREATE TABLE case_members (
    case_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    added_by VARCHAR NOT NULL DEFAULT '',
    added_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (case_id, user_id)
);
CREATE TABLE audit (
    id BIGINT PRIMARY KEY,                     -- 1, 2, 3, ... with no gap: a deleted row shows
    logged_at TIMESTAMP NOT NULL,
    account VARCHAR NOT NULL,
    client VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    case_id INTEGER,
    hearing_id INTEGER,
    detail VARCHAR NOT NULL,                   -- JSON object
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL                      -- sha256 over this row's content and prev_hash
);
ALTER TABLE edits ADD COLUMN audit_id BIGINT;
ALTER TABLE hearings ADD COLUMN created_by VARCHAR;
ALTER TABLE hearings ALTER COLUMN created_by SET DEFAULT '';
UPDATE hearings SET created_by = '';
"""


# Version 7: API tokens for scripts and the CLI through the server (issue 14). Like sessions, only the token's
# sha256 is kept, never the token. A revoked token stays (revoked_at set) so the list shows what was revoked
# and when; a name is unique among an account's live tokens (checked by `workbench.accounts.tokens` under the
# write lock: DuckDB has no partial unique index).
V7_DDL = """
CREATE SEQUENCE api_token_ids;
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY DEFAULT nextval('api_token_ids'),
    token_sha256 VARCHAR NOT NULL UNIQUE,
    user_id INTEGER NOT NULL,                  -- whose token it is: it acts as this account
    name VARCHAR NOT NULL,                     -- the owner's label for it ("nightly-export")
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    created_by VARCHAR NOT NULL DEFAULT '',    -- the account that made it (an admin may make one for another)
    last_used_at TIMESTAMP,                    -- written at most once a minute
    revoked_at TIMESTAMP,
    revoked_by VARCHAR
);
"""


# Version 8: the review desk (issue 15). A segment merged into the one before it leaves the hearing but not the
# file: its whole row (recognition, words, original speaker) moves to `removed_segments`, with what it was
# merged into, by whom and when. `review_marks` is each hearing's "checked up to here" mark, one per hearing.
V8_DDL = """
CREATE TABLE removed_segments (
    id BIGINT NOT NULL,                        -- its id while it was in `segments`
    hearing_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    start_s DOUBLE NOT NULL,
    end_s DOUBLE NOT NULL,
    speaker VARCHAR,
    speaker_orig VARCHAR,
    text VARCHAR NOT NULL,
    text_orig VARCHAR NOT NULL,
    words VARCHAR,
    engine VARCHAR NOT NULL DEFAULT '',
    model VARCHAR NOT NULL DEFAULT '',
    dl USMALLINT,
    dl_orig USMALLINT,
    merged_into BIGINT NOT NULL,               -- the segment that now holds its text
    removed_by VARCHAR NOT NULL,
    removed_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE review_marks (
    hearing_id INTEGER PRIMARY KEY,
    segment_id BIGINT NOT NULL,                -- checked up to and including this segment
    t DOUBLE NOT NULL,                         -- where to resume: the segment's end, seconds
    set_by VARCHAR NOT NULL,
    set_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""


# Version 9: the record a court can sign. `signoff_steps` is each hearing's sign-off history (checked,
# unchecked, approved, locked, reopened, and "returned" when an edit took a mark away); `sealed_parts` the time
# ranges marked 不公开; `correction_requests` the requests to correct a locked record, each change a JSON
# [segment id, proposed text, the segment's version when filed]; an edit that applies an accepted request names it
# (`edits.request_id`). The old "verified" status is "checked" now. No index on audit(hearing_id): measured on 2
# million rows, DuckDB's scan for `record_head` took 17 ms without it and 35 ms with it.
V9_DDL = """
CREATE SEQUENCE signoff_step_ids;
CREATE TABLE signoff_steps (
    id BIGINT PRIMARY KEY DEFAULT nextval('signoff_step_ids'),
    hearing_id INTEGER NOT NULL,
    step VARCHAR NOT NULL,                     -- checked, unchecked, approved, locked, reopened, returned
    account VARCHAR NOT NULL,
    taken_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    reason VARCHAR NOT NULL DEFAULT '',
    audit_id BIGINT
);
CREATE SEQUENCE sealed_part_ids;
CREATE TABLE sealed_parts (
    id INTEGER PRIMARY KEY DEFAULT nextval('sealed_part_ids'),
    hearing_id INTEGER NOT NULL,
    start_s DOUBLE NOT NULL,                   -- [start_s, end_s): a segment overlapping it at all is sealed
    end_s DOUBLE NOT NULL,
    reason VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE correction_ids;
CREATE TABLE correction_requests (
    id INTEGER PRIMARY KEY DEFAULT nextval('correction_ids'),
    hearing_id INTEGER NOT NULL,
    changes VARCHAR NOT NULL,                  -- JSON [[segment_id, proposed text, version when filed], ...]
    requester VARCHAR NOT NULL,
    requester_kind VARCHAR NOT NULL,           -- party, lawyer, member
    reason VARCHAR NOT NULL,
    filed_by VARCHAR NOT NULL,
    filed_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    state VARCHAR NOT NULL DEFAULT 'pending',  -- pending, accepted, rejected
    decided_by VARCHAR,
    decided_at TIMESTAMP,
    decision_reason VARCHAR
);
ALTER TABLE edits ADD COLUMN request_id INTEGER;
UPDATE hearings SET status = 'checked' WHERE status = 'verified';
"""

# Version 10: the courtroom's own recordings (a profile per courtroom, a case's roster), the clerk's log notes,
# and the voices of a case (a speaker's channel and seat; decisions on proposed names).
V10_DDL = """
CREATE TABLE courtrooms (
    name VARCHAR PRIMARY KEY,                  -- as hearings.courtroom says it: 第三法庭
    channels VARCHAR NOT NULL,                 -- JSON ["审判席:审判长", "原告席:原告", "-", ...], one per channel
    updated_by VARCHAR NOT NULL,
    updated_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE participant_ids;
CREATE TABLE case_participants (
    id INTEGER PRIMARY KEY DEFAULT nextval('participant_ids'),
    case_id INTEGER NOT NULL,
    role VARCHAR NOT NULL,                     -- 审判长, 原告, 被告, 证人, 代理人, ...
    name VARCHAR NOT NULL,
    seat VARCHAR NOT NULL DEFAULT '',          -- 原告席, ...; '' when not known
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE SEQUENCE log_note_ids;
CREATE TABLE log_notes (
    id BIGINT PRIMARY KEY DEFAULT nextval('log_note_ids'),
    hearing_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,                     -- stage, note, recess
    at_s DOUBLE NOT NULL,                      -- seconds from the start of the recording
    end_s DOUBLE,                              -- a recess: when the hearing resumed
    text VARCHAR NOT NULL,
    created_by VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    version INTEGER NOT NULL DEFAULT 1         -- a stale edit of a note is refused
);
CREATE TABLE voice_decisions (
    hearing_id INTEGER NOT NULL,
    label VARCHAR NOT NULL,                    -- the speaker a name was proposed for
    from_hearing INTEGER NOT NULL,             -- the earlier hearing of the same case whose named voice matched
    from_label VARCHAR NOT NULL,
    decision VARCHAR NOT NULL,                 -- accepted, declined
    decided_by VARCHAR NOT NULL,
    decided_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
    PRIMARY KEY (hearing_id, label, from_hearing, from_label)
);
ALTER TABLE speakers ADD COLUMN channel INTEGER;  -- 0-based channel of a courtroom recording; NULL: mono/mixed
ALTER TABLE speakers ADD COLUMN seat VARCHAR;
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str
    # data work in Python, same transaction: (connection, the store's audio folder)
    after: Callable[[duckdb.DuckDBPyConnection, Path], None] | None = None


def _index_existing(con: duckdb.DuckDBPyConnection, audio_dir: Path) -> None:
    index.reindex_all(con)


def _recordings_relative(con: duckdb.DuckDBPyConnection, audio_dir: Path) -> None:
    """Each recording under `audio_dir` is stored relative to it; any other stays absolute.

    One whose file is gone but whose content-named copy is in `audio_dir`, at the store's layout
    `<sha[:2]>/<sha><suffix>`, comes from a data folder moved before this upgrade: it is pointed there.
    The rule is copied here, not imported from the store, so that this migration does the same forever.
    """
    audio = audio_dir.absolute()
    for rec_id, stored, sha in con.execute("SELECT id, stored_path, sha256 FROM recordings").fetchall():
        path = Path(stored)
        if not path.is_absolute():
            continue
        relative = _under(path, audio)
        if relative is None and not path.exists() and path.parent.name == sha[:2] and path.stem == sha:
            moved = Path(sha[:2], path.name)
            relative = moved if (audio / moved).is_file() else None
        if relative is not None:
            con.execute("UPDATE recordings SET stored_path = ? WHERE id = ?", [relative.as_posix(), rec_id])


def _under(path: Path, folder: Path) -> Path | None:
    """`path` relative to `folder` when it lies under it, as written or through symbolic links."""
    for p, f in ((path, folder), (path.resolve(), folder.resolve())):
        if p.is_relative_to(f):
            return p.relative_to(f)
    return None


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "cases, hearings, recordings, speakers, hotwords, segments, edits, jobs", V1_DDL),
    Migration(2, "keyword index: postings with BM25 statistics", V2_DDL, _index_existing),
    Migration(3, "job heartbeat and cancel, transcript provenance, speaker-label edits", V3_DDL),
    Migration(4, "hearing panel and public flag", V4_DDL),
    Migration(5, "recordings stored relative to the audio folder", "", _recordings_relative),
    Migration(6, "accounts, sessions, case members, the audit chain", V6_DDL),
    Migration(7, "API tokens", V7_DDL),
    Migration(8, "review desk: removed (merged) segments, checked-up-to marks", V8_DDL),
    Migration(9, "sign-off steps, sealed parts, correction requests; verified becomes checked", V9_DDL),
    Migration(10, "courtroom profiles, case rosters, log notes, speaker channels and seats, voice decisions", V10_DDL),
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


def migrate(con: duckdb.DuckDBPyConnection, target: int = LATEST, *, audio_dir: Path) -> list[int]:
    """Applies every migration above the file's version up to `target`; returns those applied.

    `audio_dir` is the folder the store keeps this file's recordings in (`Store.audio_dir`).
    """
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
            if m.sql:
                con.execute(m.sql)
            if m.after is not None:
                m.after(con, audio_dir)
            con.execute("INSERT INTO schema_version (version, description) VALUES (?, ?)", [m.version, m.description])
            con.execute("COMMIT")
        except Exception as e:
            with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT has rolled back already
                con.execute("ROLLBACK")
            raise RuntimeError(f"schema migration to version {m.version} ({m.description}) failed: {e}") from e
        log.info("database migrated to schema version %d: %s", m.version, m.description)
        applied.append(m.version)
    return applied
