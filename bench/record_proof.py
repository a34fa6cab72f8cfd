"""Renders docs/record-proof.png: page 1 of an issued (approved, locked) record as PDF/A-2b, footer code showing.

    .venv/bin/python bench/record_proof.py [--out docs/record-proof.png] [--dpi 80]

The record is the test sample (tests/hearing_samples.py), locked, with its sign-off steps; the manifest is
made as `workbench.issuing` makes it. Prints the code, the PDF's pdfaid part and what read_evidence finds.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from hearing_samples import sample_record  # noqa: E402

from workbench.record import Manifest, body_lines, docx_to_pdf_bytes, read_evidence, render_docx, text_sha256  # noqa: E402
from workbench.speech.transcript import SignoffNote  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "record-proof.png")
    parser.add_argument("--dpi", type=int, default=80)
    args = parser.parse_args()
    record = dataclasses.replace(
        sample_record(state="locked"),
        signoffs=(
            SignoffNote("checked", "liuyang", "2024-03-05T12:00:00"),
            SignoffNote("approved", "zhangming", "2024-03-05T15:30:00"),
            SignoffNote("locked", "liuyang", "2024-03-05T16:00:00"),
        ),
    )
    lines = body_lines(record)
    manifest = Manifest(
        hearing_id=record.hearing_id or 0, case_number=record.case_number, state=record.state,
        audio_sha256=record.transcript.sha256, text_sha256=text_sha256(lines), lines=len(lines),
        edits_head="", exported_at="2024-03-06T10:00:00+08:00", exporter="liuyang", format="pdf",
        options={"original": False, "timestamps": False, "line_numbers": False, "redact": "none", "kept": [],
                 "sealed": 0},
    )  # fmt: skip
    pdf = docx_to_pdf_bytes(render_docx(record, None, manifest))
    evidence = read_evidence(pdf, "record.pdf")
    part = re.search(rb"<pdfaid:part>(\d)</pdfaid:part>", pdf)
    print(f"code {manifest.code()}  pdfaid:part {part.group(1).decode() if part else '-'}  "
          f"read back: {evidence.code} problems: {evidence.problems or 'none'}")  # fmt: skip
    if shutil.which("pdftoppm") is None:
        print("pdftoppm not found: apt-get install poppler-utils", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "record.pdf"
        source.write_bytes(pdf)
        stem = Path(tmp) / "page"
        subprocess.run(["pdftoppm", "-r", str(args.dpi), "-png", "-f", "1", "-l", "1", "-singlefile",
                        str(source), str(stem)], check=True)  # fmt: skip
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stem.with_suffix(".png"), args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0 if evidence.code == manifest.code() else 1


if __name__ == "__main__":
    sys.exit(main())
