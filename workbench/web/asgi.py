"""The web server: Streamlit's `st.App` on `workbench/web/app.py`, our own routes, and the guard in front of it all.

`Guard` is a pure ASGI middleware, so it sees HTTP requests and the websocket alike, before any of
Streamlit's routes (pages, `/_stcore/stream`, `/media/...`, uploads, static files):

1. The Host header must name this server (its host name, `server_names`, its LAN IPv4 addresses,
   localhost, 127.0.0.1): a page of another site whose DNS name is re-pointed at this server's address
   (DNS rebinding) gets 400, never the app. An `Origin` header, where a browser sends one, must name
   this server too: no other site's script reads or drives the workbench (CORS off).
2. Every request needs a live session (`wb_session` cookie, `workbench.accounts.Sessions`), except the
   sign-in page, `/signout`, the health checks and the API (`/api/v1/...`, which checks its callers itself:
   token, console key or cookie, `workbench.api.http`, and answers a JSON 401). Without one a page load is sent to
   `/signin?next=<path>` (303), anything else answers 401, and a websocket is closed before it opens.
3. An account that must change its password reaches only `/password` (and sign-out) until it has.

The resolved account and the store are put in `scope["state"]` (`request.state.account`, `.store`)
for our handlers. Pages resolve the session again on each run (`workbench.web.session`), since the
websocket outlives the request that opened it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookies import SimpleCookie
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import anyio
import streamlit as st
from starlette.middleware import Middleware
from starlette.routing import Route

from workbench import settings
from workbench.accounts import COOKIE, Account, Sessions
from workbench.api.core import PREFIX as API_ROOT
from workbench.web import downloads

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from workbench.store import Store

log = logging.getLogger("workbench.web.asgi")

APP = Path(__file__).resolve().parent / "app.py"
PUBLIC_PATHS = frozenset({"/signin", "/signout", "/healthz", "/_stcore/health"})  # health says "ok", nothing more
PASSWORD_PATHS = frozenset({"/password", "/signout"})  # all an account that must change its password may reach
# Paths that are never a page a person opens: no redirect to the sign-in page, a plain 401.
API_PREFIXES = ("/_stcore/", "/media/", "/component/", "/static/", "/app/", "/audio/", "/bidi-components/")
ADDRESS_RECHECK_S = 30.0  # an unknown Host is checked again against the machine's addresses this often (DHCP)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"SAMEORIGIN"),  # Streamlit's own components are same-origin iframes
]


def shell_store() -> Store:
    """The store of the server's runtime (the pages' one), built on first use.

    Called only once Streamlit's runtime exists (`workbench.web.cache` needs it): from request handlers
    and the lifespan.
    """
    from workbench.web import cache

    return cache.store()


class HostNames:
    """The names and addresses this server answers to, for the Host and Origin checks."""

    def __init__(self, extra: list[str] | None = None) -> None:
        self.extra = [h.lower().rstrip(".") for h in (extra or []) if h]
        self._known = self._gather()
        self._checked = time.monotonic()
        self._guard = threading.Lock()

    def _gather(self) -> frozenset[str]:
        from workbench.server import tls

        names = {"localhost", "127.0.0.1", "::1", *self.extra}
        names.update(tls.server_names(str(settings.get("server_names") or "")))
        names.update(tls.lan_addresses())
        return frozenset(n.lower().rstrip(".") for n in names if n)

    @property
    def known(self) -> frozenset[str]:
        return self._known

    def allows(self, hostname: str) -> bool:
        if hostname in self._known:
            return True
        with self._guard:
            if time.monotonic() - self._checked > ADDRESS_RECHECK_S:
                self._known = self._gather()
                self._checked = time.monotonic()
        return hostname in self._known


def host_of(value: str | None) -> str | None:
    """The host name of a Host header (`name:port`, `[::1]:8501`), lower case; None when it is not one."""
    if not value or len(value) > 300:
        return None
    try:
        parts = urlsplit("//" + value)
        _ = parts.port  # a port that is not a number is no Host header
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or parts.path or parts.query or parts.fragment:
        return None
    if not parts.hostname:
        return None
    return parts.hostname.lower().rstrip(".")


def origin_host(value: str) -> str | None:
    """The host name of an Origin header (`https://name:port`); None for `null` or anything else."""
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    return parts.hostname.lower().rstrip(".")


def _headers(scope: Scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope.get("headers") or []:
        name = k.decode("latin-1").lower()
        if name == "cookie" and name in out:
            out[name] += "; " + v.decode("latin-1")
        else:
            out.setdefault(name, v.decode("latin-1"))
    return out


def cookie_value(header: str, name: str) -> str | None:
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except Exception:  # a malformed Cookie header: no session
        return None
    morsel = jar.get(name)
    return morsel.value if morsel else None


def is_page_load(scope: Scope) -> bool:
    """A person opening a page (to send to the sign-in page), not a script's or a media element's request."""
    if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD"):
        return False
    path: str = scope.get("path") or "/"
    if path.startswith(API_PREFIXES):
        return False
    last = path.rsplit("/", 1)[-1]
    return "." not in last  # /review, /hearings, /; not /favicon.ico or /robots.txt


def local_path(scope: Scope) -> str:
    """The request's own path and query, for `next=` (always local)."""
    path = scope.get("path") or "/"
    query = (scope.get("query_string") or b"").decode("latin-1")
    return path + ("?" + query if query else "")


