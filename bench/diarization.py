"""Diarization benchmark: DER, speakers found, wall time, real-time factor and peak RSS per input.

    .venv/bin/python bench/diarization.py [--minutes 60] [--skip-long] [--out data/bench]

Inputs: every clip in ../shared/testdata/diarization (with its RTTM reference): the four English
pyannote clips and the two Mandarin ones (zh_modelscope_2speakers, whose turn-level reference wants the
collar; zh_constructed_6speakers, exact), and a long multi-speaker file built deterministically from the
four English clips (in a fixed order, 1 s of silence between, repeated to `--minutes`), written with its
reference RTTM under `--out` (ignored by git; never commit audio). Each input runs in a fresh process so
peak RSS is its own. DER is pyannote.metrics' DiarizationErrorRate at collar 0 and 0.25 s, overlap
included; pooled over all clips and per language (the file name's prefix).

    .venv/bin/python bench/diarization.py --skip-long --peer [--peer-long]

`--peer` also runs pyannote.audio 4's own `SpeakerDiarization` pipeline on each clip, in its own child
process right after ours (ours, peer, ours, peer: load on the machine hits both alike), and prints both DERs,
RTFs and CPU seconds side by side. It gets the same two models: the local segmentation-3.0 checkpoint and
CAM++ through our `CamppEmbedding` (called like a pyannote embedding: waveforms and masks). Its constructor
insists on loading an embedding and a PLDA by name (from the hub, which is unreachable), so both loaders are
replaced by ours for the length of the constructor (`peer_pipeline`); nothing else of pyannote is changed.
Its settings, those of pyannote's published `pyannote/speaker-diarization-3.1` config.yaml (the last release
whose clustering is `AgglomerativeClustering`; 4.x's community-1 default is VBx, which needs the gated PLDA):
segmentation step 0.1 (the constructor's default), segmentation and embedding batch size 32,
`embedding_exclude_overlap: true`; params `segmentation.min_duration_off: 0.0`, `clustering.method:
centroid`, `clustering.min_cluster_size: 12`, `clustering.threshold: 0.7045654963945799`. That threshold was
tuned for WeSpeaker ResNet34 embeddings, not CAM++; it is used unchanged because the point is pyannote's own
pipeline as published, not a second tuning of ours. The long input is peer-diarized only with
`--peer-long` (pyannote embeds every 10 s chunk of every local speaker through the whole CAM++ model: about
30 times the audio's length, and an n^2 linkage).
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


# pyannote/speaker-diarization-3.1's config.yaml (see the docstring): the peer's pipeline settings and params
PEER_CONFIG: dict[str, Any] = {
    "segmentation_step": 0.1,
    "segmentation_batch_size": 32,
    "embedding_batch_size": 32,
    "embedding_exclude_overlap": True,
    "clustering": "AgglomerativeClustering",
}
PEER_PARAMS: dict[str, Any] = {
    "segmentation": {"min_duration_off": 0.0},
    "clustering": {"method": "centroid", "min_cluster_size": 12, "threshold": 0.7045654963945799},
}


def peer_pipeline():  # type: ignore[no-untyped-def]
    """pyannote's own `SpeakerDiarization` with our two loaded models and speaker-diarization-3.1's settings."""
    from unittest import mock

    from pyannote.audio.pipelines import speaker_diarization

    from workbench.speech.diarization.pipeline import load_embedded

    ours = load_embedded()  # the models come through workbench.models.memory: loaded once per process
    embedding = ours.embedding
    # the constructor loads the embedding and the PLDA by name; a name cannot reach a local CAM++ state dict
    # and AgglomerativeClustering never uses the PLDA, so both loaders hand back what we already have
    with (
        mock.patch.object(speaker_diarization, "PretrainedSpeakerEmbedding", lambda *a, **k: embedding),
        mock.patch.object(speaker_diarization, "get_plda", lambda *a, **k: None),
    ):
        pipeline = speaker_diarization.SpeakerDiarization(
            segmentation=ours.segmentation_model, embedding="campplus-zh-en", plda=None, **PEER_CONFIG
        )
    if pipeline._embedding is not embedding:  # a pyannote release that loads it elsewhere: set it after
        pipeline._embedding = embedding
    pipeline.instantiate(PEER_PARAMS)
    return pipeline


def diarize_peer(pipeline, wav: Path):  # type: ignore[no-untyped-def]
    """pyannote's pipeline on the decoded file (in memory: torchcodec is not needed) -> Annotation."""
    import torch

    from workbench.speech import audio

    waveform = torch.from_numpy(audio.load(wav))[None]
    with torch.inference_mode():
        output = pipeline({"waveform": waveform, "sample_rate": audio.SAMPLE_RATE, "uri": wav.stem})
    return getattr(output, "speaker_diarization", output)


