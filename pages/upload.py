"""上传录音 (judges, clerks, admins): recordings + hearing details → the job queue; the queue's progress.

The browser sends each file itself, in chunks, to `/api/v1/uploads` (`workbench.web.upload_component`):
it never passes through this page's memory, and a dropped connection resumes. The page gets the finished
upload ids and submits them with the hearing details (`workbench.api.uploads.take`, then
`submit_recordings`). An existing case number takes uploads only from its members (a new one makes the
uploader a member); files already on the server only from the configured ingest folders. The queue
lists the jobs of the account's cases; cancel and retry only where the account may manage the job.

The case's roster (role, name, seat) may be entered with the batch: it names the speakers and joins the case's
hotwords (`workbench.web.courtrooms`). A recording of several channels from a courtroom without a profile gets the
offer to make one (admins; others are told to ask one).
"""

from collections.abc import Callable
from datetime import datetime

import streamlit as st

from workbench import settings
from workbench.accounts import Role
from workbench.api import uploads
from workbench.api.core import ApiError
from workbench.display import md_escape
from workbench.intake import (
    PARTIES_MAX_CHARS,
    UPLOAD_TYPES,
    HearingDetails,
    check_submission,
    format_parties,
    ingest_roots,
    parse_parties,
    submit_recordings,
)
from workbench.speech.options import TranscribeOptions
from workbench.speech.text import merge_hotwords, parse_hotwords
from workbench.store import StoreError, jobs
from workbench.web import nav, session
from workbench.web.cache import runtime
from workbench.web.courtrooms import check_roster, may_edit_roster, profile_offer, roster_editor, save_roster
from workbench.web.pagedata import (
    CASE_NUMBER_MAX,
    HOTWORDS_MAX,
    JOB_STATE_LABELS,
    NAME_MAX,
    cap,
    job_caption,
)
from workbench.web.session import SignedIn
from workbench.web.upload_component import upload_picker
from workbench.web.widgets import acting, error, fragment_session, require_page, toast_error

me = session.signed_in()
require_page(me, nav.UPLOAD)
rt = runtime()
store = rt.store

st.title("上传录音")
st.caption("Upload recordings · 每个文件建立一次庭审并立即进入处理队列；关闭页面不影响处理。")

if "upload_round" not in st.session_state:
    st.session_state.upload_round = 0
if "my_jobs" not in st.session_state:
    st.session_state.my_jobs = []

cases = me.access.cases()
left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("庭审信息 Hearing")
    NEW = ""
    c1, c2 = st.columns([2, 3])
    choice = c1.selectbox(
        "案件 Case",
        [NEW, *(c.number for c in cases)],
        format_func=lambda n: n or "新案件 New case",
        key="case_choice",
    )
    case_number = (
        c2.text_input(
            "案号 Case number", max_chars=CASE_NUMBER_MAX, placeholder="（2024）京0105民初1234号", key="case_number"
        )
        if choice == NEW
        else choice
    )
    known = next((c for c in cases if c.number == case_number), None)
    c1, c2 = st.columns(2)
    cause = c1.text_input(
        "案由 Cause",
        value=known.cause if known else "",
        max_chars=cap(NAME_MAX, known.cause if known else ""),
        disabled=known is not None,
        key="cause",
    )
    starts_at = c2.datetime_input("开庭时间 Date", value=datetime.now().replace(second=0, microsecond=0), key="starts")
    c1, c2, c3 = st.columns(3)
    courtroom = c1.text_input("法庭 Courtroom", max_chars=NAME_MAX, key="courtroom", placeholder="第三法庭")
    judge = c2.text_input("审判长 Presiding judge", max_chars=NAME_MAX, key="judge")
    clerk = c3.text_input(
        "书记员 Clerk", value=me.account.shown, max_chars=cap(NAME_MAX, me.account.shown), key="clerk"
    )
    known_parties = format_parties(known.parties) if known else ""
    parties_text = st.text_area(
        "当事人 Parties",
        value=known_parties,
        max_chars=cap(PARTIES_MAX_CHARS, known_parties),
        disabled=known is not None and bool(known.parties),
        placeholder="每行一方，例如：\n原告：张三；代理人：李四\n被告：某某有限公司",
        height=96,
        key="parties",
    )
    with st.expander("出庭人员名单 Roster（可选）"):
        st.caption("角色、姓名和席位：转写后自动为说话人标注姓名，姓名也作为本案热词 "
                   "(names the speakers, joins the case's hotwords)")  # fmt: skip
        roster_rows = roster_editor(
            f"roster_{st.session_state.upload_round}", store.participants(known.id) if known else ()
        )

