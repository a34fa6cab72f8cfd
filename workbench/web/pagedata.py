"""What the pages show, from the store's records: table rows, labels, captions and positions in a transcript.

Plain functions of plain data, no Streamlit: the pages draw, these decide what is drawn.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any

from workbench.display import SEALED_PLACEHOLDER, clock, eta
from workbench.store import Hearing, Speaker, StoredSegment, jobs

if TYPE_CHECKING:
    from workbench.accounts import Access, Account
    from workbench.store.audit import AuditRow

# Caps on what a form takes (Streamlit's `max_chars`, enforced in the browser and on the server): stored
# fields are short, and no box feeds megabytes to a parser.
CASE_NUMBER_MAX = 64
NAME_MAX = 64  # a person's name, a courtroom, a cause, a speaker's name, a user's display name
QUERY_MAX = 200
PARTIES_MAX = 4_000
HOTWORDS_MAX = 10_000
SEGMENT_TEXT_MAX = 2_000
HEARING_ID_MAX = 2**63 - 1  # DuckDB's BIGINT


def cap(limit: int, current: str | None) -> int:
    """`max_chars` for a box showing `current`: Streamlit refuses a value longer than its cap, and a stored
    value from before the caps (a long recognised segment) must still be editable, only not longer."""
    return max(limit, len(current or ""))


def hearing_param(raw: str | None) -> int | None:
    """`?hearing=N` as a hearing id; None without one; ValueError saying why for anything but a whole
    number from 1 up (`nan`, `-1`, `1e3`, `abc`, a number too large for an id)."""
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip()
    if not text.isascii() or not text.isdigit() or int(text) < 1 or int(text) > HEARING_ID_MAX:
        raise ValueError(f"庭审编号无效：{text[:40]!r}，应为正整数 (a hearing id is a whole number from 1 up)")
    return int(text)


def seconds_param(raw: str | None) -> float | None:
    """`?t=S` as a time in the recording; None without one; ValueError for `abc`, `nan`, `inf`, below 0."""
    if raw is None or not str(raw).strip():
        return None
    text = str(raw).strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"播放位置无效：{text[:40]!r}，应为秒数 (t is a time in seconds, 0 or more)")
    return value


JOB_STATE_LABELS = {
    "queued": "排队中",
    "running": "处理中",
    "done": "完成",
    "failed": "失败",
    "cancelled": "已取消",
}
STEP_LABELS = {
    "starting": "启动",
    "recognition": "语音识别",
    "speakers": "说话人分离",
    "done": "完成",
    "interrupted, queued again": "中断后重新排队",
}


def hearing_rows(hearings: Sequence[Hearing]) -> list[dict[str, Any]]:
    """The hearings table as rows for `st.dataframe`."""
    return [
        {
            "ID": h.id,
            "案号": h.case_number,
            "开庭时间": h.starts_at.strftime("%Y-%m-%d %H:%M") if h.starts_at else "",
            "法庭": h.courtroom,
            "审判长": h.presiding_judge,
            "书记员": h.clerk,
            "状态": h.status.label,
            "时长": clock(h.duration) if h.duration else "",
            "段落": h.segments,
        }
        for h in hearings
    ]


def list_hearings(
    access: Access,
    *,
    case: str | None = None,
    statuses: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 500,
) -> list[Hearing]:
    """The account's hearings for the list page: the store's filters, several statuses at once, newest first."""
    if len(statuses) == 1:
        return access.hearings(case=case, status=statuses[0], date_from=date_from, date_to=date_to, limit=limit)
    found = access.hearings(case=case, date_from=date_from, date_to=date_to, limit=None if statuses else limit)
    if statuses:
        found = [h for h in found if h.status in statuses][:limit]
    return found


def speaker_display(speakers: Sequence[Speaker]) -> dict[str, str]:
    """Labels shown as "S1 · 审判长张三", for selectboxes and the timeline."""
    out = {}
    for s in speakers:
        shown = s.display()
        out[s.label] = s.label if shown == s.label else f"{s.label} · {shown}"
    return out


def timeline_rows(segments: Sequence[StoredSegment], names: dict[str, str]) -> list[dict[str, Any]]:
    """Who spoke when: one bar per segment, in minutes."""
    return [
        {
            "speaker": names.get(s.speaker or "", s.speaker or "未分配"),
            "start": round(s.start / 60, 4),
            "end": round(max(s.end, s.start + 0.2) / 60, 4),
            "at": clock(s.start),
            "t": s.start,
            "text": s.text[:60],
        }
        for s in segments
    ]


def job_caption(info: jobs.JobInfo) -> str:
    step = STEP_LABELS.get(info.step, info.step)
    if info.state == jobs.JobState.RUNNING:
        return f"{step} {info.progress * 100:.0f}% · 剩余{eta(info.eta_s)}"
    if info.state == jobs.JobState.QUEUED:
        return "排队等待" + (f"（{step}）" if info.step else "")
    return JOB_STATE_LABELS.get(info.state, info.state)


def user_rows(accounts: Sequence[Account]) -> list[dict[str, Any]]:
    """The users table (never a password or its hash: the Account has none)."""
    return [
        {
            "用户名": a.name,
            "显示名": a.display_name,
            "角色": a.role.label,
            "来源": {"local": "本地", "ldap": "目录 LDAP"}.get(a.source, a.source),
            "状态": "已停用" if a.disabled else "启用",
            "须改密码": "是" if a.must_change else "",
            "创建时间": a.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for a in accounts
    ]


def member_rows(accounts: Sequence[Account]) -> list[dict[str, Any]]:
    return [
        {"用户名": a.name, "显示名": a.display_name, "角色": a.role.label, "状态": "已停用" if a.disabled else ""}
        for a in accounts
    ]


def audit_table(rows: Sequence[AuditRow], case_numbers: dict[int, str]) -> list[dict[str, Any]]:
    """Audit rows for `st.dataframe`, newest first as given; the detail as compact JSON text."""
    return [
        {
            "序号": r.id,
            "时间": r.logged_at.strftime("%Y-%m-%d %H:%M:%S"),
            "用户": r.account,
            "地址": r.client,
            "操作": r.action,
            "案件": case_numbers.get(r.case_id, str(r.case_id)) if r.case_id is not None else "",
            "庭审": r.hearing_id,
            "详情": json.dumps(r.detail, ensure_ascii=False, sort_keys=True) if r.detail else "",
        }
        for r in rows
    ]


def redaction_rows(found: Sequence[Any]) -> list[dict[str, Any]]:
    """The redaction preview's table: each find ticked, with its time, reason, text and replacement."""
    return [
        {
            "脱敏": True,
            "时间": clock(r.segment_start) if r.segment_start is not None else "",
            "类型": r.reason,
            "原文": r.text,
            "替换为": r.replacement,
            "id": r.id,
        }
        for r in found
    ]


