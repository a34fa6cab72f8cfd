"""审阅笔录: the review desk (the whole transcript against the audio, keyboard first), roles, timeline, export.

Only a hearing of the account's cases opens (any other id answers like a missing one); only judges,
clerks and admins may edit, and nobody once the record is locked. The sign-off buttons are the steps
this account may take now (`Access.next_steps`: a clerk checks, the judge approves, then it is locked;
only the judge reopens, with a reason). Every export is issued by `workbench.issuing` (sealed parts left
out, a redaction profile applied, a manifest and a verification code in the file, an audit row).

The transcript view is `workbench.web.desk_component`: one continuous editor whose script reads the
hearing and saves each edit through the API with this browser's session (`/api/v1/hearings/{id}/desk`,
`/edits`, split, merge, replace, the "checked up to here" mark). Each save is made against the version
the desk loaded; when someone else changed the segment in between it is refused and the desk shows both
texts (`workbench.api.desk`). This page draws the desk and the views around it; it holds no transcript.
"""

import altair as alt
import pandas as pd
import streamlit as st

from workbench import formats, issuing
from workbench.accounts import HEARING_NOT_YOURS, Access, NotYours
from workbench.display import clock, md_escape, parse_clock
from workbench.record import RecordOptions
from workbench.store import ROLES, StoredSegment, StoreError, audit, jobs
from workbench.store.status import HearingStatus
from workbench.web import session
from workbench.web.clips import PLAY_WINDOW_S, sample_span
from workbench.web.courtrooms import profile_offer
from workbench.web.desk_component import review_desk
from workbench.web.notes import notes_box, notes_layer, shown_notes
from workbench.web.pagedata import (
    NAME_MAX,
    SEGMENT_TEXT_MAX,
    cap,
    hearing_param,
    hidden_segments,
    job_caption,
    redaction_rows,
    seconds_param,
    segment_at,
    shown_segments,
    shown_text,
    speaker_display,
    timeline_rows,
)
from workbench.web.voices import voices_box
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
# A locked record is read-only for everyone (the store refuses it too); its corrections go through a request.
may_edit = me.access.may_edit_record(hearing)
hidden = hidden_segments(me.access, hearing)  # sealed segments, for an account that may not see their text

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

