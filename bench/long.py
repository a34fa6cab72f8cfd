"""The whole pipeline (ASR + diarization + speaker attribution) on long built inputs, and memory over a batch.

    .venv/bin/python bench/long.py                      # 30 min, 1 h and 3 h inputs, then 20 files in a row
    .venv/bin/python bench/long.py --minutes 30 --repeat 0

Each long input runs as its own `workbench transcribe` process, so its wall time and peak RSS (from
wait4) are the process's own, model loading included. The batch run transcribes 20 different 1-minute
files one after another in one process and prints RSS after the 1st and after the 20th.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402

WORKBENCH = ROOT / ".venv" / "bin" / "workbench"


def run_long(minutes: float) -> dict[str, float]:
    path = inputs.build(minutes)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(WORKBENCH), "transcribe", str(path), "--out", out, "--formats", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"workbench transcribe failed on {path.name} (status {status})")
        data = json.loads((Path(out) / f"{path.stem}.json").read_text(encoding="utf-8"))
    return {
        "minutes": minutes,
        "wall": wall,
        "rtf": wall / data["duration"],
        "peak_mb": usage.ru_maxrss / 1024,
        "segments": len(data["segments"]),
        "speakers": len(data["speakers"] or []),
    }


def repeat_child(count: int) -> None:
    """Runs in a child process: prints one JSON line per file with the RSS after it."""
    from workbench.models import memory
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

    options = TranscribeOptions.from_settings()
    for i in range(count):
        path = inputs.build(1, seed=100 + i)
        started = time.perf_counter()
        result = transcribe(path, options)
        memory.trim()
        rss = memory.rss_bytes() / 2**20
        print(json.dumps({"i": i + 1, "rss_mb": rss, "wall": time.perf_counter() - started, "n": len(result.segments)}))
        sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="*", default=[30, 60, 180])
    parser.add_argument("--repeat", type=int, default=20, help="files transcribed in a row in one process (0: skip)")
    parser.add_argument("--child-repeat", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_repeat:
        repeat_child(args.child_repeat)
        return
    threads = os.environ.get("WORKBENCH_CPU_THREADS", "2")
    if args.minutes:
        print(f"\nWhole pipeline (ASR + diarization + attribution), `workbench transcribe`, {threads} CPU threads\n")
        print(f"{'input':>7} {'wall s':>8} {'RTF':>6} {'peak RSS':>9} {'segments':>8} {'speakers':>8}")
        rows = []
        for minutes in args.minutes:
            r = run_long(minutes)
            rows.append(r)
            print(
                f"{minutes:>5g} m {r['wall']:8.0f} {r['rtf']:6.3f} {r['peak_mb']:6.0f} MB "
                f"{r['segments']:8d} {r['speakers']:8d}",
                flush=True,
            )
        peaks = {r["minutes"]: r["peak_mb"] for r in rows}
        if 60 in peaks and 180 in peaks:
            print(f"\npeak RSS 3 h vs 1 h: {100 * (peaks[180] / peaks[60] - 1):+.1f}%")
    if args.repeat:
        for i in range(args.repeat):
            inputs.build(1, seed=100 + i)
        out = subprocess.run(
            [sys.executable, __file__, "--child-repeat", str(args.repeat)], check=True, capture_output=True, text=True
        ).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        print(f"\n{args.repeat} one-minute files in a row in one process (RSS after each, after malloc_trim)\n")
        print(" ".join(f"{r['rss_mb']:.0f}" for r in rows))
        print(
            f"\nRSS after file 1: {rows[0]['rss_mb']:.0f} MB, after file {len(rows)}: {rows[-1]['rss_mb']:.0f} MB, "
            f"difference {rows[-1]['rss_mb'] - rows[0]['rss_mb']:+.0f} MB"
        )


if __name__ == "__main__":
    main()
