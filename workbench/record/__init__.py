"""The court record (庭审笔录) as Word and PDF.

Callers import the record's API from here (`from workbench.record import export_docx, RecordOptions`). The
transcript's interchange formats (json, srt, vtt, txt, csv, rttm) are `workbench.formats`, outside this
package, so that writing transcript files never loads python-docx; the record shares its `turns()` and
`clean_text()`. The parts, each importing only those listed before it:

- `manifest`: the record manifest and its verification code (`Manifest`, `code()`), `body_lines()` (the
  dialogue paragraphs' text) and `text_sha256()`;
- `sealing`: sealed parts (不公开) replaced by one placeholder line each (`seal`);
- `ooxml`: WordprocessingML pieces python-docx lacks (runs with breaks and tabs, fields, schema order,
  bookmarks, the custom properties part);
- `template`: what a template may hold (`PLACEHOLDERS`) and the default one, `templates/court_record.docx`;
- `marks`: the "未经审批 / DRAFT" mark and watermark until approved, the code in every footer, line numbers;
- `fill`: a `HearingRecord` filled into a template: `build_record`, `render_docx`, `export_docx`;
- `batch`: several hearings in one .zip (`export_zip`);
- `pdf`: .docx to PDF/A-2b with LibreOffice (`to_pdf`, `docx_to_pdf_bytes`), with its own profile and fonts;
- `evidence`: what an exported .docx/.pdf says about itself (`read_evidence`): manifest, code, dialogue lines.
"""

from workbench.record.batch import export_zip
from workbench.record.evidence import Evidence, read_evidence
from workbench.record.fill import NO_SPEECH, ExportError, RecordOptions, build_record, export_docx, render_docx
from workbench.record.manifest import Manifest, body_lines, text_sha256
from workbench.record.marks import DRAFT_MARK
from workbench.record.pdf import docx_to_pdf_bytes, to_pdf
from workbench.record.sealing import seal
from workbench.record.template import DEFAULT_TEMPLATE, PLACEHOLDERS, build_default_template

__all__ = [
    "DEFAULT_TEMPLATE",
    "DRAFT_MARK",
    "NO_SPEECH",
    "PLACEHOLDERS",
    "Evidence",
    "ExportError",
    "Manifest",
    "RecordOptions",
    "body_lines",
    "build_default_template",
    "build_record",
    "docx_to_pdf_bytes",
    "export_docx",
    "export_zip",
    "read_evidence",
    "render_docx",
    "seal",
    "text_sha256",
    "to_pdf",
]