with right:
    st.subheader("识别设置 Recognition")
    c1, c2 = st.columns(2)
    engines = list(settings.ENGINES)
    engine = c1.selectbox("引擎 Engine", engines, index=engines.index(settings.get("engine")), key="engine")
    languages = list(settings.LANGUAGES)
    language = c2.selectbox(
        "语言 Language",
        languages,
        index=languages.index(settings.get("language")),
        format_func=lambda x: {"auto": "自动检测", "zh": "普通话 zh", "en": "English", "yue": "粤语 yue"}.get(x, x),
        key="language",
    )
    speaker_choices = ["auto", "2", "3", "4", "5", "6", "off"]
    speakers = st.selectbox(
        "说话人数 Speakers",
        speaker_choices,
        index=speaker_choices.index("auto") if settings.get("diarize") else speaker_choices.index("off"),
        format_func=lambda x: {"auto": "自动判断", "off": "不区分说话人 (diarization off)"}.get(x, f"{x} 人"),
        key="speakers",
    )
    case_words = store.hotwords(case_id=known.id) if known else ()
    hotwords_text = st.text_area(
        "热词 Hotwords",
        max_chars=HOTWORDS_MAX,
        placeholder="每行一个词，可在词后加权重，例如：\n不当得利\n张某某 2",
        height=96,
        key="hotwords",
        help="本次上传使用；全局热词与本案已保存的热词也会一并使用",
    )
    if case_words:
        st.caption("本案已保存热词：" + "、".join(md_escape(h.term) for h in case_words))
    save_words = st.checkbox("把这些热词加入本案热词表", value=True, key="save_words")

max_mb = int(settings.get("upload_max_mb"))
largest = f"{max_mb // 1024} GB" if max_mb >= 1024 and max_mb % 1024 == 0 else f"{max_mb} MB"
st.markdown(f"**录音文件 Recordings**（可多选，单个文件最大 {largest}；断线后自动续传）")
picked = upload_picker(
    key=f"files_{st.session_state.upload_round}",
    types=UPLOAD_TYPES,
    max_bytes=max_mb << 20,
    label="选择录音文件 Choose recordings",
)
# Files already on the server: only admins and clerks (the rule `submit_uploads` checks again), and only
# under the folders an admin configured (`ingest_roots`); without any, the box is not offered at all.
roots = ingest_roots() if me.account.role in (Role.ADMIN, Role.CLERK) else []
server_paths = ""
if roots:
    with st.expander("或：服务器上的录音文件 Files already on the server"):
        server_paths = st.text_area(
            "文件路径，每行一个",
            placeholder=f"{roots[0]}/2024-03-05/第三法庭-0930.mp3",
            max_chars=20_000,
            help="大文件（如整日录音）放在服务器或共享盘上时，无须经浏览器上传",
            key="server_paths",
        )
        st.caption("只能导入这些目录中的文件：" + "；".join(md_escape(r) for r in roots))
paths = [line.strip() for line in (server_paths or "").splitlines() if line.strip()]
count = len(picked.files) + len(paths)
submitted = st.button(
    f"提交转写（{count} 个文件）" if count else "提交转写",
    type="primary",
    disabled=not count or picked.busy,
    help="请等待文件上传完成 (wait until the files are uploaded)" if picked.busy else None,
    key="submit",
)

if submitted and count:
    try:
        parties = parse_parties(parties_text or "")
        words = parse_hotwords(hotwords_text or "")
        options = TranscribeOptions.from_settings(
            engine=engine,
            language=language,
            hotwords=words,
            diarize=speakers != "off",
            speakers=None if speakers == "off" else speakers,
        )
        details = HearingDetails(
            case_number=case_number or "",
            starts_at=starts_at,
            courtroom=courtroom,
            presiding_judge=judge,
            clerk=clerk,
            parties=parties,
            cause=cause,
        )
        # Every check first (nothing is saved or taken when one fails): the details, the files, the roster.
        number, _ = check_submission(details, access=me.access, names=[f.name for f in picked.files], paths=paths)
        case = next((c for c in store.cases() if c.number == number), None)
        check_roster(roster_rows, store.participants(case.id) if case else ())
        # The roster and the hotwords are saved before any job is queued: the worker polls the queue on its own
        # (every second), so a job queued first could start without them. A new case is opened for them here
        # (the uploader becomes its member, as the submission would make them).
        if roster_rows or (save_words and words):
            case = case or store.ensure_case(number, actor=me.actor, cause=details.cause, parties=details.parties)
            if roster_rows and may_edit_roster(me.access, case.id):
                save_roster(store, me.access, case.id, roster_rows)  # all rows or none
            if save_words and words and me.access.may_edit(case.id):
                merged = merge_hotwords(words, store.hotwords(case_id=case.id))
                store.set_hotwords(merged, case_id=case.id, actor=me.actor)
        # then the finished uploads: their files are moved into the audio store, not copied
        spooled = [uploads.take(me.access, f.id) for f in picked.files]
        subs = submit_recordings(store, details, options, access=me.access, spooled=spooled, paths=paths, wake=rt.wake)
    except (ValueError, StoreError) as e:
        error(e)
    except ApiError as e:  # an upload that is gone (expired, removed) or not complete
        error(e.detail)
    else:
        st.session_state.my_jobs = [s.job_id for s in subs if s.job_id] + st.session_state.my_jobs
        dups = [s for s in subs if s.duplicate]
        queued = len(subs) - len(dups)
        st.session_state.upload_round += 1  # a fresh picker: the same uploads are not submitted twice
        st.session_state.upload_message = (queued, [(s.file.name, s.hearing_id) for s in dups])
        st.rerun()

