"""ASR benchmark: accuracy on ../shared/testdata/asr, speed and memory on a long built input.

    .venv/bin/python bench/asr.py                 # per-file CER/WER, wall time, RTF, peak RSS
    .venv/bin/python bench/asr.py --minutes 30    # adds the ASR step on a 30-minute built input
    nice -n 5 .venv/bin/python bench/asr.py --peer [--minutes 20] [--rounds 2] [--peer-words]

Defaults as shipped: Whisper base, language auto, ITN off (AISHELL references spell numbers in
characters), no diarization. Each long run is a fresh process so its peak RSS is its own.

--peer puts our `workbench transcribe --no-diarize` next to faster-whisper's own BatchedInferencePipeline
(the same model folder, int8, the same CPU threads, batch 8, its default VAD), each a child process run
alternately (ours, peer, ours, peer, ...) so the machine's load hits both: wall s, CPU s (the child's
ru_utime + ru_stime from os.wait4) and peak RSS of each whole process, then the CER/WER of both on the
clips that have references (../shared/testdata/asr; the built input has none, its diarization clips are
untranscribed). `--peer-words` asks the peer for word timestamps too (`word_timestamps=True`), which ours
always computes (speakers are assigned and the review desk follows the audio word by word) and the peer's
defaults skip: the like-for-like figure beside the defaults' one.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402
from workbench.speech import text  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def accuracy(engine: str, model: str) -> None:
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

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
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

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


# --- side by side with faster-whisper's own batched pipeline (--peer) ---------------------------------

PEER_BATCH = 8  # BatchedInferencePipeline's documented batch size, as its README runs it


@dataclass(slots=True)
class ChildRun:
    """One child process: what it cost, whole (imports, model load, decoding, writing), and what it heard."""

    side: str  # "ours" or "peer"
    wall_s: float
    cpu_s: float  # ru_utime + ru_stime of the child
    peak_mb: float  # the child's ru_maxrss
    audio_s: float = 0.0  # the audio it was given
    texts: dict[str, str] = field(default_factory=dict)  # file name → transcript text


@dataclass(slots=True)
class Score:
    errors: int = 0
    length: int = 0

    @property
    def rate(self) -> float:
        return 100 * self.errors / max(self.length, 1)


@dataclass(slots=True)
class PeerReport:
    long_inputs: list[Path]
    audio_s: float
    runs: list[ChildRun]  # the long inputs' runs, in the order they ran
    clip_runs: list[ChildRun]  # ours then the peer's, over the reference clips
    scores: dict[str, dict[str, tuple[str, float]]]  # file → side → ("CER"/"WER", %)
    totals: dict[str, dict[str, Score]]  # side → "zh"/"en" → Score
    load: str  # `uptime`'s load average when the runs ended


def run_child(side: str, cmd: list[str], env: dict[str, str] | None = None) -> tuple[ChildRun, str]:
    """Runs `cmd` to its end and measures it with os.wait4; (its figures, its stdout). A failure raises with stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{side} failed (exit {proc.returncode}): {' '.join(cmd[:4])} ...\n{stderr[-2000:]}")
    run = ChildRun(side, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)
    return run, stdout


def ours(files: list[Path], threads: int, out_dir: Path) -> ChildRun:
    """`workbench transcribe --no-diarize` as a clerk runs it (ITN off for the scoring), one process for `files`."""
    cli = Path(sys.executable).with_name("workbench")
    launcher = [str(cli)] if cli.exists() else [sys.executable, "-c", "from workbench.cli import main; main()"]
    cmd = [*launcher, "transcribe", *map(str, files), "--out", str(out_dir), "--engine", "whisper"]
    cmd += ["--no-diarize", "--no-itn", "--device", "cpu", "--language", "auto"]
    env = {**os.environ, "WORKBENCH_CPU_THREADS": str(threads)}
    run, _ = run_child("ours", cmd, env)
    from workbench.speech.transcript import Transcript

    run.texts = {f.name: Transcript.load(out_dir / f"{f.stem}.json").text for f in files}
    return run


