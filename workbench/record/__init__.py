"""The court record (庭审笔录) as Word and PDF, and the transcript's interchange formats.

Callers import the record's API from here (`from workbench.record import export_docx, RecordOptions`), and
the interchange formats as their own module (`from workbench.record import formats`). The parts, each
importing only those listed before it:

- `formats`: json, srt, vtt, txt, csv, rttm from a transcript; `turns()` and `clean_text()` shared by all;
- `ooxml`: WordprocessingML pieces python-docx lacks (runs with breaks and tabs, fields, schema order);
- `template`: what a template may hold (`PLACEHOLDERS`) and the default one, `templates/court_record.docx`;
- `marks`: the "未经核对 / DRAFT" mark and watermark until verified, margin line numbers;
- `fill`: a `HearingRecord` filled into a template: `build_record`, `render_docx`, `export_docx`;
- `batch`: several hearings in one .zip (`export_zip`);
- `pdf`: .docx to PDF with LibreOffice (`to_pdf`), with its own profile and `templates/fonts.conf`.
"""

from workbench.record.batch import export_zip
from workbench.record.fill import NO_SPEECH, ExportError, RecordOptions, build_record, export_docx, render_docx
from workbench.record.marks import DRAFT_MARK
from workbench.record.pdf import to_pdf
from workbench.record.template import DEFAULT_TEMPLATE, PLACEHOLDERS, build_default_template

__all__ = [
    "DEFAULT_TEMPLATE",
    "DRAFT_MARK",
    "NO_SPEECH",
    "PLACEHOLDERS",
    "ExportError",
    "RecordOptions",
    "build_default_template",
    "build_record",
    "export_docx",
    "export_zip",
    "render_docx",
    "to_pdf",
]
