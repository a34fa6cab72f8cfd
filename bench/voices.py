"""Voice-library benchmark: how alike the stored mean CAM++ embeddings of one voice are across two "hearings",
and how alike two different voices are; the false-accept / false-reject rates at candidate thresholds.

    .venv/bin/python bench/voices.py [--thresholds 0.3 0.35 ...] [--json data/bench/voices.json]

The "hearings" are built from the shared test audio (../shared/testdata), each recording cut in two so that
every voice appears in both halves (part A and part B):

- zh_constructed_6speakers (six Mandarin speakers, exact reference): each speaker's turns go alternately to
  part A and part B (first turn A, second B, ...), each part the concatenation of its turns with 0.5 s of
  silence between;
- the four English pyannote clips (AMI dev00, dev01, tst00 with 59% overlap, the tutorial sample) and
  zh_modelscope_2speakers: cut at half time, the reference turns clipped to each half. AMI speaker ids are
  the corpus's own, global per person: MEE009 and MEE012 speak in both dev00 and dev01, so those pairs are
  the same voice across two different recordings;
- the six asr clips (one speaker each): each clip's first half in part A, its second half in part B. The two
  LibriVox clips (ss01_0870, ss01_0880) are two passages of one chapter recording, one reader: one voice.

Every (part, voice) gets two embeddings:

- "diarized": what a mono hearing stores today. The part is diarized by the embedded engine
  (`diarization.diarize_stream`, segmentation-3.0 + CAM++), and each found speaker's centroid (the mean of
  its sub-window CAM++ embeddings: `speakers.embedding`) is given to the reference voice it overlaps most.
  A found speaker with under `MIN_SPEECH_S` of speech, or less than half of it on that voice, is left out
  (the clerk could not name such a cluster either), and counted;
- "reference": what the channel path stores (a seat's speech is known): the mean of CAM++ embeddings pooled
  over 2.5 s pieces of the voice's reference speech where nobody else talks (the diarizer's sub-window size).

Pairs: two embeddings from DIFFERENT parts (a proposal compares a hearing's speaker with the case's other
hearings, never with its own), same voice or different voice, over the three method pairings
(diarized-diarized, reference-reference, diarized-reference: a mono hearing matched with a channel one).
Cosine similarity, as `workbench.store.voices` computes it. Prints each distribution and FA / FR per
threshold, and the proposals the store's own rule (`match_voices`: one to one) makes on every ordered pair of
parts, one named and one not: how many are wrong, how many returning voices get the right name.
`VOICE_THRESHOLD` is the highest different-voice similarity plus a margin of at least 0.05.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import workbench  # noqa: F401  (offline environment before pyannote is imported)

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO.parent / "shared" / "testdata"
SR = 16000
MIN_SPEECH_S = 1.0  # a found speaker with less speech than this is left out (no one names a one-word cluster)
PIECE_S = 2.5  # the diarizer's sub-window: 10 s chunks in 4
GAP_S = 0.5
HALF_CLIPS = ("pyannote_ami_dev00", "pyannote_ami_dev01", "pyannote_ami_tst00", "pyannote_sample",
              "zh_modelscope_2speakers")  # fmt: skip
ASR_VOICES = {  # clip -> voice (the two LibriVox passages are one reader's)
    "zh_aishell1_BAC009S0724W0121.wav": "aishell:S0724",
    "zh_aishell1_BAC009S0764W0121.wav": "aishell:S0764",
    "en_jfk.flac": "jfk",
    "en_librispeech_1995-1837-0001.wav": "librispeech:1995",
    "en_librivox_ss01_0870.wav": "librivox:ss01",
    "en_librivox_ss01_0880.wav": "librivox:ss01",
}
THRESHOLDS = (0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.68, 0.7, 0.73, 0.75, 0.8)


@dataclass
class Part:
    """One built "hearing": its audio and who speaks when (voice ids global across parts)."""

    name: str
    audio: np.ndarray
    turns: list[tuple[float, float, str]]


@dataclass
class Voice:
    part: str
    voice: str
    method: str  # "diarized" | "reference"
    embedding: np.ndarray
    speech_s: float


def _rttm(path: Path, prefix: str) -> list[tuple[float, float, str]]:
    out = []
    for line in path.read_text().splitlines():
        f = line.split()
        if f and f[0] == "SPEAKER":
            start, dur, who = float(f[3]), float(f[4]), f[7]
            out.append((start, start + dur, who if prefix == "ami" else f"{prefix}:{who}"))
    return sorted(out)


def _concat(pieces: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Pieces one after another with GAP_S of silence between; their turns."""
    gap = np.zeros(int(GAP_S * SR), np.float32)
    chunks, turns, at = [], [], 0
    for samples, voice in pieces:
        chunks += [samples, gap]
        turns.append((at / SR, (at + len(samples)) / SR, voice))
        at += len(samples) + len(gap)
    return np.concatenate(chunks), turns


