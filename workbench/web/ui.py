"""The little Streamlit glue the pages share: the cached runtime, the sidebar, cached audio clips.

Everything that is not a widget lives in `workbench.server.runtime`.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import streamlit as st

from workbench import settings
from workbench.server import runtime as webapp
from workbench.server.runtime import Runtime
from workbench.store.status import HearingStatus

USER_KEY = "user_name"
GAUGE_EVERY_S = 5  # the sidebar gauge redraws itself alone (a fragment), not the page


@st.cache_resource(show_spinner=False)
def _runtime(db_path: str, workers: int) -> Runtime:
    # Keyed by the database, so a test (or a settings change) with another file gets its own runtime.
    webapp.log_to_stderr()
    rt = Runtime.create(Path(db_path), workers=workers)
    rt.on_unload.append(clip.clear)
    rt.warm_up()
    return rt


def runtime() -> Runtime:
    """The server process's one runtime (store + worker), started on first use."""
    return _runtime(str(settings.db_path()), int(settings.get("workers")))


@st.cache_data(show_spinner=False, max_entries=24)
def clip(path: str, start: float, duration: float) -> bytes:
    return webapp.clip_wav(Path(path), start, duration)


def user() -> str:
    """The name recorded with each edit (sidebar), defaulting to the setting or the login name."""
    if USER_KEY not in st.session_state:
        try:
            login = getpass.getuser()
        except (KeyError, OSError):
            login = ""
        st.session_state[USER_KEY] = settings.get("user") or login or "clerk"
    return str(st.session_state[USER_KEY]).strip() or "clerk"


def sidebar() -> None:
    rt = runtime()
    with st.sidebar:
        # The name lives under its own key, not the widget's: a widget's state is dropped on a run that
        # does not draw it, and the name must survive every page switch.
        st.text_input(
            "操作人 User",
            value=user(),
            key=USER_KEY + "_input",
            on_change=lambda: st.session_state.update({USER_KEY: st.session_state[USER_KEY + "_input"]}),
            help="记录在每一处修改中 (recorded with each edit)",
        )
        _gauge(rt)
        st.button(
            "卸载模型 Unload models",
            width="stretch",
            on_click=_unload,
            args=(rt,),
            help="释放已加载的模型内存；任务进行中时在任务结束后卸载",
        )


def _unload(rt: Runtime) -> None:
    result = rt.request_unload()
    if result.done:
        names = "、".join(result.names) or "无已加载模型"
        st.toast(f"已卸载：{names} · 内存 {webapp.size(result.rss_before)} → {webapp.size(result.rss_after)}")
    else:
        st.toast("任务进行中：当前任务结束后自动卸载模型")


@st.fragment(run_every=GAUGE_EVERY_S)
def _gauge(rt: Runtime) -> None:
    g = webapp.gauge(rt)
    m = g.reading
    st.caption("内存 Memory")
    total = m.rss + g.job_rss
    # The full sidebar width: in half of it "1,590 MB" was cut to "1,59…". System RAM is the bar below.
    st.metric(
        "本服务 RSS",
        webapp.megabytes(total),
        help=f"网页服务 {webapp.megabytes(m.rss)}" + (f" + 处理 {webapp.megabytes(g.job_rss)}" if g.job_rss else ""),
    )
    st.progress(
        min(m.system_used / m.system_total, 1.0),
        text=f"系统内存 {webapp.size(m.system_used)} / {webapp.size(m.system_total)}"
        f"（{m.system_used / m.system_total * 100:.0f}%）",
    )
    if m.gpu_total:
        st.progress(
            min((m.gpu_used or 0) / m.gpu_total, 1.0),
            text=f"GPU {webapp.size(m.gpu_used)} / {webapp.size(m.gpu_total)}",
        )
    if g.models:
        st.caption("已加载模型 Loaded models")
        st.markdown("\n".join(f"- {name} · 约 {webapp.size(n)}" for name, n in g.models))
    else:
        st.caption("已加载模型：无 (none loaded)")
    if g.running:
        st.caption(f"正在处理 {g.running} 个任务" + ("；结束后卸载模型" if g.unload_pending else ""))
    if g.floor_rss:
        st.caption(f"模型加载前 RSS {webapp.megabytes(g.floor_rss)} · 现高出 {webapp.megabytes(total - g.floor_rss)}")


def status_badge(status: str) -> None:
    color = {
        "queued": "gray",
        "processing": "blue",
        "transcribed": "violet",
        "in review": "orange",
        "verified": "green",
        "failed": "red",
    }
    st.badge(HearingStatus(status).label, color=color.get(status, "gray"))  # type: ignore[arg-type]