def _reference(rttm: Path):  # type: ignore[no-untyped-def]
    from pyannote.core import Annotation
    from pyannote.database.util import load_rttm

    reference = Annotation()
    for ref in load_rttm(rttm).values():
        for seg, track, label in ref.itertracks(yield_label=True):
            reference[seg, track] = label
    return reference


def run_one(wav: Path, rttm: Path, engine: str = "ours") -> dict[str, float | int | str]:
    """Runs in the child process: load models, diarize (ours or pyannote's own pipeline), score."""
    from pyannote.core import Annotation, Segment

    from workbench.models import memory
    from workbench.speech import audio
    from workbench.speech.diarization.pipeline import diarize_file, load_embedded, set_threads

    set_threads()
    peer = peer_pipeline() if engine == "peer" else None
    load_embedded()  # model loading is not part of the timing
    loaded_rss = memory.rss_bytes()
    began = time.perf_counter()
    cpu_began = time.process_time()
    if peer is not None:
        hypothesis = diarize_peer(peer, wav)
    else:
        result = diarize_file(wav)
        hypothesis = Annotation()
        for turn in result.turns:
            hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_began  # CPU seconds: a load-independent check when other work shares the cores
    duration = audio.probe(wav).duration
    reference = _reference(rttm)
    return {
        "file": wav.stem,
        "engine": engine,
        "duration": duration,
        **_scores(reference, hypothesis),
        "found": len(hypothesis.labels()),
        "ref": len(reference.labels()),
        "wall": wall,
        "rtf": wall / duration,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "models_rss_mb": loaded_rss / 2**20,
    }


