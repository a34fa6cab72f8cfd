"""The workbench in a browser: `workbench serve` (or `streamlit run app.py`). A router; pages are in pages/."""

import streamlit as st

from workbench import ui

st.set_page_config(page_title="庭审转写工作台", page_icon="⚖️", layout="wide", initial_sidebar_state="expanded")

page = st.navigation(
    {
        "庭审 Hearings": [
            st.Page("pages/hearings.py", title="庭审列表", icon=":material/gavel:", url_path="hearings", default=True),
            st.Page("pages/upload.py", title="上传录音", icon=":material/upload_file:", url_path="upload"),
            st.Page("pages/review.py", title="审阅笔录", icon=":material/rate_review:", url_path="review"),
            st.Page("pages/search.py", title="检索", icon=":material/search:", url_path="search"),
        ],
        "管理 Admin": [
            st.Page("pages/system.py", title="系统设置", icon=":material/settings:", url_path="system"),
        ],
    }
)
ui.sidebar()
page.run()
