"""The API's HTTP door: every `core.ENDPOINTS` entry served at `/api/v1/...` by the workbench server.

One catch-all route finds the endpoint (`core.find`) for each request, so a resource module registered
later is served without a new route. Per request:

1. Who asks (`authenticate`), one of:
   - `Authorization: Bearer wbt_...`, an API token (`workbench.accounts.tokens.ApiTokens`); actor client
     `api:<token name>@<addr>`;
   - `Authorization: Bearer <console key>`, the key the server wrote in `<data_dir>/server.json` (the CLI
     beside the server; whoever reads the data folder already has full access). `X-Workbench-As: NAME`
     picks the account like the CLI's `--as` (`accounts.access.choose_access`); `X-Workbench-Login` names
     the operator's login for the actor client `cli:<login>@<host>`;
   - the browser's session cookie (`wb_session`); a call that is not a GET (or HEAD) also needs the
     header `X-Workbench-Client: browser`, which no form of another site can set (CSRF). Actor client
     `browser@<addr>`.
   Anything else: 401 `{"error", "detail"}` with `WWW-Authenticate: Bearer`.
2. The body: JSON (at most 1 MiB; 415 for another media type, 422 for bad JSON), or for an endpoint that
   takes files multipart/form-data: each `file` part streamed to `<audio dir>/.upload-*` (413 past the
   setting `upload_max_mb`; never held in memory), the `meta` part read as the JSON body. The spooled
   files are removed after the handler (one that took a file has moved it already).
3. The handler runs in a worker thread; store errors become their `ApiError` (`core.api_error`), anything
   else a logged 500. A `Reply.stream` is sent as a download (RFC 5987 file name).

One INFO line per call: account, method, path, status, milliseconds (never a token).

Raw endpoints (`Endpoint(raw=True)`: uploads stream their own bodies) are served by their module's
`routes()`; `authenticate` and `error_response` are public for them.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from workbench import settings
from workbench.api import core
from workbench.api.core import ApiError

if TYPE_CHECKING:
    from workbench.accounts import Access, Account
    from workbench.store import Store

log = logging.getLogger("workbench.api.http")

JSON_MAX_BYTES = 1024 * 1024  # a JSON body (or a multipart `meta` part) larger than this is no API call
MULTIPART_MAX_FILES = 100
MULTIPART_MAX_HEADER_BYTES = 16 * 1024
DISK_CHECK_EVERY = 64 << 20  # a multipart body's files: free space looked at every 64 MiB written
DISK_RESERVE = 1 << 30  # and refused (507) once less than 1 GiB is left: the database must still write
BROWSER_HEADER = "x-workbench-client"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
_FILENAME_STAR = re.compile(r"filename\*\s*=\s*([\w-]*)'[^']*'([^;\s]+)", re.IGNORECASE)
_LOGIN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

UNAUTHORIZED = "需要登录或 API 令牌 (sign in or send an API token: Authorization: Bearer ...)"
BAD_TOKEN = "令牌无效、已撤销或账户已停用 (invalid or revoked token, or the account is disabled)"


# --- the console key ---------------------------------------------------------------------------------

_console_key: str | None = None


def set_console_key(key: str | None) -> None:
    """The key `workbench serve` wrote in server.json (None: no console access over HTTP)."""
    global _console_key
    _console_key = key


def console_key() -> str | None:
    return _console_key


# --- the server's runtime ----------------------------------------------------------------------------


def _store() -> Store:
    from workbench.web import cache

    return cache.store()


def _runtime() -> Any:
    from workbench.web import cache

    return cache.runtime()


def _wake() -> None:
    """Tells the server's worker there is new work (called by a handler, in its worker thread)."""
    from workbench.web import cache

    cache.runtime().wake()


# --- errors --------------------------------------------------------------------------------------------


def error_response(e: ApiError) -> JSONResponse:
    headers = {"cache-control": "no-store"}
    if e.status == 401:
        headers["www-authenticate"] = 'Bearer realm="workbench"'
    return JSONResponse(e.body(), status_code=e.status, headers=headers)


# --- who asks ------------------------------------------------------------------------------------------


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> str | None:
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, secret = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(401, "bad_token", BAD_TOKEN)
    return secret.strip()


def _token_account(store: Store, secret: str) -> tuple[Account, str] | None:
    """(account, token name) for an API token; None when unknown, revoked, or the account is disabled."""
    from workbench.accounts.tokens import ApiTokens

    found = ApiTokens(store).resolve_token(secret)
    if found is None:
        return None
    token, account = found
    return account, token.name


