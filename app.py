"""The workbench in a browser: `workbench serve` (or `streamlit run app.py`). A router; the pages are in views/.

Not `pages/`: Streamlit treats a folder of that name beside the entry script as its older multipage
mode and runs the page files by themselves, skipping this router and its sidebar.
"""

import streamlit as st

from workbench import ui, webapp

st.set_page_config(page_title="庭审转写工作台", page_icon="⚖️", layout="wide", initial_sidebar_state="expanded")

page = st.navigation(
    {
        "庭审 Hearings": [
            st.Page("views/hearings.py", title="庭审列表", icon=":material/gavel:", url_path="hearings", default=True),
            st.Page("views/upload.py", title="上传录音", icon=":material/upload_file:", url_path="upload"),
            st.Page("views/review.py", title="审阅笔录", icon=":material/rate_review:", url_path="review"),
            st.Page("views/search.py", title="检索", icon=":material/search:", url_path="search"),
        ],
        "管理 Admin": [
            st.Page("views/system.py", title="系统设置", icon=":material/settings:", url_path="system"),
        ],
    }
)
with webapp.page_timer(page.url_path or page.title):
    ui.sidebar()
    page.run()