def segment_at(segments: Sequence[StoredSegment], t: float) -> StoredSegment | None:
    """The segment playing at `t` seconds, else the first that starts after it (a pause), else None."""
    after = None
    for seg in segments:
        if seg.start <= t < seg.end:
            return seg
        if seg.start > t and (after is None or seg.start < after.start):
            after = seg
    return after


def hidden_segments(access: Access, hearing: Hearing) -> frozenset[int]:
    """The ids of the hearing's segments whose text this account may not see: its sealed (不公开) parts, for an
    account that may not see sealed text (a viewer). Empty for everyone else."""
    if access.may_see_sealed(hearing.case_id):
        return frozenset()
    return frozenset(access.store.sealed_segment_ids(hearing.id))


def shown_segments(segments: Sequence[StoredSegment], hidden: frozenset[int]) -> list[StoredSegment]:
    """`segments` as this account may see them: a hidden one's text (and recognition) is the placeholder the API
    shows too, so no view of the page (the timeline's tooltips, a speaker's sample) carries it."""
    if not hidden:
        return list(segments)
    hide = SEALED_PLACEHOLDER
    return [replace(s, text=hide, text_orig=hide) if s.id in hidden else s for s in segments]


def shown_text(segment_id: int | None, text: str | None, hidden: frozenset[int]) -> str:
    """A text of segment `segment_id` (an edit's before or after, a correction's proposal) as this account may
    see it."""
    return SEALED_PLACEHOLDER if segment_id is not None and segment_id in hidden else (text or "")
