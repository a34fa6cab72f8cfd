"""系统设置 (admins): models (list, import), the queue and its settings, default language, engine and hotwords,
the courtroom profiles (which seat and role each microphone channel is: `workbench.web.courtrooms`).

Every change is audited with what changed: settings (SETTING_CHANGED, old and new values), the global
hotwords (the store's HOTWORDS_CHANGED), models (MODEL_CHANGED). A model is imported only from the
configured import folder, picked by name: the page takes no path.
"""

from typing import Any

import streamlit as st

from workbench import settings
from workbench.display import md_escape, size
from workbench.models import importing, registry
from workbench.speech.text import format_hotwords, parse_hotwords
from workbench.store import StoreError, audit, jobs
from workbench.web import nav, session
from workbench.web.cache import runtime
from workbench.web.courtrooms import profiles_admin
from workbench.web.pagedata import HOTWORDS_MAX, JOB_STATE_LABELS, NAME_MAX, cap, job_caption
from workbench.web.widgets import error, fragment_session, require_page, toast_error

me = session.signed_in()
require_page(me, nav.SYSTEM)
rt = runtime()
store = rt.store


def _save_settings(values: dict[str, Any]) -> None:
    """Saves the settings and audits the ones that changed, old and new."""
    changed = {k: [settings.get(k), v] for k, v in values.items() if settings.get(k) != v}
    settings.save(values)
    if changed:
        store.record(me.actor, audit.SETTING_CHANGED, detail={"changed": changed})


st.title("系统设置")
st.caption("System · 模型、处理队列与默认识别设置")

tab_models, tab_queue, tab_defaults, tab_courtrooms = st.tabs(
    ["模型 Models", "队列 Queue", "默认设置 Defaults", "法庭声道 Courtrooms"]
)

with tab_models:
    entries = registry.registered()
    held = {name for name, _ in rt.models()}  # in the job process as well as this one
    st.dataframe(
        [
            {"名称": e.name, "类型": e.kind, "大小": size(e.size_bytes),
             "已加载": "是" if e.name in held else "", "来源": e.source}
            for e in entries
        ],
        hide_index=True,
        width="stretch",
    )  # fmt: skip
    st.caption(f"模型目录：{md_escape(settings.models_dir())}")
    folder = importing.import_dir()
    choices = importing.import_choices()
    with st.form("import_model"):
        st.markdown("**导入模型 Import a model**")
        st.caption(f"从导入目录 {md_escape(folder)} 中选择模型目录或压缩包（.zip、.tar.gz）；先把模型放进这个目录")
        c1, c2 = st.columns([3, 1])
        source = c1.selectbox(
            "导入目录中的条目 Entry", choices, index=None, placeholder="导入目录为空" if not choices else "选择…"
        )
        name = c2.text_input("名称（可选）", max_chars=NAME_MAX)
        force = st.checkbox("同名时覆盖（默认模型不能覆盖）")
        if st.form_submit_button("导入", icon=":material/input:"):
            if source is None:
                st.error("请选择导入目录中的条目 (choose an entry of the import folder)")
            else:
                try:
                    entry = importing.import_from_import_dir(source, new_name=name.strip() or None, force=force)
                except registry.ModelError as e:
                    error(e)
                else:
                    store.record(
                        me.actor,
                        audit.MODEL_CHANGED,
                        detail={"imported": entry.name, "kind": entry.kind, "from": source, "force": force},
                    )
                    st.success(f"已导入 {md_escape(entry.name)}（{md_escape(entry.kind)}）")

with tab_queue:

    @st.fragment(run_every=3)
    def _queue() -> None:
        now = fragment_session()  # reruns alone every 3 s: the session and the role, again
        if now is None or not now.access.is_admin:
            return
        rows = jobs.jobs(store, limit=30)
        st.dataframe(
            [
                {"任务": j.id, "庭审": j.hearing_id, "文件": j.file_name, "状态": JOB_STATE_LABELS.get(j.state),
                 "进度": j.progress, "步骤": job_caption(j), "尝试": j.attempts, "错误": j.error or ""}
                for j in rows
            ],
            hide_index=True,
            width="stretch",
            column_config={"进度": st.column_config.ProgressColumn("进度", min_value=0.0, max_value=1.0)},
        )  # fmt: skip
        c1, c2, c3 = st.columns([1, 1, 3], vertical_alignment="bottom")
        job_id = c1.number_input("任务编号", min_value=1, step=1, value=None, key="job_id")
        try:
            if c2.button("取消任务", disabled=job_id is None):
                now.access.require_manage_job(jobs.job(store, int(job_id)))
                st.toast(JOB_STATE_LABELS.get(jobs.cancel(store, int(job_id), actor=now.actor).state, ""))
            if c3.button("重试任务", disabled=job_id is None):
                now.access.require_manage_job(jobs.job(store, int(job_id)))
                jobs.retry(store, int(job_id), actor=now.actor)
                rt.wake()
        except StoreError as e:
            toast_error(e)
        state = "运行中" if rt.worker is not None and rt.worker.alive else "未运行（workers = 0）"
        st.caption(f"本服务处理进程：{state}")

    _queue()
    with st.form("queue_settings"):
        c1, c2, c3 = st.columns(3)
        workers = c1.number_input(
            "同时处理任务数", 0, 4, int(settings.get("workers")), help="重启服务后生效；0 = 本服务不处理"
        )
        threads = c2.number_input("模型 CPU 线程数", 0, 64, int(settings.get("cpu_threads")), help="0 = 全部核心")
        batch = c3.number_input("Whisper 批大小", 1, 32, int(settings.get("batch_size")), help="越大越快，也越占内存")
        if st.form_submit_button("保存队列设置"):
            _save_settings({"workers": int(workers), "cpu_threads": int(threads), "batch_size": int(batch)})
            st.success("已保存。同时处理任务数在重启服务后生效。")

with tab_defaults:
    with st.form("defaults"):
        c1, c2, c3 = st.columns(3)
        engine = c1.selectbox("识别引擎", settings.ENGINES, index=settings.ENGINES.index(settings.get("engine")))
        language = c2.selectbox("语言", settings.LANGUAGES, index=settings.LANGUAGES.index(settings.get("language")))
        speakers = c3.text_input(
            "说话人数", value=str(settings.get("speakers")), max_chars=16, help="auto、人数 N 或范围 2-4"
        )
        c1, c2 = st.columns(2)
        diarize = c1.toggle("区分说话人 (diarization)", value=bool(settings.get("diarize")))
        itn = c2.toggle("数字、日期、金额写成阿拉伯数字 (ITN)", value=bool(settings.get("itn")))
        current_words = format_hotwords(store.hotwords())
        words = st.text_area(
            "全局热词 Global hotwords",
            value=current_words,
            max_chars=cap(HOTWORDS_MAX, current_words),
            height=160,
            help="每行一个词，可加权重；所有案件的任务都会使用",
        )
        if st.form_submit_button("保存默认设置", type="primary"):
            try:
                _save_settings(
                    {"engine": engine, "language": language, "speakers": speakers.strip() or "auto",
                     "diarize": diarize, "itn": itn}
                )  # fmt: skip
                if words != current_words:
                    store.set_hotwords(parse_hotwords(words), actor=me.actor)
            except (ValueError, StoreError) as e:
                error(e)
            else:
                st.success("已保存默认设置")
    st.caption(f"数据目录 {md_escape(settings.data_dir().resolve())} · 数据库 {md_escape(store.path)}")

with tab_courtrooms:
    profiles_admin(store, me.access)