def _console_access(store: Store, request: Request) -> Access:
    from workbench.accounts.access import NoAccount, choose_access, cli_client

    login = request.headers.get("x-workbench-login") or None
    if login is not None and not _LOGIN.match(login):
        raise ApiError(422, "bad_header", "X-Workbench-Login: 应为登录名 (a login name: letters, digits, . _ -)")
    as_name = request.headers.get("x-workbench-as") or None
    try:
        return choose_access(store, as_name, client=cli_client(login), login=login)
    except NoAccount as e:
        raise ApiError(401, "no_account", str(e)) from None


def _resolve(store: Store, request: Request) -> Access:
    """Runs in a worker thread (the store's reads): the caller of `request`, or ApiError 401/403."""
    from workbench.accounts import COOKIE, Access, Sessions

    secret = _bearer(request)
    addr = client_address(request)
    if secret is not None:
        key = _console_key
        if key is not None and hmac.compare_digest(secret.encode(), key.encode()):
            # The console key is for the CLI on this machine (it reads server.json): never from the network.
            if not _is_loopback(addr):
                raise ApiError(401, "bad_token", BAD_TOKEN)
            return _console_access(store, request)
        found = _token_account(store, secret) if len(secret) <= 200 else None
        if found is None:
            raise ApiError(401, "bad_token", BAD_TOKEN)
        account, name = found
        if account.must_change:  # an admin reset the password: the account's owner must sign in first
            raise ApiError(403, "must_change_password", "请先修改密码 (change your password first)")
        return Access(store, account, f"api:{name}@{addr}")
    cookie = request.cookies.get(COOKIE)
    if cookie:
        account = Sessions(store).resolve(cookie)
        if account is None:
            raise ApiError(401, "signed_out", "登录已过期，请重新登录 (session expired, sign in again)")
        if request.method not in ("GET", "HEAD") and request.headers.get(BROWSER_HEADER) != "browser":
            raise ApiError(
                403, "csrf", f"浏览器调用需要请求头 {BROWSER_HEADER}: browser (header required with a session cookie)"
            )
        if account.must_change:
            raise ApiError(403, "must_change_password", "请先修改密码 (change your password first)")
        return Access(store, account, f"browser@{addr}")
    raise ApiError(401, "unauthorized", UNAUTHORIZED)


async def authenticate(request: Request) -> Access:
    """Who sends `request` (token, console key or session cookie); ApiError 401/403 otherwise."""
    return await anyio.to_thread.run_sync(lambda: _resolve(_store(), request))  # one hop: each costs under load


