"""The record a court can sign: sign-off steps, sealed parts, correction requests, the record's head.

Sign-off: a clerk checks the record against the recording (`check`, taken back with `uncheck`), the case's
judge approves it (`approve`), it is filed (`lock`); the judge may `reopen` it with a reason. Each step moves
the status (`workbench.store.status`), appends its audit row and a `signoff_steps` row in one transaction; a
step the status does not allow raises `WrongState` (a `StatusError`) naming the status and what may be done.

The lock holds here, in the store: every write that changes a locked hearing's record raises `Locked`
(`cases.require_unlocked`, inside the write transaction). The one way to change a locked record's text is a
correction request (补正申请), filed only on a locked record and accepted by a judge: its proposed texts become
edits tied to it (`edits.request_id`), and the record stays locked.

Sealed parts (不公开): time ranges with a reason; a segment overlapping one at all is sealed (a sealed part must
not leak through a segment that only begins in it). The text stays in the store; exports and search leave it out.

Who may take each step is decided above the store (`workbench.accounts.Access`); the store records who did.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import duckdb

from workbench.display import clock
from workbench.store import audit
from workbench.store.audit import Actor, AuditRow, row_from_db
from workbench.store.cases import add_signoff_step, case_of, require_unlocked
from workbench.store.records import (
    CORRECTION_SQL,
    SEALED_SQL,
    SIGNOFF_SQL,
    Conflict,
    CorrectionRequest,
    NotFound,
    SealedPart,
    SignoffStep,
    StoreError,
    WrongState,
    correction_from_row,
)
from workbench.store.segments import SegmentEdit, Segments
from workbench.store.status import Event, HearingStatus, StatusError

# The audit actions that change a hearing's record content (what an export prints), the one list: the newest such
# row of a hearing is the record's head (`record_head`), and `record_changes_since` lists them after a head (what
# `verify` reports changed since an export). Rows of these actions without a hearing id (a case created) never
# count: both filter by hearing.
# CORRECTION_DECIDED is not here on purpose: a rejection changes nothing, and an accepted request changes the
# text through its EDITED rows, written after the decision in the same transaction, each with the request's id
# in its detail ("request_id"): those rows move the head, and name the request that made them.
RECORD_ACTIONS: tuple[str, ...] = (
    audit.EDITED,  # a segment's text or speaker (also an accepted correction request's edits: detail request_id)
    audit.SPEAKER_CHANGED,  # a speaker's role or name
    audit.SEGMENT_SPLIT,
    audit.SEGMENTS_MERGED,
    audit.HEARING_CHANGED,  # a transcript saved, or the hearing's details (time, courtroom, panel, ...)
    audit.CASE_CHANGED,  # the case's cause, court or parties: one row per hearing of the case (`update_case`)
    audit.SEALED,
    audit.UNSEALED,
)
REQUESTER_KINDS = ("party", "lawyer", "member")  # 当事人, 代理律师, 本案人员
CORRECTION_STATES = ("pending", "accepted", "rejected")

_STEP_ACTIONS = {
    Event.CHECKED: audit.CHECKED,
    Event.UNCHECKED: audit.UNCHECKED,
    Event.APPROVED: audit.APPROVED,
    Event.LOCKED: audit.LOCKED,
    Event.REOPENED: audit.REOPENED,
}

# SQL: segment s [start, end) overlaps sealed part p [start, end) at all (a zero-length segment at p's start is in it)
SEALED_OVERLAP = "s.start_s < p.end_s AND (s.end_s > p.start_s OR s.start_s >= p.start_s)"


def _required(value: str, what_zh: str, what_en: str) -> str:
    text = (value or "").strip()
    if not text:
        raise StoreError(f"{what_zh}不能为空 ({what_en} is required)")
    return text


class Signoff(Segments):
    # -- sign-off steps --

    def check(self, hearing_id: int, *, actor: Actor) -> HearingStatus:
        """A clerk's (or the judge's) mark that the record was checked against the recording; audited."""
        return self._step(hearing_id, Event.CHECKED, actor)

    def uncheck(self, hearing_id: int, *, actor: Actor) -> HearingStatus:
        """Takes the checked mark back (before approval): the record is in review again."""
        return self._step(hearing_id, Event.UNCHECKED, actor)

    def approve(self, hearing_id: int, *, actor: Actor) -> HearingStatus:
        """The case's judge approves the checked record: its draft mark goes."""
        return self._step(hearing_id, Event.APPROVED, actor)

    def lock(self, hearing_id: int, *, actor: Actor, note: str = "") -> HearingStatus:
        """Files the approved record: from now on only an accepted correction request changes it.

        Refused (`Conflict`) while a job of the hearing is queued or running: its transcript would be refused.
        """
        return self._step(hearing_id, Event.LOCKED, actor, reason=note.strip())

    def reopen(self, hearing_id: int, reason: str, *, actor: Actor) -> HearingStatus:
        """The judge takes a checked, approved or locked record back to review; `reason` is required."""
        reason = _required(reason, "重新打开的理由", "a reason to reopen")
        return self._step(hearing_id, Event.REOPENED, actor, reason=reason)

    def _step(self, hearing_id: int, event: Event, actor: Actor, *, reason: str = "") -> HearingStatus:
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            before = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()[0]
            if event is Event.LOCKED:
                job = con.execute(
                    "SELECT id FROM jobs WHERE hearing_id = ? AND state IN ('queued', 'running') ORDER BY id LIMIT 1",
                    [hearing_id],
                ).fetchone()
                if job is not None:
                    raise Conflict(
                        f"庭审 {hearing_id} 有待处理的转写任务 {job[0]}，请先取消再锁定 "
                        f"(hearing {hearing_id} has a queued or running job {job[0]}: cancel it before locking)"
                    )
            try:
                status = self.advance(hearing_id, event, con)
            except StatusError as e:
                raise WrongState(f"庭审 {hearing_id}：{e}") from None
            detail = {"before": before, "status": status.value} | ({"reason": reason} if reason else {})
            audit_id = audit.append(
                con, actor, _STEP_ACTIONS[event], case_id=case_id, hearing_id=hearing_id, detail=detail
            )
            add_signoff_step(con, hearing_id, event.value, actor.account, reason=reason, audit_id=audit_id)
        return status

    def signoff_steps(self, hearing_id: int) -> list[SignoffStep]:
        """The hearing's sign-off history, oldest first (a "returned" step: an edit took a mark away)."""
        with self.reading() as con:
            rows = con.execute(SIGNOFF_SQL + " WHERE hearing_id = ? ORDER BY id", [hearing_id]).fetchall()
        return [SignoffStep(*r) for r in rows]

    # -- sealed parts --

    def seal(self, hearing_id: int, start: float, end: float, reason: str, *, actor: Actor) -> SealedPart:
        """Marks [start, end) seconds 不公开 (non-public) with a reason; audited. A part may not overlap another
        (unseal that one first, or choose the range so): one placeholder per part stands in exports."""
        try:
            start, end = float(start), float(end)
        except (TypeError, ValueError):
            raise StoreError(
                f"不公开部分的时间无效 (the sealed part's times must be numbers: {start!r}, {end!r})"
            ) from None
        if not (math.isfinite(start) and math.isfinite(end)) or start < 0 or end <= start:
            raise StoreError(
                f"不公开部分的时间无效：须 0 ≤ 开始 < 结束 (a sealed part needs 0 ≤ start < end, got {start}—{end})"
            )
        reason = _required(reason, "不公开的理由", "a reason for sealing")
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            require_unlocked(con, hearing_id)
            clash = con.execute(
                "SELECT id, start_s, end_s FROM sealed_parts WHERE hearing_id = ? AND start_s < ? AND end_s > ? "
                "ORDER BY start_s LIMIT 1",
                [hearing_id, end, start],
            ).fetchone()
            if clash is not None:
                span = f"{clock(clash[1])}—{clock(clash[2])}"
                raise Conflict(
                    f"与不公开部分 {clash[0]}（{span}）重叠，请先取消它或另选时间 "
                    f"(overlaps sealed part {clash[0]} at {span}: unseal it first, or choose a range outside it)"
                )
            part_id = int(
                con.execute(
                    "INSERT INTO sealed_parts (hearing_id, start_s, end_s, reason, created_by, created_at) "
                    "VALUES (?, ?, ?, ?, ?, current_timestamp) RETURNING id",
                    [hearing_id, start, end, reason, actor.account],
                ).fetchone()[0]
            )
            segments = _sealed_ids(con, hearing_id, part_id)
            audit.append(
                con, actor, audit.SEALED, case_id=case_id, hearing_id=hearing_id,
                detail={"part_id": part_id, "start": start, "end": end, "reason": reason, "segments": len(segments)},
            )  # fmt: skip
        return self._sealed_part(part_id)

    def unseal(self, hearing_id: int, part_id: int, *, actor: Actor) -> None:
        """Takes a sealed part's mark away (its segments are public again); audited with what it was."""
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            row = con.execute(
                "SELECT start_s, end_s, reason, created_by FROM sealed_parts WHERE id = ? AND hearing_id = ?",
                [part_id, hearing_id],
            ).fetchone()
            if row is None:
                raise NotFound(
                    f"庭审 {hearing_id} 没有不公开部分 {part_id} (hearing {hearing_id} has no sealed part {part_id}): "
                    "`workbench hearings sealed HEARING` lists them"
                )
            require_unlocked(con, hearing_id)
            con.execute("DELETE FROM sealed_parts WHERE id = ?", [part_id])
            audit.append(
                con, actor, audit.UNSEALED, case_id=case_id, hearing_id=hearing_id,
                detail={"part_id": part_id, "start": row[0], "end": row[1], "reason": row[2], "sealed_by": row[3]},
            )  # fmt: skip

    def sealed_parts(self, hearing_id: int) -> list[SealedPart]:
        """The hearing's sealed parts by start."""
        with self.reading() as con:
            rows = con.execute(SEALED_SQL + " WHERE hearing_id = ? ORDER BY start_s, id", [hearing_id]).fetchall()
        return [SealedPart(*r) for r in rows]

    def _sealed_part(self, part_id: int) -> SealedPart:
        with self.reading() as con:
            row = con.execute(SEALED_SQL + " WHERE id = ?", [part_id]).fetchone()
        if row is None:
            raise NotFound(f"no sealed part {part_id}")
        return SealedPart(*row)

    def sealed_segment_ids(self, hearing_id: int) -> set[int]:
        """The ids of the hearing's segments that overlap a sealed part at all."""
        with self.reading() as con:
            return _sealed_ids(con, hearing_id)

    # -- correction requests --

    def request_correction(
        self,
        hearing_id: int,
        changes: Sequence[tuple[int, str]],
        *,
        requester: str,
        requester_kind: str,
        reason: str,
        actor: Actor,
    ) -> CorrectionRequest:
        """Files a correction request (补正申请) on a locked record: each change a segment of this hearing and its
        proposed text, noted with the segment's version now (a later change to it makes the request stale).

        `requester` is who asked (a party or lawyer by name, or a member), `requester_kind` one of
        REQUESTER_KINDS; `actor` the account filing it. Before the lock there is nothing to request: edit.
        """
        requester = _required(requester, "申请人", "the requester")
        if requester_kind not in REQUESTER_KINDS:
            raise StoreError(
                f"申请人类别 {requester_kind!r} 无效 (requester kind must be one of {', '.join(REQUESTER_KINDS)})"
            )
        reason = _required(reason, "补正理由", "a reason for the correction")
        wanted: dict[int, str] = {}
        for item in changes:
            try:
                sid, text = int(item[0]), item[1]
            except (TypeError, ValueError, IndexError):
                raise StoreError(f"补正内容无效 (each change is a segment id and its text, got {item!r})") from None
            if not isinstance(text, str):
                raise StoreError(f"段落 {sid} 的补正文本无效 (the proposed text of segment {sid} must be text)")
            if sid in wanted:
                raise StoreError(f"段落 {sid} 出现了两次 (segment {sid} is named twice: one change per segment)")
            wanted[sid] = text
        if not wanted:
            raise StoreError("补正申请至少需要一处修改 (a correction request needs at least one change)")
        with self.writing() as con:
            case_id = case_of(con, hearing_id)
            status = con.execute("SELECT status FROM hearings WHERE id = ?", [hearing_id]).fetchone()[0]
            if status != HearingStatus.LOCKED:
                label = HearingStatus(status).label
                raise WrongState(
                    f"庭审 {hearing_id} 状态为{label}，未锁定，可直接修改，无需补正申请 "
                    f"(hearing {hearing_id} is {status}, not locked: edit it directly; corrections are for a locked "
                    "record)"
                )
            ids = sorted(wanted)
            marks = ", ".join("?" * len(ids))
            current = {
                int(r[0]): r[1]
                for r in con.execute(
                    f"SELECT id, text FROM segments WHERE hearing_id = ? AND id IN ({marks})", [hearing_id, *ids]
                ).fetchall()
            }
            missing = [sid for sid in ids if sid not in current]
            if missing:
                raise NotFound(
                    f"庭审 {hearing_id} 没有段落 {', '.join(map(str, missing))} (hearing {hearing_id} has no segment "
                    f"{', '.join(map(str, missing))}): `workbench hearings show HEARING` lists segment ids"
                )
            same = [sid for sid in ids if current[sid] == wanted[sid]]
            if same:
                raise StoreError(
                    f"段落 {', '.join(map(str, same))} 的补正文本与现有文本相同 (the proposed text of segment "
                    f"{', '.join(map(str, same))} is what it says already)"
                )
            versions = _versions(con, ids)
            # stored with the text before, for the record's appendix; the request carries the first three
            stored = [[sid, wanted[sid], versions.get(sid, 0), current[sid]] for sid in wanted]
            request_id = int(
                con.execute(
                    "INSERT INTO correction_requests (hearing_id, changes, requester, requester_kind, reason, "
                    "filed_by, filed_at) VALUES (?, ?, ?, ?, ?, ?, current_timestamp) RETURNING id",
                    [hearing_id, json.dumps(stored, ensure_ascii=False), requester, requester_kind, reason,
                     actor.account],
                ).fetchone()[0]
            )  # fmt: skip
            audit.append(
                con, actor, audit.CORRECTION_REQUESTED, case_id=case_id, hearing_id=hearing_id,
                detail={"request_id": request_id, "requester": requester, "requester_kind": requester_kind,
                        "reason": reason, "changes": [{"segment_id": sid, "version": v, "before": before, "text": t}
                                                      for sid, t, v, before in stored]},
            )  # fmt: skip
        return self.correction(request_id)

    def decide_correction(self, request_id: int, accept: bool, reason: str, *, actor: Actor) -> CorrectionRequest:
        """A judge accepts or rejects a pending request, with a reason; audited (`correction_decided`).

        Accepting applies every proposed text as an edit tied to the request (the hearing stays locked), all or
        none: a segment changed or merged away since the request was filed fails it with `Conflict` naming it.
        Only a locked record takes it: one reopened since (not locked now) refuses acceptance with `WrongState`
        (edit it directly, or lock it again); rejecting is allowed in any state.
        """
        reason = _required(reason, "决定的理由", "a reason for the decision")
        with self.writing() as con:
            row = con.execute(CORRECTION_SQL + " WHERE id = ?", [request_id]).fetchone()
            if row is None:
                raise NotFound(_no_request(request_id))
            request = correction_from_row(row)
            if request.state != "pending":
                raise WrongState(
                    f"补正申请 {request_id} 已{'接受' if request.state == 'accepted' else '驳回'}，不能再次决定 "
                    f"(correction request {request_id} is {request.state} already)"
                )
            case_id = case_of(con, request.hearing_id)
            state = "accepted" if accept else "rejected"
            if accept:
                status = con.execute("SELECT status FROM hearings WHERE id = ?", [request.hearing_id]).fetchone()[0]
                if status != HearingStatus.LOCKED:  # reopened since it was filed: edits are the way now
                    raise WrongState(
                        f"庭审 {request.hearing_id} 已重新打开（{HearingStatus(status).label}），不能采纳补正申请 "
                        f"{request_id}：请直接修改，或再次锁定后采纳；驳回仍可 (the record was reopened: edit it "
                        f"directly, or lock it again; hearing {request.hearing_id} is {status}, so correction request "
                        f"{request_id} can be rejected but not accepted)"
                    )
                ids = [sid for sid, _, _ in request.changes]
                present = {
                    int(r[0])
                    for r in con.execute(
                        f"SELECT id FROM segments WHERE id IN ({', '.join('?' * len(ids))})", ids
                    ).fetchall()
                }
                versions = _versions(con, ids)
                stale = [sid for sid, _, v in request.changes if sid not in present or versions.get(sid, 0) != v]
                if stale:
                    which = ", ".join(map(str, stale))
                    raise Conflict(
                        f"段落 {which} 在补正申请 {request_id} 提交后已被修改或合并，请重新提交申请 (segment {which} "
                        f"changed since correction request {request_id} was filed: file a new request)"
                    )
            con.execute(
                "UPDATE correction_requests SET state = ?, decided_by = ?, decided_at = current_timestamp, "
                "decision_reason = ? WHERE id = ?",
                [state, actor.account, reason, request_id],
            )
            audit.append(
                con, actor, audit.CORRECTION_DECIDED, case_id=case_id, hearing_id=request.hearing_id,
                detail={"request_id": request_id, "accepted": bool(accept), "reason": reason,
                        "segments": [sid for sid, _, _ in request.changes]},
            )  # fmt: skip
            if accept:
                edits = [SegmentEdit(sid, text, version=v) for sid, text, v in request.changes]
                outcomes = self._apply_edits(
                    con, edits, actor=actor, hearing_id=request.hearing_id, request_id=request_id
                )
                failed = [o for o in outcomes if not o.ok]
                if failed:  # checked above under the same write lock; kept so a gap can never apply half
                    raise Conflict(
                        f"补正申请 {request_id} 无法应用 (cannot apply request {request_id}): {failed[0].detail}"
                    )
        if accept:
            self.segments_changed()
        return self.correction(request_id)

    def corrections(self, hearing_id: int) -> list[CorrectionRequest]:
        """The hearing's correction requests, oldest first."""
        with self.reading() as con:
            rows = con.execute(CORRECTION_SQL + " WHERE hearing_id = ? ORDER BY id", [hearing_id]).fetchall()
        return [correction_from_row(r) for r in rows]

    def correction(self, request_id: int) -> CorrectionRequest:
        with self.reading() as con:
            row = con.execute(CORRECTION_SQL + " WHERE id = ?", [request_id]).fetchone()
        if row is None:
            raise NotFound(_no_request(request_id))
        return correction_from_row(row)

    # -- the record's head --

    def record_head(self, hearing_id: int) -> str:
        """The hash of the newest audit row of this hearing that changed its record's content (RECORD_ACTIONS);
        "" when there is none. One query (a scan DuckDB makes in about 17 ms over 2 million audit rows)."""
        with self.reading() as con:
            row = con.execute(
                f"SELECT hash FROM audit WHERE hearing_id = ? AND action IN ({_RECORD_MARKS}) ORDER BY id DESC LIMIT 1",
                [hearing_id, *RECORD_ACTIONS],
            ).fetchone()
        return row[0] if row else ""

    def record_changes_since(self, hearing_id: int, head: str) -> list[AuditRow]:
        """The audit rows of this hearing that changed its record's content (RECORD_ACTIONS) after the row whose
        hash is `head` (an export's edits head), oldest first; every such row when `head` is "". Filtered in SQL.

        NotFound when no audit row has that hash (a head from another server, or a chain cut short).
        """
        head = head.strip().lower()
        with self.reading() as con:
            after = 0
            if head:
                row = con.execute("SELECT id FROM audit WHERE hash = ?", [head]).fetchone()
                if row is None:
                    raise NotFound(f"审计记录中没有哈希为 {head[:16]}… 的记录 (no audit row has the hash {head[:16]}…)")
                after = int(row[0])
            rows = con.execute(
                f"SELECT {audit.ROW_COLUMNS} FROM audit WHERE hearing_id = ? AND id > ? "
                f"AND action IN ({_RECORD_MARKS}) ORDER BY id",
                [hearing_id, after, *RECORD_ACTIONS],
            ).fetchall()
        return [row_from_db(r) for r in rows]

    def issued_export(self, code: str) -> AuditRow | None:
        """The export (`exported` audit row) that issued this verification code (its detail's "code"), the first
        if there were several; None when this server never issued it. Filtered in SQL (the JSON of the detail)."""
        code = code.strip().upper()
        if not code:
            return None
        with self.reading() as con:
            # `contains` first: a plain text test that spares parsing the JSON of every other export
            row = con.execute(
                f"SELECT {audit.ROW_COLUMNS} FROM audit WHERE action = ? AND contains(detail, ?) "
                "AND json_extract_string(detail, '$.code') = ? ORDER BY id LIMIT 1",
                [audit.EXPORTED, code, code],
            ).fetchone()
        return None if row is None else row_from_db(row)


