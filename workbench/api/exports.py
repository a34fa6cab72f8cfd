"""Exports through the API: a hearing as the court record (.docx, .pdf) or an interchange format, a preview of
the redactions a profile would make, and the verification of a file a court was given.

Every export goes through `workbench.issuing.issue`: sealed parts left out, the chosen redaction applied (the
ids in `keep` left as they are), the record manifest and its code in a .docx/.pdf, and the EXPORTED audit row
(format, bytes, sha256, code, manifest) written before the first byte leaves. The file's name is the
hearing's name inside a batch .zip (its case number; `workbench.record.batch`), with the profile when redacted.

`GET /hearings/{id}/redactions` lists what a profile would change, for the clerk to untick a false find; it
reads the record's text, so it is audited as the hearing opened (once per account and client in a while, as
the segments' reads are). `POST /records/verify` takes the file's raw bytes (at most `VERIFY_MAX_BYTES`);
any signed-in account may ask, and the report for a hearing the caller may not see is the one for a code this
server never issued. It is a raw route (`routes()`: the generic door reads only JSON and multipart bodies);
in-process (the CLI without a server) the bytes come as the call's body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from workbench.api.core import PREFIX, ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.api.segments import audit_opened
from workbench.issuing import FORMATS, MEDIA_TYPES, PdfError, issue, preview_redactions, verify
from workbench.record import DRAFT_MARK, ExportError, RecordOptions
from workbench.record.redact import PROFILES, Redaction

if TYPE_CHECKING:
    from workbench.accounts import Access

log = logging.getLogger("workbench.api.exports")

CHUNK = 64 << 10  # bytes per streamed chunk
VERIFY_MAX_BYTES = 50 << 20  # a court record of a long hearing is a few MB; a PDF with fonts some more
KEEP_MAX = 1000  # kept redaction ids in one export
NAME_MAX = 255

DESCRIPTIONS = {
    "docx": f"庭审笔录 the court record (Word) with its manifest and verification code; {DRAFT_MARK} until approved",
    "pdf": "庭审笔录 the court record as PDF/A-2b (LibreOffice), with the same manifest and code, for archives",
    "json": "the transcript with speaker labels (what `workbench export --from-json` reads)",
    "srt": "SubRip subtitles",
    "vtt": "WebVTT subtitles",
    "txt": "plain text, one turn a paragraph",
    "csv": "one row per segment (UTF-8 with a BOM, for Excel; formula cells neutralised)",
    "rttm": "who spoke when (NIST RTTM)",
}

FORMAT: JsonSchema = {
    "type": "object",
    "required": ["name", "media_type", "extension", "description"],
    "properties": {
        "name": {"type": "string"},
        "media_type": {"type": "string"},
        "extension": {"type": "string"},
        "description": {"type": "string"},
    },
}
REDACTION: JsonSchema = {
    "type": "object",
    "required": ["id", "kind", "text", "replacement", "reason", "where", "segment_start"],
    "properties": {
        "id": {"type": "string", "description": "Stable across runs: pass it in `keep` to leave this one as it is."},
        "kind": {"type": "string"},
        "text": {"type": "string", "description": "What was found."},
        "replacement": {"type": "string", "description": "What the export shows instead."},
        "reason": {"type": "string"},
        "where": {
            "type": "string",
            "description": "s<segment index>, label:S1, party:<i>, rep:<i>:<j>, corr:<n>:… (the appendix) "
            "or trail:<i>:reason (a sign-off step).",
        },
        "segment_start": {"type": ["number", "null"], "description": "Seconds into the hearing."},
    },
}
VERIFY_REPORT: JsonSchema = {
    "type": "object",
    "required": ["ok", "file", "kind", "code", "hearing_id", "exported_state", "exported_at", "exporter",
                 "state_now", "findings"],
    "properties": {
        "ok": {"type": "boolean", "description": "True only when nothing differs."},
        "file": {"type": "string"},
        "kind": {"type": "string"},
        "code": {"type": ["string", "null"]},
        "hearing_id": {"type": ["integer", "null"]},
        "exported_state": {"type": ["string", "null"]},
        "exported_at": {"type": ["string", "null"]},
        "exporter": {"type": ["string", "null"]},
        "state_now": {"type": ["string", "null"]},
        "findings": {"type": "array", "items": {"type": "string"}},
    },
}  # fmt: skip


def chunks(body: bytes) -> Iterator[bytes]:
    for at in range(0, len(body), CHUNK):
        yield body[at : at + CHUNK]


def _template(call: Call) -> Path | None:
    """A court's template file, named by path: only the CLI's in-process door (an operator with a shell) may."""
    raw = call.params["template"]
    if not raw:
        return None
    if not call.local:
        raise ApiError(
            422,
            "bad_param",
            "template: 只能在服务器上的命令行中指定模板文件 "
            "(only the CLI on the server's own shell may name a template file; the server uses its default one)",
        )
    path = Path(raw).expanduser()
    if not path.is_file() or path.suffix.lower() != ".docx":
        raise ApiError(422, "bad_param", f"template: {raw[:200]}: 不是 .docx 文件 (not a .docx file)")
    return path


def keep_ids(raw: str | None) -> list[str]:
    """`keep=id,id`: the redaction ids to leave as they are (the preview's ids)."""
    ids = [part.strip() for part in (raw or "").split(",") if part.strip()]
    if len(ids) > KEEP_MAX:
        raise ApiError(422, "bad_param", f"keep: 最多 {KEEP_MAX} 项 (at most {KEEP_MAX} ids)")
    return ids


def redaction_json(r: Redaction) -> dict[str, Any]:
    return {"id": r.id, "kind": r.kind, "text": r.text, "replacement": r.replacement, "reason": r.reason,
            "where": r.where, "segment_start": r.segment_start}  # fmt: skip


@endpoint("GET", "/exports/formats", summary="The formats a hearing exports as", tag="exports",
          response=page_schema(FORMAT))  # fmt: skip
def list_formats(call: Call) -> Reply:
    items = [
        {"name": f, "media_type": MEDIA_TYPES[f], "extension": f, "description": DESCRIPTIONS.get(f, "")}
        for f in FORMATS
    ]
    return paged(call, items)


@endpoint(
    "GET",
    "/hearings/{hearing_id}/export",
    summary="A hearing as the court record (.docx, .pdf) or an interchange format, as a file (audited)",
    tag="exports",
    params=(
        Param("hearing_id", int, "path", required=True, help="The hearing's id."),
        Param("format", str, help="docx or pdf (the court record) or an interchange format.", choices=FORMATS,
              default="docx"),
        Param("original", bool, help="The original recognition instead of the corrected text.", default=False),
        Param("timestamps", bool, help="docx/pdf: the start time before each turn, [00:12:03].", default=False),
        Param("line_numbers", bool, help="docx/pdf: line numbers in the margin, restarting on each page.",
              default=False),
        Param("redact", str, help="Redaction profile (the stored text never changes).", choices=PROFILES,
              default="none"),
        Param("keep", str, help="Redaction ids to leave as they are, comma-separated (from the preview)."),
        Param("template", str, help="docx: a court template's path on the server (the CLI's in-process door only)."),
    ),
    media_types=tuple(dict.fromkeys(MEDIA_TYPES.values())),
)  # fmt: skip
def export_hearing(call: Call) -> Reply:
    fmt = call.params["format"]
    if fmt not in FORMATS:  # `choices` refuses it at the door; a direct call is checked here too
        raise ApiError(422, "bad_param", f"format: 应为 {', '.join(FORMATS)} 之一 (got {str(fmt)[:40]!r})")
    template = _template(call)
    options = RecordOptions(
        timestamps=bool(call.params["timestamps"]), line_numbers=bool(call.params["line_numbers"]), template=template
    )
    try:
        issued = issue(
            call.access, call.params["hearing_id"], fmt, options, original=bool(call.params["original"]),
            redact=call.params["redact"] or "none", keep=keep_ids(call.params["keep"]),
            via="api",  # the actor's client says which door (cli:login@host for the in-process one)
        )  # fmt: skip
    except PdfError as e:  # LibreOffice missing or failing: the server's side
        raise ApiError(503, "pdf_failed", str(e)) from e
    except ExportError as e:  # a template that cannot be used
        raise ApiError(422, "bad_template", str(e)) from e
    headers = {"Content-Length": str(len(issued.body)), "X-Workbench-Redactions": str(len(issued.redactions))}
    if issued.manifest is not None:
        headers["X-Workbench-Code"] = issued.manifest.code()
        headers["X-Workbench-State"] = issued.manifest.state
        headers["X-Workbench-Approved"] = "true" if issued.manifest.state in ("approved", "locked") else "false"
    return Reply(stream=chunks(issued.body), media_type=issued.media_type, filename=issued.file_name, headers=headers)


@endpoint(
    "GET",
    "/hearings/{hearing_id}/redactions",
    summary="Every redaction a profile would make in the hearing's export, with its reason (audited as opened)",
    tag="exports",
    params=(
        Param("hearing_id", int, "path", required=True, help="The hearing's id."),
        Param("profile", str, help="The redaction profile.", choices=PROFILES, default="publication"),
        Param("original", bool, help="The original recognition instead of the corrected text.", default=False),
    ),
    response={"type": "object", "required": ["profile", "items"],
              "properties": {"profile": {"type": "string"}, "items": {"type": "array", "items": REDACTION}}},
)  # fmt: skip
def list_redactions(call: Call) -> Reply:
    access = call.access
    hearing = access.hearing(call.params["hearing_id"])  # another case's: the same 404 as a missing one
    profile = call.params["profile"] or "publication"
    found = preview_redactions(access, hearing.id, profile, original=bool(call.params["original"]))
    audit_opened(access, hearing.id, hearing.case_id, "redactions")  # it shows the identifiers it found
    return Reply({"profile": profile, "items": [redaction_json(r) for r in found]})


def _name(raw: Any) -> str:
    name = str(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    return "".join(ch for ch in name if ch >= " " and ch != "\x7f")[:NAME_MAX]


def _too_large() -> ApiError:
    return ApiError(
        413,
        "too_large",
        f"文件超过 {VERIFY_MAX_BYTES >> 20} MB，不是本系统导出的笔录 (file larger than a record can be)",
    )


def verify_bytes(access: Access, data: bytes, name: str) -> dict[str, Any]:
    if not data:
        raise ApiError(422, "empty_body", "请求体应为要验证的文件 (send the file's bytes as the body)")
    if len(data) > VERIFY_MAX_BYTES:
        raise _too_large()
    return verify(access, data, _name(name)).to_dict()


def _verify_in_process(call: Call) -> Reply:
    """The in-process door (the CLI with no server): the call's body is the file's bytes."""
    if not isinstance(call.body, (bytes, bytearray)):
        raise ApiError(415, "unsupported_media_type", "请求体应为文件的原始字节 (the body is the file's raw bytes)")
    return Reply(verify_bytes(call.access, bytes(call.body), call.params.get("name") or ""))


verify_file = endpoint(
    "POST",
    "/records/verify",
    summary=f"Verify a court record file (.docx/.pdf, raw bytes as the body, at most {VERIFY_MAX_BYTES >> 20} MB) "
    "against the store: issued here, and what differs now",
    tag="exports",
    params=(Param("name", str, help="The file's name, for the report."),),
    body={"type": "string", "format": "binary"},
    response=VERIFY_REPORT,
    media_types=("application/octet-stream",),
    raw=True,
)(_verify_in_process)


async def _read_limited(request: Request) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.strip().isdigit() and int(length) > VERIFY_MAX_BYTES:
        raise _too_large()  # refused before a byte is read
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > VERIFY_MAX_BYTES:
            raise _too_large()
    return bytes(data)


async def verify_route(request: Request) -> Response:
    """POST /api/v1/records/verify over HTTP: who asks first, then the body (bounded), then the report."""
    started = time.monotonic()
    response = await _verify_answer(request)
    log.info("%s %s %d %.0fms", request.method, request.url.path, response.status_code,
             (time.monotonic() - started) * 1000)  # fmt: skip
    return response


async def _verify_answer(request: Request) -> Response:
    from workbench.api import http
    from workbench.api.core import api_error

    try:
        access = await http.authenticate(request)
        unknown = sorted(set(request.query_params) - {"name"})
        if unknown:
            raise ApiError(422, "unknown_param", f"{', '.join(unknown)}: 不认识的参数 (unknown parameter)")
        data = await _read_limited(request)
        report = await run_in_threadpool(verify_bytes, access, data, request.query_params.get("name", ""))
    except ApiError as e:
        return http.error_response(e)
    except ClientDisconnect:
        return Response(status_code=400, headers={"cache-control": "no-store"})
    except Exception as e:
        mapped = api_error(e)
        if mapped is None:
            log.exception("POST %s failed", request.url.path)
            mapped = ApiError(
                500, "internal", "服务器内部错误 (internal server error); 详见服务器日志 (see the server log)"
            )
        return http.error_response(mapped)
    return JSONResponse(report, headers={"cache-control": "no-store"})


def routes() -> list[Route]:
    """The raw verify route, mounted by `workbench.api.http.routes` before the generic `/api/v1` adapter."""
    return [Route(f"{PREFIX}/records/verify", verify_route, methods=["POST"])]
