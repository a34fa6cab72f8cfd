"""Streamlit pieces that draw the workbench's own types and rules: a hearing's status as a badge, a page's
role check, messages that show stored text as text, and downloads made (and audited) on the click."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from workbench.accounts import Access, Sessions
from workbench.display import md_escape
from workbench.store.status import HearingStatus
from workbench.web import downloads, session
from workbench.web.nav import Page
from workbench.web.session import SignedIn

STATUS_COLORS = {
    HearingStatus.QUEUED: "gray",
    HearingStatus.PROCESSING: "blue",
    HearingStatus.TRANSCRIBED: "violet",
    HearingStatus.IN_REVIEW: "orange",
    HearingStatus.CHECKED: "blue",
    HearingStatus.APPROVED: "green",
    HearingStatus.LOCKED: "primary",
    HearingStatus.FAILED: "red",
}
PAGE_REFUSED = "无权访问此页面 (this page is not for your role)"


def status_badge(status: str | HearingStatus) -> None:
    """The hearing's status as a coloured badge with its Chinese label."""
    known = HearingStatus(status)
    st.badge(known.label, color=STATUS_COLORS[known])  # type: ignore[arg-type]


def require_page(me: SignedIn, page: Page) -> None:
    """Stops the run, with a message, when `me`'s role may not open `page` (the navigation hides such pages,
    but a page file can be run without it)."""
    if not page.allows(me.account.role):
        st.title(page.title)
        st.error(PAGE_REFUSED)
        st.stop()


def error(message: object) -> None:
    """`st.error` of a message that may carry stored or typed text (an exception naming a case number)."""
    st.error(md_escape(message))


def toast_error(message: object) -> None:
    st.toast(md_escape(message), icon=":material/error:")


def acting(allowed: Callable[[SignedIn], bool]) -> SignedIn | None:
    """For a widget callback: the session as it is now (a callback runs before the page checks it again),
    if it is still live and `allowed`; a toast and None otherwise."""
    now = session.resolve()
    if now is None or now.account.must_change:
        toast_error(session.ENDED)
        return None
    if not allowed(now):
        toast_error("无权这样做 (not allowed)")
        return None
    return now


def fragment_session() -> SignedIn | None:
    """For a fragment that reruns alone (a refreshing queue): the session as it is now, or None after saying
    it ended (a fragment's rerun skips the page's own `signed_in()`)."""
    now = session.resolve(touch=False)  # a refresh is not activity: an unattended screen still times out
    if now is None or now.account.must_change:
        st.warning(session.ENDED)
        return None
    return now


def export_button(
    me: SignedIn,
    label: str,
    render: Callable[[Access], bytes],
    *,
    file_name: str,
    hearing_ids: Sequence[int],
    key: str,
    target: Any = st,
    **button: Any,
) -> None:
    """A download button whose file is made on click by `render(access)`, which issues and audits it
    (`workbench.issuing`: one EXPORTED row per hearing, with its manifest and the sha256 of the bytes).

    The file is made later, by the server's media handler (no page run), so the session is checked again
    there, and `render` gets the account's access as it is at the click: a hearing no longer theirs fails.
    """
    store = me.access.store
    ids = [int(i) for i in hearing_ids]

    def data() -> bytes:
        account = Sessions(store).resolve(me.token)  # the session and the account as they are at the click
        if account is None or account.id != me.account.id or account.must_change:
            raise PermissionError(session.ENDED)
        now = Access(store, account, me.access.client)
        for hearing_id in ids:
            now.require_export(now.hearing(hearing_id).case_id)  # NotYours if it is no longer theirs
        body = render(now)
        downloads.allow(body, button.get("mime"), file_name, me.token)  # its /media/ URL: this session's only
        return body

    target.download_button(label, data=data, file_name=file_name, key=key, **button)
