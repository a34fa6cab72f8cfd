"""What the review desk needs of the store: the segments with their words in one read, split and merge, and the
hearing's "checked up to here" mark.

A split or a merge is an edit like any other: it runs in one write transaction with its audit row, leaves
`edits` rows (field "split" on both halves, "merge" on the kept segment) that `derived_text` follows, and
keeps everything recognised: a merged-away segment's whole row moves to `removed_segments`. The keyword
index follows in the same transaction (both halves reindexed; the removed one's postings dropped), so
search finds the new texts at once and the removed one no more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.desk import cut, join_texts, utf16_len
from workbench.speech.transcript import Word
from workbench.store import audit, index
from workbench.store.audit import Actor
from workbench.store.cases import case_of, require_unlocked
from workbench.store.records import NotFound, StoredSegment
from workbench.store.segments import SEGMENT_COLUMNS, EditOutcome, SegmentEdit, Segments, _check_version
from workbench.store.status import Event

__all__ = ["CheckedMark", "Desk", "DeskRow", "EditOutcome", "SegmentEdit"]

_ROW_SQL = (
    "SELECT id, hearing_id, idx, start_s, end_s, speaker, speaker_orig, text, text_orig, words, engine, model "
    "FROM segments WHERE id = ?"
)
_COLUMNS = ", ".join(SEGMENT_COLUMNS)
RESHAPING_FIELDS = frozenset({"split", "merge"})  # edits rows that change where a segment begins or ends


@dataclass(frozen=True, slots=True)
class DeskRow:
    """A segment as the desk reads it: current text and speaker, their originals, its version, the recognised
    words as stored (`words_json`: a JSON list of [start, end, text, prob], not yet placed on the current text;
    the desk's view parses and caches them), and the field of its latest edits row (`last_edit`; None: never
    edited)."""

    id: int
    start: float
    end: float
    speaker: str | None
    speaker_orig: str | None
    text: str
    text_orig: str
    version: int
    words_json: str
    last_edit: str | None = None

    @property
    def edited(self) -> bool:  # as StoredSegment.edited
        return self.text != self.text_orig or self.speaker != self.speaker_orig

    @property
    def reshaped(self) -> bool:
        """Its latest change was a split or a merge: its text now covers other speech than before, so an edit
        made against the older text must not be sent again as it is (it would repeat or lose the moved part)."""
        return self.last_edit in RESHAPING_FIELDS


@dataclass(frozen=True, slots=True)
class CheckedMark:
    """A hearing's "checked up to here": up to and including `segment_id`; `t` (its end) is where to resume."""

    segment_id: int
    t: float
    by: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"segment_id": self.segment_id, "t": self.t, "by": self.by, "at": self.at.isoformat(timespec="seconds")}


def _not_found(segment_id: int) -> NotFound:
    return NotFound(f"no segment {segment_id}: `workbench hearings show HEARING` lists segment ids")


