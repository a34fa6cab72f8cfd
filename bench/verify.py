"""`workbench verify` on a 3-hour record (issue 16: ≤ 1 s); prints a table.

    .venv/bin/python bench/verify.py                  # about half a minute
    .venv/bin/python bench/verify.py --exports 500    # a busier hearing: more export rows to find the code among
    .venv/bin/python bench/verify.py --pdf            # also a PDF export and its verification (LibreOffice)

1. Builds a 3-hour hearing as bench/desk.py does (the test clips' human references laid in a seeded order with
   pauses of 0.3–1.5 s over 180 minutes, English split at ≤ 10 words: about 2,950 segments, four speakers with
   roles; a mobile number in every 97th), without writing the recording: a small stand-in file is registered
   (its sha256 is what the manifest keeps). Stored in a fresh DuckDB store under data/bench/verify/ (removed at
   the end), with a clerk who is a member of the case.
2. `--exports N` earlier exports (plain text, each audited like any export) so the code is looked up among
   N + 1 export rows of the hearing, then the .docx export timed (`issuing.issue`).
3. Verifies the file (`issuing.verify`: read the file back, find the export row by its code, compare bytes,
   dialogue hash, recording, edits head, state): median and max of 5 runs, and the parts of one run.
4. Changes one character inside a dialogue w:t of word/document.xml and verifies again (the record is
   regenerated for the manifest's options and the first differing line named); then one in the case number
   of the header block (the record is made again as issued and the paragraph named); the same for an export redacted
   by the publication profile (regenerating redacts again); then edits a segment in the store and verifies the
   original file (the edits since are listed).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import shutil
import statistics
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench.accounts import Access, Accounts, Role  # noqa: E402
from workbench.issuing import issue, verify  # noqa: E402
from workbench.record import RecordOptions  # noqa: E402
from workbench.record.evidence import read_evidence  # noqa: E402
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript  # noqa: E402
from workbench.store import Store  # noqa: E402
from workbench.store.audit import Actor  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"
TARGET_S = 1.0
CASE_NUMBER = "（2025）京0105民初16号"
CLERK = "verify-clerk"
MAX_WORDS = 10
SPEAKERS = {
    "S1": ("审判长", "张明"),
    "S2": ("原告委托诉讼代理人", "李华"),
    "S3": ("被告", "陈某"),
    "S4": ("证人", "王五"),
}
SETUP = Actor("bench", "bench", role="admin")
RUNS = 5
PLANT_EVERY = 97  # every 97th segment gets a mobile number: about 30 redactions in the publication export


def _pieces(reference: str, language: str) -> list[str]:
    """A clip's reference as segment texts: Mandarin whole, English in runs of at most MAX_WORDS words."""
    if language.startswith("zh"):
        return [reference]
    words = reference.split()
    n = -(-len(words) // MAX_WORDS)
    size = -(-len(words) // n)
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def build_transcript(minutes: float = 180, seed: int = 0) -> Transcript:
    """The 3-hour transcript of bench/desk.py's hearing (the clips' lengths from the test data's manifest)."""
    entries = [e for e in json.loads((TESTDATA / "manifest.json").read_text(encoding="utf-8"))
               if e["file"].startswith("asr/") and e.get("reference")]  # fmt: skip
    if not entries:
        raise SystemExit(f"no clips with references in {TESTDATA / 'manifest.json'}")
    rng = random.Random(seed)
    total_s = minutes * 60
    t = 0.0
    segments: list[Segment] = []
    while t < total_s:
        entry = entries[rng.randrange(len(entries))]
        speaker = f"S{rng.randrange(len(SPEAKERS)) + 1}"
        pause = rng.uniform(0.3, 1.5)
        clip_len = min(float(entry["duration_s"]), total_s - t)
        texts = _pieces(entry["reference"], entry["language"])
        chars = sum(len(x) for x in texts)
        at = t
        for text in texts:
            end = at + clip_len * len(text) / chars
            if end - at > 0.2:
                if len(segments) % PLANT_EVERY == PLANT_EVERY - 1:  # an identifier for the publication profile
                    text += f"，联系电话1381234{len(segments) % 10000:04d}"
                segments.append(Segment(round(at, 3), round(end, 3), text, speaker))
            at = end
        t += clip_len + pause
    speakers = [SpeakerSummary(s, 1.0, min(x.start for x in segments if x.speaker == s))
                for s in sorted({x.speaker for x in segments if x.speaker})]  # fmt: skip
    engine = EngineInfo(asr="reference", model="human")
    return Transcript("hearing.wav", "", total_s, "zh", engine, segments, speakers)


def prepare(store: Store, transcript: Transcript, folder: Path) -> tuple[int, Access]:
    accounts = Accounts(store)
    admin = accounts.add("verify-admin", Role.ADMIN, by=SETUP, password="bench password 16", must_change=False)[0]
    accounts.add(CLERK, Role.CLERK, by=SETUP, password="bench password 16", must_change=False)
    case = store.add_case(CASE_NUMBER, actor=SETUP)
    hearing_id = store.add_hearing(case.id, courtroom="第三法庭")
    stand_in = folder / "hearing.wav"
    stand_in.write_bytes(b"RIFF" + bytes(1024))
    with store.writing() as con:
        store.add_recording(
            hearing_id, file_name=stand_in.name, stored_path=stand_in,
            sha256=hashlib.sha256(stand_in.read_bytes()).hexdigest(), duration=transcript.duration, format="wav",
            con=con,
        )  # fmt: skip
    store.save_transcript(hearing_id, transcript)
    for label, (role, name) in SPEAKERS.items():
        store.set_speaker(hearing_id, label, role=role, name=name, actor=SETUP)
    Access(store, admin, "bench").grant(case.id, CLERK)
    return hearing_id, Access(store, accounts.get(CLERK), "bench")


def tampered(docx: bytes, old: str = "的", new: str = "地", middle: bool = True) -> tuple[bytes, str]:
    """The .docx with one character changed inside word/document.xml: by default inside a dialogue w:t in the
    middle of the record; `middle=False` the first `old` (the header block: outside the dialogue)."""
    src = zipfile.ZipFile(io.BytesIO(docx))
    out = io.BytesIO()
    changed = ""
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "word/document.xml":
                text = data.decode("utf-8")
                at = text.index(old, len(text) // 2 if middle else 0)  # mid-record: a Mandarin reference's character
                text = text[:at] + new + text[at + len(old) :]
                changed = f"{old!r} → {new!r} at character {at} of word/document.xml"
                data = text.encode("utf-8")
            dst.writestr(info, data)
    return out.getvalue(), changed


def timed(fn: Callable[[], Any], runs: int = RUNS) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=180)
    parser.add_argument("--exports", type=int, default=100, help="earlier exports of the hearing (audit rows)")
    parser.add_argument("--pdf", action="store_true", help="also export and verify a PDF (LibreOffice)")
    parser.add_argument("--keep", action="store_true", help="keep the store (data/bench/verify/)")
    args = parser.parse_args()
    folder = ROOT / "data" / "bench" / "verify"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rows: list[tuple[str, list[float], str]] = []
    try:
        transcript = build_transcript(args.minutes)
        with Store(folder / "workbench.duckdb") as store:
            t0 = time.perf_counter()
            hid, clerk = prepare(store, transcript, folder)
            setup_s = time.perf_counter() - t0
            for _ in range(args.exports):
                issue(clerk, hid, "txt", RecordOptions(), via="bench")
            export_s, issued = timed(lambda: issue(clerk, hid, "docx", RecordOptions(), via="bench"), 1)
            rows.append(("export .docx (issue: seal, redact none, render, audit)", export_s, ""))
            data = issued.body
            verify_s, report = timed(lambda: verify(clerk, data, "record.docx"))
            assert report.ok, report.findings
            rows.append(("verify, fresh export → matches", verify_s, "ok"))
            read_s, evidence = timed(lambda: read_evidence(data, "record.docx"))
            rows.append(("  of which: read the file back (evidence)", read_s, f"{len(evidence.lines or [])} lines"))
            code = evidence.manifest.code()
            find_s, _ = timed(lambda: store.issued_export(code))
            rows.append((f"  of which: find the code among {args.exports + 1} export rows", find_s, ""))
            forged, what = tampered(data)
            forged_s, bad = timed(lambda: verify(clerk, forged, "forged.docx"))
            assert not bad.ok
            named = next((f for f in bad.findings if f.startswith("第")), "no line named")
            rows.append(("verify, one character changed → names the line", forged_s, named[:70]))
            outside, _ = tampered(data, "16号", "19号", middle=False)  # the case number in the header block
            outside_s, bad = timed(lambda: verify(clerk, outside, "outside.docx"))
            assert not bad.ok
            named = next((f for f in bad.findings if "段：" in f), "no paragraph named")
            rows.append(("verify, one outside the dialogue → names the paragraph", outside_s, named[:70]))
            redacted_s, redacted = timed(
                lambda: issue(clerk, hid, "docx", RecordOptions(), redact="publication", via="bench"), 1
            )
            rows.append(("export .docx, redact publication", redacted_s, f"{len(redacted.redactions)} redactions"))
            forged_r, _ = tampered(redacted.body)
            forged_r_s, bad_r = timed(lambda: verify(clerk, forged_r, "forged-publication.docx"))
            assert not bad_r.ok
            named_r = next((f for f in bad_r.findings if f.startswith("第")), "no line named")
            rows.append(("verify, redacted + one character changed → names it", forged_r_s, named_r[:70]))
            seg = store.segments(hid)[len(transcript.segments) // 3]
            store.edit_segment(seg.id, text=seg.text + "（更正）", actor=clerk.actor)
            edited_s, changed = timed(lambda: verify(clerk, data, "record.docx"))
            assert not changed.ok
            rows.append(("verify, after an edit in the store → lists it", edited_s, changed.findings[1].strip()[:70]))
            if args.pdf:
                pdf_export_s, pdf = timed(lambda: issue(clerk, hid, "pdf", RecordOptions(), via="bench"), 1)
                rows.append(("export .pdf (LibreOffice, PDF/A-2b)", pdf_export_s, f"{len(pdf.body) >> 10} KiB"))
                pdf_s, pdf_report = timed(lambda: verify(clerk, pdf.body, "record.pdf"))
                rows.append(("verify .pdf → matches", pdf_s, "ok" if pdf_report.ok else str(pdf_report.findings)))
        print(f"\n3-hour record: {args.minutes:g} min, {len(transcript.segments)} segments, "
              f"{len(evidence.lines or [])} dialogue lines, .docx {len(data) >> 10} KiB; setup {setup_s:.1f} s; "
              f"tampered: {what}")  # fmt: skip
        print(f"{'step':<58} {'median':>9} {'max':>9}  {'≤ 1 s':<6} note")
        for name, times, note in rows:
            verdict = ("pass" if max(times) <= TARGET_S else "FAIL") if name.startswith("verify") else ""
            print(f"{name:<58} {statistics.median(times) * 1000:>7.0f}ms {max(times) * 1000:>7.0f}ms  {verdict:<6} "
                  f"{note}")  # fmt: skip
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
