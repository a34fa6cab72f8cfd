"""Bench: a 3-hour hearing (about 3,000 segments, synthetic, deterministic) to the court record.

    .venv/bin/python bench/export.py [--segments 3000] [--hours 3] [--out /tmp/bench-export]

Target (issue 6): export in <= 3 s, and the file opens in LibreOffice (converted to PDF here).
Prints one table row per variant: default, and timestamps + line numbers.
"""

from __future__ import annotations

import argparse
import random
import re
import subprocess
import sys
import time
from pathlib import Path

from workbench import formats
from workbench.record import ExportError, RecordOptions, export_docx, to_pdf
from workbench.speech.transcript import EngineInfo, HearingRecord, Party, Segment, SpeakerLabel, Transcript

PHRASES = [
    "现在开庭",
    "请原告陈述诉讼请求",
    "被告对原告提交的证据有何质证意见",
    "对证据的真实性没有异议",
    "但对其关联性和证明目的不予认可",
    "原告与被告于二〇二三年三月签订买卖合同",
    "原告已按约交付货物",
    "被告至今未支付货款",
    "请求判令被告支付货款十二万元及逾期付款利息",
    "合同约定的付款期限为收货后三十日",
    "双方是否愿意调解",
    "原告同意调解",
    "被告认为货物存在质量问题",
    "请被告说明质量问题的具体情况",
    "下面进行法庭辩论",
    "请双方围绕争议焦点发表意见",
    "本院将在庭后综合全案证据依法作出判决",
    "请书记员宣读法庭纪律",
    "被告有无新的证据提交",
    "没有新的证据",
]
ROLES = [("审判长", "张明"), ("原告委托诉讼代理人", "李华"), ("被告", "陈某"), ("审判员", "王芳"), ("证人", "周某")]


def synthetic_record(segments: int, hours: float, seed: int = 6) -> HearingRecord:
    rng = random.Random(seed)
    step = hours * 3600 / segments
    segs = []
    speaker = 0
    for i in range(segments):
        # The presiding judge speaks most; a turn changes hands about two times in three.
        if rng.random() < 0.65:
            speaker = 0 if speaker else rng.choice([1, 1, 2, 2, 3, 4])
        text = "，".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 4))) + rng.choice("。。。？")
        start = i * step + rng.uniform(0, step * 0.1)
        segs.append(
            Segment(start=round(start, 2), end=round(start + step * 0.85, 2), text=text, speaker=f"S{speaker + 1}")
        )
    transcript = Transcript(
        file="synthetic_3h.wav",
        sha256="0" * 64,
        duration=hours * 3600,
        language="zh",
        engine=EngineInfo(asr="synthetic", model="none"),
        segments=segs,
    )
    return HearingRecord(
        transcript=transcript,
        labels={f"S{i + 1}": SpeakerLabel(role, name) for i, (role, name) in enumerate(ROLES)},
        court="北京市朝阳区人民法院",
        case_number="（2024）京0105民初12345号",
        cause="买卖合同纠纷",
        start="2024-03-05T09:00:00",
        end="2024-03-05T12:00:00",
        place="第十二法庭",
        panel=(("审判长", "张明"), ("审判员", "王芳"), ("人民陪审员", "赵强")),
        clerk="刘洋",
        parties=(Party("原告", "北京某某科技有限公司", ("李华",)), Party("被告", "陈某")),
    )


def pdf_pages(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^Pages:\s+(\d+)", info, re.MULTILINE)
    return int(match.group(1)) if match else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=3000)
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-export"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    record = synthetic_record(args.segments, args.hours)
    turns = sum(1 for _ in formats.turns(record.transcript))
    chars = sum(len(s.text) for s in record.transcript.segments)
    variants = {
        "default": RecordOptions(),
        "timestamps+line-numbers": RecordOptions(timestamps=True, line_numbers=True),
    }
    rows = []
    for name, options in variants.items():
        path = args.out / f"hearing_3h_{name.replace('+', '_')}.docx"
        t0 = time.perf_counter()
        export_docx(record, path, options)
        seconds = time.perf_counter() - t0
        rows.append((name, path, seconds))

    t0 = time.perf_counter()
    try:
        pdfs = to_pdf([p for _, p, _ in rows], args.out)
        convert_error = ""
    except ExportError as e:
        pdfs, convert_error = [], str(e)
    convert_seconds = time.perf_counter() - t0

    print(f"synthetic hearing: {args.hours:g} h, {args.segments} segments, {turns} turns, {chars} characters")
    print(f"{'variant':26} {'export s':>9} {'size KB':>8} {'pages':>6}  {'LibreOffice':12} {'<= 3 s':6}")
    ok = True
    for i, (name, path, seconds) in enumerate(rows):
        pages = pdf_pages(pdfs[i]) if pdfs else 0
        converted = "ok" if pdfs and pages > 0 else "FAILED"
        ok &= seconds <= 3.0 and converted == "ok"
        print(
            f"{name:26} {seconds:9.2f} {path.stat().st_size / 1024:8.0f} {pages:6d}  {converted:12} "
            f"{'yes' if seconds <= 3.0 else 'NO':6}"
        )
    print(f"LibreOffice conversion of both: {convert_seconds:.1f} s" + (f" ({convert_error})" if convert_error else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