def build_parts() -> Iterator[Part]:
    from workbench.speech import audio

    diar = TESTDATA / "diarization"
    # zh_constructed_6speakers: turns alternately to A and B, speaker by speaker
    samples = audio.load(diar / "zh_constructed_6speakers.wav")
    seen: dict[str, int] = {}
    sides: dict[str, list[tuple[np.ndarray, str]]] = {"A": [], "B": []}
    for start, end, voice in _rttm(diar / "zh_constructed_6speakers.rttm", "zh6"):
        side = "AB"[seen.get(voice, 0) % 2]
        seen[voice] = seen.get(voice, 0) + 1
        sides[side].append((samples[int(start * SR) : int(end * SR)], voice))
    for side, pieces in sides.items():
        yield Part(f"zh_constructed_6speakers:{side}", *_concat(pieces))
    # real multi-speaker clips: cut at half time
    for clip in HALF_CLIPS:
        samples = audio.load(diar / f"{clip}.wav")
        prefix = "ami" if "_ami_" in clip else clip.split("_")[-1]
        turns = _rttm(diar / f"{clip}.rttm", prefix)
        mid = len(samples) / SR / 2
        for side, (lo, hi) in (("A", (0.0, mid)), ("B", (mid, len(samples) / SR))):
            clipped = [(max(s, lo) - lo, min(e, hi) - lo, v) for s, e, v in turns if e > lo and s < hi]
            yield Part(f"{clip}:{side}", samples[int(lo * SR) : int(hi * SR)], [t for t in clipped if t[1] > t[0]])
    # single-speaker clips: first halves in A, second halves in B
    halves: dict[str, list[tuple[np.ndarray, str]]] = {"A": [], "B": []}
    for name, voice in ASR_VOICES.items():
        samples = audio.load(TESTDATA / "asr" / name)
        mid = len(samples) // 2
        halves["A"].append((samples[:mid], voice))
        halves["B"].append((samples[mid:], voice))
    for side, pieces in halves.items():
        yield Part(f"asr:{side}", *_concat(pieces))


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def diarized_voices(part: Part, dropped: list[str]) -> list[Voice]:
    """The part diarized as a mono hearing is; each found speaker's stored centroid given to its main voice."""
    from workbench.speech.diarization.pipeline import diarize_stream

    result = diarize_stream(iter([part.audio]), total=len(part.audio) / SR)
    out = []
    for spk in result.speakers:
        own = [(t.start, t.end) for t in result.turns if t.speaker == spk.id]
        speech = sum(e - s for s, e in own)
        by_voice: dict[str, float] = {}
        for s, e, v in part.turns:
            by_voice[v] = by_voice.get(v, 0.0) + sum(_overlap((s, e), t) for t in own)
        voice, shared = max(by_voice.items(), key=lambda kv: kv[1], default=("?", 0.0))
        if spk.embedding is None or speech < MIN_SPEECH_S or shared < speech / 2:
            dropped.append(f"{part.name} {spk.id}: {speech:.1f} s, {shared:.1f} s on {voice}")
            continue
        out.append(Voice(part.name, voice, "diarized", np.asarray(spk.embedding, np.float64), speech))
    return out