# --- bodies --------------------------------------------------------------------------------------------


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _has_body(request: Request) -> bool:
    length = request.headers.get("content-length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "transfer-encoding" in request.headers


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _too_large_json() -> ApiError:
    return ApiError(413, "too_large", f"请求体超过 {JSON_MAX_BYTES // 1024} KiB (JSON body too large)")


def parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(422, "bad_json", "请求体不是 UTF-8 (the body is not UTF-8)") from None
    except json.JSONDecodeError as e:
        raise ApiError(422, "bad_json", f"请求体不是有效的 JSON (bad JSON: {e.msg} at {e.pos})") from None
    except RecursionError:
        raise ApiError(422, "bad_json", "请求体嵌套太深 (the JSON is nested too deeply)") from None


async def read_json(request: Request) -> Any:
    """The request's JSON body (None when empty), read at most JSON_MAX_BYTES; 413/422 otherwise."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > JSON_MAX_BYTES:
        raise _too_large_json()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > JSON_MAX_BYTES:
            raise _too_large_json()
        chunks.append(chunk)
    raw = b"".join(chunks)
    return parse_json(raw) if raw.strip() else None


def upload_max_bytes() -> int:
    return int(settings.get("upload_max_mb")) * 1024 * 1024


def _part_name(disposition: str) -> tuple[str | None, str | None]:
    """(field name, file name) of a part's Content-Disposition; filename* (RFC 5987) wins over filename."""
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(disposition)
    name = options.get(b"name")
    filename: str | None = None
    star = _FILENAME_STAR.search(disposition)  # python-multipart drops filename*: read it here
    if star:
        from urllib.parse import unquote

        with contextlib.suppress(LookupError, UnicodeDecodeError):
            filename = unquote(star.group(2), encoding=star.group(1) or "utf-8", errors="strict")
    if filename is None and b"filename" in options:
        raw = options[b"filename"]
        try:
            filename = raw.decode("utf-8")
        except UnicodeDecodeError:
            filename = raw.decode("latin-1")
    return (name.decode("utf-8", "replace") if name is not None else None), filename


def _safe_file_name(name: str) -> str:
    # The name as sent, without any folder part (a browser on Windows may send C:\...\x.mp3).
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = "".join(ch for ch in base if ch >= " " and ch != "\x7f")
    return base[:255] or "upload"


class _MultipartReader:
    """multipart/form-data from `request.stream()` through python-multipart's streaming parser: file parts
    go straight to temp files in `folder` (counted against `max_bytes`), the `meta` part to memory (1 MiB)."""

    def __init__(self, boundary: bytes, folder: Path, max_bytes: int) -> None:
        from python_multipart.multipart import MultipartParser

        self.folder = folder
        self.max_bytes = max_bytes
        self.files: list[tuple[str, Path]] = []
        self.meta: bytes | None = None
        self.error: ApiError | None = None
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, str] = {}
        self._header_bytes = 0
        self._field: str | None = None
        self._file: Any = None
        self._file_path: Path | None = None
        self._size = 0  # bytes of every file part so far
        self._disk_checked_at = -DISK_CHECK_EVERY
        self._meta_buf: bytearray | None = None
        callbacks = {
            "on_part_begin": self._part_begin,
            "on_header_field": self._on_header_field,
            "on_header_value": self._on_header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }
        self.parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]

    def _fail(self, e: ApiError) -> None:
        if self.error is None:
            self.error = e
        raise e

    def _part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0
        self._field = None

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]
        self._count_header(end - start)

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._count_header(end - start)

    def _count_header(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MULTIPART_MAX_HEADER_BYTES:
            self._fail(ApiError(422, "bad_multipart", "分段的头部太长 (multipart part headers too long)"))

    def _header_end(self) -> None:
        self._headers[self._header_field.decode("latin-1").lower()] = self._header_value.decode("latin-1")
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        name, filename = _part_name(self._headers.get("content-disposition", ""))
        if name == "file":
            if len(self.files) >= MULTIPART_MAX_FILES:
                self._fail(ApiError(422, "bad_multipart", f"最多 {MULTIPART_MAX_FILES} 个文件 (too many files)"))
            fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=self.folder)
            self._file = os.fdopen(fd, "wb")
            self._file_path = Path(tmp)
            self.files.append((_safe_file_name(filename or "upload"), self._file_path))
        elif name == "meta":
            if self.meta is not None:
                self._fail(ApiError(422, "bad_multipart", "meta: 只能有一个 (only one meta part)"))
            self._meta_buf = bytearray()
        else:
            self._fail(
                ApiError(422, "bad_multipart", f"{(name or '')[:40]!r}: 不认识的分段 (expected parts: meta, file)")
            )
        self._field = name

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if self._field == "file":
            # The cap is on all files of the body together: one request may not spool more than one upload may.
            self._size += n
            if self._size > self.max_bytes:
                limit = self.max_bytes // (1024 * 1024)
                self._fail(ApiError(413, "too_large", f"文件合计超过 {limit} MB (files larger than upload_max_mb)"))
            if self._size >= self._disk_checked_at + DISK_CHECK_EVERY:
                self._disk_checked_at = self._size
                if shutil.disk_usage(self.folder).free < DISK_RESERVE:
                    self._fail(ApiError(507, "no_space", "服务器磁盘空间不足 (not enough disk space on the server)"))
            self._file.write(data[start:end])
        elif self._meta_buf is not None:
            if len(self._meta_buf) + n > JSON_MAX_BYTES:
                self._fail(_too_large_json())
            self._meta_buf += data[start:end]

    def _part_end(self) -> None:
        if self._field == "file" and self._file is not None:
            self._file.close()
            self._file = None
        elif self._field == "meta" and self._meta_buf is not None:
            self.meta = bytes(self._meta_buf)
            self._meta_buf = None
        self._field = None

    def write(self, chunk: bytes) -> None:
        self.parser.write(chunk)

    def finish(self) -> None:
        self.parser.finalize()
        if self._field is not None:
            raise ApiError(422, "bad_multipart", "multipart 请求体不完整 (the multipart body ends mid-part)")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self) -> None:
        self.close()
        remove_files(self.files)


def remove_files(files: list[tuple[str, Path]]) -> None:
    for _, path in files:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


async def read_multipart(request: Request, folder: Path) -> tuple[Any, list[tuple[str, Path]]]:
    """(meta JSON, [(file name, temp file)]) of a multipart/form-data body, files streamed into `folder`."""
    from python_multipart.multipart import parse_options_header

    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise ApiError(422, "bad_multipart", "multipart 缺少 boundary (no boundary in Content-Type)")
    folder.mkdir(parents=True, exist_ok=True)
    reader = _MultipartReader(boundary, folder, upload_max_bytes())
    try:
        async for chunk in request.stream():
            try:
                reader.write(chunk)
            except ApiError:
                raise
            except Exception as e:  # python-multipart's MultipartParseError and the like
                if reader.error is not None:
                    raise reader.error from None
                raise ApiError(422, "bad_multipart", f"multipart 格式不对 (bad multipart body: {e})") from None
        reader.finish()
    except BaseException:
        reader.discard()
        raise
    reader.close()
    if not reader.files and reader.meta is None:
        raise ApiError(422, "bad_multipart", "multipart 中没有 meta 或 file (no meta or file part)")
    try:
        meta = parse_json(reader.meta) if reader.meta and reader.meta.strip() else None
    except ApiError:
        remove_files(reader.files)
        raise
    return meta, reader.files