class Desk(Segments):
    # -- reads --

    def desk_rows(self, hearing_id: int, segment_ids: Sequence[int] | None = None) -> list[DeskRow]:
        """The hearing's segments in order (or only `segment_ids` of it), each with its version and words."""
        where, params = "s.hearing_id = ?", [hearing_id, hearing_id]
        if segment_ids is not None:
            if not segment_ids:
                return []
            where += f" AND s.id IN ({', '.join('?' * len(segment_ids))})"
            params.extend(int(i) for i in segment_ids)
        with self.reading() as con:
            rows = con.execute(
                "SELECT s.id, s.start_s, s.end_s, s.speaker, s.speaker_orig, s.text, s.text_orig, "
                "coalesce(v.version, 0), s.words, v.last_edit FROM segments s LEFT JOIN "
                "(SELECT segment_id, max(id) AS version, arg_max(field, id) AS last_edit FROM edits "
                "WHERE hearing_id = ? AND segment_id IS NOT NULL "
                f"GROUP BY segment_id) v ON v.segment_id = s.id WHERE {where} ORDER BY s.idx",
                params,
            ).fetchall()
        return [DeskRow(*r[:7], int(r[7]), r[8] or "[]", r[9]) for r in rows]

    def segment_words(self, hearing_id: int) -> dict[int, list[Word]]:
        """Each segment's recognised words (as stored, not placed on the corrected text)."""
        return {r.id: [Word(*w[:4]) for w in json.loads(r.words_json)] for r in self.desk_rows(hearing_id)}

    # -- edits in a batch --

    def edit_segments(self, hearing_id: int, edits: Sequence[SegmentEdit], *, actor: Actor) -> list[EditOutcome]:
        """The desk's batch: each item as `edit_segment` makes it (its own version check, edits and audit rows,
        searchable at once), in order, in one write transaction; a stale item, or one not of this hearing, is
        reported and the rest go on. NotFound for a hearing that is not there."""
        with self.writing() as con:
            case_of(con, hearing_id)
            require_unlocked(con, hearing_id)
            out = self._apply_edits(con, edits, actor=actor, hearing_id=hearing_id)
        self.segments_changed()
        return out

    # -- split and merge --

    def split_segment(
        self, segment_id: int, at: int, *, actor: Actor, expected_version: int | None
    ) -> tuple[StoredSegment, StoredSegment]:
        """Cuts a segment in two at UTF-16 offset `at` of its current text; returns (first, second).

        The first keeps the id, speaker and original recognition; the second is new (text_orig '', the
        parent's original speaker) and starts where the first placed word at or after the cut starts
        (else at the cut's share of the time). Words go to the half they fall in; spaces at the cut go.
        StaleEdit if `expected_version` is not current; ValueError for a cut at an edge.
        """
        with self.writing() as con:
            row = con.execute(_ROW_SQL, [segment_id]).fetchone()
            if row is None:
                raise _not_found(segment_id)
            _, hearing_id, idx, start, end, speaker, speaker_orig, text, _, words_json, engine, model = row
            require_unlocked(con, hearing_id)
            if expected_version is not None:
                _check_version(con, "segment_id = ?", [segment_id], expected_version)
            words = json.loads(words_json or "[]")
            where = cut(words, text, at, start, end)
            first, second = text[: where.index].rstrip(), text[where.index :].lstrip()
            if not first or not second:
                raise ValueError(f"拆分位置 {at} 的一侧只有空白 (one side of the split at {at} is only spaces)")
            con.execute("UPDATE segments SET idx = idx + 1 WHERE hearing_id = ? AND idx > ?", [hearing_id, idx])
            new_id = int(con.execute("SELECT nextval('segment_ids')").fetchone()[0])
            con.execute(
                "UPDATE segments SET text = ?, end_s = ?, words = ? WHERE id = ?",
                [first, where.t, _words_json(words[: where.word_index]), segment_id],
            )
            con.execute(
                f"INSERT INTO segments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, 0, 0)",
                [new_id, hearing_id, idx + 1, where.t, end, speaker, speaker_orig, second,
                 _words_json(words[where.word_index :]), engine, model],
            )  # fmt: skip
            # a mark on the whole segment covered both halves: it moves to the second
            con.execute("UPDATE review_marks SET segment_id = ? WHERE segment_id = ?", [new_id, segment_id])
            audit_id = audit.append(
                con, actor, audit.SEGMENT_SPLIT, case_id=case_of(con, hearing_id), hearing_id=hearing_id,
                detail={"segment_id": segment_id, "new_segment_id": new_id, "at": at, "t": where.t,
                        "end_before": end, "before": text, "first": first, "second": second},
            )  # fmt: skip
            for sid, before, after in ((segment_id, text, first), (new_id, "", second)):
                self._log_edit(con, audit.SEGMENT_SPLIT, sid, hearing_id, "split", before, after, actor,
                               audit_id=audit_id)  # fmt: skip
            index.reindex_segments(con, [segment_id, new_id])
            self.advance(hearing_id, Event.EDITED, con, actor=actor)
        self.segments_changed()
        return self.segment(segment_id), self.segment(new_id)

    def merge_segments(
        self,
        segment_id: int,
        *,
        actor: Actor,
        expected_version: int | None,
        next_version: int | None,
        text_max: int | None = None,
    ) -> tuple[StoredSegment, int, int]:
        """Joins a segment with the one after it; returns (the merged segment, the removed one's id, joined_at).

        `joined_at` is the UTF-16 offset where the next one's text begins (a split there undoes the merge).
        The kept segment's speaker stays; the removed one's whole row moves to `removed_segments`; a checked
        mark on either is on the merged one, at its end. StaleEdit if either version is not current;
        ValueError when there is no next segment, or when the joined text would be longer than `text_max`
        (characters) and than either text already is (as an edit: a long stored text stays, only not longer).
        """
        with self.writing() as con:
            row = con.execute(_ROW_SQL, [segment_id]).fetchone()
            if row is None:
                raise _not_found(segment_id)
            _, hearing_id, idx, _, end, _, _, text, _, words_json, _, _ = row
            require_unlocked(con, hearing_id)
            nxt = con.execute(
                "SELECT id, idx, end_s, speaker, text, words FROM segments WHERE hearing_id = ? AND idx > ? "
                "ORDER BY idx LIMIT 1",
                [hearing_id, idx],
            ).fetchone()
            if nxt is None:
                raise ValueError(f"段落 {segment_id} 是最后一段，没有可合并的下一段 (segment {segment_id} is the last)")
            next_id, next_idx, next_end, next_speaker, next_text, next_words = nxt
            if expected_version is not None:
                _check_version(con, "segment_id = ?", [segment_id], expected_version)
            if next_version is not None:
                _check_version(con, "segment_id = ?", [next_id], next_version)
            joined = join_texts(text, next_text)
            limit = max(text_max, len(text), len(next_text)) if text_max is not None else None
            if limit is not None and len(joined) > limit:
                raise ValueError(
                    f"合并后的文本有 {len(joined)} 个字符，超过上限 {limit} (the joined text would be {len(joined)} "
                    f"characters, over the cap of {limit}: shorten one of the two first)"
                )
            joined_at = utf16_len(joined) - utf16_len(next_text)
            words = json.loads(words_json or "[]") + json.loads(next_words or "[]")
            con.execute(
                f"INSERT INTO removed_segments ({_COLUMNS}, merged_into, removed_by) "
                f"SELECT {_COLUMNS}, ?, ? FROM segments WHERE id = ?",
                [segment_id, actor.account, next_id],
            )
            index.delete_segment(con, next_id)
            con.execute("DELETE FROM segments WHERE id = ?", [next_id])
            con.execute("UPDATE segments SET idx = idx - 1 WHERE hearing_id = ? AND idx > ?", [hearing_id, next_idx])
            merged_end = max(end, next_end)
            con.execute(
                "UPDATE segments SET text = ?, end_s = ?, words = ? WHERE id = ?",
                [joined, merged_end, _words_json(words), segment_id],
            )
            # a mark on either is on the merged one now, and resumes at its end as any mark does
            con.execute(
                "UPDATE review_marks SET segment_id = ?, t = ? WHERE segment_id IN (?, ?)",
                [segment_id, merged_end, segment_id, next_id],
            )
            audit_id = audit.append(
                con, actor, audit.SEGMENTS_MERGED, case_id=case_of(con, hearing_id), hearing_id=hearing_id,
                detail={"segment_id": segment_id, "removed": next_id, "joined_at": joined_at, "before": text,
                        "removed_text": next_text, "removed_speaker": next_speaker, "after": joined},
            )  # fmt: skip
            self._log_edit(con, audit.SEGMENTS_MERGED, segment_id, hearing_id, "merge", text, joined, actor,
                           audit_id=audit_id)  # fmt: skip
            index.reindex_segment(con, segment_id)
            self.advance(hearing_id, Event.EDITED, con, actor=actor)
        self.segments_changed()
        return self.segment(segment_id), int(next_id), joined_at

    # -- "checked up to here" --

    def set_checked(self, hearing_id: int, segment_id: int | None, *, actor: Actor) -> CheckedMark | None:
        """Sets the hearing's mark at `segment_id` (None clears it); audited. Returns the mark now."""
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            require_unlocked(con, hearing_id)  # the desk of a filed record is read-only, its mark too
            before = con.execute("SELECT segment_id FROM review_marks WHERE hearing_id = ?", [hearing_id]).fetchone()
            if segment_id is None:
                con.execute("DELETE FROM review_marks WHERE hearing_id = ?", [hearing_id])
            else:
                seg = con.execute(
                    "SELECT end_s FROM segments WHERE id = ? AND hearing_id = ?", [segment_id, hearing_id]
                ).fetchone()
                if seg is None:
                    raise NotFound(
                        f"庭审 {hearing_id} 没有段落 {segment_id} (hearing {hearing_id} has no segment {segment_id})"
                    )
                con.execute(
                    "INSERT INTO review_marks (hearing_id, segment_id, t, set_by, set_at) "
                    "VALUES (?, ?, ?, ?, current_timestamp) ON CONFLICT (hearing_id) DO UPDATE SET "
                    "segment_id = excluded.segment_id, t = excluded.t, set_by = excluded.set_by, "
                    "set_at = excluded.set_at",
                    [hearing_id, segment_id, float(seg[0]), actor.account],
                )
            audit.append(
                con, actor, audit.REVIEW_MARKED, case_id=case_id, hearing_id=hearing_id,
                detail={"segment_id": segment_id, "before": before[0] if before else None},
            )  # fmt: skip
        return self.checked(hearing_id)

    def checked(self, hearing_id: int) -> CheckedMark | None:
        """The hearing's mark, or None (never set, cleared, or its segment is gone with a new transcript)."""
        with self.reading() as con:
            row = con.execute(
                "SELECT m.segment_id, m.t, m.set_by, m.set_at FROM review_marks m JOIN segments s "
                "ON s.id = m.segment_id AND s.hearing_id = m.hearing_id WHERE m.hearing_id = ?",
                [hearing_id],
            ).fetchone()
        return None if row is None else CheckedMark(int(row[0]), float(row[1]), row[2], row[3])


def _words_json(words: list[list[Any]]) -> str:
    return json.dumps(words, ensure_ascii=False)