def reference_voices(part: Part) -> list[Voice]:
    """Each reference voice's mean CAM++ embedding over 2.5 s pieces of its speech where nobody else talks."""
    import torch

    from workbench.speech.diarization.pipeline import load_embedded

    campp = load_embedded().embedding
    frames = campp.trunk_long(part.audio)  # (512, T') at 50 frames/s
    rate, total = campp.frame_rate, frames.shape[1]
    out = []
    for voice in sorted({v for _, _, v in part.turns}):
        alone = np.zeros(total, bool)
        for s, e, v in part.turns:
            if v == voice:
                alone[int(s * rate) : int(e * rate)] = True
        for s, e, v in part.turns:
            if v != voice:
                alone[int(s * rate) : int(e * rate)] = False
        idx = np.flatnonzero(alone)
        if idx.size < MIN_SPEECH_S * rate:
            continue
        step = int(PIECE_S * rate)
        pieces = [idx[i : i + step] for i in range(0, idx.size, step)]
        pieces = [p for p in pieces if p.size >= 0.5 * rate] or pieces[:1]  # a last sliver of a piece: left out
        weights = torch.zeros(len(pieces), total)
        for i, p in enumerate(pieces):
            weights[i, p] = 1.0
        pooled = campp.pool(frames[None].expand(len(pieces), -1, -1), weights).cpu().numpy().astype(np.float64)
        out.append(Voice(part.name, voice, "reference", pooled.mean(axis=0), idx.size / rate))
    return out


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def pairs(voices: list[Voice]) -> dict[str, dict[str, list[float]]]:
    """pairing -> "same" | "different" -> similarities, over embeddings of different parts only."""
    out: dict[str, dict[str, list[float]]] = {}
    for a, b in itertools.combinations(voices, 2):
        if a.part == b.part:
            continue
        pairing = "-".join(sorted((a.method, b.method)))
        kind = "same" if a.voice == b.voice else "different"
        for key in (pairing, "all"):
            out.setdefault(key, {"same": [], "different": []})[kind].append(cosine(a.embedding, b.embedding))
    return out


def simulate(voices: list[Voice], thresholds: list[float]) -> dict[str, list[tuple[float, int, int, int, int]]]:
    """The store's proposals on every ordered pair of parts: part P's voices named (as themselves), part Q's
    unnamed, for each method pairing. Per rule ("store": `match_voices`, one to one; "best": each speaker's
    most similar voice alone), per threshold: (threshold, proposals, wrong ones, right ones, returning voices:
    Q's speakers whose voice is named in P)."""
    from workbench.store.voices import NamedVoice, UnnamedVoice, match_voices

    by_part: dict[tuple[str, str], list[Voice]] = {}
    for v in voices:
        by_part.setdefault((v.part, v.method), []).append(v)
    out: dict[str, list[tuple[float, int, int, int, int]]] = {"store": [], "best": []}
    for t in thresholds:
        totals = {"store": [0, 0, 0, 0], "best": [0, 0, 0, 0]}
        for (p, _), earlier in by_part.items():
            for (q, _), later in by_part.items():
                if p == q:
                    continue
                named = [NamedVoice(0, f"N{i}", None, v.voice, v.embedding) for i, v in enumerate(earlier)]
                unnamed = [UnnamedVoice(f"U{i}", None, v.embedding) for i, v in enumerate(later)]
                truth = {f"U{i}": v.voice for i, v in enumerate(later)}
                returning = sum(v.voice in {n.voice for n in earlier} for v in later)
                store = {k: s.name for k, (s, _) in match_voices(unnamed, named, threshold=t).items()}
                best = {}
                for u in unnamed:
                    sims = [(cosine(u.vector, n.vector), n.name) for n in named]
                    top = max(sims, default=(-1.0, None))
                    if top[0] >= t:
                        best[u.label] = top[1]
                for rule, proposed in (("store", store), ("best", best)):
                    wrong = sum(name != truth[k] for k, name in proposed.items())
                    row = totals[rule]
                    row[0] += len(proposed)
                    row[1] += wrong
                    row[2] += len(proposed) - wrong
                    row[3] += returning
        for rule, row in totals.items():
            out[rule].append((t, *row))
    return out


