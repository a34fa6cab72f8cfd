"""Diarization benchmark: DER, speakers found, wall time, real-time factor and peak RSS per input.

    .venv/bin/python bench/diarization.py [--minutes 60] [--skip-long] [--out data/bench]

Inputs: every clip in ../shared/testdata/diarization (with its RTTM reference): the four English
pyannote clips and the two Mandarin ones (zh_modelscope_2speakers, whose turn-level reference wants the
collar; zh_constructed_6speakers, exact), and a long multi-speaker file built deterministically from the
four English clips (in a fixed order, 1 s of silence between, repeated to `--minutes`), written with its
reference RTTM under `--out` (ignored by git; never commit audio). Each input runs in a fresh process so
peak RSS is its own. DER is pyannote.metrics' DiarizationErrorRate at collar 0 and 0.25 s, overlap
included; pooled over all clips and per language (the file name's prefix).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

import workbench  # noqa: F401  (offline environment before pyannote is imported)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "testdata" / "diarization"
# the long input's clips, in its order (unchanged since its figures were first recorded)
ORDER = ("pyannote_ami_dev00", "pyannote_sample", "pyannote_ami_tst00", "pyannote_ami_dev01")
CLIPS = (*ORDER, "zh_modelscope_2speakers", "zh_constructed_6speakers")


def build_long(out: Path, minutes: float) -> tuple[Path, Path]:
    """The clips of ORDER, 1 s apart, repeated to `minutes`; returns (wav, rttm). Speaker labels are kept."""
    from workbench.speech import audio

    wav = out / f"long_{minutes:g}m.wav"
    rttm = wav.with_suffix(".rttm")
    if wav.exists() and rttm.exists():
        return wav, rttm
    out.mkdir(parents=True, exist_ok=True)
    clips = {name: audio.load(DATA / f"{name}.wav") for name in ORDER}
    refs = {name: (DATA / f"{name}.rttm").read_text().splitlines() for name in ORDER}
    gap = np.zeros(16000, dtype=np.float32)
    target = int(minutes * 60 * 16000)
    lines: list[str] = []
    written = 0
    tmp = wav.with_suffix(".tmp")
    with wave.open(str(tmp), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(16000)
        i = 0
        while written < target:
            name = ORDER[i % len(ORDER)]
            offset = written / 16000
            for line in refs[name]:
                f = line.split()
                lines.append(f"SPEAKER long 1 {float(f[3]) + offset:.3f} {f[4]} <NA> <NA> {f[7]} <NA> <NA>")
            for piece in (clips[name], gap):
                sink.writeframes((np.clip(piece, -1, 1) * 32767).astype("<i2").tobytes())
                written += piece.shape[0]
            i += 1
    tmp.replace(wav)
    rttm.write_text("\n".join(lines) + "\n")
    return wav, rttm


def _scores(reference, hypothesis) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """DER at collar 0 and 0.25 s, with the error and scored time behind each (for the pooled DER)."""
    from pyannote.metrics.diarization import DiarizationErrorRate

    out = {}
    for name, collar in (("0", 0.0), ("25", 0.25)):
        parts = DiarizationErrorRate(collar=collar)(reference, hypothesis, detailed=True)
        out[f"der{name}"] = parts["diarization error rate"]
        out[f"error{name}"] = parts["missed detection"] + parts["false alarm"] + parts["confusion"]
        out[f"total{name}"] = parts["total"]
    return out


def run_one(wav: Path, rttm: Path) -> dict[str, float | int | str]:
    """Runs in the child process: load models, diarize, score."""
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm

    from workbench.models import memory
    from workbench.speech import audio
    from workbench.speech.diarization.pipeline import diarize_file, load_embedded

    load_embedded()  # model loading is not part of the timing
    loaded_rss = memory.rss_bytes()
    began = time.perf_counter()
    cpu_began = time.process_time()
    result = diarize_file(wav)
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_began  # CPU seconds: a load-independent check when other work shares the cores
    duration = audio.probe(wav).duration
    reference = Annotation()
    for ref in load_rttm(rttm).values():
        for seg, track, label in ref.itertracks(yield_label=True):
            reference[seg, track] = label
    hypothesis = Annotation()
    for turn in result.turns:
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    return {
        "file": wav.stem,
        "duration": duration,
        **_scores(reference, hypothesis),
        "found": len(result.speakers),
        "ref": len(reference.labels()),
        "wall": wall,
        "rtf": wall / duration,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "models_rss_mb": loaded_rss / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="*", default=[60.0], help="long inputs to build (minutes)")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "bench")
    parser.add_argument("--one", nargs=2, metavar=("WAV", "RTTM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(Path(args.one[0]), Path(args.one[1]))))
        return
    inputs = [(DATA / f"{n}.wav", DATA / f"{n}.rttm") for n in sorted(CLIPS)]
    if not args.skip_long:
        inputs += [build_long(args.out, m) for m in args.minutes]
    rows = []
    for wav, rttm in inputs:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(wav), str(rttm)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-3000:])
            raise SystemExit(f"{wav.name}: benchmark run failed")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"done {wav.name}", file=sys.stderr)
    print("| file | duration s | DER c0 | DER c0.25 | speakers found/ref | wall s | RTF | CPU s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['file']} | {r['duration']:.0f} | {r['der0']:.1%} | {r['der25']:.1%} | {r['found']}/{r['ref']} "
            f"| {r['wall']:.1f} | {r['rtf']:.3f} | {r['cpu']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    print(f"\nload average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    clips = [r for r in rows if not r["file"].startswith("long")]
    print(f"\nclips: {len(clips)}, right count on {sum(r['found'] == r['ref'] for r in clips)}")
    groups = {"all": clips}
    for r in clips:
        groups.setdefault("zh" if r["file"].startswith("zh_") else "en", []).append(r)
    for group, members in groups.items():
        if members:
            pooled = {
                c: sum(r[f"error{c}"] for r in members) / sum(r[f"total{c}"] for r in members) for c in ("0", "25")
            }
            print(f"clips pooled ({group}, {len(members)}): DER c0 {pooled['0']:.1%}, DER c0.25 {pooled['25']:.1%}")


if __name__ == "__main__":
    main()
