"""案件成员 (admins, and judges for their own cases): who may see a case; grant and revoke by user name.

A member sees the case's hearings, plays, searches and exports them; judges and clerks also edit. The
checks and the audit rows are `Access.grant` / `Access.revoke`'s, the same as `workbench cases grant`.
"""

import streamlit as st

from workbench.display import md_escape
from workbench.store import StoreError
from workbench.web import nav, session
from workbench.web.pagedata import NAME_MAX, member_rows
from workbench.web.widgets import error, require_page

me = session.signed_in()
require_page(me, nav.MEMBERS)

st.title("案件成员")
st.caption("Members · 案件成员可查看本案庭审；法官、书记员还可修改和核对，查阅人只读")

cases = [c for c in me.access.cases() if me.access.may_manage_members(c.id)]
if not cases:
    st.info("没有您可以管理成员的案件 (no case whose members you manage)。")
    st.stop()
case = st.selectbox("案号 Case", cases, format_func=lambda c: c.number, key="m_case")

table = st.empty()  # filled last, so it shows what the forms below changed in this run
with st.form("grant", clear_on_submit=True):
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    name = c1.text_input("用户名 User name", max_chars=NAME_MAX, placeholder="zhangsan", key="m_grant_name")
    if c2.form_submit_button("添加成员", type="primary", icon=":material/person_add:"):
        try:
            added = me.access.grant(case, name.strip())
        except StoreError as e:
            error(e)
        else:
            st.success(f"已添加 {md_escape(name.strip())}" if added else f"{md_escape(name.strip())} 已是成员")

current = me.access.members(case.id)
if current:
    with st.form("revoke"):
        c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
        gone = c1.selectbox(
            "成员 Member", [a.name for a in current], index=None, placeholder="选择成员", key="m_revoke_name"
        )
        if c2.form_submit_button("移除成员", icon=":material/person_remove:") and gone:
            try:
                removed = me.access.revoke(case, gone)
            except StoreError as e:
                error(e)
            else:
                st.success(f"已移除 {md_escape(gone)}" if removed else f"{md_escape(gone)} 不是成员")

members = me.access.members(case.id)
if members:
    table.dataframe(member_rows(members), hide_index=True, width="stretch")
else:
    table.info("本案还没有成员 (no members yet)。")
