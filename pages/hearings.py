"""庭审列表: the account's hearings, filtered by case, date and status; open one, or export several as one .zip."""

import streamlit as st

from workbench import issuing
from workbench.accounts import Access
from workbench.store.status import HearingStatus
from workbench.web import nav, session
from workbench.web.pagedata import hearing_rows, list_hearings
from workbench.web.widgets import export_button

me = session.signed_in()
store = me.access.store

st.title("庭审列表")
st.caption("Hearings · 选中一行打开审阅，选中多行可批量导出笔录")

cases = me.access.cases()
c1, c2, c3 = st.columns([3, 2, 4])
case = c1.selectbox("案号 Case", [c.number for c in cases], index=None, placeholder="全部案件", key="f_case")
dates = c2.date_input("开庭日期 Date", value=(), key="f_dates", help="选择起止日期")
statuses = c3.pills(
    "状态 Status",
    list(HearingStatus),
    selection_mode="multi",
    format_func=lambda s: HearingStatus(s).label,
    key="f_status",
)
date_from = dates[0] if len(dates) >= 1 else None
date_to = dates[1] if len(dates) == 2 else date_from

LIMIT = 500
hearings = list_hearings(
    me.access, case=case, statuses=statuses or (), date_from=date_from, date_to=date_to, limit=LIMIT + 1
)
more = len(hearings) > LIMIT
hearings = hearings[:LIMIT]

if not hearings:
    if me.access.may_upload():
        st.info("没有符合条件的庭审。可在“上传录音”页面上传庭审录音。")
        st.page_link(nav.UPLOAD.path, label="上传录音", icon=":material/upload_file:")
    else:
        st.info("没有符合条件的庭审。您只能看到您所属案件的庭审 (only the hearings of your cases are listed)。")
    st.stop()

event = st.dataframe(
    hearing_rows(hearings),
    hide_index=True,
    width="stretch",
    on_select="rerun",
    selection_mode="multi-row",
    key="hearing_table",
    column_config={
        "ID": st.column_config.NumberColumn("ID", width="small", format="%d"),
        "段落": st.column_config.NumberColumn("段落", width="small"),
    },
)
st.caption(f"显示 {len(hearings)} 条" + ("（仅显示最新 500 条，请用筛选缩小范围）" if more else ""))

chosen = [hearings[i] for i in event.selection.rows if i < len(hearings)] if event and event.selection else []
c1, c2, c3 = st.columns([2, 2, 6])
if len(chosen) == 1:
    c1.page_link(
        nav.REVIEW.path,
        label=f"打开庭审 #{chosen[0].id}",
        icon=":material/open_in_new:",
        query_params={"hearing": chosen[0].id},
    )
elif not chosen:
    c1.caption("选中一行以打开")
if chosen:
    ids = [h.id for h in chosen]

    def _zip(now: Access) -> bytes:
        return issuing.issue_zip(now, ids, via="page")

    export_button(
        me,
        f"导出笔录 .zip（{len(ids)} 件）",
        _zip,
        file_name="庭审笔录.zip",
        hearing_ids=ids,
        key="zip",
        target=c2,
        mime="application/zip",
        icon=":material/download:",
    )
