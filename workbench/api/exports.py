"""Exports through the API: a hearing as the court record (.docx) or any interchange format `workbench export`
writes, streamed back as a file; audited like the review page's export (EXPORTED: format, bytes, sha256).

The file's name is the hearing's name inside a batch .zip (its case number; `workbench.record.batch`), so
a client that zips several hearings names them as `workbench export` always has.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workbench.api.core import ApiError, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.record import ExportError, RecordOptions, formats, render_docx
from workbench.record.batch import _entry_name
from workbench.store import audit

CHUNK = 64 << 10  # bytes per streamed chunk

MEDIA_TYPES: dict[str, str] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "json": "application/json",
    "srt": "application/x-subrip",
    "vtt": "text/vtt; charset=utf-8",
    "txt": "text/plain; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "rttm": "text/plain; charset=utf-8",
}
FORMATS: tuple[str, ...] = ("docx", *formats.FORMATS)
ENCODINGS = {"csv": "utf-8-sig"}  # Excel reads a CSV as the local code page without a BOM (as `formats.write`)
DESCRIPTIONS = {
    "docx": "庭审笔录 the court record (Word), marked 未经核对 / DRAFT until verified",
    "json": "the transcript with speaker labels (what `workbench export --from-json` reads)",
    "srt": "SubRip subtitles",
    "vtt": "WebVTT subtitles",
    "txt": "plain text, one turn a paragraph",
    "csv": "one row per segment (UTF-8 with a BOM, for Excel)",
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


def render(record: Any, fmt: str, options: RecordOptions) -> bytes:
    """The hearing record as `fmt`'s bytes, exactly as `workbench export` writes them to a file."""
    if fmt == "docx":
        return render_docx(record, options)
    return formats.render(fmt, record.transcript, record.labels).encode(ENCODINGS.get(fmt, "utf-8"))


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
    summary="A hearing as the court record (.docx) or an interchange format, as a file (audited)",
    tag="exports",
    params=(
        Param("hearing_id", int, "path", required=True, help="The hearing's id."),
        Param("format", str, help="docx (the court record) or an interchange format.", choices=FORMATS,
              default="docx"),
        Param("original", bool, help="The original recognition instead of the corrected text.", default=False),
        Param("timestamps", bool, help="docx: the start time before each turn, [00:12:03].", default=False),
        Param("line_numbers", bool, help="docx: line numbers in the margin, restarting on each page.",
              default=False),
        Param("template", str, help="docx: a court template's path on the server (the CLI's in-process door only)."),
    ),
    media_types=tuple(dict.fromkeys(MEDIA_TYPES.values())),
)  # fmt: skip
def export_hearing(call: Call) -> Reply:
    access = call.access
    fmt = call.params["format"]
    if fmt not in FORMATS:  # `choices` refuses it at the door; a direct call is checked here too
        raise ApiError(422, "bad_param", f"format: 应为 {', '.join(FORMATS)} 之一 (got {str(fmt)[:40]!r})")
    template = _template(call)
    hearing = access.hearing(call.params["hearing_id"])  # another case's: the same 404 as a missing one
    access.require_export(hearing.case_id)
    original = bool(call.params["original"])
    options = RecordOptions(
        timestamps=bool(call.params["timestamps"]), line_numbers=bool(call.params["line_numbers"]), template=template
    )
    record = access.store.hearing_record(hearing.id, original=original)
    try:
        body = render(record, fmt, options)
    except ExportError as e:  # a template that cannot be used
        raise ApiError(422, "bad_template", str(e)) from e
    file_name = f"{_entry_name(record)}.{fmt}"
    detail: dict[str, Any] = {"format": fmt, "sha256": hashlib.sha256(body).hexdigest(), "bytes": len(body),
                              "file": file_name, "original": original, "via": "api"}  # fmt: skip
    if fmt == "docx":
        detail.update(timestamps=options.timestamps, line_numbers=options.line_numbers, verified=record.verified)
        if template is not None:
            detail["template"] = str(template)
    # Audited before the first byte leaves, with the hash of exactly the bytes that will.
    access.store.record(access.actor, audit.EXPORTED, case_id=hearing.case_id, hearing_id=hearing.id, detail=detail)
    return Reply(
        stream=chunks(body),
        media_type=MEDIA_TYPES[fmt],
        filename=file_name,
        headers={"Content-Length": str(len(body)), "X-Workbench-Verified": "true" if record.verified else "false"},
    )