def peer(files: list[Path], model_dir: Path, threads: int, words: bool = False) -> ChildRun:
    """faster-whisper's BatchedInferencePipeline with its defaults (VAD on, language detected, batch 8),
    with word timestamps if `words`."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--peer-child", str(model_dir), str(threads), str(int(words))]
    run, stdout = run_child("peer", [*cmd, *map(str, files)])
    run.texts = json.loads(stdout.strip().splitlines()[-1])
    return run


def peer_child(model_dir: str, threads: int, words: bool, files: list[str]) -> None:
    """Inside the peer's child: only faster-whisper, as its README uses it; prints {file name: text} as JSON."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    model = WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads)
    pipeline = BatchedInferencePipeline(model)
    texts = {}
    for file in files:
        segments, _ = pipeline.transcribe(file, batch_size=PEER_BATCH, word_timestamps=words)
        texts[Path(file).name] = "\n".join(s.text.strip() for s in segments)
    print(json.dumps(texts, ensure_ascii=False))


def references() -> dict[str, tuple[str, str]]:
    """file name → (language "zh"/"en", reference) for the clips of ../shared/testdata/asr."""
    manifest = json.loads((inputs.TESTDATA / "manifest.json").read_text(encoding="utf-8"))
    return {
        Path(item["file"]).name: ("zh" if item["language"].startswith("zh") else "en", item["reference"])
        for item in manifest
        if item["file"].startswith("asr/")
    }


def score(language: str, reference: str, hypothesis: str) -> tuple[int, int]:
    """(edit errors, reference length): characters for Mandarin (CER), words for English (WER)."""
    if language == "zh":
        ref, hyp = text.normalise_cer(reference), text.normalise_cer(hypothesis)
    else:
        ref, hyp = text.normalise_wer(reference), text.normalise_wer(hypothesis)
    return text.edit_distance(ref, hyp), len(ref)


def compare(
    long_inputs: list[Path], clips: list[Path], rounds: int = 1, threads: int = 2, words: bool = False
) -> PeerReport:
    """Ours and the peer alternately on each long input (`rounds` times each), then both on the clips once."""
    from workbench.models import registry

    entry = registry.default_of(registry.WHISPER)
    if entry is None:
        raise SystemExit("no Whisper model registered: run `workbench models pull`")
    runs: list[ChildRun] = []
    clip_runs: list[ChildRun] = []
    with tempfile.TemporaryDirectory(prefix="bench_asr_") as tmp:
        for _ in range(rounds):
            for path in long_inputs:
                seconds = _duration(path)
                for run in (ours([path], threads, Path(tmp)), peer([path], entry.path, threads, words)):
                    run.audio_s = seconds
                    runs.append(run)
        if clips:
            clip_runs = [ours(clips, threads, Path(tmp)), peer(clips, entry.path, threads, words)]
    refs = references()
    scores: dict[str, dict[str, tuple[str, float]]] = {}
    totals = {side: {"zh": Score(), "en": Score()} for side in ("ours", "peer")}
    for run in clip_runs:
        for name, hypothesis in run.texts.items():
            if name not in refs:
                continue
            language, reference = refs[name]
            errors, length = score(language, reference, hypothesis)
            totals[run.side][language].errors += errors
            totals[run.side][language].length += length
            scores.setdefault(name, {})[run.side] = ("CER" if language == "zh" else "WER", 100 * errors / length)
    audio_s = sum(_duration(p) for p in long_inputs)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return PeerReport(long_inputs, audio_s, runs, clip_runs, scores, totals, load)


def _duration(path: Path) -> float:
    from workbench.speech import audio

    return audio.probe(path).duration


