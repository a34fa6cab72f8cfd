"""审阅笔录: the review desk (the whole transcript against the audio, keyboard first), roles, timeline, export.

Only a hearing of the account's cases opens (any other id answers like a missing one); only judges,
clerks and admins may edit; every edit, verification and export carries the account.

The transcript view is `workbench.web.desk_component`: one continuous editor whose script reads the
hearing and saves each edit through the API with this browser's session (`/api/v1/hearings/{id}/desk`,
`/edits`, split, merge, replace, the "checked up to here" mark). Each save is made against the version
the desk loaded; when someone else changed the segment in between it is refused and the desk shows both
texts (`workbench.api.desk`). This page draws the desk and the views around it; it holds no transcript.
"""

import altair as alt
import pandas as pd
import streamlit as st

from workbench.accounts import HEARING_NOT_YOURS, NotYours
from workbench.display import clock, md_escape
from workbench.record import formats, render_docx
from workbench.store import ROLES, StoredSegment, StoreError, audit, jobs
from workbench.store.status import HearingStatus
from workbench.web import session
from workbench.web.clips import PLAY_WINDOW_S, sample_span
from workbench.web.desk_component import review_desk
from workbench.web.pagedata import (
    NAME_MAX,
    cap,
    hearing_param,
    job_caption,
    seconds_param,
    speaker_display,
    timeline_rows,
)
from workbench.web.widgets import error, export_button, fragment_session, status_badge

me = session.signed_in()
store = me.access.store


# --- which hearing -------------------------------------------------------------------------------------------
try:
    hearing_id = hearing_param(st.query_params.get("hearing"))
except ValueError as e:
    st.title("审阅笔录")
    error(e)
    st.stop()
if hearing_id is None:
    st.title("审阅笔录")
    recent = me.access.hearings(limit=200)
    if not recent:
        st.info("还没有您可以查看的庭审 (no hearings of your cases yet)。")
        st.stop()
    pick = st.selectbox(
        "选择庭审 Hearing",
        recent,
        index=None,
        format_func=lambda h: " · ".join(
            part
            for part in (
                f"#{h.id}",
                h.case_number,
                f"{h.starts_at:%Y-%m-%d %H:%M}" if h.starts_at else "",
                h.status.label,
            )
            if part
        ),
        placeholder="案号、日期…",
    )
    if pick is not None:
        st.query_params["hearing"] = str(pick.id)
        st.rerun()
    st.stop()

try:
    hearing = me.access.hearing(hearing_id)
except NotYours:  # missing and not theirs alike: the same words, nothing about which
    st.title("审阅笔录")
    st.error(HEARING_NOT_YOURS)
    st.stop()
may_edit = me.access.may_edit(hearing.case_id)

# Opening is audited once per hearing in this browser session, not on every rerun (each click reruns).
opened: set[tuple[int | None, int]] = st.session_state.setdefault("wb_opened", set())
if (me.account.id, hearing_id) not in opened:
    store.record(me.actor, audit.HEARING_OPENED, case_id=hearing.case_id, hearing_id=hearing_id)
    opened.add((me.account.id, hearing_id))

play_key = f"play_at_{hearing_id}"
if play_key not in st.session_state:
    try:
        st.session_state[play_key] = seconds_param(st.query_params.get("t"))
    except ValueError as e:
        st.session_state[play_key] = None
        st.warning(md_escape(e))
play_at: float | None = st.session_state[play_key]

# --- header ----------------------------------------------------------------------------------------------------
with st.container():
    st.title(md_escape(hearing.case_number) or f"庭审 #{hearing.id}")
    meta = [
        f"庭审 #{hearing.id}",
        f"{hearing.starts_at:%Y-%m-%d %H:%M}" if hearing.starts_at else "",
        md_escape(hearing.courtroom),
        f"审判长 {md_escape(hearing.presiding_judge)}" if hearing.presiding_judge else "",
        f"书记员 {md_escape(hearing.clerk)}" if hearing.clerk else "",
        f"时长 {clock(hearing.duration)}" if hearing.duration else "",
        "" if may_edit else "只读 (read-only)",
    ]
    st.caption(" · ".join(m for m in meta if m))

