"""The workbench's pages as objects: the router builds its navigation from them, and links name them.

A link says `nav.REVIEW`, not a path string, so moving or renaming a page file is a change here only.
The page files are in the checkout's top-level `pages/`, not beside the router: Streamlit treats a
`pages/` folder beside its entry script as its older multipage mode and would run the files alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"


@dataclass(frozen=True, slots=True)
class Page:
    file: str
    title: str
    icon: str
    url_path: str

    @property
    def path(self) -> str:
        """The page file, absolute: what `st.Page` and `st.page_link` take."""
        return str(PAGES_DIR / self.file)


HEARINGS = Page("hearings.py", "庭审列表", ":material/gavel:", "hearings")
UPLOAD = Page("upload.py", "上传录音", ":material/upload_file:", "upload")
REVIEW = Page("review.py", "审阅笔录", ":material/rate_review:", "review")
SEARCH = Page("search.py", "检索", ":material/search:", "search")
SYSTEM = Page("system.py", "系统设置", ":material/settings:", "system")

SECTIONS: dict[str, tuple[Page, ...]] = {
    "庭审 Hearings": (HEARINGS, UPLOAD, REVIEW, SEARCH),
    "管理 Admin": (SYSTEM,),
}
DEFAULT = HEARINGS
