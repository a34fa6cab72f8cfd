"""Resumable uploads, `/api/v1/uploads`: a recording reaches the server's disk in chunks, never its memory whole.

Streamlit's `st.file_uploader` holds each file in RAM (up to 2 GB each, any number at once). Here the
browser's script (`workbench.web.upload_component`) and the CLI (`Api.add_files`) send a file like this:

1. `POST /uploads {name, size}` → 201 `{id, offset: 0, size, ...}`: an empty `<data_dir>/uploads/<id>.part`
   and its metadata `<id>.json` (owner, name, size, created_at);
2. `PATCH /uploads/{id}` with header `Upload-Offset: N` and raw bytes: appended at N as they arrive
   (`request.stream()`, written in 1 MiB pieces from a worker thread), fsync'ed when the request ends →
   `{offset, size}`. N must be the current offset (409 with it otherwise); past the declared size → 413;
3. after a dropped connection: `HEAD` (or `GET`) `/uploads/{id}` → the offset the server has (whatever
   arrived before the drop is kept), then PATCH on from there;
4. `POST /hearings {uploads: [id, ...]}` (`workbench.api.hearings`) calls `take` and consumes the file.

These are raw Starlette routes (`routes()`, mounted by `workbench.web.asgi`) since they stream the body;
they are also registered as `Endpoint(raw=True)` so the OpenAPI document lists them. An upload belongs to
the account that made it: another account's id answers exactly like a missing one (404). Uploads not
touched for 24 hours are removed (checked on each POST). One PATCH at a time per upload (a lock), and a
sender that stalls for `IDLE_TIMEOUT_S` is cut off, so a half-open connection does not hold the lock.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import secrets
import shutil
import time
import weakref
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workbench import settings
from workbench.api.core import PREFIX, ApiError, Call, Param, Reply, api_error, endpoint
from workbench.files import safe_file_name

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from workbench.accounts import Access

log = logging.getLogger("workbench.api.uploads")

UPLOADS = "uploads"  # the folder under <data_dir>
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")  # secrets.token_urlsafe(24); checked before any path is made
STALE_AFTER = timedelta(hours=24)
WRITE_PIECE = 1 << 20  # bytes gathered before a write (a worker thread writes, the event loop reads on)
IDLE_TIMEOUT_S = 60.0  # no byte for this long: the PATCH ends, keeping what came
LOCK_WAIT_S = 10.0  # a second PATCH of the same upload waits this long for the first, then 409 busy
OPEN_PER_ACCOUNT = 32  # unfinished uploads an account may hold at once (each reserves its declared size)
NAME_MAX = 255
BODY_TYPES = ("application/offset+octet-stream", "application/octet-stream")
NOT_YOURS = "上传不存在或无权查看 (upload not found or not yours)"


def upload_types() -> tuple[str, ...]:
    from workbench.intake import UPLOAD_TYPES

    return UPLOAD_TYPES


def max_bytes() -> int:
    return int(settings.get("upload_max_mb")) << 20


@dataclass(frozen=True)
class Upload:
    """One upload's metadata (`<id>.json`); the bytes so far are `<id>.part`, a taken one's `<id>/<name>`."""

    id: str
    owner_id: int | None  # None: the console operator (matched by name)
    owner: str  # the account's name
    name: str  # the file's name as the client gave it
    size: int  # declared, in bytes
    created_at: str  # ISO 8601

    def owned_by(self, access: Access) -> bool:
        account = access.account
        return self.owner_id == account.id and self.owner == account.name


@dataclass(frozen=True)
class State:
    """What a client is told about an upload."""

    id: str
    name: str
    offset: int
    size: int
    complete: bool
    created_at: str

    def json(self) -> dict[str, Any]:
        return asdict(self)


def _not_found() -> ApiError:
    return ApiError(404, "not_found", NOT_YOURS)


class Uploads:
    """The upload folder: create, look up (owner-only), offsets, delete, take, sweep stale ones."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or settings.data_dir() / UPLOADS

    def meta_path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.json"

    def part_path(self, upload_id: str) -> Path:
        return self.root / f"{upload_id}.part"

    def taken_dir(self, upload_id: str) -> Path:
        return self.root / upload_id

    def _read(self, upload_id: str) -> Upload | None:
        if not isinstance(upload_id, str) or not ID_PATTERN.match(upload_id):
            return None
        try:
            raw = json.loads(self.meta_path(upload_id).read_text(encoding="utf-8"))
            return Upload(**raw)
        except (OSError, ValueError, TypeError):
            return None

    def get(self, access: Access, upload_id: str) -> Upload:
        """The upload if it exists and is this account's; ApiError 404 otherwise (the same for both)."""
        upload = self._read(upload_id)
        if upload is None or not upload.owned_by(access):
            raise _not_found()
        return upload

    def offset(self, upload: Upload) -> int | None:
        """Bytes received so far; the size once taken; None when its file is gone (consumed)."""
        try:
            return self.part_path(upload.id).stat().st_size
        except FileNotFoundError:
            pass
        taken = self.taken_dir(upload.id) / self._taken_name(upload)
        return upload.size if taken.is_file() else None

    def state(self, upload: Upload) -> State:
        offset = self.offset(upload)
        if offset is None:
            raise _not_found()
        return State(upload.id, upload.name, offset, upload.size, offset == upload.size, upload.created_at)

    def create(self, access: Access, name: Any, size: Any) -> Upload:
        """A new, empty upload of `name` (a recording's file name) and `size` bytes, owned by `access`'s account."""
        access.require_upload()
        if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX or "\x00" in name:
            raise ApiError(
                422, "bad_field", f"name: 文件名，1 到 {NAME_MAX} 字 (a file name, 1 to {NAME_MAX} characters)"
            )
        suffix = Path(name).suffix.lower().lstrip(".")
        if suffix not in upload_types():
            raise ApiError(
                422, "bad_field", f"name: 不是支持的录音格式（{', '.join(upload_types())}）(not a recording)"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ApiError(422, "bad_field", "size: 文件字节数，正整数 (the file's size in bytes, a positive integer)")
        limit = max_bytes()
        if size > limit:
            raise ApiError(
                413,
                "too_large",
                f"文件 {size / (1 << 20):.0f} MB，超过上限 {limit >> 20} MB (larger than upload_max_mb)",
            )
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.sweep()
        open_now = [u for u in self._all() if u.owned_by(access) and self.part_path(u.id).exists()]
        if len(open_now) >= OPEN_PER_ACCOUNT:
            raise ApiError(
                409,
                "too_many",
                f"未完成的上传已有 {len(open_now)} 个，请先完成或删除 (at most {OPEN_PER_ACCOUNT} unfinished uploads)",
            )
        reserved = sum(u.size - (self.offset(u) or 0) for u in self._all() if self.part_path(u.id).exists())
        if shutil.disk_usage(self.root).free < size + reserved:
            raise ApiError(507, "no_space", "服务器磁盘空间不足 (not enough disk space on the server for this file)")
        account = access.account
        upload = Upload(
            id=secrets.token_urlsafe(24),
            owner_id=account.id,
            owner=account.name,
            name=name.strip(),
            size=size,
            created_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        )
        self.part_path(upload.id).touch(mode=0o600, exist_ok=False)
        meta = self.meta_path(upload.id)
        tmp = meta.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(upload), ensure_ascii=False), encoding="utf-8")
        os.chmod(tmp, 0o600)
        tmp.replace(meta)
        return upload

    def delete(self, access: Access, upload_id: str) -> None:
        upload = self.get(access, upload_id)
        self._remove(upload.id)

    def _remove(self, upload_id: str) -> None:
        self.part_path(upload_id).unlink(missing_ok=True)
        shutil.rmtree(self.taken_dir(upload_id), ignore_errors=True)
        self.meta_path(upload_id).unlink(missing_ok=True)

    @staticmethod
    def _taken_name(upload: Upload) -> str:
        return safe_file_name(upload.name, f"upload{Path(upload.name).suffix.lower()}")

    def take(self, access: Access, upload_id: str) -> tuple[str, Path]:
        """A complete upload of this account: its name as given and its file, `<id>/<safe name>` (its suffix
        kept, for the audio store). The caller consumes the file (moves or deletes it); until it does,
        taking it again answers the same file. Incomplete → ApiError 409; missing or another's → 404."""
        upload = self.get(access, upload_id)
        taken = self.taken_dir(upload.id) / self._taken_name(upload)
        part = self.part_path(upload.id)
        if not taken.is_file():
            try:
                received = part.stat().st_size
            except FileNotFoundError:
                raise _not_found() from None
            if received != upload.size:
                raise ApiError(
                    409,
                    "incomplete",
                    f"{upload.name}: 尚未上传完（{received} / {upload.size} 字节）(upload not complete)",
                )
            taken.parent.mkdir(exist_ok=True, mode=0o700)
            part.replace(taken)  # atomic: a PATCH opens the part file without creating it, so none can follow
        return upload.name, taken

    def _all(self) -> list[Upload]:
        if not self.root.is_dir():
            return []
        found = (self._read(p.stem) for p in self.root.glob("*.json"))
        return [u for u in found if u is not None]

    def sweep(self, now: float | None = None) -> int:
        """Removes uploads untouched (no byte written, not taken) for `STALE_AFTER`; returns how many."""
        if not self.root.is_dir():
            return 0
        cutoff = (now or time.time()) - STALE_AFTER.total_seconds()
        removed = 0
        ids = {p.name.split(".", 1)[0] for p in self.root.iterdir()}
        for upload_id in ids:
            if not ID_PATTERN.match(upload_id):
                continue
            paths = [self.meta_path(upload_id), self.part_path(upload_id), self.taken_dir(upload_id)]
            times = []
            for p in paths:
                try:
                    times.append(p.stat().st_mtime)
                except FileNotFoundError:
                    continue
            if times and max(times) < cutoff:
                self._remove(upload_id)
                removed += 1
        return removed