if not hearing.segments:

    @st.fragment(run_every=2)
    def _waiting() -> None:
        now = fragment_session()  # reruns alone every 2 s: the session and the right to see, again
        if now is None:
            return
        try:
            current = now.access.hearing(hearing_id)
        except NotYours:
            st.error(HEARING_NOT_YOURS)
            return
        if current.segments:
            st.rerun()
        for info in jobs.jobs(store, hearing_id=hearing_id, limit=1):
            if info.state == jobs.JobState.RUNNING:
                st.progress(min(info.progress, 1.0), text=md_escape(job_caption(info)))
            elif info.state == jobs.JobState.FAILED:
                error(f"处理失败：{info.error}")
            else:
                st.info(f"转写任务：{md_escape(job_caption(info))}")
            return
        st.info("这次庭审没有识别出语音。")

    _waiting()
    st.stop()

recording = store.recordings(hearing_id)[0]

with st.container(horizontal=True, vertical_alignment="center"):
    status_badge(hearing.status)
    if may_edit:  # the buttons act in this run, whose session and rights were just checked
        if hearing.status == HearingStatus.VERIFIED:
            if st.button("撤销核对", icon=":material/undo:"):
                store.set_verified(hearing_id, False, actor=me.actor)
                st.rerun()
        elif st.button("标记已核对", icon=":material/verified:", type="primary"):
            store.set_verified(hearing_id, actor=me.actor)
            st.rerun()

    def _docx() -> bytes:
        return render_docx(store.hearing_record(hearing_id))

    stem = f"{hearing.case_number or 'hearing'}-{hearing_id}"
    export_button(
        me,
        "Word 笔录",
        _docx,
        fmt="docx",
        file_name=f"{stem}.docx",
        hearing_ids=[hearing_id],
        key="docx",
        mime="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        icon=":material/description:",
    )
    with st.popover("其他格式 SRT / TXT / …", icon=":material/download:"):
        for fmt in formats.FORMATS:

            def _render(fmt: str = fmt) -> bytes:
                record = store.hearing_record(hearing_id)
                return formats.render(fmt, record.transcript, record.labels).encode("utf-8")

            export_button(
                me,
                fmt.upper(),
                _render,
                fmt=fmt,
                file_name=f"{stem}.{fmt}",
                hearing_ids=[hearing_id],
                key=f"dl_{fmt}",
                width="stretch",
            )

# --- views ------------------------------------------------------------------------------------------------------
# One view at a time: the desk (the whole transcript, its own player), the speaker panel (a role box, a name
# box and an audio sample per speaker: 16 speakers in the bench's hearing) and the timeline chart each took
# Chromium a good part of a second to draw on this 2-core server; all together they took 1.0-1.4 s.
VIEWS = {"transcript": "笔录 Transcript", "speakers": "说话人 Speakers", "timeline": "时间轴 Timeline"}


def _play(t: float) -> None:
    st.session_state[play_key] = t
    st.query_params["t"] = f"{t:.2f}"


def timeline_view() -> None:
    names = speaker_display(store.speakers(hearing_id))
    timeline = pd.DataFrame(timeline_rows(store.segments(hearing_id), names))
    pick = alt.selection_point(name="seg", fields=["t"], on="click")
    chart = (
        alt.Chart(timeline)
        .mark_bar(cornerRadius=2)
        .encode(
            x=alt.X("start:Q", title="时间（分钟）", scale=alt.Scale(domainMin=0)),
            x2="end:Q",
            y=alt.Y(
                "speaker:N",
                title=None,
                sort=list(dict.fromkeys(timeline["speaker"])),
                scale=alt.Scale(paddingInner=0.35),
            ),
            color=alt.Color("speaker:N", legend=None, scale=alt.Scale(scheme="tableau10")),
            tooltip=[
                alt.Tooltip("at:N", title="时间"),
                alt.Tooltip("speaker:N", title="说话人"),
                alt.Tooltip("text:N", title="内容"),
            ],
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.75)),
        )
        .add_params(pick)
        .properties(height=alt.Step(26))
    )
    st.caption("发言时间轴 · 点击色块从该处播放")
    event = st.altair_chart(chart, on_select="rerun", key=f"timeline_{hearing_id}", width="stretch")
    clicked = ((event or {}).get("selection") or {}).get("seg") or []
    if clicked and clicked[0].get("t") is not None and st.session_state.get("timeline_seen") != clicked[0]["t"]:
        st.session_state.timeline_seen = clicked[0]["t"]
        _play(float(clicked[0]["t"]))


