"""Cases, their hearings, a hearing's status, and the hotword lists (global, or a case's)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime

import duckdb

from workbench.speech.text import Hotword
from workbench.speech.transcript import Party
from workbench.store.db import Database
from workbench.store.records import (
    CASE_SQL,
    HEARING_SQL,
    Case,
    Hearing,
    NotFound,
    StoreError,
    case_from_row,
    hearing_from_row,
    parties_json,
)
from workbench.store.status import Event, HearingStatus, StatusError, next_status


class Cases(Database):
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
                [number, cause, court, parties_json(parties)],
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
                row = con.execute(CASE_SQL + " WHERE id = ? OR number = ?", [int(key), str(key)]).fetchone()
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
        sql = HEARING_SQL + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY h.starts_at DESC NULLS LAST, h.id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.reading() as con:
            return [hearing_from_row(r) for r in con.execute(sql, params).fetchall()]

    # -- status: the only writer of hearings.status --

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
