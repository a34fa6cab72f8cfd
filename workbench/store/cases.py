"""Cases, their hearings, a hearing's status, and the hotword lists (global, or a case's).

Every change here is audited: its `audit` row (`workbench.store.audit`) is appended in the same
transaction, under the `Actor` the caller names (a signed-in account, the CLI's, or `audit.SYSTEM`).
Who may make a change is decided before (`workbench.accounts.Access`); the store records who did.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import Any

import duckdb

from workbench.speech.text import Hotword
from workbench.speech.transcript import Party
from workbench.store import audit, index, members
from workbench.store.audit import Actor
from workbench.store.db import Database
from workbench.store.records import (
    CASE_SQL,
    HEARING_SQL,
    Case,
    Conflict,
    Hearing,
    Locked,
    NotFound,
    StoreError,
    case_from_row,
    hearing_from_row,
    parties_json,
)
from workbench.store.status import SIGNED, SIGNOFF_EVENTS, Event, HearingStatus, next_status

log = logging.getLogger("workbench.store.cases")


class Cases(Database):
    # -- cases --

    def add_case(
        self, number: str, *, cause: str = "", court: str = "", parties: Sequence[Party] = (), actor: Actor
    ) -> Case:
        """Creates a case; its creator (a signed-in account) becomes a member, in the same audited transaction."""
        with self.writing() as con:
            case_id = self._insert_case(con, number, cause=cause, court=court, parties=parties, actor=actor)
        return self.case(case_id)

    def ensure_case(self, number: str, *, actor: Actor, cause: str = "", parties: Sequence[Party] = ()) -> Case:
        """The case with this number, created (with `cause` and `parties`, audited) when new."""
        with self.writing() as con:
            case_id = self._case_id_or_new(con, number, cause=cause, parties=parties, actor=actor)
        return self.case(case_id)

    def _case_id_or_new(
        self,
        con: duckdb.DuckDBPyConnection,
        number: str,
        *,
        actor: Actor,
        cause: str = "",
        court: str = "",
        parties: Sequence[Party] = (),
    ) -> int:
        """Inside a caller's transaction: the case's id, creating it when no case has this number."""
        row = con.execute("SELECT id FROM cases WHERE number = ?", [number.strip()]).fetchone()
        if row is not None:
            return int(row[0])
        return self._insert_case(con, number, cause=cause, court=court, parties=parties, actor=actor)

    @staticmethod
    def _insert_case(
        con: duckdb.DuckDBPyConnection,
        number: str,
        *,
        cause: str,
        court: str,
        parties: Sequence[Party],
        actor: Actor,
    ) -> int:
        number = number.strip()
        if not number:
            raise StoreError("a case needs its number, e.g. （2024）京0105民初1234号")
        if con.execute("SELECT 1 FROM cases WHERE number = ?", [number]).fetchone():
            raise StoreError(f"case {number} already exists: use it, or `cases list` to see all cases")
        case_id = int(
            con.execute(
                "INSERT INTO cases (number, cause, court, parties) VALUES (?, ?, ?, ?) RETURNING id",
                [number, cause, court, parties_json(parties)],
            ).fetchone()[0]
        )
        audit.append(
            con, actor, audit.CASE_CHANGED, case_id=case_id,
            detail={"created": True, "number": number, "cause": cause, "court": court},
        )  # fmt: skip
        if actor.user_id is not None:  # whoever opens a case may see it (design: the uploader becomes a member)
            members.add(con, case_id, actor.user_id, actor)
        return case_id

    def update_case(
        self,
        key: int | str,
        *,
        cause: str | None = None,
        court: str | None = None,
        parties: Sequence[Party] | None = None,
        actor: Actor,
    ) -> Case:
        """Changes a case's cause, court and/or parties (None leaves a field); audited with before and after.

        Every hearing's record prints them, so a change is a change to each hearing's record: refused (`Locked`,
        naming the hearing) while one of them is locked; each hearing gets its own audit row (`CASE_CHANGED` with
        its hearing id: its `record_head` moves), and a checked or approved one goes back to review, as an edit
        sends it. A case without hearings gets one row for the case.
        """
        case = self.case(key)
        new = {
            "cause": cause if cause is not None else case.cause,
            "court": court if court is not None else case.court,
            "parties": parties_json(parties if parties is not None else case.parties),
        }
        old = {"cause": case.cause, "court": case.court, "parties": parties_json(case.parties)}
        changed = {k: {"before": old[k], "after": v} for k, v in new.items() if v != old[k]}
        if not changed:
            return case
        with self.writing() as con:
            hearings = con.execute(
                "SELECT id, status FROM hearings WHERE case_id = ? ORDER BY id", [case.id]
            ).fetchall()
            locked = [int(h) for h, status in hearings if status == HearingStatus.LOCKED]
            if locked:
                raise Locked(
                    f"案件 {case.number} 的庭审 {locked[0]} 笔录已锁定，案由、法院和当事人印在其中，不能修改；"
                    f"请法官先重新打开该庭审 (hearing {locked[0]} of case {case.number} is locked and its record "
                    "prints the case's cause, court and parties: the judge must reopen it first)"
                )
            con.execute(
                "UPDATE cases SET cause = ?, court = ?, parties = ? WHERE id = ?",
                [new["cause"], new["court"], new["parties"], case.id],
            )
            if not hearings:
                audit.append(con, actor, audit.CASE_CHANGED, case_id=case.id, detail=changed)
            for hearing_id, status in hearings:
                audit.append(con, actor, audit.CASE_CHANGED, case_id=case.id, hearing_id=hearing_id, detail=changed)
                if status in SIGNED:  # after its row: the "returned" step names it
                    self.advance(hearing_id, Event.EDITED, con, actor=actor)
        return self.case(case.id)

    def case(self, key: int | str) -> Case:
        """A case by id (an int) or by number (text); text of digits is a number first, then an id."""
        with self.reading() as con:
            if isinstance(key, int):
                row = con.execute(CASE_SQL + " WHERE id = ?", [key]).fetchone()
            elif key.strip().isdigit():
                # A case numbered "5" wins over case id 5: a number is what people type.
                row = con.execute(
                    CASE_SQL + " WHERE id = ? OR number = ? ORDER BY number = ? DESC LIMIT 1",
                    [int(key), key.strip(), key.strip()],
                ).fetchone()
            else:
                row = con.execute(CASE_SQL + " WHERE number = ?", [key.strip()]).fetchone()
        if row is None:
            raise NotFound(f"no case {key}: `workbench cases list` shows the cases, `cases add` creates one")
        return case_from_row(row)

    def cases(self) -> list[Case]:
        with self.reading() as con:
            return [case_from_row(r) for r in con.execute(CASE_SQL + " ORDER BY created_at, id").fetchall()]

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
        created_by: str = "",
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> int:
        """Creates a hearing (status queued); pass `con` to do it inside a caller's transaction.

        Not audited by itself: `jobs.submit` creates hearings with their recording and audits the upload.
        """
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
                    created_by=created_by,
                    con=c,
                )
        row = con.execute(
            "INSERT INTO hearings (case_id, starts_at, courtroom, presiding_judge, clerk, panel, public, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            [case_id, starts_at, courtroom, presiding_judge, clerk, json.dumps([list(p) for p in panel]), public,
             created_by],
        ).fetchone()  # fmt: skip
        return int(row[0])

    def update_hearing(
        self,
        hearing_id: int,
        *,
        starts_at: datetime | None = None,
        ends_at: datetime | None = None,
        courtroom: str | None = None,
        presiding_judge: str | None = None,
        clerk: str | None = None,
        panel: Sequence[tuple[str, str]] | None = None,
        public: bool | None = None,
        actor: Actor,
    ) -> Hearing:
        """Changes a hearing's details (None leaves a field as it is); audited with before and after. Refused
        (`Locked`) while its record is locked; a change to a checked or approved record sends it back to review."""
        given = {
            "starts_at": starts_at,
            "ends_at": ends_at,
            "courtroom": courtroom,
            "presiding_judge": presiding_judge,
            "clerk": clerk,
            "panel": None if panel is None else json.dumps([list(p) for p in panel], ensure_ascii=False),
            "public": public,
        }
        given = {k: v for k, v in given.items() if v is not None}
        with self.writing() as con:
            row = con.execute(
                f"SELECT case_id, {', '.join(given) or 'id'} FROM hearings WHERE id = ?", [hearing_id]
            ).fetchone()
            if row is None:
                raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
            require_unlocked(con, hearing_id)
            old = dict(zip(given, row[1:], strict=False))
            changed = {k: {"before": old[k], "after": v} for k, v in given.items() if old[k] != v}
            if changed:
                con.execute(
                    f"UPDATE hearings SET {', '.join(f'{k} = ?' for k in changed)} WHERE id = ?",
                    [given[k] for k in changed] + [hearing_id],
                )
                audit.append(con, actor, audit.HEARING_CHANGED, case_id=row[0], hearing_id=hearing_id, detail=changed)
                # the record prints them all: a checked or approved one goes back to review (after its row, which
                # the "returned" step names); a transcribed one stays (its text is as recognised)
                status = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()[0]
                if status in SIGNED:
                    self.advance(hearing_id, Event.EDITED, con, actor=actor)
        return self.hearing(hearing_id)

    def hearing(self, hearing_id: int) -> Hearing:
        with self.reading() as con:
            row = con.execute(HEARING_SQL + " WHERE h.id = ?", [hearing_id]).fetchone()
        if row is None:
            raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
        return hearing_from_row(row)

    def hearings(
        self,
        *,
        case: str | int | None = None,
        status: str | None = None,
        date_from: date | None = None,
        date_to: date | None = None,
        limit: int | None = None,
        case_ids: Collection[int] | None = None,
    ) -> list[Hearing]:
        """Newest first; `case_ids` keeps the hearings of those cases only (an account's, in the SQL)."""
        where, params = [], []
        if case_ids is not None:
            where.append(f"h.case_id IN ({', '.join(str(int(i)) for i in case_ids) or '-1'})")
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
        sql = HEARING_SQL + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY h.starts_at DESC NULLS LAST, h.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.reading() as con:
            return [hearing_from_row(r) for r in con.execute(sql, params).fetchall()]

    def delete_hearing(self, hearing_id: int, *, actor: Actor) -> dict[str, Any]:
        """Removes a hearing and everything of it: segments, their index rows and edits, speakers, jobs,
        recordings rows; audited (`HEARING_DELETED`) in the same transaction. Its audio file goes too
        once no other hearing's recording uses it (the store keeps one file per content).

        Refused (`Locked`) while its record is locked (a filed record is kept: reopen it first), and
        (`Conflict`) while one of its jobs is running: the worker would write into a hearing that is gone
        (cancel the job first). Queued jobs are deleted with it. Returns what was removed (the audit row's
        detail). The admin check is the caller's (`Access.require_admin`).
        """
        with self.writing() as con:
            row = con.execute("SELECT case_id FROM hearings WHERE id = ?", [hearing_id]).fetchone()
            if row is None:
                raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
            case_id = int(row[0])
            require_unlocked(con, hearing_id)  # a filed record is kept: reopen it first
            running = con.execute(
                "SELECT id FROM jobs WHERE hearing_id = ? AND state = 'running' ORDER BY id LIMIT 1", [hearing_id]
            ).fetchone()
            if running:
                raise Conflict(
                    f"庭审 {hearing_id} 正在转写（任务 {running[0]}），请先取消任务 "
                    f"(hearing {hearing_id} has a running job {running[0]}: cancel it first, then delete)"
                )
            recordings = con.execute(
                "SELECT file_name, sha256, stored_path FROM recordings WHERE hearing_id = ? ORDER BY id", [hearing_id]
            ).fetchall()
            counts = {
                table: int(
                    con.execute(f"SELECT count(*) FROM {table} WHERE hearing_id = ?", [hearing_id]).fetchone()[0]
                )
                for table in ("segments", "speakers", "jobs", "postings")
            }
            index.delete_hearing(con, hearing_id)
            # The index's sorted prefix may have lost rows: counting it shorter only makes the next sort sooner.
            con.execute(
                "UPDATE search_meta SET value = greatest(value - ?, 0) WHERE key = 'sorted_rows'", [counts["postings"]]
            )
            con.execute(
                "DELETE FROM edits WHERE hearing_id = ? "
                "OR segment_id IN (SELECT id FROM segments WHERE hearing_id = ?)",
                [hearing_id, hearing_id],
            )
            # removed_segments (merged away) and review_marks (issue 15), its sign-off history, sealed parts and
            # correction requests, log notes (issue 17): nothing of the hearing stays in the file but its audit rows
            for table in ("segments", "removed_segments", "review_marks", "speakers", "jobs", "recordings",
                          "signoff_steps", "sealed_parts", "correction_requests", "log_notes"):  # fmt: skip
                con.execute(f"DELETE FROM {table} WHERE hearing_id = ?", [hearing_id])
            # decisions on names proposed for its voices, or from them for another hearing's
            con.execute(
                "DELETE FROM voice_decisions WHERE hearing_id = ? OR from_hearing = ?", [hearing_id, hearing_id]
            )
            con.execute("DELETE FROM hearings WHERE id = ?", [hearing_id])
            detail: dict[str, Any] = {
                "recordings": [{"file": name, "sha256": sha} for name, sha, _ in recordings],
                "segments": counts["segments"],
                "speakers": counts["speakers"],
                "jobs": counts["jobs"],
            }
            audit.append(con, actor, audit.HEARING_DELETED, case_id=case_id, hearing_id=hearing_id, detail=detail)
        self.segments_changed()
        detail["files_removed"] = self._remove_unused_audio([stored for _, _, stored in recordings])
        return detail

    def _remove_unused_audio(self, stored_paths: Sequence[str]) -> int:
        """Deletes those audio files no recordings row names any more; only files inside the audio folder
        (a row may name a file kept elsewhere: never ours to delete). Returns how many were removed."""
        removed = 0
        audio = self.audio_dir.resolve()
        for stored in dict.fromkeys(stored_paths):
            with self.reading() as con:
                if con.execute("SELECT 1 FROM recordings WHERE stored_path = ? LIMIT 1", [stored]).fetchone():
                    continue
            path = (self.audio_dir / stored).resolve()
            if not path.is_relative_to(audio):
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass
            except OSError as e:  # the rows are gone; a file left behind is only disk space
                log.warning("hearing deleted, but its audio file %s could not be removed: %s", path, e)
        return removed

    # -- status: the only writer of hearings.status --

    def advance(
        self,
        hearing_id: int,
        event: Event,
        con: duckdb.DuckDBPyConnection | None = None,
        *,
        actor: Actor | None = None,
    ) -> HearingStatus:
        """Moves the hearing's status on after `event` (see `status.next_status`); returns the new status.

        When an edit or a new transcript takes a checked or approved mark away, a sign-off step "returned"
        (by `actor`, else the system) says so in the same transaction: the history shows why the mark went.
        """
        if con is None:
            with self.writing() as c:
                return self.advance(hearing_id, event, c, actor=actor)
        row = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()
        if row is None:
            raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
        new = next_status(row[0], event)
        if new != row[0]:
            con.execute("UPDATE hearings SET status = ? WHERE id = ?", [new.value, hearing_id])
            if row[0] in SIGNED and event not in SIGNOFF_EVENTS:
                _returned(con, hearing_id, HearingStatus(row[0]), event, actor or audit.SYSTEM)
        return new

    # -- hotwords --

    def set_hotwords(self, hotwords: Sequence[Hotword], *, case_id: int | None = None, actor: Actor) -> None:
        """Replaces the global list (case_id None) or a case's list; audited with the terms before and after."""
        with self.writing() as con:
            before = [
                r[0]
                for r in con.execute(
                    "SELECT term FROM hotwords WHERE case_id IS NOT DISTINCT FROM ? ORDER BY rowid", [case_id]
                ).fetchall()
            ]
            con.execute("DELETE FROM hotwords WHERE case_id IS NOT DISTINCT FROM ?", [case_id])
            for h in hotwords:
                con.execute("INSERT INTO hotwords VALUES (?, ?, ?)", [case_id, h.term, h.weight])
            audit.append(
                con, actor, audit.HOTWORDS_CHANGED, case_id=case_id,
                detail={"list": "case" if case_id is not None else "global", "before": before,
                        "after": [h.term for h in hotwords]},
            )  # fmt: skip

    def hotwords(self, *, case_id: int | None = None) -> tuple[Hotword, ...]:
        with self.reading() as con:
            rows = con.execute(
                "SELECT term, weight FROM hotwords WHERE case_id IS NOT DISTINCT FROM ? ORDER BY rowid", [case_id]
            ).fetchall()
        return tuple(Hotword(t, w) for t, w in rows)


def case_of(con: duckdb.DuckDBPyConnection, hearing_id: int) -> int:
    """The case a hearing belongs to (NotFound when there is no such hearing)."""
    row = con.execute("SELECT case_id FROM hearings WHERE id = ?", [hearing_id]).fetchone()
    if row is None:
        raise NotFound(f"no hearing {hearing_id}: `workbench hearings list` shows them")
    return int(row[0])


def require_unlocked(con: duckdb.DuckDBPyConnection, hearing_id: int) -> None:
    """The lock guard, inside a write transaction: `Locked` when the hearing's record is locked (filed).

    Every store write that changes a hearing's record calls it first; a missing hearing passes (the caller
    says NotFound its own way). Under the write lock, so a lock taken meanwhile cannot slip between.
    """
    row = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()
    if row is not None and row[0] == HearingStatus.LOCKED:
        raise Locked()


def add_signoff_step(
    con: duckdb.DuckDBPyConnection,
    hearing_id: int,
    step: str,
    account: str,
    *,
    reason: str = "",
    audit_id: int | None = None,
) -> int:
    """One row of the hearing's sign-off history, in the caller's transaction; returns its id."""
    row = con.execute(
        "INSERT INTO signoff_steps (hearing_id, step, account, taken_at, reason, audit_id) "
        "VALUES (?, ?, ?, current_timestamp, ?, ?) RETURNING id",
        [hearing_id, step, account, reason, audit_id],
    ).fetchone()
    return int(row[0])


def _returned(con: duckdb.DuckDBPyConnection, hearing_id: int, was: HearingStatus, event: Event, actor: Actor) -> None:
    """The "returned" step: an edit (its audit row is the hearing's newest, written just before in this
    transaction) or a new transcription took the checked or approved mark away."""
    if event is Event.EDITED:
        reason = f"{was.label}的笔录被修改，需重新核对 (the {was.value} record was edited: check it again)"
        newest = con.execute("SELECT max(id) FROM audit WHERE hearing_id = ?", [hearing_id]).fetchone()
        audit_id = int(newest[0]) if newest and newest[0] is not None else None
    else:
        reason = f"{was.label}的笔录重新转写 (the {was.value} record is being transcribed again)"
        audit_id = None
    add_signoff_step(con, hearing_id, "returned", actor.account, reason=reason, audit_id=audit_id)
