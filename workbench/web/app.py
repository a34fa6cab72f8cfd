"""The workbench in a browser: the router that `workbench serve` runs (`workbench.web.asgi.create_app`).

The pages are the files in `pages/`, listed as objects in `workbench.web.nav`. The session is checked
before anything is drawn; the navigation holds only the pages the account's role may open (each page
checks again for itself).
"""

from pathlib import Path

import streamlit as st

from workbench.web import nav, session
from workbench.web.sidebar import sidebar
from workbench.web.timing import page_timer

st.set_page_config(page_title="庭审转写工作台", page_icon="⚖️", layout="wide", initial_sidebar_state="expanded")

me = session.signed_in()  # stops the run with a link to /signin when the session has ended


def _allowed(p: nav.Page) -> bool:
    if not Path(p.path).is_file():  # a page not written yet
        return False
    allows = getattr(p, "allows", None)
    if allows is not None:
        return bool(allows(me.account.role.value))
    return not getattr(p, "admin_only", False) or me.access.is_admin


sections = {
    section: [
        st.Page(p.path, title=p.title, icon=p.icon, url_path=p.url_path, default=p is nav.DEFAULT)
        for p in pages
        if p is nav.DEFAULT or _allowed(p)
    ]
    for section, pages in nav.SECTIONS.items()
}
page = st.navigation({section: pages for section, pages in sections.items() if pages})
with page_timer(page.url_path or page.title):
    sidebar(me)
    page.run()
