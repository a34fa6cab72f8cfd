"""A clerk's log notes on a hearing: stage changes (庭审阶段), timed notes, recesses (休庭).

FTR and JAVS call them log notes: each is a time in the recording and a short text. A stage mark's text is one
of `STAGES` (法庭调查, ...) or the clerk's own name for a stage; a note's text is the note; a recess has an end
(when the hearing resumed) and an optional reason. They are part of the record (the .docx is organised by
stage, with the notes in place), so a write is a change to the record: refused on a locked hearing
(`require_unlocked`, inside the write transaction), audited in the same transaction as `NOTE_ACTION` (one of
the record's actions: the record's head moves and `verify` reports it), and a checked or approved record
goes back to review, as an edit sends it.

Each note carries a `version` (1 when added, one more per change); `update_note` names the version it was made
against and is refused (`StaleEdit`, naming who changed it and when) when someone changed the note since.
Who may write is decided above the store (`Access.may_edit_record`); the store records who did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from workbench.display import clock
from workbench.speech.transcript import NOTE_KINDS, STAGES, LogNote
from workbench.store import audit
from workbench.store.audit import Actor
from workbench.store.cases import Cases, case_of, require_unlocked
from workbench.store.records import NotFound, StaleEdit, StoreError
from workbench.store.signoff import SEALED_OVERLAP
from workbench.store.status import SIGNED, Event

# The audit action of a note's writes: HEARING_CHANGED is one of the record's actions (signoff.RECORD_ACTIONS),
# so a note added, changed or removed moves the record's head as any change to the record does. Its detail says
# which: {"log_note": {"op": "added" | "edited" | "deleted", "id": ..., ...}}.
NOTE_ACTION = audit.HEARING_CHANGED
STAGE_MAX = 40  # a stage's name: 法庭调查, or the clerk's own, short
NOTE_TEXT_MAX = 500  # a note or a recess's reason: a line or two, not a document
# Notes on one hearing: a long day's hearing has a few dozen; the desk reads them in one page of this many
# (desk_component.js NOTES_LIMIT), so one more would silently be missing there.
NOTES_MAX = 1000
KIND_WORDS = {"stage": "阶段", "note": "笔记", "recess": "休庭"}
# A note may sit a little past the recording's end (the desk's clock rounds; the last word ends there).
PAST_END_S = 1.0

NOTE_SQL = "SELECT id, hearing_id, kind, at_s, end_s, text, created_by, created_at, version FROM log_notes"
# SQL: note n [at, end) lies in sealed part p [start, end) at all, as a segment does (signoff.SEALED_OVERLAP);
# a note without an end is a point: in p when p.start <= at < p.end
NOTE_SEALED = SEALED_OVERLAP.replace("s.start_s", "n.at_s").replace("s.end_s", "coalesce(n.end_s, n.at_s)")


class NoteError(StoreError, ValueError):
    """A note that cannot be stored as given (its kind, time or text); the message names which and why. A
    ValueError too: the API answers it 422 (bad input), not 409."""


@dataclass(frozen=True, slots=True)
class StoredNote:
    """A log note as the store keeps it: the shared `LogNote` plus its hearing, when it was made and its version."""

    id: int
    hearing_id: int
    kind: str  # "stage" | "note" | "recess"
    at: float  # seconds from the start of the recording
    end: float | None  # a recess: when the hearing resumed
    text: str
    created_by: str
    created_at: datetime
    version: int

    def log_note(self) -> LogNote:
        return LogNote(self.kind, self.at, self.text, end=self.end, id=self.id, author=self.created_by)

    def label(self) -> str:
        """As the desk and the lists show it: "法庭调查", "笔记：出示证据一", "休庭（00:30:00—00:45:00）：合议"."""
        if self.kind == "stage":
            return self.text
        if self.kind == "recess":
            span = f"休庭（{clock(self.at)}—{clock(self.end)}）"
            return f"{span}：{self.text}" if self.text else span
        return f"笔记：{self.text}"


def note_from_row(row: tuple[Any, ...]) -> StoredNote:
    nid, hid, kind, at, end, text, by, created, version = row
    return StoredNote(
        int(nid), int(hid), kind, float(at), None if end is None else float(end), text, by, created, int(version)
    )


def _seconds(value: object, name_zh: str, name_en: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise NoteError(f"{name_zh}无效 ({name_en} must be seconds, got {value!r})") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise NoteError(f"{name_zh}无效：须为不小于 0 的秒数 ({name_en} must be seconds, at least 0; got {value!r})")
    return seconds


def check_note(kind: str, at: object, text: object, end: object = None) -> tuple[str, float, str, float | None]:
    """The note's fields, checked and stripped: (kind, at, text, end). NoteError naming the field otherwise.

    A stage: its name, non-empty, at most STAGE_MAX characters (a STAGES name or the clerk's own). A note: its
    text, non-empty, at most NOTE_TEXT_MAX. A recess: an end after `at`, and a reason (may be empty).
    """
    if kind not in NOTE_KINDS:
        raise NoteError(f"类型 {kind!r} 无效 (kind must be one of {', '.join(NOTE_KINDS)})")
    seconds = _seconds(at, "时间", "at")
    if not isinstance(text, str):
        raise NoteError(f"内容无效 (text must be text, got {type(text).__name__})")
    words = text.strip()
    if "\x00" in words:
        raise NoteError("内容含有空字符 (text must not contain NUL characters)")
    if kind == "stage":
        if not words:
            raise NoteError(f"阶段名称不能为空 (a stage needs its name, e.g. {STAGES[1]})")
        if len(words) > STAGE_MAX:
            raise NoteError(f"阶段名称最多 {STAGE_MAX} 字 (a stage's name is at most {STAGE_MAX} characters)")
    elif len(words) > NOTE_TEXT_MAX:
        raise NoteError(f"内容最多 {NOTE_TEXT_MAX} 字 (a note's text is at most {NOTE_TEXT_MAX} characters)")
    elif kind == "note" and not words:
        raise NoteError("笔记内容不能为空 (a note needs its text)")
    if kind == "recess":
        if end is None:
            raise NoteError("休庭需要结束时间 (a recess needs its end: when the hearing resumed)")
        until = _seconds(end, "结束时间", "end")
        if until <= seconds:
            raise NoteError(
                f"休庭的结束时间须晚于开始时间 (a recess must end after it begins: {clock(seconds)} to {clock(until)})"
            )
        return kind, seconds, words, until
    if end is not None:
        raise NoteError(f"只有休庭有结束时间 (only a recess has an end; a {kind} is a moment)")
    return kind, seconds, words, None


class Notes(Cases):
    """Log notes of hearings: `add_note`, `update_note`, `delete_note`, `notes`, `note`, `sealed_note_ids`."""

    def add_note(
        self, hearing_id: int, kind: str, at: float, text: str, *, end: float | None = None, actor: Actor
    ) -> StoredNote:
        """Adds a stage mark, a note or a recess at `at` seconds; audited; refused (`Locked`) on a locked record and
        (`NoteError`) when the hearing has `NOTES_MAX` notes already."""
        kind, at, text, end = check_note(kind, at, text, end)
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            require_unlocked(con, hearing_id)
            _within_recording(con, hearing_id, at, end)
            count = con.execute("SELECT count(*) FROM log_notes WHERE hearing_id = ?", [hearing_id]).fetchone()[0]
            if count >= NOTES_MAX:
                raise NoteError(
                    f"庭审 {hearing_id} 已有 {count} 条笔记，已达上限 {NOTES_MAX}，请删除或合并后再添加 "
                    f"(hearing {hearing_id} has {count} log notes, the most it may have is {NOTES_MAX}: "
                    "delete or merge some first)"
                )
            note_id = int(
                con.execute(
                    "INSERT INTO log_notes (hearing_id, kind, at_s, end_s, text, created_by, created_at, version) "
                    "VALUES (?, ?, ?, ?, ?, ?, current_timestamp, 1) RETURNING id",
                    [hearing_id, kind, at, end, text, actor.account],
                ).fetchone()[0]
            )
            fields = {"kind": kind, "at": at, "end": end, "text": text}
            self._note_changed(con, actor, case_id, hearing_id, {"op": "added", "id": note_id, **fields})
        return self.note(note_id)

    def update_note(
        self,
        note_id: int,
        *,
        version: int | None,
        text: str | None = None,
        at: float | None = None,
        end: float | None = None,
        actor: Actor,
    ) -> StoredNote:
        """Changes a note's text, time and/or (a recess's) end; None leaves a field. `version` is the one the
        editor loaded: StaleEdit (nothing changed) when the note changed since; None skips the check (an API PATCH
        without `version`; the CLI always sends the version it read). Audited with before and after; refused
        (`Locked`) on a locked record."""
        with self.writing() as con:
            old = _note_row(con, note_id)
            require_unlocked(con, old.hearing_id)
            if version is not None and version != old.version:
                raise StaleEdit(_stale_note(con, old, version))
            kind, new_at, new_text, new_end = check_note(
                old.kind,
                old.at if at is None else at,
                old.text if text is None else text,
                (old.end if end is None else end) if old.kind == "recess" else end,
            )
            _within_recording(con, old.hearing_id, new_at, new_end)
            before = {"at": old.at, "end": old.end, "text": old.text}
            after = {"at": new_at, "end": new_end, "text": new_text}
            changed = {k: {"before": before[k], "after": v} for k, v in after.items() if v != before[k]}
            if not changed:
                return old
            con.execute(
                "UPDATE log_notes SET at_s = ?, end_s = ?, text = ?, version = version + 1 WHERE id = ?",
                [new_at, new_end, new_text, note_id],
            )
            detail = {"op": "edited", "id": note_id, "kind": kind, "version": old.version + 1, **changed}
            self._note_changed(con, actor, case_of(con, old.hearing_id), old.hearing_id, detail)
        return self.note(note_id)

    def delete_note(self, note_id: int, *, actor: Actor, hearing_id: int | None = None) -> StoredNote:
        """Removes a note; audited with what it was (the audit row keeps it); refused (`Locked`) on a locked record.
        With `hearing_id`, a note of another hearing is NotFound (the API's path names the hearing)."""
        with self.writing() as con:
            old = _note_row(con, note_id)
            if hearing_id is not None and old.hearing_id != hearing_id:
                raise NotFound(_no_note(note_id, hearing_id))
            require_unlocked(con, old.hearing_id)
            con.execute("DELETE FROM log_notes WHERE id = ?", [note_id])
            detail = {"op": "deleted", "id": note_id, "kind": old.kind, "at": old.at, "end": old.end,
                      "text": old.text, "created_by": old.created_by}  # fmt: skip
            self._note_changed(con, actor, case_of(con, old.hearing_id), old.hearing_id, detail)
        return old

    def _note_changed(
        self, con: duckdb.DuckDBPyConnection, actor: Actor, case_id: int, hearing_id: int, detail: dict[str, Any]
    ) -> None:
        audit.append(con, actor, NOTE_ACTION, case_id=case_id, hearing_id=hearing_id, detail={"log_note": detail})
        status = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()[0]
        if status in SIGNED:  # the record prints its notes: a checked or approved one goes back to review
            self.advance(hearing_id, Event.EDITED, con, actor=actor)

    def notes(self, hearing_id: int) -> list[StoredNote]:
        """The hearing's notes by time (a stage before a note at the same second: the heading comes first)."""
        with self.reading() as con:
            rows = con.execute(
                NOTE_SQL + " WHERE hearing_id = ? ORDER BY at_s, CASE kind WHEN 'stage' THEN 0 ELSE 1 END, id",
                [hearing_id],
            ).fetchall()
        return [note_from_row(r) for r in rows]

    def note(self, note_id: int) -> StoredNote:
        with self.reading() as con:
            return _note_row(con, note_id)

    def sealed_note_ids(self, hearing_id: int) -> set[int]:
        """The ids of the hearing's notes that lie in a sealed part (their text is hidden as sealed text is)."""
        with self.reading() as con:
            rows = con.execute(
                "SELECT DISTINCT n.id FROM log_notes n JOIN sealed_parts p ON p.hearing_id = n.hearing_id "
                f"AND {NOTE_SEALED} WHERE n.hearing_id = ?",
                [hearing_id],
            ).fetchall()
        return {int(r[0]) for r in rows}


def _note_row(con: duckdb.DuckDBPyConnection, note_id: int) -> StoredNote:
    try:
        note_id = int(note_id)
    except (TypeError, ValueError):
        raise NotFound(_no_note(note_id)) from None
    row = con.execute(NOTE_SQL + " WHERE id = ?", [note_id]).fetchone() if 0 < note_id < 2**63 else None
    if row is None:
        raise NotFound(_no_note(note_id))
    return note_from_row(row)


def _within_recording(con: duckdb.DuckDBPyConnection, hearing_id: int, at: float, end: float | None) -> None:
    """NoteError when the note lies after the end of the hearing's recording (when its length is known)."""
    row = con.execute("SELECT max(duration) FROM recordings WHERE hearing_id = ?", [hearing_id]).fetchone()
    duration = row[0] if row else None
    if duration is None or duration <= 0:
        return
    last = max(at, end or at)
    if last > duration + PAST_END_S:
        raise NoteError(
            f"时间 {clock(last)} 超出录音长度 {clock(duration)} (the time {clock(last)} is after the end of the "
            f"recording, {clock(duration)})"
        )


def _stale_note(con: duckdb.DuckDBPyConnection, note: StoredNote, expected: int) -> str:
    """Why version `expected` of `note` is refused: who changed it last and when (its newest audit row)."""
    row = con.execute(
        "SELECT account, logged_at FROM audit WHERE hearing_id = ? AND action = ? "
        "AND contains(detail, '\"log_note\"') AND json_extract(detail, '$.log_note.id')::BIGINT = ? "
        "ORDER BY id DESC LIMIT 1",
        [note.hearing_id, NOTE_ACTION, note.id],
    ).fetchone()
    who = f"{row[0]} 于 {row[1]:%Y-%m-%d %H:%M:%S}" if row else "他人"
    by = f" by {row[0]} at {row[1]:%Y-%m-%d %H:%M:%S}" if row else ""
    return (
        f"笔记 {note.id} 已被 {who} 修改（现为第 {note.version} 版，您的是第 {expected} 版），请重新加载 "
        f"(note {note.id} was changed{by}: version {note.version} now, yours was {expected}; reload it)"
    )


def _no_note(note_id: object, hearing_id: int | None = None) -> str:
    where = f"庭审 {hearing_id} " if hearing_id is not None else ""
    where_en = f" in hearing {hearing_id}" if hearing_id is not None else ""
    return f"{where}没有笔记 {note_id} (no log note {note_id}{where_en}): `workbench notes list HEARING` lists them"
