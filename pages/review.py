"""审阅笔录: the transcript against the audio; edit text and speakers in place; roles; timeline; export.

Only a hearing of the account's cases opens (any other id answers like a missing one); only judges,
clerks and admins get the edit boxes; every edit, verification and export carries the account.

Two clerks on one hearing: each box remembers the segment's version it was loaded from, and a save is
made against it (`Store.edit_segment(expected_version=...)`). When someone else changed the segment in
between, the save is refused; the box keeps what this clerk typed, an error names who changed it and
when and shows their text, and "重新加载" (reload) loads the current text into the box.
"""

import altair as alt
import pandas as pd
import streamlit as st

from workbench.accounts import HEARING_NOT_YOURS, NotYours
from workbench.display import clock, md_escape
from workbench.record import formats, render_docx
from workbench.store import ROLES, StoreError, audit, jobs
from workbench.store.records import StaleEdit
from workbench.store.status import HearingStatus
from workbench.web import session
from workbench.web.clips import PLAY_WINDOW_S, sample_span
from workbench.web.pagedata import (
    NAME_MAX,
    SEGMENT_TEXT_MAX,
    active_segment,
    cap,
    hearing_param,
    job_caption,
    page_of,
    seconds_param,
    speaker_display,
    timeline_rows,
)
from workbench.web.session import SignedIn
from workbench.web.widgets import acting, error, export_button, fragment_session, status_badge, toast_error

# Segments per transcript page, each a play button, a speaker box and a text box: 25 took Chromium
# 0.45-0.55 s of script time to draw on this 2-core server, 15 take 0.25-0.45 s (bench/ui.py).
PER_PAGE = 15

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

segments = store.segments(hearing_id)
versions = store.segment_versions(hearing_id)  # segment id -> id of its latest edit (absent: never edited)
if not segments:

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
speakers = store.speakers(hearing_id)
names = speaker_display(speakers)

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
# One view at a time: a transcript page (then 25 segments, each with a speaker box and a text box), the
# speaker panel (a role box, a name box and an audio sample per speaker: 16 speakers in the bench's hearing)
# and the timeline chart each took Chromium 0.2-0.4 s to draw on this 2-core server, 1.0-1.4 s all together.
VIEWS = {"transcript": "笔录 Transcript", "speakers": "说话人 Speakers", "timeline": "时间轴 Timeline"}


def _play(t: float) -> None:
    st.session_state[play_key] = t
    st.query_params["t"] = f"{t:.2f}"


def _may_edit_now(now: SignedIn) -> bool:
    return now.access.may_edit(hearing.case_id)


def _loaded_key(segment_id: int) -> str:
    """Where the version a segment's boxes were loaded from is kept (the save is made against it)."""
    return f"loaded_{segment_id}"


def _stale_key(segment_id: int) -> str:
    return f"stale_{segment_id}"


def _edit(segment_id: int, now: SignedIn, **change: str) -> bool:
    """Saves `change` against the version the boxes were loaded from; True if saved. A refusal because
    someone else saved first is kept for the segment's error (the typed text stays in its box)."""
    try:
        saved = store.edit_segment(
            segment_id, actor=now.actor, expected_version=st.session_state.get(_loaded_key(segment_id)), **change
        )
    except StaleEdit as e:
        st.session_state[_stale_key(segment_id)] = str(e)
        toast_error(f"未保存：{e}")
        return False
    except StoreError as e:
        toast_error(f"保存失败：{e}")
        return False
    st.session_state[_loaded_key(segment_id)] = store.segment_version(saved.id)
    st.session_state.pop(_stale_key(segment_id), None)
    return True


def _save_text(segment_id: int) -> None:
    now = acting(_may_edit_now)  # a callback runs before this run's sign-in check: check again
    if now is None:
        return
    if _edit(segment_id, now, text=st.session_state[f"text_{segment_id}"]):
        st.toast(f"已保存 · {md_escape(now.account.shown)}")


def _save_speaker(segment_id: int, key: str) -> None:
    now = acting(_may_edit_now)
    if now is None:
        return
    value = st.session_state[key]
    if value and _edit(segment_id, now, speaker=value):
        st.toast(f"说话人已改为 {md_escape(value)} · {md_escape(now.account.shown)}")


def _reload(segment_id: int) -> None:
    """Drops this clerk's unsaved text: the boxes show the stored segment again, at its current version."""
    for key in [k for k in st.session_state if k == f"text_{segment_id}" or str(k).startswith(f"spk_{segment_id}_")]:
        del st.session_state[key]
    st.session_state.pop(_stale_key(segment_id), None)
    st.session_state.pop(_loaded_key(segment_id), None)  # set again from the store as the boxes are drawn


def timeline_view() -> None:
    timeline = pd.DataFrame(timeline_rows(segments, names))
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
    if not speakers:
        st.caption("尚无说话人。可在笔录段落的说话人栏中指定 S1、S2…" if may_edit else "尚无说话人。")
        return
    if not may_edit:  # a viewer: who is who, and their samples; no boxes
        for s in speakers:
            with st.container(border=True):
                spoke = f" · {clock(s.speech_time)}" if s.speech_time else ""
                st.markdown(
                    f"**{md_escape(s.label)}**{spoke} · {md_escape(s.role or '—')} · {md_escape(s.name or '—')}"
                )
                _sample(s.label)
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
                _sample(s.label)
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


