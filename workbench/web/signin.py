"""Signing in and out, and changing one's own password: plain HTML forms (no JavaScript needed).

`/signin`   GET the form; POST name + password -> `workbench.accounts.sign_in` -> a session cookie
            (`wb_session`: HttpOnly, SameSite=Strict, Path=/, Secure over HTTPS) and 303 to `next`
            (a local path only: never another site) or to `/password` when the password must change.
            A refusal shows the form again with the reason (the lockout's end included), status 401.
`/signout`  ends the session (audited) and clears the cookie.
`/password` GET/POST: current password, new one twice (required before anything else when an admin set it).

Every form carries a CSRF token, double-submitted: the same random value in the `wb_csrf` cookie and in a
hidden field, compared in constant time. A page of another site can make a browser post a form here but can
neither read nor set our cookie, so it cannot send the matching value (this also stops "login CSRF": signing
a clerk into an attacker's account). Every value put into a page is HTML-escaped.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
from urllib.parse import parse_qsl, quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from workbench.accounts import COOKIE, Account, AccountError, Accounts, Sessions, SignInRefused, sign_in
from workbench.accounts.users import LOCAL

log = logging.getLogger("workbench.web.signin")

CSRF_COOKIE = "wb_csrf"
CSRF_FIELD = "csrf"
NAME_MAX = 64
PASSWORD_MAX = 256
FORM_MAX_BYTES = 8 * 1024
NEXT_MAX = 2000
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")

STYLE = """
:root { --primary: #8b1a1a; --text: #1f2328; --muted: #59636e; --line: #d0d7de; --bg: #f4f4f2; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font-family: system-ui, -apple-system, "Segoe UI", "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif; }
main { max-width: 24rem; margin: 12vh auto 2rem; background: #fff; border: 1px solid var(--line);
  border-top: 4px solid var(--primary); border-radius: 6px; padding: 2rem 2rem 1.5rem; }
h1 { font-size: 1.35rem; margin: 0 0 .25rem; }
.sub { color: var(--muted); margin: 0 0 1.5rem; font-size: .9rem; }
label { display: block; font-size: .9rem; margin: 1rem 0 .3rem; }
input[type=text], input[type=password] { width: 100%; padding: .55rem .6rem; font-size: 1rem;
  border: 1px solid var(--line); border-radius: 4px; }
input:focus { outline: 2px solid var(--primary); outline-offset: 0; border-color: var(--primary); }
button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; color: #fff; background: var(--primary);
  border: 0; border-radius: 4px; cursor: pointer; }
