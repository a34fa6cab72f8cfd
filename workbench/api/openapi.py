"""The API's OpenAPI 3.1 document and README section, made from `core.ENDPOINTS` (so they cannot drift).

`document()` is served at GET /api/v1/openapi.json (any signed-in caller) and validated by the tests with
openapi-spec-validator; `markdown()` is the README's endpoint table (between `<!-- api:start -->` and
`<!-- api:end -->`; `python -m workbench.api.openapi` rewrites it, a test checks it is current).

Each endpoint's `body` and `response` JSON Schemas are its module's; here they are placed, with the path
and query parameters, the error answers every endpoint may give and the two ways to sign in (bearer token
or console key; the browser's session cookie).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from workbench.api import core

TITLE = "庭审转写工作台 API (hearing workbench API)"
JSON = "application/json"
MULTIPART = "multipart/form-data"

ERROR_SCHEMA: core.JsonSchema = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "A short machine-readable code, e.g. not_found, stale."},
        "detail": {"type": "string", "description": "For people: Chinese (English)."},
    },
}

ERRORS = {
    "401": "No credentials, or a bad, revoked or disabled account's token (WWW-Authenticate: Bearer).",
    "403": "Not allowed for this account (role, case membership), or a browser write without X-Workbench-Client.",
    "404": "No such route, or the record is missing or not the caller's to see (the same answer).",
    "405": "The path exists, the method does not.",
    "409": "Stale edit or conflict: reload and try again.",
    "413": "The body or an uploaded file is too large (JSON: 1 MiB; files: setting upload_max_mb).",
    "415": "The body's media type is not one this endpoint takes.",
    "422": "Bad input: a parameter, field or body that is not what the endpoint takes (detail names it).",
    "500": "A server error (logged with an incident code).",
    "503": "The database is locked by another process.",
}

DESCRIPTION = """\
Every path is under `/api/v1`. Authenticate with `Authorization: Bearer <token>` (an API token, `workbench
tokens create`, or the console key the server writes in `<data_dir>/server.json` for the CLI beside it, with
`X-Workbench-As: NAME` to pick the account) or, from the workbench's own pages, the session cookie plus the
header `X-Workbench-Client: browser` on every call that is not a GET.

Errors are `{"error": "<code>", "detail": "<Chinese (English)>"}`. Lists are pages `{"items", "total",
"limit", "offset", "next_offset"}` (`limit` at most 1000). Times are ISO 8601, durations seconds, ids integers.
"""

_KIND = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _param(p: core.Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": _KIND.get(p.kind, "string")}
    if p.choices:
        schema["enum"] = list(p.choices)
    if p.default is not None:
        schema["default"] = p.default
    out: dict[str, Any] = {"name": p.name, "in": p.where, "required": p.required or p.where == "path", "schema": schema}
    if p.help:
        out["description"] = p.help
    return out


def _returns_file(ep: core.Endpoint) -> bool:
    """A GET whose media types are not JSON answers a file (an export); elsewhere they are what the body may be."""
    return ep.method == "GET" and ep.response is None and any(m != JSON for m in ep.media_types)


def _request_body(ep: core.Endpoint) -> dict[str, Any] | None:
    if ep.method in ("GET", "HEAD", "DELETE") and ep.body is None:
        return None
    if _returns_file(ep):
        return None
    content: dict[str, Any] = {}
    for media_type in ep.media_types:
        if media_type == JSON:
            if ep.body is not None:
                content[JSON] = {"schema": copy.deepcopy(ep.body)}
        elif media_type == MULTIPART:
            content[MULTIPART] = {
                "schema": {
                    "type": "object",
                    "properties": {
                        "meta": copy.deepcopy(ep.body) if ep.body is not None else {"type": "object"},
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                            "description": "One or more files (streamed to disk; each at most upload_max_mb).",
                        },
                    },
                },
                "encoding": {"meta": {"contentType": JSON}},
            }
        else:
            content[media_type] = {"schema": {"type": "string", "contentMediaType": media_type}}
    if not content:
        return None
    return {"required": ep.body is not None and ep.method in ("POST", "PUT"), "content": content}


def _success(ep: core.Endpoint) -> dict[str, Any]:
    if ep.response is not None:
        return {"description": ep.summary, "content": {JSON: {"schema": copy.deepcopy(ep.response)}}}
    if _returns_file(ep):
        return {
            "description": ep.summary + " (Content-Disposition names the file, RFC 5987)",
            "content": {m: {"schema": {"type": "string", "contentMediaType": m}} for m in ep.media_types},
        }
    return {"description": ep.summary}


def _errors_of(ep: core.Endpoint) -> list[str]:
    codes = ["401", "403", "404", "422"]
    if ep.method != "GET":
        codes.append("409")
    if _request_body(ep) is not None:
        codes += ["413", "415"]
    return sorted(codes)


def _operation_id(ep: core.Endpoint, taken: set[str]) -> str:
    base = f"{ep.tag}_{ep.handler.__name__}".replace("-", "_")
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every registered endpoint."""
    import workbench

    core.import_resources()
    paths: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for ep in sorted(core.ENDPOINTS, key=lambda e: (e.path, e.method)):
        operation: dict[str, Any] = {
            "operationId": _operation_id(ep, taken),
            "summary": ep.summary,
            "tags": [ep.tag],
            "responses": {
                str(ep.status): _success(ep),
                **{code: {"$ref": f"#/components/responses/E{code}"} for code in _errors_of(ep)},
            },
        }
        if ep.params:
            operation["parameters"] = [_param(p) for p in ep.params]
        body = _request_body(ep)
        if body is not None:
            operation["requestBody"] = body
        paths.setdefault(ep.path, {})[ep.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": workbench.__version__, "description": DESCRIPTION},
        "servers": [{"url": core.PREFIX}],
        "security": [{"bearerAuth": []}, {"sessionCookie": []}],
        "tags": [{"name": t} for t in dict.fromkeys(ep.tag for ep in core.in_resource_order())],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (wbt_...) or the server's console key (server.json).",
                },
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "wb_session",
                    "description": "The pages' session; calls other than GET also need X-Workbench-Client: browser.",
                },
            },
            "schemas": {"Error": ERROR_SCHEMA},
            "responses": {
                f"E{code}": {
                    "description": text,
                    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in ERRORS.items()
            },
        },
    }


def _param_text(p: core.Param) -> str:
    text = f"`{p.name}`"
    if p.choices:
        text += f" ({'/'.join(p.choices)})"
    return text + ("*" if p.required and p.where == "query" else "")


def markdown() -> str:
    """The README's endpoint table: method, path, what it does, its query parameters (* required)."""
    rows = ["| method | path (under `/api/v1`) | what it does | query parameters |", "| --- | --- | --- | --- |"]
    endpoints = core.in_resource_order()
    for tag in dict.fromkeys(ep.tag for ep in endpoints):
        for ep in [e for e in endpoints if e.tag == tag]:
            query = ", ".join(_param_text(p) for p in ep.params if p.where == "query")
            summary = ep.summary.replace("|", "\\|")
            rows.append(f"| {ep.method} | `{ep.path}` | {summary} | {query} |")
    return "\n".join(rows)


MARKERS = ("<!-- api:start -->", "<!-- api:end -->")


def update_readme(readme: Path) -> bool:
    """Rewrites the endpoint table between the README's markers; True if it changed."""
    from workbench.files import rewrite_between

    return rewrite_between(readme, *MARKERS, markdown())


if __name__ == "__main__":
    from workbench import settings

    update_readme(settings.CHECKOUT / "README.md")
