"""Long inputs for benchmarks, built deterministically from ../shared/testdata clips.

A 3-hour WAV is 345 MB, so these are never stored: `build(minutes)` writes one under
`data/bench/` (or returns it if already there) by cycling through the clips with pauses of
0.3–1.5 s chosen by a seeded generator. Writing streams clip by clip, so building costs little memory.
"""

from __future__ import annotations

import random
import sys
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench.speech import audio  # noqa: E402

TESTDATA = ROOT.parent / "shared" / "testdata"


def clips(kind: str = "all") -> list[Path]:
    folders = {"asr": ["asr"], "diarization": ["diarization"], "all": ["asr", "diarization"]}[kind]
    return sorted(p for f in folders for p in (TESTDATA / f).iterdir() if p.suffix in (".wav", ".flac"))


def build(minutes: float, kind: str = "all", seed: int = 0, out_dir: Path | None = None) -> Path:
    out_dir = out_dir or ROOT / "data" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"long_{kind}_{minutes:g}min_seed{seed}.wav"
    if path.exists():
        return path
    sources = [(p, (audio.load(p) * 32767).astype(np.int16)) for p in clips(kind)]
    rng = random.Random(seed)
    target = int(minutes * 60 * audio.SAMPLE_RATE)
    written = 0
    tmp = path.with_suffix(".part")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.SAMPLE_RATE)
        i = 0
        while written < target:
            _, samples = sources[i % len(sources)]
            pause = np.zeros(int(rng.uniform(0.3, 1.5) * audio.SAMPLE_RATE), dtype=np.int16)
            piece = np.concatenate([samples, pause])[: target - written]
            out.writeframes(piece.tobytes())
            written += piece.shape[0]
            i += 1
    tmp.replace(path)
    return path


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["30"]:
        print(build(float(arg)))
