"""The workbench's pages as objects: the router builds its navigation from them, and links name them.

A link says `nav.REVIEW`, not a path string, so moving or renaming a page file is a change here only.
The page files are in the checkout's top-level `pages/`, not beside the router: Streamlit treats a
`pages/` folder beside its entry script as its older multipage mode and would run the files alone.

Who sees a page: `roles` (None: every signed-in account). The router lists only the pages an account's
role allows (`pages_for`), and each restricted page checks again when it runs (`widgets.require_page`),
since a page file can be reached without the navigation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAGES_DIR = Path(__file__).resolve().parents[2] / "pages"

ADMIN = "admin"  # workbench.accounts.Role values, as text: this module imports nothing of ours
JUDGE = "judge"
CLERK = "clerk"


@dataclass(frozen=True, slots=True)
class Page:
    file: str
    title: str
    icon: str
    url_path: str
    admin_only: bool = False  # admins only (users, audit, system)
    roles: tuple[str, ...] | None = None  # the roles that may open it; None: every role (admin_only wins)

    @property
    def path(self) -> str:
        """The page file, absolute: what `st.Page` and `st.page_link` take."""
        return str(PAGES_DIR / self.file)

    def allows(self, role: str) -> bool:
        """Whether an account of `role` (a `Role` or its value) may open the page."""
        role = str(role)
        if self.admin_only:
            return role == ADMIN
        return self.roles is None or role in self.roles


HEARINGS = Page("hearings.py", "庭审列表", ":material/gavel:", "hearings")
UPLOAD = Page("upload.py", "上传录音", ":material/upload_file:", "upload", roles=(ADMIN, JUDGE, CLERK))
REVIEW = Page("review.py", "审阅笔录", ":material/rate_review:", "review")
SEARCH = Page("search.py", "检索", ":material/search:", "search")
MEMBERS = Page("members.py", "案件成员", ":material/group:", "members", roles=(ADMIN, JUDGE))
USERS = Page("users.py", "用户管理", ":material/manage_accounts:", "users", admin_only=True)
AUDIT = Page("audit.py", "审计日志", ":material/policy:", "audit", admin_only=True)
SYSTEM = Page("system.py", "系统设置", ":material/settings:", "system", admin_only=True)

SECTIONS: dict[str, tuple[Page, ...]] = {
    "庭审 Hearings": (HEARINGS, UPLOAD, REVIEW, SEARCH),
    "管理 Admin": (MEMBERS, USERS, AUDIT, SYSTEM),
}
DEFAULT = HEARINGS


def pages_for(role: str) -> dict[str, tuple[Page, ...]]:
    """The navigation an account of `role` gets: each section's pages it may open, empty sections left out."""
    out = {}
    for section, pages in SECTIONS.items():
        allowed = tuple(p for p in pages if p.allows(role))
        if allowed:
            out[section] = allowed
    return out
