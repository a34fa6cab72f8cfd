"""Grid search of the CAM++ clustering parameters on the development clips (never the test clip).

    .venv/bin/python bench/tune_diarization.py [--step 0.25] [--files dev00,dev01,sample]

Segmentation and embeddings are extracted once per file; only clustering and reconstruction are
repeated per grid point. Prints the best settings by pooled DER (collar 0.25 s, overlap included).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

import workbench  # noqa: F401  (offline environment first)
from workbench import audio, diarize

DATA = Path("/work/shared/testdata/diarization")
FILES = {"dev00": "pyannote_ami_dev00", "dev01": "pyannote_ami_dev01", "sample": "pyannote_sample"}


def main() -> None:
    from pyannote.database.util import load_rttm
    from pyannote.metrics.diarization import DiarizationErrorRate

    parser = argparse.ArgumentParser()
    parser.add_argument("--step", type=float, default=diarize.SEGMENTATION_STEP)
    parser.add_argument("--files", default="dev00,dev01,sample")
    parser.add_argument("--methods", default="centroid,average,complete")
    args = parser.parse_args()
    names = [FILES[f] for f in args.files.split(",")]
    pipeline = diarize.load_embedded(segmentation_step=args.step)
    cached = {}
    for name in names:
        seg, emb, _ = pipeline.extract(audio.blocks(DATA / f"{name}.wav"), None)
        ref = next(iter(load_rttm(DATA / f"{name}.rttm").values()))
        cached[name] = (seg, emb, ref)
    results = []
    grid = itertools.product(args.methods.split(","), np.arange(0.30, 1.11, 0.05).round(2), (1, 3, 5), (0.5, 1.0, 1.5))
    for method, threshold, min_size, train_s in grid:
        params = {
            "segmentation": {"min_duration_off": 0.0},
            "clustering": {
                "method": method,
                "threshold": float(threshold),
                "min_cluster_size": min_size,
                "min_train_s": train_s,
            },
        }
        pipeline.instantiate(params)
        metric = DiarizationErrorRate(collar=0.25)
        per_file, counts_ok = [], 0
        for seg, emb, ref in cached.values():
            hyp, _ = pipeline.finish(seg, emb, diarize.SpeakerCount())
            per_file.append(metric(ref, hyp))
            counts_ok += len(hyp.labels()) == len(ref.labels())
        results.append((abs(metric), counts_ok, method, threshold, min_size, train_s, per_file))
    results.sort(key=lambda r: (-r[1], r[0]))
    print(f"step={args.step} files={','.join(names)}")
    print("pooled  right_count  method  threshold  min_cluster_size  min_train_s  per-file")
    for r in results[:25]:
        print(f"{r[0]:.4f}  {r[1]}  {r[2]:9s} {r[3]:.2f}  {r[4]:2d}  {r[5]:.1f}  " + " ".join(f"{x:.3f}" for x in r[6]))


if __name__ == "__main__":
    main()
