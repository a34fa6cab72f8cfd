"""The API's shape, without HTTP: endpoints as plain functions of a `Call`, answering a `Reply` or raising `ApiError`.

Every resource module (`workbench.api.cases`, `.hearings`, ...) registers its endpoints with `@endpoint`.
Two doors lead to the same functions, so the answers cannot drift apart:

- `workbench.api.http` serves them at `/api/v1/...` in the server (auth, JSON, status codes, streaming);
- `dispatch` calls them in-process, for the CLI when no server runs (it opens the database itself).

The OpenAPI document (`workbench.api.openapi`) is made from the same `ENDPOINTS` list.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.accounts import Access

PREFIX = "/api/v1"
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000

JsonSchema = dict[str, Any]


class ApiError(Exception):
    """An answer that is not a success: HTTP `status`, a short machine-readable `error`, a `detail` for people."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail

    def body(self) -> dict[str, str]:
        return {"error": self.error, "detail": self.detail}


@dataclass(frozen=True)
class Param:
    """A path or query parameter: converted to `kind` before the handler sees it, described in the OpenAPI doc."""

    name: str
    kind: type = str  # str, int, float or bool
    where: str = "query"  # "query" or "path"
    required: bool = False
    help: str = ""
    choices: tuple[str, ...] = ()
    default: Any = None


