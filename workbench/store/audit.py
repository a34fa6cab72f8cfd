"""The audit trail: who did what to which record, from where and when, in a chain that proves itself.

Every row is appended inside the transaction of the change it records (an edit and its audit row
commit together or not at all) and carries `hash = sha256(prev_hash + canonical JSON of the row)`.
Ids run 1, 2, 3, ... without gaps. `verify()` walks the chain and names the first row whose content,
link or id does not fit: a row altered with plain SQL, one deleted, one inserted out of turn.
What a chain in the same file cannot prove is that its newest rows were not cut off together; `verify`
therefore reports the head (row count and last hash), which an admin can note down elsewhere and
compare later (`workbench audit verify --head HASH`).

Imports nothing of ours: every store module may write audit rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

GENESIS = "0" * 64  # the prev_hash of row 1

# The actions recorded, by name (the `action` column). Pages, CLI and API use these, never free text.
SIGN_IN = "sign_in"
SIGN_IN_FAILED = "sign_in_failed"
SIGN_OUT = "sign_out"
PASSWORD_CHANGED = "password_changed"
HEARING_OPENED = "hearing_opened"
AUDIO_PLAYED = "audio_played"
EXPORTED = "exported"
UPLOADED = "uploaded"
EDITED = "edited"
SPEAKER_CHANGED = "speaker_changed"
VERIFIED = "verified"  # before schema 9: the one-click mark (kept for old rows; `checked` now)
UNVERIFIED = "unverified"
HEARING_CHANGED = "hearing_changed"
CASE_CHANGED = "case_changed"
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
USER_ADDED = "user_added"
USER_CHANGED = "user_changed"
SETTING_CHANGED = "setting_changed"
HOTWORDS_CHANGED = "hotwords_changed"
MODEL_CHANGED = "model_changed"
JOB_CHANGED = "job_changed"
COURTROOM_CHANGED = "courtroom_changed"  # a courtroom profile set (created or changed) or deleted
ROSTER_CHANGED = "roster_changed"  # a participant added to or removed from a case's roster
VOICE_DECIDED = "voice_decided"  # a voice proposed from another hearing of the case: accepted or declined
SEARCHED = "searched"
HEARING_DELETED = "hearing_deleted"
TOKEN_CREATED = "token_created"
TOKEN_REVOKED = "token_revoked"
WATCH_TAKEN = "watch_taken"
WATCH_REFUSED = "watch_refused"
SEGMENT_SPLIT = "segment_split"  # the review desk: one segment cut in two
SEGMENTS_MERGED = "segments_merged"  # ... a segment joined with the one after it
REVIEW_MARKED = "review_marked"  # ... the hearing's "checked up to here" mark set or cleared
CHECKED = "checked"  # sign-off: a clerk checked the record against the recording
UNCHECKED = "unchecked"  # ... and took the mark back
APPROVED = "approved"  # ... the case's judge approved it
LOCKED = "locked"  # ... it was filed: only correction requests change it now
REOPENED = "reopened"  # ... the judge took it back to review, with a reason
SEALED = "sealed"  # a time range marked 不公开 (non-public)
UNSEALED = "unsealed"  # ... and the mark taken away
CORRECTION_REQUESTED = "correction_requested"  # a correction request (补正申请) filed on a locked record
CORRECTION_DECIDED = "correction_decided"  # ... accepted (its edits follow, tied to it) or rejected


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is asking: an account's name, the client's address, and (for a signed-in account) its id and role.

    `client` is the browser's IP address, `cli:<login>@<host>` for the CLI on the server, `worker` for
    the server's own jobs.
    """

    account: str
    client: str = ""
    user_id: int | None = None
    role: str = ""


SYSTEM = Actor("system", "worker")  # the server's own work: jobs, migrations


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    logged_at: datetime
    account: str
    client: str
    action: str
    case_id: int | None
    hearing_id: int | None
    detail: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    rows: int
    head: str  # the last row's hash (GENESIS when empty)
    first_bad: int | None  # id of the first row that does not fit
    reason: str  # why, in words; "" when ok