# --- exports -------------------------------------------------------------------------------------------------
EXPORTS = {  # format → (button, MIME type)
    "docx": ("Word 笔录", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "pdf": ("PDF 存档 (PDF/A)", "application/pdf"),
    **{fmt: (fmt.upper(), None) for fmt in formats.FORMATS},
}
PROFILE_LABELS = {"none": "不脱敏 None", "publication": "公开 Publication", "us-frcp": "US FRCP 5.2"}
stem = f"{hearing.case_number or 'hearing'}-{hearing_id}"


def export_panel() -> None:
    """The record as a file: a redaction profile, its preview (untick a false find), then one button a format."""
    profile = st.radio(
        "脱敏 Redaction", list(PROFILE_LABELS), format_func=PROFILE_LABELS.get, horizontal=True, key="redact_profile"
    )
    keep: list[str] = []
    if profile != "none":  # only then: a preview reads and scans the whole record
        found = issuing.preview_redactions(me.access, hearing_id, profile)
        if found:
            st.caption(f"共 {len(found)} 处；取消勾选以保留原文 (untick a false one to keep it)")
            table = st.data_editor(
                pd.DataFrame(redaction_rows(found)),
                disabled=["时间", "类型", "原文", "替换为"],
                column_config={"id": None, "脱敏": st.column_config.CheckboxColumn("脱敏", default=True)},
                hide_index=True,
                key=f"redactions_{profile}",
            )
            keep = table.loc[~table["脱敏"], "id"].tolist()
        else:
            st.caption("未发现需要脱敏的内容 (nothing to redact)")
    suffix = "" if profile == "none" else f"-{profile}"
    for fmt, (label, mime) in EXPORTS.items():

        def _issue(now: Access, fmt: str = fmt) -> bytes:
            return issuing.issue(now, hearing_id, fmt, RecordOptions(), redact=profile, keep=keep, via="page").body

        export_button(
            me,
            label,
            _issue,
            file_name=f"{stem}{suffix}.{fmt}",
            hearing_ids=[hearing_id],
            key=f"dl_{fmt}",
            mime=mime,
            width="stretch",
        )


# --- the sign-off, the record's parts, the exports -----------------------------------------------------------------
# Each button acts in this run, whose session and rights were just checked; the store refuses a step in the wrong
# state and any edit of a locked record, whoever asks.
STEPS = {  # step → (button, icon, who may take it, the store's method)
    "check": ("标记已核对", ":material/fact_check:", me.access.require_check, store.check),
    "uncheck": ("撤销核对", ":material/undo:", me.access.require_check, store.uncheck),
    "approve": ("审批通过", ":material/approval:", me.access.require_approve, store.approve),
    "lock": ("锁定笔录", ":material/lock:", me.access.require_lock, store.lock),
}
STEP_NAMES = {"checked": "核对", "unchecked": "撤销核对", "approved": "审批", "locked": "锁定", "reopened": "退回",
              "returned": "修改后退回"}  # fmt: skip


def _take(step: str, reason: str = "") -> None:
    try:
        if step == "reopen":
            me.access.require_reopen(hearing.case_id)
            store.reopen(hearing_id, reason, actor=me.actor)
        else:
            _, _, require, take = STEPS[step]
            require(hearing.case_id)
            take(hearing_id, actor=me.actor)
    except StoreError as e:
        error(e)
    else:
        st.rerun()


with st.container(horizontal=True, vertical_alignment="center"):
    status_badge(hearing.status)
    for step in me.access.next_steps(hearing):
        if step == "reopen":
            with st.popover("退回修改", icon=":material/lock_open:"):
                reason = st.text_input("退回理由 Reason", max_chars=500, key="reopen_reason")
                if st.button("确认退回", disabled=not reason.strip(), type="primary"):
                    _take("reopen", reason)
        else:
            label, icon, _, _ = STEPS[step]
            if st.button(label, icon=icon, type="primary" if step != "uncheck" else "secondary", key=f"step_{step}"):
                _take(step)
    with st.popover("导出 Export", icon=":material/download:"):
        export_panel()

steps = store.signoff_steps(hearing_id)
if steps:
    st.caption(
        " · ".join(
            f"{STEP_NAMES.get(s.step, s.step)} {md_escape(s.account)} {s.at:%m-%d %H:%M}"
            + (f"（{md_escape(s.reason)}）" if s.reason else "")
            for s in steps[-6:]
        )
    )
if hearing.status == HearingStatus.LOCKED:
    st.info("笔录已锁定：不能再修改；如需更正，请在下方提交补正申请 (locked: corrections go through a request)。")
else:  # a multi-channel recording from a courtroom with no profile: an admin may make one here and re-run it
    profile_offer(store, me.access, hearing_id)
voices_box(store, me.access, hearing_id)  # names heard in this case's other hearings, each named only on a click

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
    timeline = pd.DataFrame(timeline_rows(shown_segments(store.segments(hearing_id), hidden), names))
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
    )
    # stage marks, notes and recesses over the bars; the height goes on the layer (a layer's parts share it)
    chart = alt.layer(chart, notes_layer(shown_notes(me.access, hearing))).properties(height=alt.Step(26))
    st.caption("发言时间轴 · 点击色块从该处播放 · 竖线为庭审阶段与笔记")
    event = st.altair_chart(chart, on_select="rerun", key=f"timeline_{hearing_id}", width="stretch")
    clicked = ((event or {}).get("selection") or {}).get("seg") or []
    if clicked and clicked[0].get("t") is not None and st.session_state.get("timeline_seen") != clicked[0]["t"]:
        st.session_state.timeline_seen = clicked[0]["t"]
        _play(float(clicked[0]["t"]))


def speakers_view() -> None:
    speakers = store.speakers(hearing_id)
    # for each speaker's sample: never one from a sealed part for an account that may not hear it
    segments = [s for s in store.segments(hearing_id) if s.id not in hidden]
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
                     "修改前": shown_text(e.segment_id, e.before, hidden),
                     "修改后": shown_text(e.segment_id, e.after, hidden)}
                    for e in reversed(edits)
                ],
                hide_index=True,
            )  # fmt: skip
        else:
            st.caption("暂无修改。原始识别文本始终保留。")


