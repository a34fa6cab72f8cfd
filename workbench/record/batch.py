"""Several hearings in one .zip: the court record and any interchange format, one file each per hearing."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from workbench import formats
from workbench.record.fill import ExportError, RecordOptions, render_docx
from workbench.speech.transcript import HearingRecord


def entry_name(record: HearingRecord) -> str:
    """The hearing's name in the .zip: its case number (else the audio's stem), with what Windows forbids replaced."""
    base = record.case_number or Path(record.transcript.file).stem or "hearing"
    return re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", formats.clean_text(base)).strip(" .") or "hearing"


def export_zip(
    records: Iterable[HearingRecord],
    path: Path | IO[bytes],
    options: RecordOptions | None = None,
    formats_: tuple[str, ...] = ("docx",),
) -> Path | IO[bytes]:
    """Several hearings in one .zip: `<case number>.docx` (and any of `formats.FORMATS`) per hearing.

    `path` may be a binary stream (a page's download button takes `io.BytesIO().getvalue()`). Two
    hearings with the same case number get `-2`, `-3`, ... so nothing is overwritten.
    """
    unknown = [f for f in formats_ if f != "docx" and f not in formats.FORMATS]
    if unknown:
        raise ExportError(f"unknown export format(s) {', '.join(unknown)}: choose docx or {', '.join(formats.FORMATS)}")
    if isinstance(path, str | Path):
        path = Path(path)
    used: set[str] = set()
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for record in records:
                stem = entry_name(record)
                name, n = stem, 1
                while name in used:
                    n += 1
                    name = f"{stem}-{n}"
                used.add(name)
                for fmt in formats_:
                    if fmt == "docx":
                        z.writestr(f"{name}.docx", render_docx(record, options))
                    else:
                        text = formats.render(fmt, record.transcript, record.labels)
                        z.writestr(f"{name}.{fmt}", text.encode("utf-8-sig" if fmt == "csv" else "utf-8"))
    except OSError as e:
        raise ExportError(f"{path}: cannot write the .zip ({e.strerror}); check the folder is writable") from e
    return path