def _content(
    row_id: int,
    at: datetime,
    account: str,
    client: str,
    action: str,
    case_id: int | None,
    hearing_id: int | None,
    detail: str,
) -> str:
    """The canonical text a row's hash covers (its detail is stored as the JSON text hashed)."""
    return json.dumps(
        [row_id, at.isoformat(timespec="microseconds"), account, client, action, case_id, hearing_id, detail],
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _utf8(text: str) -> str:
    """Text that is valid UTF-8: a lone surrogate (a command-line argument that was not UTF-8) becomes "?",
    rather than failing the change it records."""
    return text.encode("utf-8", "replace").decode("utf-8")


def row_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


def append(
    con: duckdb.DuckDBPyConnection,
    actor: Actor,
    action: str,
    *,
    case_id: int | None = None,
    hearing_id: int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Appends one row inside the caller's transaction (hold the store's write lock); returns its id."""
    last = con.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    row_id, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    at = datetime.now().replace(tzinfo=None)
    text = _utf8(json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str))
    account, client = _utf8(actor.account), _utf8(actor.client)
    h = row_hash(prev, _content(row_id, at, account, client, action, case_id, hearing_id, text))
    con.execute(
        "INSERT INTO audit (id, logged_at, account, client, action, case_id, hearing_id, detail, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row_id, at, account, client, action, case_id, hearing_id, text, prev, h],
    )
    return row_id


def verify(con: duckdb.DuckDBPyConnection, *, batch: int = 50_000) -> ChainReport:
    """Recomputes the chain from row 1; names the first row that was altered, removed or inserted."""
    prev, expected_id, count = GENESIS, 1, 0
    cur = con.execute(
        "SELECT id, logged_at, account, client, action, case_id, hearing_id, detail, prev_hash, hash FROM audit "
        "ORDER BY id"
    )
    while rows := cur.fetchmany(batch):
        for row_id, at, account, client, action, case_id, hearing_id, detail, prev_hash, h in rows:
            if row_id != expected_id:
                what = f"row {expected_id} is missing" if row_id > expected_id else f"row {row_id} is repeated"
                return ChainReport(False, count, prev, expected_id, what)
            if prev_hash != prev:
                return ChainReport(False, count, prev, row_id, f"row {row_id} does not link to row {row_id - 1}")
            content = _content(row_id, at, account, client, action, case_id, hearing_id, detail)
            if row_hash(prev, content) != h:
                return ChainReport(False, count, prev, row_id, f"row {row_id} was altered after it was written")
            prev, expected_id, count = h, expected_id + 1, count + 1
    return ChainReport(True, count, prev, None, "")


def rows(
    con: duckdb.DuckDBPyConnection,
    *,
    account: str | None = None,
    case_id: int | None = None,
    hearing_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    limit: int = 500,
) -> list[AuditRow]:
    """The newest rows first, filtered."""
    where, params = [], []
    for column, value in (("account", account), ("case_id", case_id), ("hearing_id", hearing_id), ("action", action)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        where.append("logged_at >= ?")
        params.append(since)
    sql = f"SELECT {ROW_COLUMNS} FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY id DESC LIMIT {int(limit)}"
    return [row_from_db(r) for r in con.execute(sql, params).fetchall()]


# The columns of an AuditRow, in its order: `SELECT {ROW_COLUMNS} FROM audit ...`, then `row_from_db`.
ROW_COLUMNS = "id, logged_at, account, client, action, case_id, hearing_id, detail, prev_hash, hash"


def row_from_db(r: tuple) -> AuditRow:
    """An audit row selected with ROW_COLUMNS, its detail parsed."""
    return AuditRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], json.loads(r[7] or "{}"), r[8], r[9])