def take(access: Access, upload_id: str) -> tuple[str, Path]:
    """For `POST /hearings {uploads: [...]}`: see `Uploads.take`."""
    return Uploads().take(access, upload_id)


# --- HTTP --------------------------------------------------------------------------------------------

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def _lock(upload_id: str) -> asyncio.Lock:
    lock = _locks.get(upload_id)
    if lock is None:
        lock = asyncio.Lock()
        _locks[upload_id] = lock
    return lock


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(data, status_code=status, headers={"cache-control": "no-store", **(headers or {})})


def _error(e: ApiError, **extra: Any) -> JSONResponse:
    headers = {"www-authenticate": 'Bearer realm="workbench"'} if e.status == 401 else {}
    return _json({**e.body(), **extra}, e.status, headers)


async def authenticate(request: Request) -> Access:
    """The caller's Access exactly as the API's door resolves it (bearer token, session cookie with
    `X-Workbench-Client: browser` on writes, console key); ApiError 401/403 otherwise."""
    from workbench.api import http

    return await http.authenticate(request)


def _upload_id(request: Request) -> str:
    return str(request.path_params["upload_id"])


def _state_headers(state: State) -> dict[str, str]:
    return {"upload-offset": str(state.offset), "upload-length": str(state.size)}


def _handled(
    handler: Callable[[Request, Access], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Auth, errors as JSON (`{error, detail}`), one log line per call (account, method, path, status, ms)."""

    async def run(request: Request) -> Response:
        started = time.monotonic()
        who = "-"
        try:
            access = await authenticate(request)
            who = access.account.name
            response = await handler(request, access)
        except ApiError as e:
            response = _error(e)
        except ClientDisconnect:  # gone before its JSON body arrived: nobody reads the answer
            response = Response(status_code=400, headers={"cache-control": "no-store"})
        except Exception as e:
            mapped = api_error(e)
            if mapped is None:
                log.exception("%s %s failed", request.method, request.url.path)
                mapped = ApiError(500, "internal", "服务器内部错误 (internal server error)")
            response = _error(mapped)
        if request.method == "HEAD" and response.status_code >= 400:
            response = Response(status_code=response.status_code, headers={"cache-control": "no-store"})
        log.info(
            "%s %s %s %d %.0fms",
            who,
            request.method,
            request.url.path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        return response

    return run


async def _body_json(request: Request) -> dict[str, Any]:
    if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "请求体应为 JSON (Content-Type: application/json)")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > 16_384:  # {name, size}: a few hundred bytes
            raise ApiError(413, "too_large", "请求体过大 (the JSON body is too large)")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApiError(422, "bad_body", "请求体不是有效的 JSON (the body is not valid JSON)") from None
    if not isinstance(body, dict):
        raise ApiError(422, "bad_body", "请求体应为 JSON 对象 (the body must be a JSON object)")
    return body


@_handled
async def create_route(request: Request, access: Access) -> Response:
    body = await _body_json(request)
    uploads = Uploads()
    upload = await run_in_threadpool(uploads.create, access, body.get("name"), body.get("size"))
    state = uploads.state(upload)
    return _json(state.json(), 201, {"location": f"{PREFIX}/uploads/{upload.id}", **_state_headers(state)})


@_handled
async def state_route(request: Request, access: Access) -> Response:
    uploads = Uploads()
    upload = await run_in_threadpool(uploads.get, access, _upload_id(request))
    state = uploads.state(upload)
    if request.method == "HEAD":
        return Response(status_code=200, headers={"cache-control": "no-store", **_state_headers(state)})
    return _json(state.json(), headers=_state_headers(state))


@_handled
async def delete_route(request: Request, access: Access) -> Response:
    await run_in_threadpool(Uploads().delete, access, _upload_id(request))
    return _json({"deleted": True})


def _header_int(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit() or len(raw) > 19:
        raise ApiError(422, "bad_header", f"{name}: 应为非负整数 (a non-negative integer; got {raw[:20]!r})")
    return int(raw)


@_handled
async def append_route(request: Request, access: Access) -> Response:
    uploads = Uploads()
    upload = await run_in_threadpool(uploads.get, access, _upload_id(request))
    kind = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind not in BODY_TYPES:
        raise ApiError(415, "unsupported_media_type", f"Content-Type 应为 {' 或 '.join(BODY_TYPES)} (raw bytes)")
    offset = _header_int(request, "Upload-Offset")
    if offset is None:
        raise ApiError(
            422, "missing_header", "Upload-Offset: 必填，本段数据的起始字节 (required: where these bytes go)"
        )
    length = _header_int(request, "Content-Length")
    lock = _lock(upload.id)
    try:
        with anyio.fail_after(LOCK_WAIT_S):  # a cancelled acquire leaves the lock as it was
            await lock.acquire()
    except TimeoutError:
        current = uploads.offset(upload)
        return _error(ApiError(409, "busy", "这个文件正在另一个连接上传 (another request is writing this upload)"),
                      offset=current)  # fmt: skip
    try:
        return await _append(request, uploads, upload, offset, length)
    finally:
        lock.release()


async def _append(request: Request, uploads: Uploads, upload: Upload, offset: int, length: int | None) -> Response:
    current = uploads.offset(upload)
    if current is None:
        raise _not_found()
    if offset != current:
        conflict = ApiError(
            409, "offset_mismatch", f"起始位置应为 {current}，收到 {offset} (Upload-Offset must be {current})"
        )
        return _error(conflict, offset=current, size=upload.size)
    if length is not None and offset + length > upload.size:
        raise ApiError(413, "too_large", f"超出声明的大小 {upload.size} 字节 (past the declared size)")
    if current == upload.size:  # complete (or taken): nothing may be added, and the part file is not reopened
        state = uploads.state(upload)
        return _json({"offset": state.offset, "size": upload.size}, headers=_state_headers(state))
    try:
        out = await run_in_threadpool(uploads.part_path(upload.id).open, "r+b")  # never creates: taken/deleted stay so
    except FileNotFoundError:
        raise _not_found() from None
    written = offset
    dropped = False
    too_large = False
    try:
        await run_in_threadpool(out.seek, offset)
        pending = bytearray()
        stream = request.stream().__aiter__()
        while True:
            try:
                with anyio.fail_after(IDLE_TIMEOUT_S):
                    chunk = await stream.__anext__()
            except StopAsyncIteration:
                break
            except (ClientDisconnect, TimeoutError):  # what came is kept: the client asks HEAD and goes on
                dropped = True
                break
            if written + len(pending) + len(chunk) > upload.size:
                too_large = True
                break
            pending += chunk
            if len(pending) >= WRITE_PIECE:
                piece, pending = bytes(pending), bytearray()
                await run_in_threadpool(out.write, piece)
                written += len(piece)
        if pending and not too_large:
            await run_in_threadpool(out.write, bytes(pending))
            written += len(pending)
        if too_large:  # none of this request is kept: the client sent more than it declared
            await run_in_threadpool(out.truncate, offset)
            written = offset
        await run_in_threadpool(_sync, out)
    finally:
        await run_in_threadpool(out.close)
    if too_large:
        raise ApiError(413, "too_large", f"超出声明的大小 {upload.size} 字节 (past the declared size)")
    if dropped:
        log.info("upload %s… dropped at %d of %d bytes", upload.id[:6], written, upload.size)
    return _json({"offset": written, "size": upload.size},
                 headers={"upload-offset": str(written), "upload-length": str(upload.size)})  # fmt: skip


def _sync(out: Any) -> None:
    out.flush()
    os.fsync(out.fileno())


def routes() -> list[Route]:
    """The upload routes, for `workbench.web.asgi` to mount before the generic `/api/v1` adapter."""
    base = f"{PREFIX}/uploads"
    return [
        Route(base, create_route, methods=["POST"]),
        Route(base + "/{upload_id}", state_route, methods=["GET", "HEAD"]),
        Route(base + "/{upload_id}", append_route, methods=["PATCH"]),
        Route(base + "/{upload_id}", delete_route, methods=["DELETE"]),
    ]


# --- the OpenAPI document's entries (served by the routes above, not by the generic adapter) -----------

UPLOAD_STATE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name", "offset", "size", "complete", "created_at"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "offset": {"type": "integer", "description": "Bytes the server has."},
        "size": {"type": "integer", "description": "Declared size in bytes."},
        "complete": {"type": "boolean"},
        "created_at": {"type": "string", "format": "date-time"},
    },
}
OFFSET: dict[str, Any] = {
    "type": "object",
    "required": ["offset", "size"],
    "properties": {"offset": {"type": "integer"}, "size": {"type": "integer"}},
}
UPLOAD_ID = Param("upload_id", str, where="path", required=True, help="The id `POST /uploads` answered.")


UPLOAD_OFFSET = Param(
    "Upload-Offset", int, where="header", required=True, help="Where these bytes go: the upload's current offset."
)


def _served_over_http(name: str) -> Callable[[Call], Reply]:
    """The documented endpoint's handler (named for the OpenAPI operation id); the routes above serve it."""

    def handler(_call: Call) -> Reply:
        raise ApiError(
            405,
            "http_only",
            "上传只能通过 HTTP 接口进行 (uploads are served over HTTP only; locally, pass file paths)",
        )

    handler.__name__ = handler.__qualname__ = name
    return handler


endpoint(
    "POST",
    "/uploads",
    summary="Start a resumable upload of one recording: {name, size} (bytes; at most setting upload_max_mb).",
    tag="uploads",
    body={
        "type": "object",
        "required": ["name", "size"],
        "properties": {"name": {"type": "string", "maxLength": NAME_MAX}, "size": {"type": "integer", "minimum": 1}},
    },
    response=UPLOAD_STATE,
    status=201,
    raw=True,
)(_served_over_http("create_upload"))
endpoint(
    "GET",
    "/uploads/{upload_id}",
    summary="An upload's state: how many bytes the server has (resume from `offset` after a dropped connection).",
    tag="uploads",
    params=(UPLOAD_ID,),
    response=UPLOAD_STATE,
    raw=True,
)(_served_over_http("upload_state"))
endpoint(
    "HEAD",
    "/uploads/{upload_id}",
    summary="An upload's state in the headers Upload-Offset and Upload-Length (no body).",
    tag="uploads",
    params=(UPLOAD_ID,),
    raw=True,
)(_served_over_http("upload_offset"))
endpoint(
    "PATCH",
    "/uploads/{upload_id}",
    summary="Append raw bytes at Upload-Offset (the current offset, else 409 with it); past the declared size 413.",
    tag="uploads",
    params=(UPLOAD_ID, UPLOAD_OFFSET),
    body={"type": "string", "format": "binary"},
    response=OFFSET,
    media_types=BODY_TYPES,
    raw=True,
)(_served_over_http("append_to_upload"))
endpoint(
    "DELETE",
    "/uploads/{upload_id}",
    summary="Abandon an upload: its bytes are removed.",
    tag="uploads",
    params=(UPLOAD_ID,),
    response={"type": "object", "required": ["deleted"], "properties": {"deleted": {"type": "boolean"}}},
    raw=True,
)(_served_over_http("delete_upload"))
