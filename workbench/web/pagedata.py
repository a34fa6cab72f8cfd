"""What the pages show, from the store's records: table rows, labels, captions and positions in a transcript.

Plain functions of plain data, no Streamlit: the pages draw, these decide what is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from workbench.display import clock, eta
from workbench.store import Hearing, Speaker, Store, StoredSegment, jobs

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
    store: Store,
    *,
    case: str | None = None,
    statuses: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 500,
) -> list[Hearing]:
    """Hearings for the list page: the store's filters, several statuses at once, newest first."""
    if len(statuses) == 1:
        return store.hearings(case=case, status=statuses[0], date_from=date_from, date_to=date_to, limit=limit)
    found = store.hearings(case=case, date_from=date_from, date_to=date_to, limit=None if statuses else limit)
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


def page_of(segments: Sequence[StoredSegment], t: float, per_page: int) -> int:
    """The 1-based page of the segment playing at time `t`."""
    for i, s in enumerate(segments):
        if s.end > t:
            return i // per_page + 1
    return max((len(segments) - 1) // per_page + 1, 1)


def active_segment(segments: Sequence[StoredSegment], t: float | None) -> int | None:
    """The id of the segment holding time `t` (or the next one after it)."""
    if t is None:
        return None
    for s in segments:
        if s.end > t + 0.01:
            return s.id
    return None


def job_caption(info: jobs.JobInfo) -> str:
    step = STEP_LABELS.get(info.step, info.step)
    if info.state == jobs.JobState.RUNNING:
        return f"{step} {info.progress * 100:.0f}% · 剩余{eta(info.eta_s)}"
    if info.state == jobs.JobState.QUEUED:
        return "排队等待" + (f"（{step}）" if info.step else "")
    return JOB_STATE_LABELS.get(info.state, info.state)