def _dist(values: list[float]) -> str:
    if not values:
        return "none"
    q = np.quantile(values, [0.0, 0.05, 0.5, 0.95, 1.0])
    return f"n={len(values)} min {q[0]:.3f} p5 {q[1]:.3f} median {q[2]:.3f} p95 {q[3]:.3f} max {q[4]:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--thresholds", type=float, nargs="*", default=list(THRESHOLDS))
    parser.add_argument("--json", type=Path, help="also write the similarities here")
    args = parser.parse_args()
    from workbench.speech.diarization.pipeline import load_embedded

    load_embedded()
    began = time.perf_counter()
    voices: list[Voice] = []
    dropped: list[str] = []
    parts = list(build_parts())
    for part in parts:
        voices += diarized_voices(part, dropped)
        voices += reference_voices(part)
        spent = time.perf_counter() - began
        print(f"  {part.name}: {len(part.audio) / SR:.0f} s of audio, {spent:.0f} s so far", file=sys.stderr)
    print(f"{len(parts)} parts, {len(voices)} embeddings, {time.perf_counter() - began:.0f} s")
    for method in ("diarized", "reference"):
        mine = [v for v in voices if v.method == method]
        print(f"  {method}: {len(mine)} embeddings of {len({v.voice for v in mine})} voices")
    if dropped:
        print(f"  found speakers left out ({len(dropped)}): " + "; ".join(dropped))
    table = pairs(voices)
    print("\nsimilarity distributions (cosine), pairs across parts:")
    for pairing, kinds in table.items():
        print(f"  {pairing:20} same      {_dist(kinds['same'])}")
        print(f"  {'':20} different {_dist(kinds['different'])}")
    print("\n| threshold | " + " | ".join(f"FA {p} | FR {p}" for p in table) + " |")
    print("| --- |" + " --- | --- |" * len(table))
    for t in args.thresholds:
        cells = []
        for kinds in table.values():
            same, diff = np.array(kinds["same"]), np.array(kinds["different"])
            fa = int((diff >= t).sum())
            fr = int((same < t).sum())
            cells.append(f"{fa}/{diff.size} ({fa / max(diff.size, 1):.1%}) | {fr}/{same.size} "
                         f"({fr / max(same.size, 1):.1%})")  # fmt: skip
        print(f"| {t:.2f} | " + " | ".join(cells) + " |")
    print("\nproposals as the store makes them (part P named, part Q not; every ordered pair of parts, every method "
          "pairing):")  # fmt: skip
    print("| threshold | store: proposals | wrong | right / returning | best-only: proposals | wrong | right |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    sim = simulate(voices, args.thresholds)
    for (t, n, wrong, right, back), (_, bn, bwrong, bright, _) in zip(sim["store"], sim["best"], strict=True):
        print(f"| {t:.2f} | {n} | {wrong} | {right}/{back} ({right / max(back, 1):.0%}) | {bn} | {bwrong} | {bright} |")
    top_diff = max(table["all"]["different"])
    print(f"\nhighest different-voice similarity: {top_diff:.3f}; no false accept from {top_diff + 0.001:.3f}, "
          f"with a 0.05 margin from {top_diff + 0.05:.3f}")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"pairs": table, "dropped": dropped}, indent=1))


if __name__ == "__main__":
    main()