def sealed_box() -> None:
    """不公开 parts: kept in the store, left out of every export and of what a viewer sees."""
    parts = store.sealed_parts(hearing_id)
    may_seal = me.access.may_seal(hearing.case_id) and hearing.status != HearingStatus.LOCKED
    if not parts and not may_seal:
        return
    with st.expander(f"不公开部分 Sealed parts（{len(parts)}）", key=f"sealed_open_{hearing_id}"):
        for part in parts:
            line, button = st.columns([5, 1], vertical_alignment="center")
            line.markdown(
                f"{clock(part.start)}—{clock(part.end)} · {md_escape(part.reason)} · "
                f"{md_escape(part.created_by)} {part.created_at:%m-%d %H:%M}"
            )
            if may_seal and button.button("解除", key=f"unseal_{part.id}", icon=":material/lock_open:"):
                try:
                    me.access.require_seal(hearing.case_id)
                    store.unseal(hearing_id, part.id, actor=me.actor)
                except StoreError as e:
                    error(e)
                else:
                    st.rerun()
        if not may_seal:
            return
        with st.form(f"seal_{hearing_id}", border=False):
            a, b = st.columns(2)
            start = a.text_input("从 From", placeholder="00:10:00", max_chars=12)
            end = b.text_input("至 To", placeholder="00:20:00", max_chars=12)
            reason = st.text_input("理由 Reason", placeholder="涉及个人隐私", max_chars=500)
            if st.form_submit_button("标记为不公开", icon=":material/visibility_off:"):
                try:
                    me.access.require_seal(hearing.case_id)
                    store.seal(hearing_id, parse_clock(start), parse_clock(end), reason, actor=me.actor)
                except (StoreError, ValueError) as e:
                    error(e)
                else:
                    st.rerun()


REQUESTER_KINDS = {"party": "当事人 Party", "lawyer": "代理人 Lawyer", "member": "本院人员 Member"}
OUTCOMES = {"pending": "待处理", "accepted": "已准许", "rejected": "已驳回"}


def corrections_box() -> None:
    """补正申请 on a locked record: filed for a party or a lawyer, decided by the judge, listed in the record."""
    requests = store.corrections(hearing_id)
    locked = hearing.status == HearingStatus.LOCKED
    may_request = locked and me.access.may_request_correction(hearing.case_id)
    may_decide = me.access.may_decide_correction(hearing.case_id)
    if not requests and not may_request:
        return
    with st.expander(f"补正申请 Corrections（{len(requests)}）", key=f"corrections_open_{hearing_id}"):
        for r in requests:
            with st.container(border=True):
                st.markdown(
                    f"**#{r.id}** {md_escape(r.requester)}（{REQUESTER_KINDS.get(r.requester_kind, r.requester_kind)}）"
                    f" · {r.filed_at:%Y-%m-%d %H:%M} · **{OUTCOMES.get(r.state, r.state)}**"
                )
                st.caption(f"理由：{md_escape(r.reason)}")
                for segment_id, text, _ in r.changes:
                    st.markdown(f"段 {segment_id}：{md_escape(shown_text(segment_id, text, hidden))}")
                if r.state != "pending":
                    st.caption(f"{md_escape(r.decided_by)}：{md_escape(r.decision_reason)}")
                elif may_decide:
                    why = st.text_input("决定理由 Reason", key=f"decide_reason_{r.id}", max_chars=500)
                    yes, no = st.columns(2)
                    for column, accept, label in ((yes, True, "准许补正"), (no, False, "驳回")):
                        # accepting edits the record: only while it is locked (a reopened one is edited directly)
                        refused = not why.strip() or (accept and not locked)
                        if column.button(label, key=f"decide_{r.id}_{accept}", disabled=refused):
                            try:
                                me.access.require_decide_correction(hearing.case_id)
                                store.decide_correction(r.id, accept, why, actor=me.actor)
                            except StoreError as e:
                                error(e)
                            else:
                                st.rerun()
        if not may_request:
            return
        with st.form(f"correction_{hearing_id}", border=False):
            at = st.text_input("段落时间 Time", placeholder="00:12:03", max_chars=12)
            text = st.text_area("补正后文本 Proposed text", max_chars=SEGMENT_TEXT_MAX)
            a, b = st.columns(2)
            requester = a.text_input("申请人 Requester", max_chars=NAME_MAX)
            kind = b.selectbox("身份", list(REQUESTER_KINDS), format_func=REQUESTER_KINDS.get)
            reason = st.text_input("理由 Reason", max_chars=500)
            if st.form_submit_button("提交补正申请", icon=":material/edit_note:"):
                try:
                    me.access.require_request_correction(hearing.case_id)
                    segment = segment_at(store.segments(hearing_id), parse_clock(at))
                    if segment is None:
                        raise ValueError(f"{at} 处没有段落 (no segment at that time)")
                    store.request_correction(
                        hearing_id, [(segment.id, text)], requester=requester, requester_kind=kind, reason=reason,
                        actor=me.actor,
                    )  # fmt: skip
                except (StoreError, ValueError) as e:
                    error(e)
                else:
                    st.rerun()


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
        notes_box(store, me.access, hearing_id, at_hint=play_at)
        edits_box()
        sealed_box()
        corrections_box()
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
    notes_box(store, me.access, hearing_id, at_hint=play_at)
    edits_box()
    sealed_box()
    corrections_box()
