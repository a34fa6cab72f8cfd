"""The workbench in a browser: the router that `workbench serve` runs (or `streamlit run workbench/web/app.py`).

The pages are the files in `pages/`, listed as objects in `workbench.web.nav`.
"""

import streamlit as st

from workbench.web import nav
from workbench.web.sidebar import sidebar
from workbench.web.timing import page_timer

st.set_page_config(page_title="庭审转写工作台", page_icon="⚖️", layout="wide", initial_sidebar_state="expanded")

page = st.navigation(
    {
        section: [
            st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p is nav.DEFAULT) for p in pages
        ]
        for section, pages in nav.SECTIONS.items()
    }
)
with page_timer(page.url_path or page.title):
    sidebar()
    page.run()