_RECORD_MARKS = ", ".join("?" * len(RECORD_ACTIONS))


def _versions(con: duckdb.DuckDBPyConnection, segment_ids: Sequence[int]) -> dict[int, int]:
    """Each segment's version (its latest edits row; absent: 0)."""
    if not segment_ids:
        return {}
    rows = con.execute(
        f"SELECT segment_id, max(id) FROM edits WHERE segment_id IN ({', '.join('?' * len(segment_ids))}) "
        "GROUP BY segment_id",
        list(segment_ids),
    ).fetchall()
    return {int(s): int(v) for s, v in rows}


def _sealed_ids(con: duckdb.DuckDBPyConnection, hearing_id: int, part_id: int | None = None) -> set[int]:
    only = " AND p.id = ?" if part_id is not None else ""
    rows = con.execute(
        f"SELECT DISTINCT s.id FROM segments s JOIN sealed_parts p ON p.hearing_id = s.hearing_id AND {SEALED_OVERLAP} "
        f"WHERE s.hearing_id = ?{only}",
        [hearing_id] + ([part_id] if part_id is not None else []),
    ).fetchall()
    return {int(r[0]) for r in rows}


def _no_request(request_id: int) -> str:
    return (
        f"没有补正申请 {request_id} (no correction request {request_id}): "
        "`workbench corrections list HEARING` lists them"
    )
