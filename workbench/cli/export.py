"""`workbench export HEARING... --format docx|srt|vtt|txt|json|csv|rttm --out FILE`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from workbench.record import ExportError, RecordOptions, export_docx, export_zip, formats
from workbench.speech.transcript import HearingRecord, SpeakerLabel, Transcript


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


def _from_store(hearing: str, original: bool) -> HearingRecord:
    try:
        import workbench.store as store  # opens DuckDB; --from-json must work without it
    except ModuleNotFoundError as e:
        if e.name != "workbench.store":
            raise
        raise click.ClickException("this installation has no hearing store yet: use --from-json TRANSCRIPT.json") from e
    if not hearing.isdigit():
        raise click.UsageError(
            f"HEARING is a hearing id (a number), got {hearing!r}; `workbench hearings list` shows them"
        )
    try:
        with store.Store() as st:
            return st.hearing_record(int(hearing), original=original)
    except store.StoreError as e:
        raise click.ClickException(str(e)) from e


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
def export_cmd(
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
    """
    if not hearings and not json_files:
        raise click.UsageError("give a HEARING id, or --from-json TRANSCRIPT.json")
    records = [_from_store(h, original) for h in hearings] + [_from_json(p, original) for p in json_files]
    options = RecordOptions(timestamps=timestamps, line_numbers=line_numbers, template=template)
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