def speakers_view() -> None:
    speakers = store.speakers(hearing_id)
    segments = store.segments(hearing_id)  # for each speaker's sample
    if not speakers:
        st.caption("尚无说话人。可在笔录中按数字键或在段落的说话人处指定" if may_edit else "尚无说话人。")
        return
    if not may_edit:  # a viewer: who is who, and their samples; no boxes
        for s in speakers:
            with st.container(border=True):
                spoke = f" · {clock(s.speech_time)}" if s.speech_time else ""
                st.markdown(
                    f"**{md_escape(s.label)}**{spoke} · {md_escape(s.role or '—')} · {md_escape(s.name or '—')}"
                )
                _sample(segments, s.label)
        return
    st.caption("为每位说话人指定角色和姓名；试听样音以辨认")
    with st.form(f"speakers_{hearing_id}", border=False):
        for s in speakers:
            with st.container(border=True):
                c1, c2, c3 = st.columns([1, 2, 2], vertical_alignment="bottom")
                spoke = f" · {clock(s.speech_time)}" if s.speech_time else ""
                c1.markdown(f"**{md_escape(s.label)}**{spoke}")
                role_options = ["", *ROLES] + ([s.role] if s.role and s.role not in ROLES else [])
                c2.selectbox(
                    "角色 Role",
                    role_options,
                    index=role_options.index(s.role or ""),
                    format_func=lambda r: r or "—",
                    key=f"role_{s.label}",
                )
                c3.text_input("姓名 Name", value=s.name or "", max_chars=cap(NAME_MAX, s.name), key=f"name_{s.label}")
                _sample(segments, s.label)
        if st.form_submit_button("保存说话人", type="primary"):
            try:
                for s in speakers:
                    store.set_speaker(
                        hearing_id,
                        s.label,
                        role=st.session_state[f"role_{s.label}"],
                        name=st.session_state[f"name_{s.label}"],
                        actor=me.actor,
                    )
            except StoreError as e:
                error(f"保存失败：{e}")
            else:
                st.toast("说话人已保存")
                st.rerun()


def _sample(segments: list[StoredSegment], label: str) -> None:
    a, b = sample_span(segments, label)
    if b > a:  # served by /audio after the same check as this page's; never bytes in the page
        st.audio(session.audio_url(recording.id, a, b - a), format="audio/wav")


def edits_box() -> None:
    # Read and drawn only once opened: a table (a canvas grid) on every run of this page cost Chromium its
    # share of the 1 s a clerk waits, for a list most runs never show.
    box = st.expander("修改记录 Edits", key=f"edits_open_{hearing_id}", on_change="rerun")
    with box:
        edits = store.edits(hearing_id=hearing_id)[-50:] if box.open else []
        if not box.open:
            st.caption("读取中… (loading)")
        elif edits:
            st.dataframe(
                [
                    {"时间": e.at.strftime("%m-%d %H:%M"), "操作人": e.user, "字段": e.field,
                     "修改前": e.before or "", "修改后": e.after or ""}
                    for e in reversed(edits)
                ],
                hide_index=True,
            )  # fmt: skip
        else:
            st.caption("暂无修改。原始识别文本始终保留。")


view = st.segmented_control(
    "视图 View",
    list(VIEWS),
    format_func=VIEWS.get,
    default="transcript",
    key=f"view_{hearing_id}",
    label_visibility="collapsed",
)
if view in ("speakers", "timeline"):
    main, side = st.columns([3, 2], gap="large")
    with main:  # before the player: a click on the timeline moves it
        speakers_view() if view == "speakers" else timeline_view()
    with side:
        st.subheader("播放 Playback")
        play_at = st.session_state[play_key]
        start = max((play_at or 0.0) - 0.3, 0.0)
        # A URL of the server's /audio route, which checks the session and the hearing again and audits the
        # range played; the page never hands out the audio itself (Streamlit's /media/ URLs answer anyone).
        st.audio(
            session.audio_url(recording.id, start, PLAY_WINDOW_S), format="audio/wav", autoplay=play_at is not None
        )
        st.caption(
            f"{md_escape(recording.file_name)} · 从 {clock(start)} 起 {int(PLAY_WINDOW_S // 60)} 分钟；"
            "点击时间轴色块跳转；笔录视图中可连续播放"
        )
        edits_box()
else:  # the desk; also when the clerk clicks the chosen view again, which clears the choice
    # The whole hearing in one editor. Its script reads the segments and saves edits through the API (the
    # session's cookie, the same checks), so typing never reruns this page; a reload returns to the same time.
    review_desk(
        hearing_id=hearing_id,
        recording_id=recording.id,
        may_edit=may_edit,
        start_at=play_at,
        account=me.account.name,
        key=f"desk_{hearing_id}",
    )
    edits_box()