def print_report(report: PeerReport, threads: int, words: bool = False) -> None:
    print(f"\nASR side by side — whisper base int8, {threads} CPU threads, no diarization; whole child processes")
    peer_words = "word timestamps on" if words else "its defaults (no word timestamps)"
    print(f"ours: workbench transcribe --no-diarize (word timestamps); peer: faster-whisper BatchedInferencePipeline, "
          f"batch {PEER_BATCH}, {peer_words}")  # fmt: skip
    if report.runs:
        names = ", ".join(p.name for p in report.long_inputs)
        print(f"\nlong input(s): {names} ({report.audio_s:.0f} s of audio)\n")
        print(f"{'run':>3} {'side':5} {'audio s':>8} {'wall s':>8} {'CPU s':>8} {'CPU s/audio s':>14} {'peak MB':>8}")
        for i, r in enumerate(report.runs):
            per_audio = r.cpu_s / max(r.audio_s, 1e-9)
            figures = f"{r.audio_s:8.0f} {r.wall_s:8.1f} {r.cpu_s:8.1f} {per_audio:14.4f} {r.peak_mb:8.0f}"
            print(f"{i // 2 + 1:>3} {r.side:5} {figures}")
        mine = [r for r in report.runs if r.side == "ours"]
        theirs = [r for r in report.runs if r.side == "peer"]
        wall = sum(r.wall_s for r in mine) / sum(r.wall_s for r in theirs)
        cpu = sum(r.cpu_s for r in mine) / sum(r.cpu_s for r in theirs)
        print(f"\nours ÷ peer: wall {wall:.2f}×, CPU {cpu:.2f}×")
    if report.clip_runs:
        print(f"\nreference clips ({len(report.scores)} files, one process per side)\n")
        print(f"{'file':38} {'metric':6} {'ours %':>7} {'peer %':>7}")
        for name, sides in sorted(report.scores.items()):
            metric = next(iter(sides.values()))[0]
            cells = [f"{sides[s][1]:7.1f}" if s in sides else f"{'-':>7}" for s in ("ours", "peer")]
            print(f"{name:38} {metric:6} {cells[0]} {cells[1]}")
        for language, metric in (("zh", "CER"), ("en", "WER")):
            o, p = report.totals["ours"][language], report.totals["peer"][language]
            if o.length or p.length:
                print(f"{'all ' + language:38} {metric:6} {o.rate:7.1f} {p.rate:7.1f}")
        for run in report.clip_runs:
            print(f"clips, {run.side}: wall {run.wall_s:.1f} s, CPU {run.cpu_s:.1f} s, peak {run.peak_mb:.0f} MB")
    print(f"\nload average at the end: {report.load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="whisper")
    parser.add_argument("--model", default="")
    parser.add_argument("--minutes", type=float, nargs="*", default=[], help="long built inputs to time")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--peer", action="store_true", help="side by side with faster-whisper's batched pipeline")
    parser.add_argument("--rounds", type=int, default=1, help="--peer: runs of each side on each long input")
    parser.add_argument("--threads", type=int, default=2, help="--peer: CPU threads for both sides")
    parser.add_argument("--clips", type=Path, nargs="*", help="--peer: reference clips (default: all of testdata/asr)")
    parser.add_argument("--peer-words", action="store_true", help="--peer: the peer computes word timestamps too")
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--peer-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(long_run(args.child, args.engine, args.model)))
        return
    if args.peer_child:
        model_dir, threads, words, *files = args.peer_child
        peer_child(model_dir, int(threads), words == "1", files)
        return
    if args.peer:
        if args.rounds < 1:
            parser.error("--rounds must be at least 1")
        minutes = args.minutes if args.minutes else [20.0]
        long_inputs = [inputs.build(m) for m in minutes if m > 0]
        clips = inputs.clips("asr") if args.clips is None else args.clips
        for clip in clips:
            if not clip.is_file():
                parser.error(f"--clips: {clip} is not a file")
        report = compare(long_inputs, clips, args.rounds, args.threads, args.peer_words)
        print_report(report, args.threads, args.peer_words)
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
