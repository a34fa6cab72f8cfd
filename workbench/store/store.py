"""`Store`: one hearing database, every part of it, and the whole-hearing reads the exporters need.

Database (db)          the file, connections, the write lock, idle close, migrations on open
  Cases (cases)        cases, hearings, status changes (`advance`), hotword lists
    Courtrooms         courtroom profiles (a seat and role per channel), case rosters
    Notes              a hearing's log notes: stage marks, timed notes, recesses
    Segments           transcripts saved (speakers' seats and roster names filled), segments, edits, speakers
      Voices           names proposed for a hearing's voices from the same case's other hearings
      Desk             the review desk's reads, split and merge, the "checked up to here" mark
      Signoff          sign-off steps (check, approve, lock, reopen), sealed parts, correction requests, the
                       record's head
  Recordings           audio files by content hash, recordings rows
Store                  all of the above, plus `transcript()` and `hearing_record()`, and the audit trail:
                       `record()` for what changes nothing (a hearing opened, an export), `audit_rows()`,
                       `verify_audit()`
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from workbench.speech.transcript import (
    CorrectionNote,
    EngineInfo,
    HearingRecord,
    LogNote,
    Segment,
    SignoffNote,
    SpeakerLabel,
    SpeakerSummary,
    Transcript,
    Word,
)
from workbench.store import audit
from workbench.store.audit import Actor, AuditRow, ChainReport
from workbench.store.cases import case_of
from workbench.store.courtrooms import Courtrooms
from workbench.store.desk import Desk
from workbench.store.notes import Notes
from workbench.store.recordings import Recordings
from workbench.store.signoff import Signoff
from workbench.store.voices import Voices


class Store(Signoff, Desk, Voices, Courtrooms, Notes, Recordings):
    """One hearing database. Cheap to create; opens the file on first use and migrates it.

    `Store(path)` (default: the `db` setting, `<data_dir>/workbench.duckdb`), with its recordings in
    `audio_dir` (default: `audio/` beside the file).
    """

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
            info["channels"] = tuple(info.get("channels", ()))
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
                s.label,
                s.speech_time or 0.0,
                s.first_appearance or 0.0,
                list(s.embedding) if s.embedding else None,
                channel=s.channel,
                seat=s.seat,
                role=s.role,
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
        """Everything the court record and the interchange formats need, for `workbench.record`: also its state,
        its sign-off steps, its correction requests (numbered 1, 2, ... in the order filed) and the clerk's log notes
        (stage marks, notes, recesses) by time, and the case's roster (for redaction). Sealed parts are not applied
        here (`workbench.record.sealing` does that with `sealed_parts`; `record.manifest.visible_notes` leaves out
        the notes touching them)."""
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
            original_text=original,
            hearing_id=hearing.id,
            state=hearing.status.value,
            signoffs=tuple(
                SignoffNote(s.step, s.account, s.at.isoformat(timespec="seconds"), s.reason)
                for s in self.signoff_steps(hearing_id)
            ),
            corrections=self._correction_notes(hearing_id),
            notes=self._log_notes(hearing_id),
            roster=self._roster(hearing.case_id),
        )

    def _roster(self, case_id: int) -> tuple[tuple[str, str], ...]:
        """The case's roster (case_participants) as (role, name), in the order entered: redaction masks their names
        as it does the parties' (a witness on the roster may be named only in a note or in what was said)."""
        with self.reading() as con:
            rows = con.execute(
                "SELECT role, name FROM case_participants WHERE case_id = ? ORDER BY id", [case_id]
            ).fetchall()
        return tuple((str(role), str(name)) for role, name in rows)

    def _log_notes(self, hearing_id: int) -> tuple[LogNote, ...]:
        """The hearing's log notes as the record prints them, in `record.manifest.note_order`: by time, a stage mark
        first at one time, then in the order made (as `Notes.notes`).
        Read here with SQL rather than through `Notes.notes`, so the record does not depend on that API's shape."""
        with self.reading() as con:
            rows = con.execute(
                "SELECT id, kind, at_s, end_s, text, created_by FROM log_notes WHERE hearing_id = ? "
                "ORDER BY at_s, CASE kind WHEN 'stage' THEN 0 ELSE 1 END, id",
                [hearing_id],
            ).fetchall()
        return tuple(
            LogNote(kind, float(at), text, None if end is None else float(end), int(note_id), author)
            for note_id, kind, at, end, text, author in rows
        )

    def _correction_notes(self, hearing_id: int) -> tuple[CorrectionNote, ...]:
        """The hearing's correction requests as the record's appendix lists them: each change with its segment's
        span (where it is now, or was when merged away: sealing blanks a change whose segment overlaps a sealed
        part) and the text before, as filed. Two queries, however many requests."""
        requests = self.corrections(hearing_id)
        if not requests:
            return ()
        ids = sorted({sid for r in requests for sid, _, _ in r.changes})
        marks = ", ".join("?" * len(ids))
        with self.reading() as con:
            rows = con.execute(
                f"SELECT id, start_s, end_s, 0 AS live FROM removed_segments WHERE id IN ({marks}) UNION ALL "
                f"SELECT id, start_s, end_s, 1 AS live FROM segments WHERE id IN ({marks}) ORDER BY live",
                ids + ids,
            ).fetchall()
        spans = {int(i): (float(start), float(end)) for i, start, end, _ in rows}  # a segment still there wins
        notes = []
        for number, r in enumerate(requests, 1):
            changes = tuple(
                (*spans.get(sid, (0.0, 0.0)), before, text)
                for (sid, text, _), before in zip(r.changes, r.befores or ("",) * len(r.changes), strict=True)
            )
            notes.append(
                CorrectionNote(
                    number=number,
                    requester=r.requester,
                    requester_kind=r.requester_kind,
                    reason=r.reason,
                    filed_at=r.filed_at.isoformat(timespec="seconds"),
                    changes=changes,
                    outcome=r.state,
                    decided_by=r.decided_by or "",
                    decided_at=r.decided_at.isoformat(timespec="seconds") if r.decided_at else "",
                    decision_reason=r.decision_reason or "",
                )
            )
        return tuple(notes)

    # -- the audit trail --

    def record(
        self,
        actor: Actor,
        action: str,
        *,
        case_id: int | None = None,
        hearing_id: int | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Appends one audit row on its own (reads that change nothing: opened, played, exported, searched).

        A hearing's case is filled in when only the hearing is given, so `audit list --case` finds it.
        Returns the row's id.
        """
        with self.writing() as con:
            if hearing_id is not None and case_id is None:
                case_id = case_of(con, hearing_id)
            return audit.append(con, actor, action, case_id=case_id, hearing_id=hearing_id, detail=detail)

    def audit_rows(
        self,
        *,
        account: str | None = None,
        case_id: int | None = None,
        hearing_id: int | None = None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 500,
    ) -> list[AuditRow]:
        """Audit rows, newest first, filtered (see `workbench.store.audit.rows`)."""
        with self.reading() as con:
            return audit.rows(
                con, account=account, case_id=case_id, hearing_id=hearing_id, action=action, since=since, limit=limit
            )

    def verify_audit(self) -> ChainReport:
        """Recomputes the audit chain; names the first altered, missing or inserted row."""
        with self.reading() as con:
            return audit.verify(con)

    def audit_row_with_hash(self, row_hash: str) -> int | None:
        """The id of the audit row whose hash this is (a head noted down earlier), or None."""
        with self.reading() as con:
            row = con.execute("SELECT id FROM audit WHERE hash = ?", [row_hash.strip().lower()]).fetchone()
        return None if row is None else int(row[0])