if "upload_message" in st.session_state:
    queued, dups = st.session_state.pop("upload_message")
    if queued:
        st.success(f"已加入处理队列：{queued} 个文件")
    for name, hearing_id in dups:
        st.warning(f"{md_escape(name)} 与已存录音相同，未重复处理（庭审 #{hearing_id}）")
        st.page_link(nav.REVIEW.path, label=f"打开庭审 #{hearing_id}", query_params={"hearing": hearing_id})

for job_id in st.session_state.my_jobs[:5]:  # this session's recent uploads: a multi-channel file may need a profile
    try:
        profile_offer(store, me.access, jobs.job(store, job_id).hearing_id, expanded=True)
    except StoreError:  # the job or its hearing was deleted meanwhile
        continue

st.divider()


# The queue's buttons act in callbacks, which run before the run the click starts, so that run draws the
# new state. `st.rerun(scope="fragment")` after the click raised instead whenever the click arrived in a
# full-page run (Streamlit merges a fragment's rerun into a pending full one).
def _may_manage(job_id: int) -> Callable[[SignedIn], bool]:
    """The check `acting` takes: may the account, as it is now, cancel or retry this job?"""

    def check(now: SignedIn) -> bool:
        try:
            return now.access.may_manage_job(jobs.job(store, job_id))
        except StoreError:
            return False

    return check


def _cancel(job_id: int) -> None:
    now = acting(_may_manage(job_id))  # a callback runs before the page checks the session again
    if now is None:
        return
    try:
        jobs.cancel(store, job_id, actor=now.actor)
    except StoreError as e:  # it finished meanwhile
        toast_error(e)


def _retry(job_id: int) -> None:
    now = acting(_may_manage(job_id))
    if now is None:
        return
    try:
        jobs.retry(store, job_id, actor=now.actor)
    except StoreError as e:  # another browser retried it first
        toast_error(e)
    rt.wake()


@st.fragment(run_every=2)
def queue_panel() -> None:
    st.subheader("处理队列 Queue")
    now = fragment_session()
    if now is None:
        return
    recent = jobs.jobs(store, limit=12, case_ids=now.access.case_ids())
    mine = set(st.session_state.get("my_jobs", []))
    if not recent:
        st.info("队列为空。上传录音后，这里显示每个文件的处理进度。")
        return
    for info in sorted(recent, key=lambda j: (not j.active, j.id not in mine, -j.id)):
        with st.container(border=True):
            c1, c2, c3 = st.columns([4, 5, 2], vertical_alignment="center")
            c1.markdown(f"**{md_escape(info.file_name)}**  \n{md_escape(info.case_number)} · 庭审 #{info.hearing_id}")
            label = JOB_STATE_LABELS.get(info.state, info.state)
            if info.state == jobs.JobState.RUNNING:
                c2.progress(min(max(info.progress, 0.0), 1.0), text=md_escape(job_caption(info)))
            elif info.state == jobs.JobState.FAILED:
                c2.error(md_escape(f"失败：{info.error}"), icon=":material/error:")
            elif info.state == jobs.JobState.DONE:
                c2.progress(1.0, text="完成 · 已可审阅")
            else:
                c2.caption(md_escape(job_caption(info)))
            if info.state == jobs.JobState.DONE:
                c3.page_link(nav.REVIEW.path, label="打开审阅", icon=":material/open_in_new:",
                             query_params={"hearing": info.hearing_id})  # fmt: skip
            elif not now.access.may_manage_job(info):
                c3.caption(label)
            elif info.active:
                c3.button(
                    "取消", key=f"cancel_{info.id}", help=f"{label}：取消这个任务", on_click=_cancel, args=(info.id,)
                )
            else:
                c3.button("重试", key=f"retry_{info.id}", on_click=_retry, args=(info.id,))
    if rt.worker is None:
        st.caption("本服务未运行处理进程 (workers = 0)：由另一个 `workbench jobs work` 进程处理队列。")


queue_panel()