button:hover { background: #6f1414; }
.error { color: var(--primary); background: #fbeaea; border: 1px solid #e6b8b8; border-radius: 4px;
  padding: .6rem .7rem; margin: 0 0 1rem; }
.note { color: var(--muted); font-size: .85rem; margin-top: 1.25rem; }
code { font-size: .85em; }
a { color: var(--primary); }
"""


def esc(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · 庭审转写工作台</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def safe_next(value: str | None) -> str:
    """`next` when it is a path on this server; "/" for anything else (another site, a scheme, `//host`)."""
    if not value or len(value) > NEXT_MAX or not value.startswith("/") or value.startswith("//"):
        return "/"
    # Browsers read a backslash as a slash (`/\evil.example` is `//evil.example`); control characters
    # could split the Location header.
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    if parts.path in ("/signin", "/signout"):
        return "/"
    return value


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _csrf_token(request: Request) -> str:
    """The browser's CSRF token if it has a well-formed one, else a new one."""
    current = request.cookies.get(CSRF_COOKIE) or ""
    return current if _TOKEN.fullmatch(current) else secrets.token_urlsafe(32)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(name, value, path="/", httponly=True, samesite="strict", secure=_secure(request))


def _html(request: Request, body: str, *, title: str, status: int = 200, csrf: str | None = None) -> HTMLResponse:
    response = HTMLResponse(page(title, body), status_code=status, headers={"cache-control": "no-store"})
    if csrf is not None:
        _set_cookie(response, request, CSRF_COOKIE, csrf)
    return response


def _csrf_ok(request: Request, form: dict[str, str]) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    field = form.get(CSRF_FIELD, "")
    return bool(cookie) and bool(field) and secrets.compare_digest(cookie.encode(), field.encode())


class FormError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_form(request: Request, limit: int = FORM_MAX_BYTES) -> dict[str, str]:
    """The urlencoded form, at most `limit` bytes (read no further); FormError saying what is wrong."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise FormError("表单格式不对 (expected an HTML form)", 415)
    declared = request.headers.get("content-length")
    too_big = FormError(f"表单太大 (the form is larger than {limit // 1024} KB)", 413)
    if declared and (not declared.isdigit() or int(declared) > limit):
        raise too_big
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise FormError("表单内容无法读取 (the form could not be read)") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


# -- sign in --


def _no_admin_note(store: object) -> str:
    try:
        if Accounts(store).has_admin():  # type: ignore[arg-type]
            return ""
    except Exception:  # the note is a courtesy; the form works without it
        return ""
    return (
        '<p class="note">还没有管理员 (no admin yet): 停止服务后在服务器上运行 (stop the server, then run on it) '
        "<code>workbench users add NAME --role admin</code>，再启动服务 (and start it again)</p>"
    )


def signin_form(next_path: str, csrf: str, *, message: str = "", name: str = "", note: str = "") -> str:
    error = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    return (
        "<h1>登录 Sign in</h1><p class='sub'>庭审转写工作台 · hearing workbench</p>"
        f"{error}"
        '<form method="post" action="/signin" autocomplete="on">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="name">用户名 (name)</label>'
        f'<input type="text" id="name" name="name" value="{esc(name)}" maxlength="{NAME_MAX}" '
        'autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus>'
        '<label for="password">密码 (password)</label>'
        f'<input type="password" id="password" name="password" maxlength="{PASSWORD_MAX}" '
        'autocomplete="current-password" required>'
        '<button type="submit">登录 Sign in</button>'
        "</form>"
        f"{note}"
    )


async def signin_get(request: Request) -> Response:
    from workbench.web.cache import store as shell_store  # only once Streamlit's runtime exists

    next_path = safe_next(request.query_params.get("next"))
    store = await run_in_threadpool(shell_store)
    token = request.cookies.get(COOKIE)
    if token and await run_in_threadpool(Sessions(store).resolve, token) is not None:
        return RedirectResponse(next_path, status_code=303)  # already signed in
    csrf = _csrf_token(request)
    note = await run_in_threadpool(_no_admin_note, store)
    return _html(request, signin_form(next_path, csrf, note=note), title="登录 Sign in", csrf=csrf)


async def signin_post(request: Request) -> Response:
    from workbench.web.cache import store as shell_store  # only once Streamlit's runtime exists

    csrf = _csrf_token(request)
    try:
        form = await read_form(request)
    except FormError as e:
        return _html(request, signin_form("/", csrf, message=str(e)), title="登录 Sign in", status=e.status, csrf=csrf)
    next_path = safe_next(form.get("next"))
    name = form.get("name", "")
    password = form.get("password", "")

    def again(message: str, status: int) -> Response:
        shown = name if len(name) <= NAME_MAX else ""
        body = signin_form(next_path, csrf, message=message, name=shown)
        return _html(request, body, title="登录 Sign in", status=status, csrf=csrf)

    if not _csrf_ok(request, form):
        return again("表单已过期，请重新提交 (the form has expired: please sign in again)", 403)
    if not name.strip() or not password:
        return again("请输入用户名和密码 (enter your name and password)", 400)
    if len(name) > NAME_MAX:
        return again(f"用户名最多 {NAME_MAX} 个字符 (a name has at most {NAME_MAX} characters)", 400)
    if len(password) > PASSWORD_MAX:
        return again(f"密码最多 {PASSWORD_MAX} 个字符 (a password has at most {PASSWORD_MAX} characters)", 400)

    store = await run_in_threadpool(shell_store)
    client = client_of(request)
    try:
        account = await run_in_threadpool(sign_in, store, name, password, client)
    except SignInRefused as e:
        return again(str(e), 401)
    token = await run_in_threadpool(Sessions(store).start, account, client)
    target = ("/password?next=" + quote(next_path, safe="/")) if account.must_change else next_path
    response = RedirectResponse(target, status_code=303, headers={"cache-control": "no-store"})
    _set_cookie(response, request, COOKIE, token)
    # A fresh CSRF token for the signed-in forms (the one before sign-in was handed to an anonymous page).
    _set_cookie(response, request, CSRF_COOKIE, secrets.token_urlsafe(32))
    return response


# -- sign out --


async def signout(request: Request) -> Response:
    """Ends the session and clears the cookie.

    GET is accepted (a plain link in the sidebar, no JavaScript): the session cookie is SameSite=Strict, so
    a link or an image on another site reaches here without it and can end nobody's session.
    """
    from workbench.web.cache import store as shell_store  # only once Streamlit's runtime exists

    token = request.cookies.get(COOKIE)
    if token:
        store = await run_in_threadpool(shell_store)
        sessions = Sessions(store)
        account = await run_in_threadpool(sessions.resolve, token)
        if account is not None:
            await run_in_threadpool(sessions.end, token, account.actor(client_of(request)))
    response = RedirectResponse("/signin", status_code=303, headers={"cache-control": "no-store"})
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request))
    return response


# -- change own password --


def password_form(next_path: str, csrf: str, account: Account, *, message: str = "") -> str:
    error = f'<p class="error" role="alert">{esc(message)}</p>' if message else ""
    intro = (
        "<p class='sub'>首次登录或管理员重设后，请设置自己的密码 (set your own password before you continue)</p>"
        if account.must_change
        else "<p class='sub'>修改自己的密码 (change your own password)</p>"
    )
    return (
        f"<h1>修改密码 Change password</h1><p>{esc(account.shown)} · {esc(account.role.label)}</p>{intro}{error}"
        '<form method="post" action="/password">'
        f'<input type="hidden" name="{CSRF_FIELD}" value="{esc(csrf)}">'
        f'<input type="hidden" name="next" value="{esc(next_path)}">'
        '<label for="old">当前密码 (current password)</label>'
        f'<input type="password" id="old" name="old" maxlength="{PASSWORD_MAX}" autocomplete="current-password" '
        "required autofocus>"
        '<label for="new">新密码 (new password)</label>'
        f'<input type="password" id="new" name="new" maxlength="{PASSWORD_MAX}" autocomplete="new-password" required>'
        '<label for="again">再次输入新密码 (new password again)</label>'
        f'<input type="password" id="again" name="again" maxlength="{PASSWORD_MAX}" autocomplete="new-password" '
        "required>"
        '<button type="submit">保存 Save</button>'
        "</form>"
        '<p class="note"><a href="/signout">退出登录 Sign out</a></p>'
    )


def _account_of(request: Request) -> Account | None:
    return getattr(request.state, "account", None)


async def password_get(request: Request) -> Response:
    account = _account_of(request)
    if account is None:  # the guard lets no one here without a session; kept for handlers mounted elsewhere
        return RedirectResponse("/signin?next=/password", status_code=303)
    csrf = _csrf_token(request)
    next_path = safe_next(request.query_params.get("next"))
    if account.source != LOCAL:
        message = "目录账户的密码在目录服务器上修改 (a directory account's password is changed in the directory)"
        body = f"<h1>修改密码 Change password</h1><p class='error'>{esc(message)}</p><a href='/'>返回 Back</a>"
        return _html(request, body, title="修改密码 Change password")
    return _html(request, password_form(next_path, csrf, account), title="修改密码 Change password", csrf=csrf)


async def password_post(request: Request) -> Response:
    account = _account_of(request)
    if account is None:
        return RedirectResponse("/signin?next=/password", status_code=303)
    csrf = _csrf_token(request)
    try:
        form = await read_form(request)
    except FormError as e:
        body = password_form("/", csrf, account, message=str(e))
        return _html(request, body, title="修改密码 Change password", status=e.status, csrf=csrf)
    next_path = safe_next(form.get("next"))

    def again(message: str, status: int) -> Response:
        body = password_form(next_path, csrf, account, message=message)
        return _html(request, body, title="修改密码 Change password", status=status, csrf=csrf)

    if not _csrf_ok(request, form):
        return again("表单已过期，请重新提交 (the form has expired: please try again)", 403)
    old, new, repeat = form.get("old", ""), form.get("new", ""), form.get("again", "")
    if max(len(old), len(new), len(repeat)) > PASSWORD_MAX:
        return again(f"密码最多 {PASSWORD_MAX} 个字符 (a password has at most {PASSWORD_MAX} characters)", 400)
    if new != repeat:
        return again("两次输入的新密码不一致 (the two new passwords differ)", 400)
    store = request.state.store
    client = client_of(request)
    try:
        changed = await run_in_threadpool(Accounts(store).change_own_password, account, old, new, client)
    except AccountError as e:
        return again(str(e), 400)
    # A new password ends every session of the account, this one too (one opened with a stolen or
    # one-time password must not outlive it), and this browser goes on in a new one.
    sessions = Sessions(store)
    await run_in_threadpool(sessions.end_all, changed, changed.actor(client))
    token = await run_in_threadpool(sessions.start, changed, client)
    response = RedirectResponse(next_path, status_code=303, headers={"cache-control": "no-store"})
    _set_cookie(response, request, COOKIE, token)
    return response


def routes() -> list[Route]:
    return [
        Route("/signin", signin_get, methods=["GET", "HEAD"]),
        Route("/signin", signin_post, methods=["POST"]),
        Route("/signout", signout, methods=["GET", "POST"]),
        Route("/password", password_get, methods=["GET", "HEAD"]),
        Route("/password", password_post, methods=["POST"]),
    ]