async def read_body(request: Request, ep: core.Endpoint, store: Store) -> tuple[Any, list[tuple[str, Path]]]:
    if not _has_body(request):
        return None, []
    media_type = _media_type(request)
    if media_type == "multipart/form-data" and "multipart/form-data" in ep.media_types:
        return await read_multipart(request, store.audio_dir)
    if _is_json(media_type):
        return await read_json(request), []
    accepted = ", ".join(ep.media_types)
    raise ApiError(415, "unsupported_media_type", f"请求体应为 {accepted} (got {media_type[:60] or 'none'})")


# --- replies -------------------------------------------------------------------------------------------


def content_disposition(filename: str) -> str:
    """`attachment; filename="ascii"; filename*=UTF-8''...` (RFC 6266 / 5987): Chinese names survive."""
    fallback = "".join(ch if " " <= ch < "\x7f" and ch not in '"\\' else "_" for ch in filename) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def reply_response(reply: core.Reply, head: bool = False) -> Response:
    headers = {"cache-control": "no-store", **reply.headers}
    if reply.stream is not None:
        if reply.filename:
            headers["content-disposition"] = content_disposition(reply.filename)
        if head:
            close = getattr(reply.stream, "close", None)
            if close is not None:
                close()
            return Response(b"", status_code=reply.status, media_type=reply.media_type, headers=headers)
        return StreamingResponse(reply.stream, status_code=reply.status, media_type=reply.media_type, headers=headers)
    if reply.status == 204:
        return Response(status_code=204, headers=headers)
    body = b"" if head else core.json_bytes(reply.data)
    return Response(body, status_code=reply.status, media_type="application/json", headers=headers)


# --- the route -----------------------------------------------------------------------------------------


async def api_route(request: Request) -> Response:
    t0 = time.perf_counter()
    path = "/" + request.path_params.get("rest", "")
    method = request.method.upper()
    who = "-"
    status = 500
    files: list[tuple[str, Path]] = []
    try:
        access = await authenticate(request)
        who = access.account.name
        ep, path_params = core.find("GET" if method == "HEAD" else method, path)
        if ep.raw:  # served by its own route; reaching here means the method or path is not one of them
            raise ApiError(404, "no_such_route", f"{path}: 没有这个接口 (no such API route)")
        if method == "HEAD" and ep.response is None:
            # A file's handler does the work (and audits the export) before the first byte: not for a HEAD.
            raise ApiError(405, "method_not_allowed", f"HEAD {path}: 请用 GET (use GET)")
        params = core.params_of(ep, path_params, dict(request.query_params))
        if _media_type(request) == "multipart/form-data" and not access.may_upload():
            # Refused before a byte of the files is spooled: a viewer's body would only fill the disk.
            raise ApiError(403, "forbidden", "此账户不能上传录音 (this account may not upload recordings)")
        body, files = await read_body(request, ep, access.store)
        call = core.Call(access, params=params, body=body, files=files, wake=_wake)
        reply = await anyio.to_thread.run_sync(core.run, ep, call)
        response = reply_response(reply, head=method == "HEAD")
    except ApiError as e:
        response = error_response(e)
    except Exception as e:
        incident = secrets.token_hex(4)
        log.exception("API %s %s failed (incident %s)", method, path, incident)
        detail = f"服务器内部错误 (internal error {incident}: {type(e).__name__}); 详见服务器日志 (see the server log)"
        response = JSONResponse({"error": "internal", "detail": detail}, status_code=500)
    finally:
        remove_files(files)  # a handler that kept a file has moved it away already
    status = response.status_code
    log.info("api %s %s %s %d %.0f ms", who, method, path, status, (time.perf_counter() - t0) * 1000)
    return response


def _resource_routes() -> list[BaseRoute]:
    """The raw routes resource modules serve themselves (a module-level `routes()`: uploads)."""
    out: list[BaseRoute] = []
    for name in core.RESOURCES:
        make = getattr(sys.modules.get(f"workbench.api.{name}"), "routes", None)
        if callable(make):
            out.extend(make())
    return out


def routes() -> list[BaseRoute]:
    """The API's routes for the server: the raw ones of resource modules first, then the catch-all."""
    from workbench.api import system

    core.import_resources()
    system.runtime_of = _runtime
    return [
        *_resource_routes(),
        Route(core.PREFIX, api_route, methods=METHODS),
        Route(core.PREFIX + "/{rest:path}", api_route, methods=METHODS),
    ]


def iter_file(path: Path, chunk: int = 1024 * 1024) -> Iterator[bytes]:
    """A file's bytes in chunks, for `Reply.stream`."""
    with open(path, "rb") as f:
        while block := f.read(chunk):
            yield block
