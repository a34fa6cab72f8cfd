"""`workbench export HEARING... --format docx|pdf|srt|vtt|txt|json|csv|rttm --out FILE [--redact PROFILE]`.

A stored hearing is fetched through the API (`with_api`: the running server, else this process on the
store) as an account that may see it; the API issues it (`workbench.issuing.issue`: sealed parts left out,
the redaction profile applied, the record manifest and its verification code in a .docx/.pdf) and audits
it (EXPORTED, with the sha256 of the bytes it sent, which are the file written here, and the code).
`--preview` lists the redactions a profile would make (id, time, what, replacement, why) and writes
nothing; `--keep ID` leaves one as it is. Several hearings, or a .zip, are zipped here, each under the name
the API gives (its case number, as `export_zip` names them). `--from-json` needs no store and no account
(no manifest: it is not a stored record). `--template` names a file on this machine: only without a server
(the server renders the record with its own template).
"""

from __future__ import annotations

import io
import json
import unicodedata
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench import formats
from workbench.cli.common import with_api
from workbench.record import DRAFT_MARK, ExportError, RecordOptions, export_zip, render_docx
from workbench.record.pdf import docx_to_pdf_bytes
from workbench.record.redact import PROFILES, redact
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
    """Whether a court record carries the draft mark (in a header, where `mark_draft` puts it), until approval."""
    if not docx_bytes.startswith(b"PK"):  # a PDF: its mark is drawn on the page, the manifest says the state
        return _code_and_state(docx_bytes)[1] not in ("approved", "locked")
    with zipfile.ZipFile(io.BytesIO(docx_bytes)) as z:
        headers = [n for n in z.namelist() if n.startswith("word/header") and n.endswith(".xml")]
        return any(DRAFT_MARK in z.read(n).decode("utf-8", "replace") for n in headers)


def _code_and_state(body: bytes) -> tuple[str | None, str | None]:
    """The verification code and exported state a record file carries (None, None for another format)."""
    from workbench.record.evidence import read_evidence

    manifest = read_evidence(body).manifest
    return (manifest.code(), manifest.state) if manifest else (None, None)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    s = int(seconds)
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _preview(api: Api, ids: list[int], profile: str, original: bool) -> None:
    """The redactions `profile` would make, one table per hearing; nothing is written."""
    for hid in ids:
        found = api.call(
            "GET", f"/hearings/{hid}/redactions", params={"profile": profile, "original": original or None}
        )["items"]
        click.echo(f"hearing {hid}: {len(found)} redaction(s) by {profile} (--keep ID leaves one as it is)")
        if not found:
            continue
        rows = [("ID", "TIME", "KIND", "TEXT", "SHOWN AS", "REASON")]
        rows += [(r["id"], _clock(r["segment_start"]), r["kind"], r["text"], r["replacement"], r["reason"])
                 for r in found]  # fmt: skip
        widths = [max(_width(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [str(cell) + " " * (w - _width(str(cell))) for cell, w in zip(row, widths, strict=False)]
            click.echo("  ".join([*cells, str(row[-1])]))


def _width(text: str) -> int:
    """Columns a text takes in a terminal: a Chinese character (or a full-width digit) takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _local_record(record: HearingRecord, profile: str, keep: tuple[str, ...]) -> HearingRecord:
    return record if profile == "none" else redact(record, profile, keep).record


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
    type=click.Choice(("docx", "pdf", *formats.FORMATS)),
    default="docx",
    show_default=True,
    help="docx is the court record (庭审笔录), pdf the same as PDF/A-2b for archives (LibreOffice); the others "
    "are the transcript's interchange formats.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file (required unless --preview); a .zip (or several hearings) gives one file per hearing inside it.",
)
@click.option(
    "--redact",
    "profile",
    type=click.Choice(PROFILES),
    default="none",
    show_default=True,
    help="Redaction profile: publication (names → surname + 某 where the case kind asks, ID/phone/bank numbers, "
    "e-mail, plates, addresses → ×××), us-frcp (FRCP 5.2). The stored text never changes.",
)
@click.option(
    "--keep", multiple=True, metavar="ID", help="Leave this redaction as it is (an id --preview lists; repeatable)."
)
@click.option(
    "--preview", is_flag=True, help="List the redactions --redact would make, with their reasons; write nothing."
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
    out: Path | None,
    template: Path | None,
    timestamps: bool,
    line_numbers: bool,
    original: bool,
    profile: str,
    keep: tuple[str, ...],
    preview: bool,
) -> None:
    """Export hearings as the court record (.docx, .pdf) or as SRT, WebVTT, text, JSON, CSV or RTTM.

    Until a judge approves a hearing, its record carries a "未经审批 / DRAFT" mark on every page. Sealed parts
    (不公开) are left out, a line with their times and reason in their place. Each stored hearing exported is
    audited with the format, the output file's sha256 and the verification code (`workbench verify FILE`).
    """
    if not hearings and not json_files:
        raise click.UsageError("give a HEARING id, or --from-json TRANSCRIPT.json")
    if keep and profile == "none":
        raise click.UsageError("--keep needs --redact PROFILE (the redactions it keeps are that profile's)")
    ids = [_hearing_id(h) for h in hearings]
    if preview:
        if profile == "none":
            raise click.UsageError("--preview needs --redact PROFILE (what would it preview?)")
        if json_files or not ids:
            raise click.UsageError("--preview lists a stored hearing's redactions: give a HEARING id")
        _preview(api, ids, profile, original)
        return
    if out is None:
        raise click.UsageError("give --out FILE (or --preview to list the redactions without writing)")
    if fmt == "pdf" and json_files and ids:
        raise click.UsageError("--format pdf: export stored hearings and --from-json files separately")
    from_json = [_local_record(_from_json(p, original), profile, keep) for p in json_files]
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
    if profile != "none":
        params["redact"] = profile
        if keep:
            params["keep"] = ",".join(keep)
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
    record_format = fmt in ("docx", "pdf")
    draft = sum(_is_draft(body) for _, body in fetched) if record_format else 0
    draft += sum(not r.approved for r in from_json) if record_format else 0
    _done(out, len(fetched) + len(from_json), fmt, draft)
    if record_format:
        for name, body in fetched:
            code, _ = _code_and_state(body)
            if code:
                click.echo(f"  {name}: 验证码 (verification code) {code}")


def _write(records: list[HearingRecord], fmt: str, out: Path, options: RecordOptions) -> None:
    """`--from-json` records written here (no store: no manifest, no audit)."""
    try:
        if len(records) > 1 or out.suffix.lower() == ".zip":
            if fmt == "pdf":
                raise click.UsageError("--format pdf: one --from-json file at a time (a .zip of PDFs: export docx)")
            export_zip(records, out, options, formats_=(fmt,))
        elif fmt in ("docx", "pdf"):
            body = render_docx(records[0], options)
            out.write_bytes(docx_to_pdf_bytes(body) if fmt == "pdf" else body)
        else:
            formats.write(fmt, records[0].transcript, out, records[0].labels)
    except (ExportError, OSError) as e:
        raise click.ClickException(str(e)) from e
    _done(out, len(records), fmt, sum(not r.approved for r in records))


def _done(out: Path, hearings: int, fmt: str, draft: int) -> None:
    note = f" ({draft} not approved: marked {DRAFT_MARK})" if fmt in ("docx", "pdf") and draft else ""
    click.echo(f"wrote {out}: {hearings} hearing(s) as {fmt}{note}")