class Guard:
    """Host check, Origin check and sign-in check for every HTTP request and websocket (see the module doc)."""

    def __init__(self, app: ASGIApp, hosts: HostNames) -> None:
        self.app = app
        self.hosts = hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        headers = _headers(scope)
        host = host_of(headers.get("host"))
        if host is None or not self.hosts.allows(host):
            log.warning("refused a request for another host name (%r)", (headers.get("host") or "")[:80])
            await self._refuse(scope, receive, send, 400, "这个地址不是本服务器 (wrong Host header)")
            return
        origin = headers.get("origin")
        if origin is not None:
            o_host = origin_host(origin)
            if o_host is None or not self.hosts.allows(o_host):
                await self._refuse(scope, receive, send, 403, "不接受其他网站的请求 (cross-origin request refused)")
                return

        path: str = scope.get("path") or "/"
        state = scope.setdefault("state", {})
        if path in PUBLIC_PATHS:
            await self.app(scope, receive, _with_headers(send))
            return
        if path == API_ROOT or path.startswith(API_ROOT + "/"):
            # The API checks its callers itself (token, console key, or cookie + header) and answers JSON 401.
            if scope["type"] == "websocket":
                await self._refuse(scope, receive, send, 404, "")
                return
            await self.app(scope, receive, _with_headers(send))
            return

        token = cookie_value(headers.get("cookie", ""), COOKIE)
        store = await anyio.to_thread.run_sync(shell_store)
        account: Account | None = None
        if token:
            account = await anyio.to_thread.run_sync(Sessions(store).resolve, token)
        if account is None:
            if is_page_load(scope):
                await _redirect(send, "/signin?next=" + quote(local_path(scope), safe="/"))
            else:
                await self._refuse(scope, receive, send, 401, "请先登录 (sign in first)")
            return
        if account.must_change and path not in PASSWORD_PATHS:
            if is_page_load(scope):
                await _redirect(send, "/password?next=" + quote(local_path(scope), safe="/"))
            else:
                await self._refuse(scope, receive, send, 403, "请先修改密码 (change your password first)")
            return
        if path.startswith("/media/") and not downloads.may_fetch(path, token):
            await self._refuse(scope, receive, send, 404, "文件不存在或无权查看 (not found or not yours)")
            return
        state["account"] = account
        state["store"] = store
        state["session_token"] = token
        await self.app(scope, receive, _with_headers(send) if scope["type"] == "http" else send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, text: str) -> None:
        if scope["type"] == "websocket":
            # Closed before it is accepted: the server answers the upgrade with 403 and no stream opens.
            message = await receive()
            if message.get("type") == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})
            return
        body = text.encode("utf-8")
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                    (b"cache-control", b"no-store"),
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _with_headers(send: Send) -> Send:
    async def sending(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            present = {k.lower() for k, _ in message.get("headers", [])}
            message = {
                **message,
                "headers": [*message.get("headers", []), *(h for h in SECURITY_HEADERS if h[0] not in present)],
            }
        await send(message)

    return sending


async def _redirect(send: Send, location: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 303,
            "headers": [
                (b"location", location.encode("latin-1", "replace")),
                (b"content-length", b"0"),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": b""})


def _start_runtime() -> None:
    """Builds the pages' runtime (queue, worker, warm-up) as the server starts, not on the first page view.

    An interrupted job resumes at once, and the first clerk after a restart does not wait on the warm-up.
    Runs in a thread from the lifespan, after Streamlit's runtime has started (`workbench.web.cache`
    needs it).
    """
    try:
        shell_store()
    except Exception:
        log.exception("the workbench runtime did not start")


@asynccontextmanager
async def _lifespan(_app: Any) -> AsyncIterator[None]:
    threading.Thread(target=_start_runtime, name="workbench-start", daemon=True).start()
    yield


def routes() -> list[Route]:
    from workbench.web import audio, signin

    async def healthz(_request: Any) -> Any:
        from starlette.responses import PlainTextResponse

        return PlainTextResponse("ok", headers={"cache-control": "no-store"})

    from workbench.api import http as api_http

    return [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        *signin.routes(),
        *audio.routes(),
        *api_http.routes(),
    ]


def create_app(extra_hosts: list[str] | None = None) -> st.App:
    """The workbench as an ASGI app: `workbench/web/app.py` behind `Guard`, with the sign-in and audio routes.

    `extra_hosts`: names or addresses the server also answers to (the address it listens on).
    """
    hosts = HostNames(extra_hosts)
    return st.App(
        str(APP),
        routes=routes(),
        middleware=[Middleware(Guard, hosts=hosts)],
        lifespan=_lifespan,
    )
