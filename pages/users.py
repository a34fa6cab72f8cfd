"""用户管理 (admins): add accounts with a role, change roles, disable and enable, reset passwords.

A new account or a reset gets a one-time password, shown here once (never stored in clear, never in
the session) and changed by its holder at the first sign-in. Every change is audited by `Accounts`.
"""

import streamlit as st

from workbench.accounts import Accounts, Role
from workbench.accounts.passwords import one_time_password
from workbench.display import md_escape
from workbench.store import StoreError
from workbench.web import nav, session
from workbench.web.pagedata import NAME_MAX, user_rows
from workbench.web.widgets import error, require_page

me = session.signed_in()
require_page(me, nav.USERS)
accounts = Accounts(me.access.store)

st.title("用户管理")
st.caption("Users · 添加账户并指定角色；新账户和重置的密码为一次性密码，首次登录时须修改")


def _one_time(name: str, password: str) -> None:
    """The password once, in this run only: copy it now and hand it over in person."""
    st.success(f"{md_escape(name)} 的一次性密码 (one-time password)，只显示这一次，请立即抄下交给本人：")
    st.code(password, language=None)


with st.form("add_user", clear_on_submit=True):
    st.markdown("**添加用户 Add a user**")
    c1, c2, c3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    new_name = c1.text_input("用户名 Sign-in name", max_chars=NAME_MAX, placeholder="zhangsan", key="new_name")
    new_display = c2.text_input("显示名 Display name", max_chars=NAME_MAX, placeholder="张三", key="new_display")
    new_role = c3.selectbox("角色 Role", list(Role), index=2, format_func=lambda r: Role(r).label, key="new_role")
    if st.form_submit_button("添加", type="primary", icon=":material/person_add:"):
        try:
            account, password = accounts.add(new_name, new_role, by=me.actor, display_name=new_display)
        except StoreError as e:
            error(e)
        else:
            if password:
                _one_time(account.name, password)

table = st.empty()  # filled last, so it shows what the forms below changed in this run
names = [a.name for a in accounts.list()]
if names:
    with st.form("change_user"):
        st.markdown("**修改用户 Change a user**")
        c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
        name = c1.selectbox("用户 User", names, key="target_user")
        role = c2.selectbox("新角色 New role", list(Role), format_func=lambda r: Role(r).label, key="target_role")
        b1, b2, b3, b4 = st.columns(4)
        act = {
            "role": b1.form_submit_button("改为此角色", icon=":material/badge:"),
            "disable": b2.form_submit_button("停用", icon=":material/block:"),
            "enable": b3.form_submit_button("启用", icon=":material/check_circle:"),
            "reset": b4.form_submit_button("重置密码", icon=":material/key:"),
        }
        try:
            if act["role"]:
                changed = accounts.set_role(name, role, by=me.actor)
                st.success(f"{md_escape(changed.name)} 现为{changed.role.label}")
            elif act["disable"]:
                changed = accounts.disable(name, by=me.actor)
                st.success(f"已停用 {md_escape(changed.name)}；其登录会话已结束")
            elif act["enable"]:
                changed = accounts.enable(name, by=me.actor)
                st.success(f"已启用 {md_escape(changed.name)}")
            elif act["reset"]:
                password = one_time_password()
                changed = accounts.set_password(name, password, by=me.actor, must_change=True)
                _one_time(changed.name, password)
        except StoreError as e:
            error(e)

table.dataframe(user_rows(accounts.list()), hide_index=True, width="stretch")