@dataclass
class Call:
    """One request, as the handler sees it: who asks, the converted parameters, the JSON body, uploaded files.

    `local` is True for the CLI's in-process door (the operator has a shell on the server: a server path
    outside the ingest roots is theirs to give). `wake` tells the job worker there is new work (a no-op
    without a server).
    """

    access: Access
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    files: list[tuple[str, Path]] = field(default_factory=list)  # (name as sent, spooled file on disk)
    local: bool = False
    wake: Callable[[], None] = lambda: None

    def body_field(
        self, name: str, kind: type | tuple[type, ...], *, required: bool = False, default: Any = None
    ) -> Any:
        """One field of the JSON object body, type-checked; ApiError 422 naming the field otherwise."""
        if self.body is None:
            body: dict[str, Any] = {}
        elif isinstance(self.body, dict):
            body = self.body
        else:
            raise ApiError(422, "bad_body", "请求体应为 JSON 对象 (the body must be a JSON object)")
        if name not in body or body[name] is None:
            if required:
                raise ApiError(422, "missing_field", f"{name}: 必填 (required)")
            return default
        value = body[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds:  # True is an int to Python, not to JSON
            raise ApiError(422, "bad_field", f"{name}: 类型不对 (expected {'/'.join(k.__name__ for k in kinds)})")
        if not isinstance(value, kinds):
            raise ApiError(422, "bad_field", f"{name}: 类型不对 (expected {'/'.join(k.__name__ for k in kinds)})")
        return value


@dataclass
class Reply:
    """A success. `data` is JSON-able; or `stream` (bytes chunks) with `media_type` and `filename`, for exports."""

    data: Any = None
    status: int = 200
    stream: Iterator[bytes] | None = None
    media_type: str = "application/json"
    filename: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Endpoint:
    """One method on one path (relative to PREFIX, e.g. "/hearings/{hearing_id}"), and its documentation."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: JsonSchema | None = None  # the JSON body's schema (documentation; handlers check with `body_field`)
    response: JsonSchema | None = None  # the success body's schema; None for a stream or no body
    status: int = 200
    media_types: tuple[str, ...] = ("application/json",)
    raw: bool = False  # served by its own Starlette route (uploads stream their body); documented only here

    @functools.cached_property
    def pattern(self) -> re.Pattern[str]:  # made once: every call looks its endpoint up by it
        return re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path) + "$")


ENDPOINTS: list[Endpoint] = []


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    params: Iterable[Param] = (),
    body: JsonSchema | None = None,
    response: JsonSchema | None = None,
    status: int = 200,
    media_types: tuple[str, ...] = ("application/json",),
    raw: bool = False,
) -> Callable[[Handler], Handler]:
    """Registers the decorated function as the handler of `method path`."""

    def register(handler: Handler) -> Handler:
        ENDPOINTS.append(
            Endpoint(
                method.upper(), path, handler, summary, tag, tuple(params), body, response, status, media_types, raw
            )
        )
        return handler

    return register


def _json_default(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def json_bytes(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=_json_default, separators=(",", ":")).encode("utf-8")


# --- pagination --------------------------------------------------------------------------------------

PAGE_PARAMS = (
    Param("limit", int, help=f"At most this many items (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
          default=DEFAULT_LIMIT),
    Param("offset", int, help="Skip this many items first.", default=0),
)  # fmt: skip


def page_schema(item: JsonSchema) -> JsonSchema:
    return {
        "type": "object",
        "required": ["items", "total", "limit", "offset", "next_offset"],
        "properties": {
            "items": {"type": "array", "items": item},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next_offset": {"type": ["integer", "null"]},
        },
    }


def window(call: Call) -> tuple[int, int]:
    """The (limit, offset) a call asks for, checked."""
    limit = call.params.get("limit", DEFAULT_LIMIT)
    offset = call.params.get("offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(422, "bad_param", f"limit: 1 到 {MAX_LIMIT} (between 1 and {MAX_LIMIT})")
    if offset < 0:
        raise ApiError(422, "bad_param", "offset: 不能为负 (must not be negative)")
    return limit, offset


def paged(call: Call, items: list[Any], total: int | None = None) -> Reply:
    """A page of `items`. Without `total`, `items` is the whole list and is cut here; with it, `items`
    is already the page the call's window asked for (the query cut it)."""
    limit, offset = window(call)
    if total is None:
        total = len(items)
        items = items[offset : offset + limit]
    more = offset + len(items) < total
    return Reply({"items": items, "total": total, "limit": limit, "offset": offset,
                  "next_offset": offset + len(items) if more else None})  # fmt: skip


# --- the in-process door -----------------------------------------------------------------------------


def convert(param: Param, raw: str) -> Any:
    """A parameter's text as its kind; ApiError 422 naming it otherwise."""
    try:
        if param.kind is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        value = param.kind(raw)
        if param.kind is int and not -(2**63) <= value < 2**63:  # the database's BIGINT: larger is no id of ours
            raise ValueError(raw)
    except ValueError:
        raise ApiError(422, "bad_param", f"{param.name}: 应为 {param.kind.__name__} (got {raw[:40]!r})") from None
    if param.choices and value not in param.choices:
        raise ApiError(422, "bad_param", f"{param.name}: 应为 {', '.join(param.choices)} 之一 (got {raw[:40]!r})")
    return value


def find(method: str, path: str) -> tuple[Endpoint, dict[str, str]]:
    """The endpoint serving `method path` (path relative to PREFIX) and its path parameters; ApiError 404/405."""
    allowed = []
    for ep in ENDPOINTS:
        m = ep.pattern.match(path)
        if m:
            if ep.method == method.upper():
                return ep, m.groupdict()
            allowed.append(ep.method)
    if allowed:
        raise ApiError(405, "method_not_allowed", f"{method} {path}: 只支持 {', '.join(allowed)} (use one of them)")
    raise ApiError(404, "no_such_route", f"{path}: 没有这个接口 (no such API route)")


def params_of(ep: Endpoint, path_params: dict[str, str], query: dict[str, str]) -> dict[str, Any]:
    """Path and query parameters converted by the endpoint's declared `Param`s; unknown query names refused."""
    declared = {p.name: p for p in ep.params}
    unknown = sorted(set(query) - set(declared))
    if unknown:
        raise ApiError(422, "unknown_param", f"{', '.join(unknown)}: 不认识的参数 (unknown parameter)")
    out: dict[str, Any] = {}
    for p in ep.params:
        raw = path_params.get(p.name) if p.where == "path" else query.get(p.name)
        if raw is None:
            if p.required:
                raise ApiError(422, "missing_param", f"{p.name}: 必填 (required)")
            out[p.name] = p.default
        else:
            out[p.name] = convert(p, raw)
    return out


def dispatch(call: Call, method: str, path: str, query: dict[str, str] | None = None) -> Reply:
    """Runs the endpoint for `method path` on `call` (its params filled in here); store errors become ApiErrors."""
    import_resources()
    ep, path_params = find(method, path)
    call.params = params_of(ep, path_params, query or {})
    return run(ep, call)


def run(ep: Endpoint, call: Call) -> Reply:
    """The endpoint's handler on `call`; store errors become ApiErrors (both doors call this)."""
    try:
        return ep.handler(call)
    except ApiError:
        raise
    except Exception as e:
        mapped = api_error(e)
        if mapped is None:
            raise
        raise mapped from e


def api_error(e: Exception) -> ApiError | None:
    """The ApiError for an error our code raises on purpose (not found, not allowed, stale, bad input); None
    for anything else (a bug: the server logs it and answers 500)."""
    from workbench.accounts.roles import AccountError, Forbidden
    from workbench.speech.options import OptionsError
    from workbench.store.records import Conflict, Locked, NotFound, StaleEdit, StoreError, StoreLocked

    if isinstance(e, Locked):  # before Conflict and StoreError: a client must tell "file a correction request"
        return ApiError(409, "locked", str(e))
    if isinstance(e, NotFound):
        return ApiError(404, "not_found", str(e))
    if isinstance(e, Forbidden):
        return ApiError(403, "forbidden", str(e))
    if isinstance(e, StaleEdit):
        return ApiError(409, "stale", str(e))
    if isinstance(e, Conflict):
        return ApiError(409, "conflict", str(e))
    if isinstance(e, StoreLocked):
        return ApiError(503, "store_locked", str(e))
    if isinstance(e, (AccountError, OptionsError, ValueError)):
        return ApiError(422, "bad_input", str(e))
    if isinstance(e, StoreError):
        return ApiError(409, "refused", str(e))
    return None


RESOURCES = (
    "system", "tokens", "cases", "courtrooms", "hearings", "jobs", "segments", "desk", "notes", "voices", "signoff",
    "search", "exports", "uploads",
)  # fmt: skip


def in_resource_order() -> list[Endpoint]:
    """Every endpoint, by its module's place in RESOURCES, then as registered: the same order whichever
    module a process happened to import first (the README table and the document's tags follow it)."""
    import_resources()
    rank = {f"workbench.api.{name}": i for i, name in enumerate(RESOURCES)}
    return sorted(ENDPOINTS, key=lambda ep: rank.get(ep.handler.__module__, len(rank)))


def import_resources() -> None:
    """Imports every resource module, so each has registered its endpoints (idempotent)."""
    import importlib

    for name in RESOURCES:
        importlib.import_module(f"workbench.api.{name}")
