"""`workbench export HEARING... --format docx|srt|vtt|txt|json|csv|rttm --out FILE`.

A stored hearing is exported as an account (`--as`, see `workbench.cli.common`) that may see it, and
each export is audited (EXPORTED, with the format and the written file's sha256). `--from-json` needs
no store and no account.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.cli.common import as_option, db_option, opened_access
from workbench.record import ExportError, RecordOptions, export_docx, export_zip, formats
from workbench.speech.transcript import HearingRecord, SpeakerLabel, Transcript
from workbench.store import audit

if TYPE_CHECKING:
    from workbench.accounts import Access


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


def _from_store(access: Access, hearing_id: int, original: bool) -> HearingRecord:
    """The hearing's record, if the account may see it (NotYours, the same for a missing one, otherwise)."""
    h = access.hearing(hearing_id)
    access.require_export(h.case_id)
    return access.store.hearing_record(h.id, original=original)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


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
@db_option
@as_option
def export_cmd(
    hearings: tuple[str, ...],
    json_files: tuple[Path, ...],
    fmt: str,
    out: Path,
    template: Path | None,
    timestamps: bool,
    line_numbers: bool,
    original: bool,
    db: Path | None,
    as_name: str | None,
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
    with opened_access(db, as_name) as access:
        records = [_from_store(access, i, original) for i in ids] + from_json
        _write(records, fmt, out, options)
        detail = {"format": fmt, "file": out.name, "sha256": _sha256(out), "original": original, "via": "cli"}
        for i in ids:
            access.store.record(access.actor, audit.EXPORTED, hearing_id=i, detail=detail)


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
    draft = sum(not r.verified for r in records)
    note = f" ({draft} not verified: marked 未经核对 / DRAFT)" if fmt == "docx" and draft else ""
    click.echo(f"wrote {out}: {len(records)} hearing(s) as {fmt}{note}")
