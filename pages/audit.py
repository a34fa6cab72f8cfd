"""审计日志 (admins): the audit trail filtered by user, case, action and date, and a check of its chain.

The same rows and the same check as `workbench audit list` and `workbench audit verify`.
"""

from datetime import datetime, time

import streamlit as st

from workbench.display import md_escape
from workbench.store import audit
from workbench.web import nav, session
from workbench.web.pagedata import audit_table
from workbench.web.widgets import require_page

me = session.signed_in()
require_page(me, nav.AUDIT)
store = me.access.store

st.title("审计日志")
st.caption("Audit · 登录、查看、播放、导出、修改、成员与设置的每一次操作；每行的哈希链接上一行，可校验是否被改动")

ACTIONS = sorted(v for k, v in vars(audit).items() if k.isupper() and k != "GENESIS" and isinstance(v, str))
LIMIT = 500

with st.container(horizontal=True, vertical_alignment="center"):
    if st.button("校验 Verify", icon=":material/verified_user:", type="primary", key="verify"):
        report = store.verify_audit()
        if report.ok:
            st.success(f"校验通过 (OK)：{report.rows} 行，链头 (head) {report.head}")
        else:
            st.error(f"校验失败 (chain broken)：第 {report.first_bad} 行 · {md_escape(report.reason)}")
    st.caption("链头可另行记下，日后用 `workbench audit verify --head HASH` 核对末尾未被截去")

with st.container():
    c1, c2, c3, c4 = st.columns(4)
    with store.reading() as con:
        known_accounts = [r[0] for r in con.execute("SELECT DISTINCT account FROM audit ORDER BY account").fetchall()]
    account = c1.selectbox("用户 User", known_accounts, index=None, placeholder="全部用户", key="a_user")
    cases = {c.number: c.id for c in store.cases()}
    case = c2.selectbox("案号 Case", list(cases), index=None, placeholder="全部案件", key="a_case")
    action = c3.selectbox("操作 Action", ACTIONS, index=None, placeholder="全部操作", key="a_action")
    since = c4.date_input("起始日期 Since", value=None, key="a_since")

rows = store.audit_rows(
    account=account,
    case_id=cases[case] if case else None,
    action=action,
    since=datetime.combine(since, time.min) if since else None,
    limit=LIMIT + 1,
)
more = len(rows) > LIMIT
rows = rows[:LIMIT]
if not rows:
    st.info("没有符合条件的记录 (no rows match)。")
    st.stop()
numbers = {case_id: number for number, case_id in cases.items()}
st.dataframe(audit_table(rows, numbers), hide_index=True, width="stretch", key="audit_table")
st.caption(f"显示 {len(rows)} 行" + (f"（仅显示最新 {LIMIT} 行，请用筛选缩小范围）" if more else ""))
