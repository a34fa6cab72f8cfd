"""Who is signed in, for the pages: `me = session.signed_in()` first, then `me.access` for every read and
`me.actor` for every write; audio through `st.audio(session.audio_url(...))`.

The web shell (`workbench.web.asgi`) already refuses every HTTP request and the websocket without a valid
session, but the websocket stays open while the session may end (sign-out in another tab, the idle timeout,
an admin disabling the account): so each page run resolves the cookie again. A run without a live session
shows a short message with a link to the sign-in page and stops.

The token comes from the browser's `wb_session` cookie (`st.context.cookies`, the websocket's own cookies),
else from `st.session_state["wb_session"]`, where tests running the pages in `AppTest` put a real token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode, urlsplit

import streamlit as st

from workbench.accounts import COOKIE, Access, Account, Sessions
from workbench.store.audit import Actor

if TYPE_CHECKING:
    from workbench.store import Store

SESSION_KEY = COOKIE  # st.session_state key for a token when there is no cookie (AppTest)
SIGNIN_PATH = "/signin"
SIGNOUT_PATH = "/signout"
PASSWORD_PATH = "/password"
AUDIO_PATH = "/audio"
ENDED = "登录已过期或已退出 (your session has expired or was ended)"
MUST_CHANGE = "请先修改密码 (change your password first)"


@dataclass(frozen=True)
class SignedIn:
    account: Account
    access: Access
    actor: Actor
    token: str


def client_address() -> str:
    """The browser's address as the audit rows record it (Streamlit says None for loopback)."""
    try:
        address = st.context.ip_address
    except Exception:  # no script run context (a unit test calling this outside a page)
        address = None
    return address if isinstance(address, str) and address else "127.0.0.1"


def token() -> str | None:
    """The session token of this browser session, or None."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:
        value = None
    if not isinstance(value, str) or not value:  # AppTest's context is a stand-in without cookies
        value = st.session_state.get(SESSION_KEY)
    return value if isinstance(value, str) and value else None


def _store() -> Store:
    # imported late: workbench.web.cache needs Streamlit's runtime to exist
    from workbench.web.cache import runtime

    return runtime().store


def _browser_url() -> str | None:
    try:
        url = st.context.url
    except Exception:
        url = None
    return url if isinstance(url, str) and url else None


def _here() -> str:
    """The page's path (and query) in the browser, for `next=` after signing in again; "/" when unknown."""
    url = _browser_url()
    if not url:
        return "/"
    parts = urlsplit(url)
    path = parts.path or "/"
    query = urlencode(dict(st.query_params), doseq=False) if st.query_params else ""
    return path + ("?" + query if query else "")


def signin_url(next_path: str | None = None) -> str:
    """`/signin?next=<the page>`: where the sign-in page sends the browser back to."""
    return SIGNIN_PATH + "?next=" + quote(next_path or _here(), safe="/")


def resolve(*, touch: bool = True) -> SignedIn | None:
    """The live session of this page run, or None (no cookie, unknown, ended, idle too long, disabled).

    `touch=False` for a run that is not the person's doing (a fragment refreshing itself): it does not
    keep the session alive.
    """
    value = token()
    if not value:
        return None
    store = _store()
    account = Sessions(store).resolve(value, touch=touch)
    if account is None:
        return None
    access = Access(store, account, client_address())
    return SignedIn(account=account, access=access, actor=access.actor, token=value)


def signed_in() -> SignedIn:
    """The signed-in account of this page run; without one a message with a link to sign in, and `st.stop()`."""
    me = resolve()
    if me is None:
        st.warning(ENDED)
        st.markdown(f'<a href="{signin_url()}" target="_self">登录 Sign in</a>', unsafe_allow_html=True)
        st.stop()
    if me.account.must_change:
        # The middleware sends page loads to /password; this covers a session already open when an admin
        # reset the password.
        st.warning(MUST_CHANGE)
        st.markdown(f'<a href="{PASSWORD_PATH}" target="_self">修改密码 Change password</a>', unsafe_allow_html=True)
        st.stop()
    return me


def origin() -> str:
    """`https://host:port` as the browser reached this server (st.audio takes only absolute URLs)."""
    url = _browser_url()
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    try:
        host = st.context.headers.get("Host")
    except Exception:
        host = None
    return f"http://{host if isinstance(host, str) and host else 'localhost'}"


def audio_url(recording_id: int, start: float, duration: float) -> str:
    """The absolute URL of a stretch of a recording, served by `/audio/<id>` to sessions that may hear it."""
    query = urlencode({"start": f"{max(float(start), 0.0):.3f}", "dur": f"{max(float(duration), 0.0):.3f}"})
    return f"{origin()}{AUDIO_PATH}/{int(recording_id)}?{query}"
