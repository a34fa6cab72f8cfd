"""The sidebar on every page: who is signed in (and a sign-out link), the memory gauge, "Unload models"."""

from __future__ import annotations

import logging

import streamlit as st

from workbench.display import md_escape, megabytes, size
from workbench.server.gauge import gauge
from workbench.server.runtime import Runtime
from workbench.web import session, widgets
from workbench.web.cache import runtime

log = logging.getLogger("workbench.web.sidebar")

GAUGE_EVERY_S = 5  # the sidebar gauge redraws itself alone (a fragment), not the page


def sidebar(me: session.SignedIn | None = None) -> None:
    me = me or session.signed_in()
    rt = runtime()
    with st.sidebar:
        account = me.account
        # The display name is stored text (an admin typed it, or the directory sent it): escaped.
        st.markdown(f"**{md_escape(account.shown)}** · {account.role.label}")
        if account.display_name and account.display_name != account.name:
            st.caption(f"{md_escape(account.name)} · 已登录 (signed in)")
        else:
            st.caption("已登录 (signed in)")
        st.markdown(
            f'<a href="{session.PASSWORD_PATH}" target="_self">修改密码</a> · '
            f'<a href="{session.SIGNOUT_PATH}" target="_self">退出登录 Sign out</a>',
            unsafe_allow_html=True,
        )
        _gauge(rt)
        # Any signed-in account but a viewer may unload: it only frees memory (a job running keeps its
        # models until it ends), changes no record and shows nothing; a viewer only reads.
        if account.role.value != "viewer":
            st.button(
                "卸载模型 Unload models",
                width="stretch",
                on_click=_unload,
                args=(rt,),
                help="释放已加载的模型内存；任务进行中时在任务结束后卸载",
            )


def _unload(rt: Runtime) -> None:
    me = widgets.acting(lambda me: me.account.role.value != "viewer")
    if me is None:  # signed out or demoted since
        return
    log.info("%s asked to unload the models", me.account.name)
    result = rt.request_unload()
    if result.done:
        names = "、".join(result.names) or "无已加载模型"
        st.toast(f"已卸载：{names} · 内存 {size(result.rss_before)} → {size(result.rss_after)}")
    else:
        st.toast("任务进行中：当前任务结束后自动卸载模型")


@st.fragment(run_every=GAUGE_EVERY_S)
def _gauge(rt: Runtime) -> None:
    if session.resolve(touch=False) is None:  # the tab outlived its session: no more figures
        return
    g = gauge(rt)
    m = g.reading
    st.caption("内存 Memory")
    total = m.rss + g.job_rss
    # The full sidebar width: in half of it "1,590 MB" was cut to "1,59…". System RAM is the bar below.
    st.metric(
        "本服务 RSS",
        megabytes(total),
        help=f"网页服务 {megabytes(m.rss)}" + (f" + 处理 {megabytes(g.job_rss)}" if g.job_rss else ""),
    )
    st.progress(
        min(m.system_used / m.system_total, 1.0),
        text=f"系统内存 {size(m.system_used)} / {size(m.system_total)}（{m.system_used / m.system_total * 100:.0f}%）",
    )
    if m.gpu_total:
        st.progress(min((m.gpu_used or 0) / m.gpu_total, 1.0), text=f"GPU {size(m.gpu_used)} / {size(m.gpu_total)}")
    if g.models:
        st.caption("已加载模型 Loaded models")
        st.markdown("\n".join(f"- {name} · 约 {size(n)}" for name, n in g.models))
    else:
        st.caption("已加载模型：无 (none loaded)")
    if g.running:
        st.caption(f"正在处理 {g.running} 个任务" + ("；结束后卸载模型" if g.unload_pending else ""))
    if g.floor_rss:
        st.caption(f"模型加载前 RSS {megabytes(g.floor_rss)} · 现高出 {megabytes(total - g.floor_rss)}")