def run_child(wav: Path, rttm: Path, engine: str) -> dict[str, float | int | str]:
    """`run_one` in a fresh process (its peak RSS is its own); adds the child's whole CPU time from wait4."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(wav), str(rttm), "--engine", engine],
        capture_output=True,
        text=True,
        check=False,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # one child at a time: the difference is this one's
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{wav.name} ({engine}): benchmark run failed")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["cpu_process"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return row


@dataclass
class StageTimes:
    """CPU and wall seconds spent in each stage of our engine on one input."""

    cpu: dict[str, float] = field(default_factory=dict)
    wall: dict[str, float] = field(default_factory=dict)

    def timed(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            cpu, wall = time.process_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.cpu[stage] = self.cpu.get(stage, 0.0) + time.process_time() - cpu
                self.wall[stage] = self.wall.get(stage, 0.0) + time.perf_counter() - wall

        return wrapper


def profile(wav: Path) -> tuple[StageTimes, float]:
    """Our engine on `wav` with each stage timed: (times, duration). Runs in this process."""
    import torch

    from workbench.speech import audio
    from workbench.speech.diarization import SpeakerCount
    from workbench.speech.diarization.pipeline import load_embedded

    pipeline = load_embedded()
    times = StageTimes()
    # instance attributes shadow the methods: the pipeline calls them through self
    pipeline._segment = times.timed("segmentation", pipeline._segment)
    pipeline._pool_chunks = times.timed("embedding: pooling", pipeline._pool_chunks)
    embedding = pipeline._embedding
    original_trunk = embedding.trunk_long
    embedding.trunk_long = times.timed("embedding: CAM++ trunk", original_trunk)
    pipeline.clustering.cluster_items = times.timed("clustering", pipeline.clustering.cluster_items)
    pipeline._reconstruct = times.timed("reconstruction", pipeline._reconstruct)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        with torch.inference_mode():
            segmentations, embeddings, duration = pipeline.extract(audio.blocks(wav), None)
            pipeline.finish(segmentations, embeddings, SpeakerCount())
    finally:
        embedding.trunk_long = original_trunk  # the embedding object is shared through the model cache
    times.cpu["total"] = time.process_time() - cpu
    times.wall["total"] = time.perf_counter() - wall
    return times, duration


def print_profile(wav: Path) -> None:
    times, duration = profile(wav)
    known = sum(v for k, v in times.cpu.items() if k != "total")
    times.cpu["other (decoding, buffers, annotation)"] = times.cpu["total"] - known
    times.wall["other (decoding, buffers, annotation)"] = times.wall["total"] - sum(
        v for k, v in times.wall.items() if k not in ("total", "other (decoding, buffers, annotation)")
    )
    print(f"{wav.name}: {duration:.0f} s of audio, torch threads {__import__('torch').get_num_threads()}")
    print("| stage | CPU s | CPU s / audio s | wall s | RTF |")
    print("| --- | --- | --- | --- | --- |")
    for stage in [k for k in times.cpu if k != "total"] + ["total"]:
        print(
            f"| {stage} | {times.cpu[stage]:.1f} | {times.cpu[stage] / duration:.4f} | {times.wall[stage]:.1f} "
            f"| {times.wall[stage] / duration:.4f} |"
        )
    print(f"\nload average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


def side_by_side(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown table lines: per file, ours and the peer's DER (c0.25, c0), speakers, RTF and CPU s."""
    lines = [
        "| file | duration s | DER c0.25 ours / peer | DER c0 ours / peer | speakers ours / peer / ref "
        "| RTF ours / peer | CPU s ours / peer |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    by_file: dict[str, dict[str, dict[str, Any]]] = {}
    for r in rows:
        by_file.setdefault(str(r["file"]), {})[str(r["engine"])] = r
    for name, pair in by_file.items():
        ours, peer = pair.get("ours"), pair.get("peer")
        if ours is None or peer is None:
            continue
        lines.append(
            f"| {name} | {ours['duration']:.0f} | {ours['der25']:.1%} / {peer['der25']:.1%} "
            f"| {ours['der0']:.1%} / {peer['der0']:.1%} | {ours['found']} / {peer['found']} / {ours['ref']} "
            f"| {ours['rtf']:.3f} / {peer['rtf']:.3f} | {ours['cpu']:.1f} / {peer['cpu']:.1f} |"
        )
    behind = [
        n
        for n, p in by_file.items()
        if "peer" in p and "ours" in p and (p["ours"]["der25"] > p["peer"]["der25"] + 1e-9)
    ]
    lines.append("")
    lines.append(f"peer better at collar 0.25 on: {', '.join(behind) or 'none'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="*", default=[60.0], help="long inputs to build (minutes)")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--peer", action="store_true", help="also pyannote's own SpeakerDiarization, side by side")
    parser.add_argument("--peer-long", action="store_true", help="the peer on the long inputs too (slow)")
    parser.add_argument("--only", nargs="*", help="clip names to run (default: all)")
    parser.add_argument("--out", type=Path, default=REPO / "data" / "bench")
    parser.add_argument(
        "--profile", type=float, metavar="MINUTES", help="time our engine's stages on bench/inputs.build(MINUTES)"
    )
    parser.add_argument("--one", nargs=2, metavar=("WAV", "RTTM"), help=argparse.SUPPRESS)
    parser.add_argument("--engine", choices=("ours", "peer"), default="ours", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile is not None:
        sys.path.insert(0, str(REPO))  # bench/ is scripts, not an installed package
        from bench import inputs

        print_profile(inputs.build(args.profile))
        return
    if args.one:
        print(json.dumps(run_one(Path(args.one[0]), Path(args.one[1]), args.engine)))
        return
    names = sorted(args.only or CLIPS)
    unknown = set(names) - set(CLIPS)
    if unknown:
        raise SystemExit(f"unknown clip(s): {', '.join(sorted(unknown))}; the clips are {', '.join(CLIPS)}")
    inputs = [(DATA / f"{n}.wav", DATA / f"{n}.rttm", True) for n in names]
    if not args.skip_long:
        inputs += [(*build_long(args.out, m), False) for m in args.minutes]
    rows = []
    for wav, rttm, is_clip in inputs:
        engines = ["ours", "peer"] if args.peer and (is_clip or args.peer_long) else ["ours"]
        for engine in engines:  # alternately, so that the load of the machine hits both
            rows.append(run_child(wav, rttm, engine))
            r = rows[-1]
            print(
                f"done {wav.name} ({engine}): DER c0.25 {r['der25']:.1%}, c0 {r['der0']:.1%}, "
                f"{r['found']}/{r['ref']} speakers, RTF {r['rtf']:.3f}, CPU {r['cpu']:.1f} s",
                file=sys.stderr,
            )
    ours = [r for r in rows if r["engine"] == "ours"]
    print("| file | duration s | DER c0 | DER c0.25 | speakers found/ref | wall s | RTF | CPU s | peak RSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in ours:
        print(
            f"| {r['file']} | {r['duration']:.0f} | {r['der0']:.1%} | {r['der25']:.1%} | {r['found']}/{r['ref']} "
            f"| {r['wall']:.1f} | {r['rtf']:.3f} | {r['cpu']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    if args.peer:
        print("\nours beside pyannote's own SpeakerDiarization (segmentation-3.0 + CAM++, speaker-diarization-3.1's")
        print("AgglomerativeClustering); CPU s of the diarization call, models loaded before it\n")
        print("\n".join(side_by_side(rows)))
    print(f"\nload average during the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for engine in ("ours", "peer") if args.peer else ("ours",):
        clips = [r for r in rows if r["engine"] == engine and not str(r["file"]).startswith("long")]
        if not clips:
            continue
        print(f"\n{engine}: clips {len(clips)}, right count on {sum(r['found'] == r['ref'] for r in clips)}")
        groups = {"all": clips}
        for r in clips:
            groups.setdefault("zh" if str(r["file"]).startswith("zh_") else "en", []).append(r)
        for group, members in groups.items():
            pooled = {
                c: sum(r[f"error{c}"] for r in members) / sum(r[f"total{c}"] for r in members) for c in ("0", "25")
            }
            print(
                f"{engine} clips pooled ({group}, {len(members)}): "
                f"DER c0 {pooled['0']:.1%}, DER c0.25 {pooled['25']:.1%}"
            )


if __name__ == "__main__":
    main()
