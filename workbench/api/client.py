"""The CLI's way to the API: `Api`, over HTTP to a running server or in-process on the store.

Both answer the same way, since both reach the same endpoint functions (`workbench.api.core`):

- `RemoteApi`: HTTP (stdlib `http.client`, one keep-alive connection) to the server, with an API token or
  the server's console key. Errors come back as `ApiError(status, error, detail)` from the JSON body.
- `LocalApi`: `core.dispatch` on an `Access` to a store this process opened (no server runs), `local=True`.

`connect` finds the server: `--server URL` (or the setting `server_url`), else `<data_dir>/server.json`
when its pid is alive and `/api/v1/health` answers with its console key; else none (local).

TLS: to the server named by server.json, the certificate is pinned to the SHA-256 fingerprint the file
records (the server's own, often self-signed: no CA to ask, and no host name to trust blindly); to a
`--server URL`, the system's CAs, or the certificate in the setting `tls_cert` when set, with the host name
checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import quote, unquote, urlencode, urlsplit

from workbench import settings
from workbench.api import core
from workbench.api.core import ApiError

if TYPE_CHECKING:
    from workbench.accounts import Access

CHUNK = 8 * 1024 * 1024  # resumable upload piece
POLL_S = 1.0
TIMEOUT_S = 60.0
FINISHED = frozenset({"done", "failed", "cancelled"})
SERVER_FILE = "server.json"
RETRIES = 5  # an upload piece is retried (from the server's offset) this often after a dropped connection


class Api:
    """What a CLI verb calls: the API's endpoints, by method and path (relative to /api/v1)."""

    remote: bool = False

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        """The endpoint's JSON answer (data); ApiError for an error answer."""
        raise NotImplementedError

    def download(self, path: str, params: dict[str, Any], dest: BinaryIO) -> str:
        """Writes a file answer (an export) to `dest`; returns the file name the server gave."""
        raise NotImplementedError

    def add_files(self, files: list[Path]) -> dict[str, Any]:
        """The part of a POST /hearings body that brings `files`: {"paths": [...]} or {"uploads": [ids]}."""
        raise NotImplementedError

    def wait_job(self, job_id: int, on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Until the job is done, failed or cancelled; its last state (GET /jobs/{id})."""
        while True:
            job = self.call("GET", f"/jobs/{job_id}")
            if on_progress is not None:
                on_progress(job)
            if job["state"] in FINISHED:
                return job  # type: ignore[no-any-return]
            self._advance(job_id)

    def _advance(self, job_id: int) -> None:
        """Between two looks at a job that is not finished: wait for the server's worker."""
        time.sleep(POLL_S)

    def close(self) -> None:
        """Nothing to close in-process; the HTTP connection remotely."""

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def query_text(params: dict[str, Any] | None) -> dict[str, str]:
    """Parameters as the query strings the endpoints parse: None left out, booleans true/false."""
    out: dict[str, str] = {}
    for name, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


# --- in-process ----------------------------------------------------------------------------------------


class LocalApi(Api):
    """The endpoints called in this process on `access` (its store opened here): the CLI with no server."""

    remote = False

    def __init__(self, access: Access) -> None:
        self.access = access

    def _reply(self, method: str, path: str, params: dict[str, Any] | None, body: Any) -> core.Reply:
        call = core.Call(self.access, body=body, local=True)
        return core.dispatch(call, method, path, query_text(params))

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        reply = self._reply(method, path, params, json)
        if reply.stream is not None:
            return b"".join(reply.stream)
        # through JSON, as a remote answer would be: datetimes as strings, tuples as lists

        return _json_loads(core.json_bytes(reply.data))

    def download(self, path: str, params: dict[str, Any], dest: BinaryIO) -> str:
        reply = self._reply("GET", path, params, None)
        if reply.stream is None:
            dest.write(core.json_bytes(reply.data))
            return reply.filename or "answer.json"
        for chunk in reply.stream:
            dest.write(chunk)
        return reply.filename or "download"

    def add_files(self, files: list[Path]) -> dict[str, Any]:
        # Absolute, not resolved: a link keeps the name typed (the stored file name, the line printed).
        return {"paths": [str(Path(f).absolute()) for f in files]}

    def _advance(self, job_id: int) -> None:
        """No server runs: this process runs the job itself."""
        from workbench.server.worker import run_next

        if run_next(self.access.store, only={job_id}) is None:
            time.sleep(POLL_S)  # claimed elsewhere (another CLI): wait for it


def _json_loads(raw: bytes) -> Any:
    return json.loads(raw.decode("utf-8")) if raw else None


# --- over HTTP -----------------------------------------------------------------------------------------


def fingerprint_of(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _normal_fingerprint(value: str) -> str:
    return value.replace(":", "").strip().upper()


class PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS whose server certificate must have the SHA-256 `fingerprint` (server.json's): pinned, so no CA
    and no host name are needed, and any other certificate is refused before a byte of the request goes."""

    def __init__(self, host: str, port: int | None, fingerprint: str, timeout: float) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the pin below is the check (stronger than a CA for this server)
        super().__init__(host, port, timeout=timeout, context=context)
        self.fingerprint = _normal_fingerprint(fingerprint)

    def connect(self) -> None:
        super().connect()
        der = self.sock.getpeercert(binary_form=True)  # type: ignore[union-attr]
        seen = _normal_fingerprint(fingerprint_of(der or b""))
        if seen != self.fingerprint:
            self.sock.close()
            shown = fingerprint_of(der or b"")
            raise ssl.SSLError(f"服务器证书指纹不符 (certificate {shown} is not the one in server.json)")


@dataclass(frozen=True)
class Server:
    """Where the API is and how to authenticate: a URL, a bearer secret, an optional certificate pin."""

    url: str
    secret: str | None
    fingerprint: str | None = None  # pin (server.json); None: verify with CAs (or tls_cert)
    console: bool = False  # the secret is the console key: --as and the login go along


class RemoteApi(Api):
    """The API over HTTP (keep-alive). With the console key, `as_name` and this login go as headers."""

    remote = True

    def __init__(self, server: Server, *, as_name: str | None = None, timeout: float = TIMEOUT_S) -> None:
        self.server = server
        self.as_name = as_name
        self.timeout = timeout
        parts = urlsplit(server.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ApiError(422, "bad_server", f"{server.url}: 应为 http(s)://主机:端口 (not a server URL)")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.base = parts.path.rstrip("/") + core.PREFIX
        self._conn: http.client.HTTPConnection | None = None

    # -- the connection --

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.scheme == "http":
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            elif self.server.fingerprint:
                self._conn = PinnedHTTPSConnection(self.host, self.port, self.server.fingerprint, self.timeout)
            else:
                cafile = str(settings.get("tls_cert") or "") or None
                context = ssl.create_default_context(cafile=cafile)
                self._conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=context)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def headers(self) -> dict[str, str]:
        out = {"Accept": "application/json", "User-Agent": "workbench-cli"}
        if self.server.secret:
            out["Authorization"] = f"Bearer {self.server.secret}"
        if self.server.console:
            from workbench.accounts.access import console_login

            if self.as_name:
                out["X-Workbench-As"] = self.as_name
            login = console_login()
            if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", login):
                out["X-Workbench-Login"] = login
        return out

    def _url(self, path: str, params: dict[str, Any] | None) -> str:
        query = query_text(params)
        # A case number or a name in the path (（2024）京0105民初1号) as UTF-8 escapes; escapes made already stay.
        return self.base + quote(path, safe="/%") + ("?" + urlencode(query) if query else "")

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> http.client.HTTPResponse:
        """One request; an idempotent one is sent again once on a keep-alive connection the server closed."""
        url = self._url(path, params)
        all_headers = {**self.headers(), **(headers or {})}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, url, body=body, headers=all_headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.close()
                if attempt == 2 or method not in ("GET", "HEAD", "PUT", "DELETE"):
                    raise
            except (OSError, http.client.HTTPException):
                self.close()
                raise
        raise AssertionError("unreachable")

    @staticmethod
    def error_of(response: http.client.HTTPResponse) -> ApiError:
        raw = response.read()
        try:
            body = json.loads(raw.decode("utf-8"))
            return ApiError(response.status, str(body["error"]), str(body["detail"]))
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            text = raw.decode("utf-8", "replace").strip()[:300] or response.reason
            return ApiError(response.status, "http", f"HTTP {response.status}: {text}")

    def call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None) -> Any:
        body = None
        headers = {}
        if json is not None:
            body = core.json_bytes(json)
            headers["Content-Type"] = "application/json"
        response = self.request(method, path, params=params, body=body, headers=headers)
        if response.status >= 400:
            raise self.error_of(response)
        raw = response.read()
        if response.getheader("content-type", "").startswith("application/json"):
            return _json_loads(raw)
        return raw

    def download(self, path: str, params: dict[str, Any], dest: BinaryIO) -> str:
        response = self.request("GET", path, params=params, headers={"Accept": "*/*"})
        if response.status >= 400:
            raise self.error_of(response)
        while block := response.read(1024 * 1024):
            dest.write(block)
        return filename_of(response.getheader("content-disposition", "")) or "download"

    # -- uploads (resumable, workbench.api.uploads) --

    def upload(self, file: Path, on_progress: Callable[[int, int], None] | None = None) -> str:
        """Sends `file` through POST /uploads + PATCH pieces; resumes from the server's offset after a drop."""
        size = file.stat().st_size
        started = self.call("POST", "/uploads", json={"name": file.name, "size": size})
        upload_id = str(started["id"])
        offset = int(started.get("offset", 0))
        failures = 0
        with open(file, "rb") as f:
            while offset < size:
                f.seek(offset)
                piece = f.read(CHUNK)
                try:
                    response = self.request(
                        "PATCH",
                        f"/uploads/{upload_id}",
                        body=piece,
                        headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
                    )
                    if response.status >= 400:
                        error = self.error_of(response)
                        if error.status != 409:
                            raise error
                        offset = self._offset(upload_id)  # the server has another offset: go on from it
                        continue
                    offset = int(_json_loads(response.read())["offset"])
                except (OSError, http.client.HTTPException):
                    failures += 1
                    if failures > RETRIES:
                        raise
                    time.sleep(min(2.0**failures, 10))
                    offset = self._offset(upload_id)
                    continue
                if on_progress is not None:
                    on_progress(offset, size)
        return upload_id

    def _offset(self, upload_id: str) -> int:
        return int(self.call("GET", f"/uploads/{upload_id}")["offset"])

    def add_files(self, files: list[Path]) -> dict[str, Any]:
        return {"uploads": [self.upload(Path(f)) for f in files]}


def filename_of(disposition: str) -> str | None:
    """The file name of a Content-Disposition header: `filename*` (RFC 5987) first, then `filename`."""
    star = re.search(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", disposition, re.IGNORECASE)
    name = None
    if star:
        with contextlib.suppress(LookupError, UnicodeDecodeError):
            name = unquote(star.group(2).strip(), encoding=star.group(1) or "utf-8", errors="strict")
    if name is None:
        plain = re.search(r'filename\s*=\s*"([^"]*)"|filename\s*=\s*([^;]+)', disposition, re.IGNORECASE)
        if plain:
            name = (plain.group(1) or plain.group(2) or "").strip()
    if not name:
        return None
    return Path(name.replace("\\", "/")).name or None  # never a path: the CLI chooses the folder


# --- finding the server --------------------------------------------------------------------------------


def pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_server_file(folder: Path) -> dict[str, Any] | None:
    """server.json in `folder` if it is readable and well formed, else None."""
    path = folder / SERVER_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str) or not info.get("console_key"):
        return None
    return info


def running_server(folder: Path, *, timeout: float = 3.0) -> Server | None:
    """The server `folder/server.json` names, if its pid is alive and its /health answers; else None (stale)."""
    info = read_server_file(folder)
    if info is None or not pid_alive(info.get("pid")):
        return None
    server = Server(info["url"], str(info["console_key"]), info.get("cert_fingerprint") or None, console=True)
    api = RemoteApi(server, timeout=timeout)
    try:
        response = api.request("GET", "/health")
        response.read()
        return server if response.status == 200 else None
    except (OSError, http.client.HTTPException, ssl.SSLError):
        return None
    finally:
        api.close()


def connect(
    *,
    server_url: str | None = None,
    token: str | None = None,
    db: Path | None = None,
    as_name: str | None = None,
) -> RemoteApi | None:
    """The remote API to use, or None for in-process.

    `server_url` (`--server`, else the setting `server_url`) is used as given, with `token` (or the console key
    when server.json names that same URL). Without one: the server `<data folder>/server.json` names, if it
    runs (`--db` elsewhere: the server.json beside that file), with `token` if given, else its console key.
    """
    folder = db.resolve().parent if db is not None else settings.data_dir()
    url = server_url or str(settings.get("server_url") or "")
    if url:
        url = url.rstrip("/")
        info = read_server_file(folder)
        if token:
            return RemoteApi(Server(url, token), as_name=None)
        if info is not None and info["url"].rstrip("/") == url and pid_alive(info.get("pid")):
            pin = info.get("cert_fingerprint") or None
            return RemoteApi(Server(url, str(info["console_key"]), pin, console=True), as_name=as_name)
        raise ApiError(401, "no_token", f"{url}: 需要 API 令牌 (pass --token or set WORKBENCH_TOKEN)")
    found = running_server(folder)
    if found is None:
        return None
    if token:
        return RemoteApi(Server(found.url, token, found.fingerprint))
    return RemoteApi(found, as_name=as_name)
