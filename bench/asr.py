"""ASR benchmark: accuracy on ../shared/testdata/asr, speed and memory on a long built input.

    .venv/bin/python bench/asr.py                 # per-file CER/WER, wall time, RTF, peak RSS
    .venv/bin/python bench/asr.py --minutes 30    # adds the ASR step on a 30-minute built input

Defaults as shipped: Whisper base, language auto, ITN off (AISHELL references spell numbers in
characters), no diarization. Each long run is a fresh process so its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402
from workbench.speech import text  # noqa: E402
from workbench.speech.options import TranscribeOptions  # noqa: E402
from workbench.speech.pipeline import transcribe  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accuracy(engine: str, model: str) -> None:
    manifest = json.loads((inputs.TESTDATA / "manifest.json").read_text(encoding="utf-8"))
    options = TranscribeOptions(engine=engine, model=model, itn=False, diarize=False, device="cpu")
    rows, totals = [], {"zh": [0, 0], "en": [0, 0]}
    wall_total = audio_total = 0.0
    for item in manifest:
        if not item["file"].startswith("asr/"):
            continue
        path = inputs.TESTDATA / item["file"]
        started = time.perf_counter()
        result = transcribe(path, options)
        wall = time.perf_counter() - started
        if item["language"].startswith("zh"):
            ref, hyp, lang = text.normalise_cer(item["reference"]), text.normalise_cer(result.text), "zh"
        else:
            ref, hyp, lang = text.normalise_wer(item["reference"]), text.normalise_wer(result.text), "en"
        errors = text.edit_distance(ref, hyp)
        totals[lang][0] += errors
        totals[lang][1] += len(ref)
        wall_total += wall
        audio_total += result.duration
        rate = f"{'CER' if lang == 'zh' else 'WER'} {100 * errors / len(ref):5.1f}%"
        rows.append((path.name, result.language, rate, wall, wall / result.duration, result.text.replace("\n", " ")))
    print(f"\nASR accuracy — engine {engine}, model {model or 'default'}, ITN off, 2 CPU threads\n")
    print(f"{'file':36} {'lang':4} {'error':11} {'wall s':>7} {'RTF':>6}  text")
    for name, lang, rate, wall, rtf, hyp in rows:
        print(f"{name:36} {lang:4} {rate:11} {wall:7.2f} {rtf:6.3f}  {hyp[:70]}")
    zh, en = totals["zh"], totals["en"]
    print(
        f"\nMandarin CER {100 * zh[0] / max(zh[1], 1):.1f}% ({zh[0]}/{zh[1]} chars)   "
        f"English WER {100 * en[0] / max(en[1], 1):.1f}% ({en[0]}/{en[1]} words)   "
        f"wall {wall_total:.1f} s for {audio_total:.1f} s (RTF {wall_total / audio_total:.3f})   "
        f"peak RSS {peak_rss_mb():.0f} MB (includes model load)"
    )


def long_run(minutes: float, engine: str, model: str) -> dict[str, float]:
    """Runs in a child process (see main) so peak RSS belongs to this run alone."""
    path = inputs.build(minutes)
    options = TranscribeOptions(engine=engine, model=model, itn=True, diarize=False, device="cpu")
    transcribe(inputs.clips("asr")[0], options)  # load the model outside the timed part
    loaded = peak_rss_mb()
    started = time.perf_counter()
    result = transcribe(path, options)
    wall = time.perf_counter() - started
    return {
        "minutes": minutes,
        "audio_s": result.duration,
        "wall_s": wall,
        "rtf": wall / result.duration,
        "segments": len(result.segments),
        "rss_after_load_mb": loaded,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="whisper")
    parser.add_argument("--model", default="")
    parser.add_argument("--minutes", type=float, nargs="*", default=[], help="long built inputs to time")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(long_run(args.child, args.engine, args.model)))
        return
    if not args.skip_accuracy:
        accuracy(args.engine, args.model)
    if args.minutes:
        print(f"\nASR step on long built inputs — engine {args.engine}, 2 CPU threads, no diarization\n")
        header = ("input", "audio s", "wall s", "RTF", "segments", "RSS loaded", "peak RSS")
        print("{:>8} {:>8} {:>8} {:>6} {:>8} {:>10} {:>9}".format(*header))
        for minutes in args.minutes:
            cmd = [sys.executable, __file__, "--child", str(minutes), "--engine", args.engine, "--model", args.model]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            print(
                f"{minutes:>6g} m {r['audio_s']:8.0f} {r['wall_s']:8.1f} {r['rtf']:6.3f} {r['segments']:8d} "
                f"{r['rss_after_load_mb']:8.0f} MB {r['peak_rss_mb']:6.0f} MB"
            )


if __name__ == "__main__":
    main()
