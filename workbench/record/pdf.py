"""Court records (.docx) to PDF with LibreOffice: PDF/A-2b for an archive, or plain PDF for a proof.

PDF/A-2b (ISO 19005-2, level B) embeds every font and keeps the XMP metadata uncompressed, so the record's
verification code and manifest (carried in the keywords) can be read from the file decades later.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from workbench.record.fill import ExportError

FONTS_CONF = Path(__file__).parent / "templates" / "fonts.conf"
# LibreOffice's PDF export filter with SelectPdfVersion 2: PDF/A-2b (1 would be PDF/A-1b, 3 PDF/A-3b).
PDFA_FILTER = 'pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"}}'


def to_pdf(docx_paths: Sequence[Path], out_dir: Path, timeout: float = 300, *, archival: bool = True) -> list[Path]:
    """Converts .docx files to PDF (PDF/A-2b unless `archival` is False) in one LibreOffice start.

    A private LibreOffice profile lets several conversions run at once; `templates/fonts.conf` maps the
    record's 仿宋/宋体 to Noto Serif CJK SC where the Windows fonts are missing.
    """
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        raise ExportError(
            "LibreOffice is not installed: `apt-get install libreoffice-writer-nogui` (see scripts/setup.sh)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if FONTS_CONF.exists():
        env["FONTCONFIG_FILE"] = str(FONTS_CONF)
    with tempfile.TemporaryDirectory(prefix="workbench-lo-") as profile:
        cmd = [soffice, f"-env:UserInstallation={Path(profile).as_uri()}", "--headless", "--norestore",
               "--convert-to", PDFA_FILTER if archival else "pdf", "--outdir", str(out_dir),
               *map(str, docx_paths)]  # fmt: skip
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as e:
            raise ExportError(
                f"LibreOffice took over {timeout:.0f} s converting {len(docx_paths)} file(s) to PDF"
            ) from e
    pdfs = [out_dir / (Path(p).stem + ".pdf") for p in docx_paths]
    missing = [p.name for p in pdfs if not p.exists()]
    if done.returncode != 0 or missing:
        raise ExportError(
            f"LibreOffice could not convert {', '.join(missing) or 'the files'} to PDF "
            f"(exit {done.returncode}): {(done.stderr or done.stdout).strip()[-500:]}"
        )
    return pdfs


def docx_to_pdf_bytes(docx: bytes, *, timeout: float = 120, archival: bool = True) -> bytes:
    """One .docx's bytes as PDF/A-2b bytes (through a private temporary folder)."""
    with tempfile.TemporaryDirectory(prefix="workbench-pdf-") as tmp:
        source = Path(tmp) / "record.docx"
        source.write_bytes(docx)
        (pdf,) = to_pdf([source], Path(tmp) / "out", timeout, archival=archival)
        return pdf.read_bytes()