def _sample(label: str) -> None:
    a, b = sample_span(segments, label)
    if b > a:  # served by /audio after the same check as this page's; never bytes in the page
        st.audio(session.audio_url(recording.id, a, b - a), format="audio/wav")


def transcript_view() -> None:
    labels = [s.label for s in speakers]
    new_label = f"S{len(labels) + 1}"
    while new_label in labels:
        new_label = f"S{int(new_label[1:]) + 1}"
    speaker_options = [*labels, new_label]
    # Part of each speaker box's key: when a name or role changes, the boxes are drawn anew with the new
    # names (a keyed selectbox would keep showing the label it was set with).
    names_version = abs(hash(tuple(names.items()))) % 10**8
    pages = (len(segments) - 1) // PER_PAGE + 1
    page_key = f"seg_page_{hearing_id}"
    marker = (hearing_id, play_at)
    if st.session_state.get("page_marker") != marker:  # a new moment to show: arrival from search, a click
        if play_at is not None:
            st.session_state[page_key] = page_of(segments, play_at, PER_PAGE)
        st.session_state.page_marker = marker
    st.session_state.setdefault(page_key, 1)
    page = st.session_state[page_key]
    playing = active_segment(segments, play_at)
    for seg in segments[(page - 1) * PER_PAGE : page * PER_PAGE]:
        with st.container(border=seg.id == playing, key=f"seg_{seg.id}"):
            c1, c2, c3 = st.columns([1.5, 1.9, 6], vertical_alignment="top")
            c1.button(
                clock(seg.start),
                key=f"play_{seg.id}",
                icon=":material/play_arrow:" if seg.id != playing else ":material/graphic_eq:",
                type="primary" if seg.id == playing else "tertiary",
                on_click=_play,
                args=(seg.start,),
                help="从这里播放",
            )
            if seg.edited:
                c1.caption("已修改")
            if not may_edit:  # read-only: the text as text, no boxes
                c2.caption(md_escape(names.get(seg.speaker or "", seg.speaker or "未分配")))
                c3.markdown(md_escape(seg.text))
                continue
            if f"text_{seg.id}" not in st.session_state or _loaded_key(seg.id) not in st.session_state:
                # A box drawn afresh shows the stored text: its saves are made against the stored version.
                # A box already typed in keeps its text, and the version it was loaded from.
                st.session_state[_loaded_key(seg.id)] = versions.get(seg.id, 0)
            c2.selectbox(
                "说话人",
                speaker_options,
                index=speaker_options.index(seg.speaker) if seg.speaker in speaker_options else None,
                format_func=lambda x: names.get(x, f"{x}（新）"),
                placeholder="未分配",
                key=f"spk_{seg.id}_{names_version}",
                on_change=_save_speaker,
                args=(seg.id, f"spk_{seg.id}_{names_version}"),
                label_visibility="collapsed",
            )
            c3.text_area(
                "内容",
                value=seg.text,
                key=f"text_{seg.id}",
                on_change=_save_text,
                args=(seg.id,),
                max_chars=cap(SEGMENT_TEXT_MAX, seg.text),
                label_visibility="collapsed",
                height=68,
            )
            refused = st.session_state.get(_stale_key(seg.id))
            if refused:
                with c3.container(key=f"stale_box_{seg.id}"):
                    error(
                        f"未保存：{refused}。框中仍是您输入的文字 (your text is still in the box, not saved)；"
                        f"对方保存的是：{seg.text}"
                    )
                    st.button(
                        "重新加载 (reload: show the saved text, drop mine)",
                        key=f"reload_{seg.id}",
                        icon=":material/refresh:",
                        on_click=_reload,
                        args=(seg.id,),
                    )
    if pages > 1:
        st.pagination(pages, key=page_key)


main, side = st.columns([3, 2], gap="large")
with main:  # before the player: a click on the timeline moves it
    view = st.segmented_control(
        "视图 View",
        list(VIEWS),
        format_func=VIEWS.get,
        default="transcript",
        key=f"view_{hearing_id}",
        label_visibility="collapsed",
    )
    if view == "speakers":
        speakers_view()
    elif view == "timeline":
        timeline_view()
    else:  # also when the clerk clicks the chosen view again, which clears the choice
        st.subheader(f"笔录 Transcript · {len(segments)} 段")
        transcript_view()

with side:
    st.subheader("播放 Playback")
    play_at = st.session_state[play_key]
    start = max((play_at or 0.0) - 0.3, 0.0)
    # A URL of the server's /audio route, which checks the session and the hearing again and audits the
    # range played; the page never hands out the audio itself (Streamlit's /media/ URLs answer anyone).
    st.audio(session.audio_url(recording.id, start, PLAY_WINDOW_S), format="audio/wav", autoplay=play_at is not None)
    st.caption(
        f"{md_escape(recording.file_name)} · 从 {clock(start)} 起 {int(PLAY_WINDOW_S // 60)} 分钟；"
        "点击段落时间或时间轴跳转"
    )

    # Read and drawn only once opened: a table (a canvas grid) on every run of this page cost Chromium its
    # share of the 1 s a clerk waits, for a list most runs never show.
    edits_box = st.expander("修改记录 Edits", key=f"edits_open_{hearing_id}", on_change="rerun")
    with edits_box:
        edits = store.edits(hearing_id=hearing_id)[-50:] if edits_box.open else []
        if not edits_box.open:
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
