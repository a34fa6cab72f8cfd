"""`workbench export HEARING... --format docx|srt|vtt|txt|json|csv|rttm --out FILE`.

A stored hearing is fetched through the API (`with_api`: the running server, else this process on the
store) as an account that may see it; the API audits each export (EXPORTED, with the format and the
sha256 of the bytes it sent, which are the file written here). Several hearings, or a .zip, are zipped
here, each under the name the API gives (its case number, as `export_zip` names them). `--from-json`
needs no store and no account. `--template` names a file on this machine: only without a server (the
server renders the record with its own template).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import with_api
from workbench.record import DRAFT_MARK, ExportError, RecordOptions, export_docx, export_zip, formats
from workbench.speech.transcript import HearingRecord, SpeakerLabel, Transcript

if TYPE_CHECKING:
    from workbench.api.client import Api


def _from_json(path: Path, original: bool) -> HearingRecord:
    """A pipeline JSON file as a record without header fields; the labels our json export adds are kept."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        transcript = Transcript.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise click.ClickException(
            f"{path}: not a transcript JSON ({type(e).__name__}: {e}); give a file `workbench transcribe` wrote"
        ) from e
    labels = {
        sid: SpeakerLabel(role=lab.get("role"), name=lab.get("name")) for sid, lab in (data.get("labels") or {}).items()
    }
    return HearingRecord(transcript=transcript, labels=labels, original_text=original)


def _hearing_id(text: str) -> int:
    if not text.isdigit():
        raise click.UsageError(
            f"HEARING is a hearing id (a number), got {text!r}; `workbench hearings list` shows them"
        )
    return int(text)


def _fetch(api: Api, hearing_id: int, params: dict[str, str]) -> tuple[str, bytes]:
    """The hearing's file as the API renders it (and audits): its name and bytes."""
    buffer = io.BytesIO()
    name = api.download(f"/hearings/{hearing_id}/export", params, buffer)
    return name, buffer.getvalue()


def _is_draft(docx_bytes: bytes) -> bool:
    """Whether a court record carries the "not verified" mark (in a header, where `mark_draft` puts it)."""
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as z:
        headers = [n for n in z.namelist() if n.startswith("word/header") and n.endswith(".xml")]
        return any(DRAFT_MARK in z.read(n).decode("utf-8", "replace") for n in headers)


def _entries(records: list[HearingRecord], fmt: str, options: RecordOptions) -> list[tuple[str, bytes]]:
    """`--from-json` records as (name, bytes), named as `export_zip` names them."""
    stream = io.BytesIO()
    export_zip(records, stream, options, formats_=(fmt,))
    with zipfile.ZipFile(stream) as z:
        return [(n, z.read(n)) for n in z.namelist()]


def _zip(entries: list[tuple[str, bytes]], out: Path) -> None:
    """One .zip of the files; a name used twice gets -2, -3, ... (as `export_zip`)."""
    used: set[str] = set()
    try:
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for name, body in entries:
                stem, dot, ext = name.rpartition(".")
                if not dot:
                    stem, ext = name, ""
                unique, n = stem, 1
                while unique in used:
                    n += 1
                    unique = f"{stem}-{n}"
                used.add(unique)
                z.writestr(f"{unique}.{ext}" if ext else unique, body)
    except OSError as e:
        raise click.ClickException(f"{out}: cannot write the .zip ({e.strerror}); check the folder is writable") from e


@click.command("export")
@click.argument("hearings", metavar="HEARING...", nargs=-1)
@click.option(
    "--from-json",
    "json_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A transcript JSON written by `workbench transcribe`, instead of a stored hearing (repeatable).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("docx", *formats.FORMATS)),
    default="docx",
    show_default=True,
    help="docx is the court record (庭审笔录); the others are the transcript's interchange formats.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file; a .zip (or several hearings) gives one file per hearing inside it.",
)
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The court's own .docx with {{placeholders}} (default: workbench/templates/court_record.docx).",
)
@click.option("--timestamps", is_flag=True, help="Start time before each turn, [00:12:03].")
@click.option("--line-numbers", is_flag=True, help="Line numbers in the margin, restarting on each page.")
@click.option("--original", is_flag=True, help="The original recognition instead of the corrected text.")
@with_api
def export_cmd(
    api: Api,
    hearings: tuple[str, ...],
    json_files: tuple[Path, ...],
    fmt: str,
    out: Path,
    template: Path | None,
    timestamps: bool,
    line_numbers: bool,
    original: bool,
) -> None:
    """Export hearings as the court record (.docx) or as SRT, WebVTT, text, JSON, CSV or RTTM.

    Until a hearing is marked verified, its record carries a "未经核对 / DRAFT" mark on every page.
    Each stored hearing exported is audited with the format and the output file's sha256.
    """
    if not hearings and not json_files:
        raise click.UsageError("give a HEARING id, or --from-json TRANSCRIPT.json")
    ids = [_hearing_id(h) for h in hearings]
    from_json = [_from_json(p, original) for p in json_files]
    options = RecordOptions(timestamps=timestamps, line_numbers=line_numbers, template=template)
    if not ids:
        _write(from_json, fmt, out, options)
        return
    if template is not None and api.remote:
        raise click.UsageError(
            "--template: the server renders the record with its own template; stop the server to use this file, "
            "or export --format json and render it here with --from-json"
        )
    params: dict[str, Any] = {"format": fmt}
    for name, on in (("original", original), ("timestamps", timestamps), ("line_numbers", line_numbers)):
        if on:
            params[name] = "true"
    if template is not None:
        params["template"] = str(template.absolute())
    fetched = [_fetch(api, i, params) for i in ids]  # each audited by the API as it is sent
    zipped = len(fetched) + len(from_json) > 1 or out.suffix.lower() == ".zip"
    try:
        if zipped:
            _zip(fetched + _entries(from_json, fmt, options), out)
        else:
            out.write_bytes(fetched[0][1])
    except OSError as e:
        raise click.ClickException(
            f"{out}: cannot write the {fmt} export ({e.strerror}); check the folder exists and is writable"
        ) from e
    draft = sum(_is_draft(body) for _, body in fetched) if fmt == "docx" else 0
    draft += sum(not r.verified for r in from_json) if fmt == "docx" else 0
    _done(out, len(fetched) + len(from_json), fmt, draft)


def _write(records: list[HearingRecord], fmt: str, out: Path, options: RecordOptions) -> None:
    try:
        if len(records) > 1 or out.suffix.lower() == ".zip":
            export_zip(records, out, options, formats_=(fmt,))
        elif fmt == "docx":
            export_docx(records[0], out, options)
        else:
            formats.write(fmt, records[0].transcript, out, records[0].labels)
    except (ExportError, OSError) as e:
        raise click.ClickException(str(e)) from e
    _done(out, len(records), fmt, sum(not r.verified for r in records))


def _done(out: Path, hearings: int, fmt: str, draft: int) -> None:
    note = f" ({draft} not verified: marked 未经核对 / DRAFT)" if fmt == "docx" and draft else ""
    click.echo(f"wrote {out}: {hearings} hearing(s) as {fmt}{note}")
