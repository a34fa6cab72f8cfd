"""A hearing's transcript as stored: its segments (with their keyword index), the edits, the speakers.

Current text is `text`; `text_orig` is the recognition, never changed; every change is an `edits`
row (segment, field, before, after, account, time, and its audit row), so `derived_text()` (original +
edits) always equals `text` — the tests check it. An edit and its audit row commit together. A hearing's
segments and postings are written in one transaction (with its job's state, when the worker passes its
`con`), so a reader never sees half a hearing. A locked hearing's record takes none of these writes (`Locked`),
except the edits of an accepted correction request (`edits.request_id`; `workbench.store.signoff`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from workbench.speech.transcript import Transcript
from workbench.store import audit, index
from workbench.store.audit import Actor
from workbench.store.cases import Cases, case_of, require_unlocked
from workbench.store.courtrooms import PARTICIPANT_SQL, SeatedSpeaker, participant_from_row, roster_speaker_names
from workbench.store.records import (
    EDIT_SQL,
    SEGMENT_SQL,
    SPEAKER_SQL,
    Edit,
    NotFound,
    Speaker,
    StaleEdit,
    StoredSegment,
    StoreError,
    speaker_from_row,
)
from workbench.store.status import Event

TEXT_FIELDS = frozenset({"text", "split", "merge"})  # edits rows that change a segment's text


@dataclass(frozen=True, slots=True)
class SegmentEdit:
    """One change to a segment: the new text and/or speaker (None: unchanged), made against `version` (None:
    not checked)."""

    segment_id: int
    text: str | None = None
    speaker: str | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """What became of one edit: ok, or `error` "stale" (changed by someone since: `detail` names who and when)
    or "not_found" (no such segment in the hearing, or merged away)."""

    segment_id: int
    ok: bool
    error: str | None = None
    detail: str = ""


# the columns of a segments row (and of a removed_segments row, which adds why it went)
SEGMENT_COLUMNS = ["id", "hearing_id", "idx", "start_s", "end_s", "speaker", "speaker_orig", "text", "text_orig",
                    "words", "engine", "model", "dl", "dl_orig"]  # fmt: skip


class Segments(Cases):
    # -- transcripts --

    def save_transcript(
        self,
        hearing_id: int,
        transcript: Transcript,
        *,
        actor: Actor = audit.SYSTEM,
        con: duckdb.DuckDBPyConnection | None = None,
    ) -> int:
        """Replaces the hearing's segments (and their index) with `transcript`'s, atomically; audited.

        Speaker roles and names already assigned are kept while a label is the same voice: a speaker whose channel
        or seat differs from the stored one (a re-run by channel of a mono hearing, or the other way) is another
        voice under an old label, so its role and name are cleared (audited speaker edits) and its voice decisions
        dropped before the new ones are filled in (`_name_speakers`). Embeddings and speech times are updated.
        Returns the number of segments stored. Pass `con` to join a caller's transaction. The actor is
        the worker's (`audit.SYSTEM`) unless someone stores a transcript by hand.
        """
        if con is None:
            with self.writing() as c:
                n = self.save_transcript(hearing_id, transcript, actor=actor, con=c)
            self.segments_changed()
            return n
        row = con.execute("SELECT case_id FROM hearings WHERE id = ?", [hearing_id]).fetchone()
        if row is None:
            raise NotFound(f"no hearing {hearing_id}")
        case_id = int(row[0])
        require_unlocked(con, hearing_id)  # a new transcript would replace the filed record's text
        if con.execute("SELECT 1 FROM segments WHERE hearing_id = ? LIMIT 1", [hearing_id]).fetchone():
            # A new transcript of a hearing (retry, other engine) replaces the old one; edits made to
            # the old segments stay in `edits` as history.
            index.delete_hearing(con, hearing_id)
            con.execute("DELETE FROM segments WHERE hearing_id = ?", [hearing_id])
        n = len(transcript.segments)
        ids = [r[0] for r in con.execute(f"SELECT nextval('segment_ids') FROM range({n})").fetchall()] if n else []
        seg_rows, postings = [], []
        for i, (seg_id, seg) in enumerate(zip(ids, transcript.segments, strict=True)):
            p, dl, _ = index.posting_rows(seg_id, hearing_id, seg.text, seg.text)
            postings.extend(p)
            words = json.dumps([[w.start, w.end, w.text, w.prob] for w in seg.words], ensure_ascii=False)
            seg_rows.append(
                (seg_id, hearing_id, i, seg.start, seg.end, seg.speaker, seg.speaker, seg.text, seg.text, words,
                 transcript.engine.asr, transcript.engine.model, dl, dl)
            )  # fmt: skip
        if seg_rows:
            import pyarrow as pa  # a few hundred ms to import: only once there is something to write

            cols = list(zip(*seg_rows, strict=True))
            con.register("_new_segments", pa.table(dict(zip(SEGMENT_COLUMNS, cols, strict=True))))
            try:
                con.execute(f"INSERT INTO segments ({', '.join(SEGMENT_COLUMNS)}) SELECT * FROM _new_segments")
            finally:
                con.unregister("_new_segments")
        index.insert_postings(con, postings)
        labels = {s.speaker for s in transcript.segments if s.speaker} - {s.id for s in transcript.speakers or []}
        places = {spk.id: (spk.channel, spk.seat) for spk in transcript.speakers or []}
        places.update({label: (None, None) for label in labels})  # a label with no summary: heard in no channel
        self._forget_moved_voices(con, hearing_id, case_id, places, actor)
        for spk in transcript.speakers or []:
            # channel and seat are facts of this transcript (a mono re-run clears them), like the embedding
            con.execute(
                "INSERT INTO speakers (hearing_id, label, embedding, speech_time, first_appearance, channel, seat) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hearing_id, label) DO UPDATE SET embedding = "
                "excluded.embedding, speech_time = excluded.speech_time, first_appearance = excluded.first_appearance, "
                "channel = excluded.channel, seat = excluded.seat",
                [hearing_id, spk.id, spk.embedding, spk.speech_time, spk.first_appearance, spk.channel, spk.seat],
            )
        for label in sorted(labels):
            con.execute(
                "INSERT INTO speakers (hearing_id, label) VALUES (?, ?) ON CONFLICT (hearing_id, label) "
                "DO UPDATE SET channel = NULL, seat = NULL",
                [hearing_id, label],
            )
        engine = json.dumps(
            {**transcript.to_dict()["engine"], "file": transcript.file, "duration": transcript.duration},
            ensure_ascii=False,
        )
        con.execute(
            "UPDATE hearings SET language = ?, engine = ? WHERE id = ?", [transcript.language, engine, hearing_id]
        )
        self.advance(hearing_id, Event.JOB_DONE, con, actor=actor)
        con.execute(
            "UPDATE recordings SET duration = ? WHERE hearing_id = ? AND duration IS NULL",
            [transcript.duration, hearing_id],
        )
        audit.append(
            con, actor, audit.HEARING_CHANGED, case_id=case_id, hearing_id=hearing_id,
            detail={"transcript": "saved", "segments": n, "asr": transcript.engine.asr,
                    "model": transcript.engine.model, "sha256": transcript.sha256},
        )  # fmt: skip
        self._name_speakers(con, hearing_id, case_id, transcript, actor)
        return n

    def _forget_moved_voices(
        self,
        con: duckdb.DuckDBPyConnection,
        hearing_id: int,
        case_id: int,
        places: dict[str, tuple[int | None, str | None]],
        actor: Actor,
    ) -> None:
        """Before a new transcript's speakers are stored, in its transaction: a stored speaker whose (channel, seat)
        differs from the new transcript's for its label is no longer the voice its role and name were given to
        (labels are handed out again by each run). Its role and name are cleared, each an audited speaker edit by
        `actor`, and the voice decisions on it (proposals declined or accepted for it, or made from it for another
        hearing) are dropped, so the new voice is named afresh and proposed again."""
        rows = con.execute(
            "SELECT label, channel, seat, role, name FROM speakers WHERE hearing_id = ? ORDER BY label", [hearing_id]
        ).fetchall()
        for label, channel, seat, role, name in rows:
            if label not in places or places[label] == (channel, seat):
                continue
            for field, old in (("role", role), ("name", name)):
                if old:
                    con.execute(
                        f"UPDATE speakers SET {field} = NULL WHERE hearing_id = ? AND label = ?", [hearing_id, label]
                    )
                    self._log_edit(con, audit.SPEAKER_CHANGED, None, hearing_id, f"{field}:{label}", old, None, actor,
                                   case_id=case_id)  # fmt: skip
            con.execute(
                "DELETE FROM voice_decisions WHERE (hearing_id = ? AND label = ?) OR (from_hearing = ? AND "
                "from_label = ?)",
                [hearing_id, label, hearing_id, label],
            )

    def _name_speakers(
        self, con: duckdb.DuckDBPyConnection, hearing_id: int, case_id: int, transcript: Transcript, actor: Actor
    ) -> None:
        """After a transcript is saved, in its transaction: a speaker without a role takes its seat's role (a
        channel recording's), then one without a name takes the roster's (`courtrooms.roster_speaker_names`). Each is a
        speaker change by `actor` (edits and audit rows, as a clerk's naming is); nothing given is overwritten."""
        summaries = {s.id: s for s in transcript.speakers or []}
        rows = con.execute(
            "SELECT label, role, name, seat FROM speakers WHERE hearing_id = ? ORDER BY label", [hearing_id]
        ).fetchall()
        seated: list[SeatedSpeaker] = []
        for label, role, name, seat in rows:
            summary = summaries.get(label)
            if not role and summary is not None and summary.role:
                role = summary.role
                con.execute(
                    "UPDATE speakers SET role = ? WHERE hearing_id = ? AND label = ?", [role, hearing_id, label]
                )
                self._log_edit(con, audit.SPEAKER_CHANGED, None, hearing_id, f"role:{label}", None, role, actor,
                               case_id=case_id)  # fmt: skip
            if summary is not None:  # only this transcript's voices: a label kept from an older run is not heard now
                seated.append(SeatedSpeaker(label, seat, role or None, name or None))
        roster = con.execute(PARTICIPANT_SQL + " WHERE case_id = ? ORDER BY id", [case_id]).fetchall()
        if not roster:
            return
        names = roster_speaker_names(seated, [participant_from_row(r) for r in roster])
        for label, name in sorted(names.items()):
            con.execute("UPDATE speakers SET name = ? WHERE hearing_id = ? AND label = ?", [name, hearing_id, label])
            self._log_edit(con, audit.SPEAKER_CHANGED, None, hearing_id, f"name:{label}", None, name, actor,
                           case_id=case_id)  # fmt: skip

    # -- segments and their edits --

    def segments(self, hearing_id: int) -> list[StoredSegment]:
        with self.reading() as con:
            rows = con.execute(SEGMENT_SQL + " WHERE hearing_id = ? ORDER BY idx", [hearing_id]).fetchall()
        return [StoredSegment(*r) for r in rows]

    def segment(self, segment_id: int) -> StoredSegment:
        with self.reading() as con:
            row = con.execute(SEGMENT_SQL + " WHERE id = ?", [segment_id]).fetchone()
        if row is None:
            raise NotFound(f"no segment {segment_id}: `workbench hearings show HEARING` lists segment ids")
        return StoredSegment(*row)

    def segment_version(self, segment_id: int) -> int:
        """The segment's version: the id of its latest edits row, 0 if it was never edited."""
        with self.reading() as con:
            return _version(con, "segment_id = ?", [segment_id])

    def segment_versions(self, hearing_id: int) -> dict[int, int]:
        """Every edited segment's version in one query (segment id -> latest edits row id); absent means 0."""
        with self.reading() as con:
            rows = con.execute(
                "SELECT segment_id, max(id) FROM edits WHERE hearing_id = ? AND segment_id IS NOT NULL "
                "GROUP BY segment_id",
                [hearing_id],
            ).fetchall()
        return {int(s): int(v) for s, v in rows}

    def edit_segment(
        self,
        segment_id: int,
        *,
        text: str | None = None,
        speaker: str | None = None,
        actor: Actor,
        expected_version: int | None = None,
    ) -> StoredSegment:
        """Changes a segment's text and/or speaker; one edits row (and its audit row) per changed field,
        searchable at once.

        `expected_version` is the version the editor loaded (`segment_version`); if someone has edited the
        segment since, nothing changes and StaleEdit names who and when. The check is made inside the write
        transaction (writers take turns on the file's lock), so two editors of one version cannot both win.
        """
        with self.writing() as con:
            [done] = self._apply_edits(con, [SegmentEdit(segment_id, text, speaker, expected_version)], actor=actor)
            if done.error == "not_found":
                raise NotFound(done.detail)
            if done.error == "stale":
                raise StaleEdit(done.detail)
        self.segments_changed()
        return self.segment(segment_id)

    def _apply_edits(
        self,
        con: duckdb.DuckDBPyConnection,
        edits: Sequence[SegmentEdit],
        *,
        actor: Actor,
        hearing_id: int | None = None,
        request_id: int | None = None,
    ) -> list[EditOutcome]:
        """The edits, in order, inside the caller's transaction: for each, one edits row (and audit row) per
        changed field, the changed texts reindexed together, the status of each hearing with a change advanced. An
        item whose version is not current (StaleEdit's words in `detail`), or whose segment is missing (or not
        of `hearing_id`, when given), changes nothing and the rest go on.

        `Locked` (nothing changes) when a hearing edited is locked, unless the edits apply the accepted
        correction request `request_id` (the only edits a locked record takes; its edits rows name it).

        The segments and their versions are read once for the whole batch and followed as the edits are
        made (a segment twice in a batch: the second item needs the version the first made), so a batch
        costs a few statements per item: the desk saves every dirty row each time typing pauses.
        """
        if not edits:
            return []
        ids = sorted({e.segment_id for e in edits})
        marks = ", ".join("?" * len(ids))
        rows = {
            int(r[0]): [int(r[1]), r[2], r[3]]
            for r in con.execute(f"SELECT id, hearing_id, text, speaker FROM segments WHERE id IN ({marks})", ids)
            .fetchall()
        }  # fmt: skip
        versions = {
            int(r[0]): int(r[1])
            for r in con.execute(
                f"SELECT segment_id, max(id) FROM edits WHERE segment_id IN ({marks}) GROUP BY segment_id", ids
            ).fetchall()
        }
        if request_id is None:
            for hid in {hearing_id} if hearing_id is not None else {r[0] for r in rows.values()}:
                require_unlocked(con, hid)
        cases: dict[int, int] = {}
        changed: set[int] = set()  # hearings with a change: an edit changing nothing takes no mark away
        texts: dict[int, str] = {}  # segment -> its new text, the last of the batch
        out: list[EditOutcome] = []
        for e in edits:
            sid = e.segment_id
            row = rows.get(sid)
            if row is None or (hearing_id is not None and row[0] != hearing_id):
                where = f"本庭审没有段落 {sid} (no segment {sid} in hearing {hearing_id})" if hearing_id else (
                    f"no segment {sid}")  # fmt: skip
                out.append(EditOutcome(sid, False, "not_found", f"{where}: `workbench hearings show HEARING` lists "
                                       "segment ids"))  # fmt: skip
                continue
            current = versions.get(sid, 0)
            if e.version is not None and e.version != current:
                out.append(EditOutcome(sid, False, "stale", _stale_message(con, current, e.version)))
                continue
            hid, old_text, old_speaker = row
            if hid not in cases:
                cases[hid] = case_of(con, hid)
            case_id = cases[hid]
            if e.text is not None and e.text != old_text:
                texts[sid] = e.text  # written below, all in one statement
                versions[sid] = self._log_edit(
                    con, audit.EDITED, sid, hid, "text", old_text, e.text, actor, case_id=case_id,
                    request_id=request_id,
                )  # fmt: skip
                row[1] = e.text
                changed.add(hid)
            if e.speaker is not None and e.speaker != old_speaker:
                con.execute("UPDATE segments SET speaker = ? WHERE id = ?", [e.speaker, sid])
                con.execute(
                    "INSERT INTO speakers (hearing_id, label) VALUES (?, ?) ON CONFLICT DO NOTHING", [hid, e.speaker]
                )
                versions[sid] = self._log_edit(
                    con, audit.EDITED, sid, hid, "speaker", old_speaker, e.speaker, actor, case_id=case_id,
                    request_id=request_id,
                )  # fmt: skip
                row[2] = e.speaker
                changed.add(hid)
            out.append(EditOutcome(sid, True))
        if texts:
            con.execute(
                "UPDATE segments SET text = v.text FROM (VALUES " + ", ".join(["(?, ?)"] * len(texts))
                + ") AS v(id, text) WHERE segments.id = v.id",
                [x for item in texts.items() for x in item],
            )  # fmt: skip
            index.reindex_segments(con, list(texts))
        for hid in sorted(changed):
            self.advance(hid, Event.EDITED, con, actor=actor)
        return out

    @staticmethod
    def _log_edit(
        con: duckdb.DuckDBPyConnection,
        action: str,
        segment_id: int | None,
        hearing_id: int,
        field: str,
        before: str | None,
        after: str | None,
        actor: Actor,
        *,
        case_id: int | None = None,
        audit_id: int | None = None,
        request_id: int | None = None,
    ) -> int:
        """The edits row and its audit row, in the caller's transaction; returns the edits row's id (the
        segment's or speaker's new version). `case_id`: the hearing's, when the caller knows it. `audit_id`:
        the audit row the caller already wrote (a split's or merge's one row for all its edits rows), so
        none is written here. `request_id`: the accepted correction request the edit applies (in both rows).

        The audit row holds before and after too, so the chain's hash covers what was changed, not
        only that something was.
        """
        if audit_id is None:
            audit_id = audit.append(
                con, actor, action, case_id=case_of(con, hearing_id) if case_id is None else case_id,
                hearing_id=hearing_id,
                detail={"segment_id": segment_id, "field": field, "before": before, "after": after}
                | ({"request_id": request_id} if request_id is not None else {}),
            )  # fmt: skip
        row = con.execute(
            "INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name, edited_at, audit_id, "
            "request_id) VALUES (?, ?, ?, ?, ?, ?, current_timestamp, ?, ?) RETURNING id",
            [segment_id, hearing_id, field, before, after, actor.account, audit_id, request_id],
        ).fetchone()
        return int(row[0])

    def edits(self, *, hearing_id: int | None = None, segment_id: int | None = None) -> list[Edit]:
        where, params = [], []
        if hearing_id is not None:
            where.append("hearing_id = ?")
            params.append(hearing_id)
        if segment_id is not None:
            where.append("segment_id = ?")
            params.append(segment_id)
        sql = EDIT_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        with self.reading() as con:
            return [Edit(*r) for r in con.execute(sql, params).fetchall()]

    def derived_text(self, segment_id: int) -> str:
        """The original recognition with every text edit applied in order: must equal the current text.

        A split ("split" rows: the first half's whole text → its part; the new second half's '' → its part)
        and a merge ("merge": the kept segment's text → the joined text) change the text as an edit does."""
        seg = self.segment(segment_id)
        text = seg.text_orig
        for e in self.edits(segment_id=segment_id):
            if e.field in TEXT_FIELDS:
                if e.before != text:
                    raise StoreError(f"segment {segment_id}: edit {e.id} does not follow from the one before it")
                text = e.after or ""
        return text

    # -- speakers --

    def speaker_versions(self, hearing_id: int) -> dict[str, int]:
        """Each speaker's version (label -> id of the latest edits row of its role or name; absent means 0)."""
        with self.reading() as con:
            rows = con.execute(
                # the label after "role:" or "name:" (both 5 characters)
                "SELECT substr(field, 6), max(id) FROM edits WHERE hearing_id = ? AND segment_id IS NULL "
                "AND (field LIKE 'role:%' OR field LIKE 'name:%') GROUP BY 1",
                [hearing_id],
            ).fetchall()
        return {str(label): int(v) for label, v in rows}

    def speakers(self, hearing_id: int) -> list[Speaker]:
        with self.reading() as con:
            rows = con.execute(
                SPEAKER_SQL + " WHERE hearing_id = ? ORDER BY first_appearance NULLS LAST, label", [hearing_id]
            ).fetchall()
        return [speaker_from_row(r) for r in rows]

    def set_speaker(
        self,
        hearing_id: int,
        label: str,
        *,
        role: str | None = None,
        name: str | None = None,
        actor: Actor,
        expected_version: int | None = None,
    ) -> Speaker:
        """Gives a diarized speaker a court role and/or a name ("" clears it); each change is an edits row
        and an audit row. `expected_version` (`speaker_versions`): as for `edit_segment`."""
        with self.writing() as con:
            self.name_speaker(
                con, hearing_id, label, role=role, name=name, actor=actor, expected_version=expected_version
            )
        return next(s for s in self.speakers(hearing_id) if s.label == label)

    def name_speaker(
        self,
        con: duckdb.DuckDBPyConnection,
        hearing_id: int,
        label: str,
        *,
        role: str | None = None,
        name: str | None = None,
        actor: Actor,
        expected_version: int | None = None,
    ) -> None:
        """`set_speaker` inside the caller's write transaction (accepting a proposed voice names it with its
        decision row in one transaction)."""
        if not con.execute("SELECT 1 FROM hearings WHERE id = ?", [hearing_id]).fetchone():
            raise NotFound(f"no hearing {hearing_id}")
        require_unlocked(con, hearing_id)
        row = con.execute(
            "SELECT role, name FROM speakers WHERE hearing_id = ? AND label = ?", [hearing_id, label]
        ).fetchone()
        if row is None:
            known = [
                r[0] for r in con.execute("SELECT label FROM speakers WHERE hearing_id = ?", [hearing_id]).fetchall()
            ]
            raise NotFound(f"hearing {hearing_id} has no speaker {label}; it has: {', '.join(known) or 'none'}")
        if expected_version is not None:
            _check_version(con, *_speaker_edits(hearing_id, label), expected_version)
        changed = False
        for field, value, old in (("role", role, row[0]), ("name", name, row[1])):
            if value is None:
                continue
            new = value.strip() or None
            if new != old:
                con.execute(
                    f"UPDATE speakers SET {field} = ? WHERE hearing_id = ? AND label = ?", [new, hearing_id, label]
                )
                self._log_edit(con, audit.SPEAKER_CHANGED, None, hearing_id, f"{field}:{label}", old, new, actor)
                changed = True
        if changed:  # a speaker's role or name is printed in the record: as an edit to it
            self.advance(hearing_id, Event.EDITED, con, actor=actor)


# --- versions (the stale-edit check) ------------------------------------------------------------------


def _speaker_edits(hearing_id: int, label: str) -> tuple[str, list[object]]:
    """The edits rows of a speaker's role and name, as a WHERE clause and its parameters."""
    return "hearing_id = ? AND segment_id IS NULL AND field IN (?, ?)", [hearing_id, f"role:{label}", f"name:{label}"]


def _version(con: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> int:
    row = con.execute(f"SELECT max(id) FROM edits WHERE {where}", params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _check_version(con: duckdb.DuckDBPyConnection, where: str, params: list[object], expected: int) -> None:
    """StaleEdit naming the last editor and time unless the latest edits row matching `where` is `expected`."""
    current = _version(con, where, params)
    if current != expected:
        raise StaleEdit(_stale_message(con, current, expected))


def _stale_message(con: duckdb.DuckDBPyConnection, current: int, expected: int) -> str:
    """Why version `expected` is refused when `current` is the latest: who changed it and when."""
    row = con.execute("SELECT user_name, edited_at FROM edits WHERE id = ?", [current]).fetchone() if current else None
    if row is None:  # no edit since (an unknown version was given): nothing to name
        return (
            f"版本 {expected} 不是当前版本 {current}，请重新加载 "
            f"(version {expected} is not the current {current}, reload)"
        )
    who, at = row[0] or "?", f"{row[1]:%Y-%m-%d %H:%M:%S}"
    return f"已被 {who} 于 {at} 修改，请重新加载 (changed by {who} at {at}, reload)"
