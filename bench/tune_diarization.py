"""Grid search of the CAM++ clustering parameters on development data only (never the test clip).

    .venv/bin/python bench/tune_diarization.py [--step 0.1] [--long-minutes 12]

The development data: pyannote_ami_dev00, pyannote_ami_dev01 and pyannote_sample, the two Mandarin
clips (zh_modelscope_2speakers, a real two-person conversation with a coarse turn-level reference, and
zh_constructed_6speakers, six speakers with an exact one), plus a long concatenation of the three English
clips (0.3–1.5 s seeded pauses, labels kept: dev00 and dev01 share their two AMI speakers, so it has 4
voices). The long input matters: a threshold that suits 30 s clips can split speakers once a hearing has
thousands of embeddings (complete linkage does).

Segmentation and embeddings are extracted once per input; only clustering and reconstruction are
repeated per grid point. Ranked by the count being right on every clip, then by pooled DER (collar
0.25 s, overlap included) over all inputs.
"""

from __future__ import annotations

import argparse
import itertools
import random
from pathlib import Path

import numpy as np

import workbench  # noqa: F401  (offline environment first)
from workbench.speech.diarization import SpeakerCount
from workbench.speech.diarization.pipeline import load_embedded
from workbench.speech.diarization.segmentation import SEGMENTATION_STEP

DATA = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "diarization"
# the long input's clips (English: its 4-voice reference relies on dev00 and dev01 sharing speakers)
LONG_CLIPS = ("pyannote_ami_dev00", "pyannote_ami_dev01", "pyannote_sample")
CLIPS = (*LONG_CLIPS, "zh_modelscope_2speakers", "zh_constructed_6speakers")


def dev_long(minutes: float, seed: int = 0):  # type: ignore[no-untyped-def]
    """(samples, reference Annotation): the English dev clips in turn with seeded pauses, to `minutes`."""
    from pyannote.core import Annotation, Segment
    from pyannote.database.util import load_rttm

    from workbench.speech import audio

    clips = {n: audio.load(DATA / f"{n}.wav") for n in LONG_CLIPS}
    refs = {n: next(iter(load_rttm(DATA / f"{n}.rttm").values())) for n in LONG_CLIPS}
    rng = random.Random(seed)
    parts, reference, t, i = [], Annotation(uri="dev_long"), 0.0, 0
    while t < minutes * 60:
        name = LONG_CLIPS[i % len(LONG_CLIPS)]
        pause = np.zeros(int(rng.uniform(0.3, 1.5) * 16000), dtype=np.float32)
        for seg, _, label in refs[name].itertracks(yield_label=True):
            reference[Segment(t + seg.start, t + seg.end)] = label
        parts += [clips[name], pause]
        t += (clips[name].shape[0] + pause.shape[0]) / 16000
        i += 1
    return np.concatenate(parts), reference


def main() -> None:
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    from workbench.speech import audio

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--step", type=float, default=SEGMENTATION_STEP)
    parser.add_argument("--long-minutes", type=float, default=12.0, help="0: clips only")
    parser.add_argument("--methods", default="average,complete")
    parser.add_argument("--merge-ratios", default="0,5,8", help="0: no one-voice merge")
    args = parser.parse_args()
    pipeline = load_embedded(segmentation_step=args.step)
    inputs = {}
    for name in CLIPS:
        seg, emb, _ = pipeline.extract(audio.blocks(DATA / f"{name}.wav"), None)
        inputs[name] = (seg, emb, next(iter(load_rttm(DATA / f"{name}.rttm").values())))
    if args.long_minutes:
        samples, reference = dev_long(args.long_minutes)
        blocks = (samples[i : i + 480_000] for i in range(0, samples.shape[0], 480_000))
        seg, emb, _ = pipeline.extract(blocks, None)
        inputs["dev_long"] = (seg, emb, reference)
    results = []
    grid = itertools.product(
        args.methods.split(","),
        np.arange(0.40, 0.81, 0.05).round(2),
        (12,),
        (0.5, 1.0, 1.5),
        [float(r) for r in args.merge_ratios.split(",")],
    )
    for method, threshold, min_size, train_s, merge_ratio in grid:
        params = {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {
                "method": method,
                "threshold": float(threshold),
                "min_cluster_size": min_size,
                "min_train_s": train_s,
                "merge_ratio": merge_ratio,
            },
        }
        pipeline.instantiate(params)
        metric = DiarizationErrorRate(collar=0.25)
        per_input, counts_ok = [], 0
        for name, (seg, emb, ref) in inputs.items():
            hyp, _ = pipeline.finish(seg, emb, SpeakerCount())
            per_input.append(f"{metric(ref, hyp):.3f}/{len(hyp.labels())}")
            counts_ok += name in CLIPS and len(hyp.labels()) == len(ref.labels())
        results.append((abs(metric), counts_ok, method, threshold, min_size, train_s, merge_ratio, per_input))
    results.sort(key=lambda r: (-r[1], r[0]))
    voices = ", ".join(str(len(ref.labels())) for _, _, ref in inputs.values())
    print(f"step={args.step}, inputs: {', '.join(inputs)} (DER/speakers found; references have {voices})")
    print("pooled  right_count_on_clips  method  threshold  min_cluster_size  min_train_s  merge_ratio  per-input")
    for r in results[:20]:
        print(f"{r[0]:.4f}  {r[1]}  {r[2]:9s} {r[3]:.2f}  {r[4]:2d}  {r[5]:.1f}  {r[6]:4.1f}  " + " ".join(r[7]))


if __name__ == "__main__":
    main()
