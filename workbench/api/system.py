"""System endpoints: GET /health (version, schema, worker, memory), GET /models, GET /openapi.json.

Any signed-in caller (token, console key or session) may read them; `/healthz` (outside the API) stays the
public "ok". The worker and the models loaded come from the server's runtime when there is one
(`runtime_of`, set by `workbench.api.http` in the server); the CLI's in-process door has none, so its
worker is "stopped" (no server runs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import workbench
from workbench.api import core
from workbench.api.core import Call, Reply, endpoint

if TYPE_CHECKING:
    from workbench.server.runtime import Runtime

TAG = "system"

# The server's runtime, or None (the CLI's in-process door). `workbench.api.http` points it at the server's.
runtime_of: Callable[[], Runtime | None] = lambda: None  # noqa: E731


HEALTH_SCHEMA: core.JsonSchema = {
    "type": "object",
    "required": ["version", "schema_version", "worker", "memory", "time"],
    "properties": {
        "version": {"type": "string"},
        "schema_version": {"type": "integer"},
        "worker": {
            "type": "object",
            "required": ["state", "job_id", "pid"],
            "properties": {
                "state": {"type": "string", "enum": ["idle", "running", "stopped"]},
                "job_id": {
                    "type": ["integer", "null"],
                    "description": "A job running now (the lowest id); for admins only (it may be another case's).",
                },
                "pid": {"type": ["integer", "null"], "description": "The process running jobs; null: none."},
            },
        },
        "memory": {
            "type": "object",
            "required": ["rss_mb", "models_loaded"],
            "properties": {
                "rss_mb": {"type": "number", "description": "Server and job processes' resident memory, MB."},
                "models_loaded": {"type": "array", "items": {"type": "string"}},
            },
        },
        "time": {"type": "string", "format": "date-time"},
    },
}


def _worker(rt: Runtime | None, *, show_job: bool) -> dict[str, Any]:
    if rt is None or rt.worker is None or not rt.worker.alive:
        return {"state": "stopped", "job_id": None, "pid": None}
    busy = sorted(rt.worker.busy)
    pids = rt.processes.pids() if rt.processes is not None else [os.getpid()]
    return {
        "state": "running" if busy else "idle",
        "job_id": busy[0] if busy and show_job else None,
        "pid": pids[0] if pids else os.getpid(),
    }


def _memory(rt: Runtime | None) -> dict[str, Any]:
    from workbench.models import memory

    if rt is not None:
        rss, names = rt.total_rss(), [name for name, _ in rt.models()]
    else:
        rss, names = memory.rss_bytes(), [m.name for m in memory.loaded()]
    return {"rss_mb": round(rss / (1024 * 1024), 1), "models_loaded": sorted(set(names))}


@endpoint("GET", "/health", summary="Server health: version, schema, worker, memory", tag=TAG, response=HEALTH_SCHEMA)
def health(call: Call) -> Reply:
    rt = runtime_of()
    return Reply(
        {
            "version": workbench.__version__,
            "schema_version": call.access.store.schema_version(),
            "worker": _worker(rt, show_job=call.access.is_admin),
            "memory": _memory(rt),
            "time": datetime.now().astimezone().isoformat(timespec="seconds"),
        }
    )


MODEL_SCHEMA: core.JsonSchema = {
    "type": "object",
    "required": ["name", "kind", "engine", "path", "size_mb", "default"],
    "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "description": "funasr-asr, funasr-vad, funasr-punc, whisper, pyannote-*, campplus"},
        "engine": {"type": "string", "enum": ["funasr", "whisper", "pyannote", "3d-speaker", "other"]},
        "path": {"type": "string"},
        "size_mb": {"type": "number"},
        "default": {"type": "boolean", "description": "The model used for its kind when none is named."},
    },
}


def engine_of(kind: str) -> str:
    if kind.startswith("funasr-"):
        return "funasr"
    if kind.startswith("pyannote-"):
        return "pyannote"
    if kind == "whisper":
        return "whisper"
    if kind == "campplus":
        return "3d-speaker"
    return "other"


@endpoint(
    "GET",
    "/models",
    summary="The registered speech models",
    tag=TAG,
    params=core.PAGE_PARAMS,
    response=core.page_schema(MODEL_SCHEMA),
)
def models(call: Call) -> Reply:
    from workbench.models import registry

    entries = registry.registered()
    defaults: dict[str, str] = {}
    for e in entries:  # default_of's rule, without listing the folder once per kind
        defaults.setdefault(e.kind, e.name)
        if e.name == registry.DEFAULT_NAMES.get(e.kind):
            defaults[e.kind] = e.name
    items = [
        {
            "name": e.name,
            "kind": e.kind,
            "engine": engine_of(e.kind),
            "path": str(e.path),
            "size_mb": round(e.size_bytes / (1024 * 1024), 1),
            "default": defaults.get(e.kind) == e.name,
        }
        for e in entries
    ]
    return core.paged(call, items)


@endpoint(
    "GET",
    "/openapi.json",
    summary="This API's OpenAPI 3.1 document",
    tag=TAG,
    response={"type": "object", "required": ["openapi", "info", "paths"]},
)
def openapi(call: Call) -> Reply:
    from workbench.api import openapi as doc

    return Reply(doc.document())
