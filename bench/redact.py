"""Redaction bench: recall and precision per kind on the test table and on a freshly generated set, and the time
to redact a 3-hour record.

    .venv/bin/python bench/redact.py              # the table, a generated set (seed 1), the 3-hour timing
    .venv/bin/python bench/redact.py --seed 7     # another generated set: identifiers the tests never saw
    .venv/bin/python bench/redact.py --count 2000 --segments 3000

Each set is planted into a multi-segment HearingRecord (tests/redaction_table.build_record) and redacted with
`redact()`, as an export would. A planted identifier counts as found when a redaction covers exactly it; any other
redaction is a false alarm (the look-alikes: case numbers, statute articles, sums, dates, times, ID numbers with a
wrong check digit, cards failing Luhn, 11-digit numbers that are no mobile). Targets (issue 16): recall 100%,
precision >= 95%; redacting ~3,000 segments of ~60 characters well under 0.3 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from redaction_table import (  # noqa: E402
    LOOK_ALIKES,
    PLANTED,
    PUB,
    US,
    LookAlike,
    Planted,
    build_record,
    gen_mobile,
    generated_rows,
)

from workbench.record.redact import redact, segment_index  # noqa: E402
from workbench.speech.transcript import EngineInfo, HearingRecord, Party, Segment, Transcript  # noqa: E402


def measure(planted: list[Planted], look_alikes: list[LookAlike]) -> tuple[Counter, Counter, Counter, list[str]]:
    """(planted per kind, found per kind, false alarms per kind, the misses and false alarms in words)."""
    want, got, false = Counter(), Counter(), Counter()
    notes = []
    for profile in (PUB, US):
        rows = [r for r in planted if r.profile == profile]
        looks = [r for r in look_alikes if r.profile == profile]
        if not rows and not looks:
            continue
        planting = build_record(rows, looks, parties=(), labels={})
        result = redact(planting.record, profile)
        found = {
            (segment_index(r.where), r.text, r.kind) for r in result.redactions if segment_index(r.where) is not None
        }
        expected = {(i, row.identifier, row.kind) for i, rs in planting.planted.items() for row in rs}
        for i, identifier, kind in expected:
            want[kind] += 1
            if (i, identifier, kind) in found:
                got[kind] += 1
            else:
                notes.append(f"missed {kind}: {identifier!r} in {planting.record.transcript.segments[i].text!r}")
        for i, text, kind in sorted(found - expected):
            false[kind] += 1
            notes.append(f"false alarm {kind}: {text!r} in {planting.record.transcript.segments[i].text!r}")
    return want, got, false, notes


def print_table(title: str, want: Counter, got: Counter, false: Counter, notes: list[str]) -> tuple[float, float]:
    print(f"\n## {title}\n")
    print(f"| {'kind':<11} | found/planted | false alarms |")
    print(f"|{'-' * 13}|{'-' * 15}|{'-' * 14}|")
    for kind in sorted(set(want) | set(false)):
        print(f"| {kind:<11} | {got[kind]:>6}/{want[kind]:<6} | {false[kind]:>12} |")
    found, planted, alarms = sum(got.values()), sum(want.values()), sum(false.values())
    recall = found / planted if planted else 1.0
    precision = found / (found + alarms) if found + alarms else 1.0
    print(f"| {'all':<11} | {found:>6}/{planted:<6} | {alarms:>12} |")
    print(f"\nrecall {recall:.1%}  precision {precision:.1%}")
    for note in notes[:20]:
        print("  " + note)
    return recall, precision


PHRASES = [
    "现在开庭，请当事人核对身份信息",
    "请原告陈述诉讼请求及事实理由",
    "被告对原告提交的证据有何质证意见",
    "对证据3的真实性没有异议，但对关联性不予认可",
    "依照民事诉讼法第一百四十二条的规定",
    "原告请求判令被告支付货款人民币120000元",
    "合同于2023年3月5日签订，约定下午3点交货",
    "本案案号（2024）京0105民初1234号",
    "双方是否愿意在法庭主持下进行调解",
    "请书记员记录，双方核对笔录后签字",
]


def three_hour_record(segments: int, seed: int = 3) -> HearingRecord:
    """~`segments` segments of ~60 characters over 3 hours, one in twenty holding a mobile number."""
    rng = random.Random(seed)
    segs = []
    step = 3 * 3600 / segments
    for i in range(segments):
        text = "，".join(rng.sample(PHRASES, 4))[:58] + "。"
        if i % 20 == 0:
            text = text[:40] + f"电话{gen_mobile(rng)}。"
        segs.append(Segment(start=i * step, end=i * step + step * 0.9, text=text, speaker=f"S{i % 4 + 1}"))
    transcript = Transcript("long.wav", "0" * 64, 3 * 3600, "zh", EngineInfo("reference", "bench"), segs)
    parties = (Party("原告", "欧阳明"), Party("被告", "张三"), Party("第三人", "北京天成科技有限公司"))
    return HearingRecord(
        transcript=transcript, case_number="（2024）京0105民初1234号", cause="离婚纠纷", parties=parties
    )


def time_redaction(segments: int) -> None:
    record = three_hour_record(segments)
    chars = sum(len(s.text) for s in record.transcript.segments)
    print(f"\n## 3-hour record: {segments} segments, {chars} characters ({chars / segments:.0f} a segment)\n")
    print("| profile     | redactions | best of 5 (s) |")
    print(f"|{'-' * 13}|{'-' * 12}|{'-' * 15}|")
    for profile in ("publication", "us-frcp", "none"):
        times, result = [], None
        for _ in range(5):
            t0 = time.perf_counter()
            result = redact(record, profile)
            times.append(time.perf_counter() - t0)
        assert result is not None
        print(f"| {profile:<11} | {len(result.redactions):>10} | {min(times):>13.3f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1, help="seed of the generated set (default 1)")
    parser.add_argument("--count", type=int, default=1000, help="identifiers in the generated set (default 1000)")
    parser.add_argument("--segments", type=int, default=3000, help="segments in the timed record (default 3000)")
    args = parser.parse_args()

    results = [print_table("Test table (tests/redaction_table.py)", *measure(PLANTED, LOOK_ALIKES))]
    planted, looks = generated_rows(args.seed, args.count)
    title = f"Generated set: seed {args.seed}, {len(planted)} identifiers, {len(looks)} look-alikes"
    results.append(print_table(title, *measure(planted, looks)))
    time_redaction(args.segments)
    ok = all(recall == 1.0 and precision >= 0.95 for recall, precision in results)
    print("\nrecall 100% and precision >= 95% on both sets:", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
