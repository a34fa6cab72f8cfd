"""Channel bench: a courtroom's one-microphone-per-seat recording, the channel path against today's mono path.

    .venv/bin/python bench/channels.py                    # 3-minute input: DER, CER/WER, RTF, peak RSS
    .venv/bin/python bench/channels.py --minutes 60       # the 1-hour input (RTF and peak RSS targets)
    .venv/bin/python bench/channels.py --build-only --minutes 3
    .venv/bin/python bench/channels.py --paths mono       # one path only ("channels", "mono")
    .venv/bin/python bench/channels.py --set en           # one language in the file (see below)
    .venv/bin/python bench/channels.py --rescore          # score the transcripts of the last run again

The input (built by `build()`, deterministic for a seed, under data/bench/, git-ignored; `--clean` deletes it
after the run) is four channels at 16 kHz, one seat each, from the test clips that have a human transcript.
`--set mixed` (the default):

    channel 0  审判长  AISHELL-1 BAC009S0764W0121 (Mandarin)
    channel 1  原告    AISHELL-1 BAC009S0724W0121 (Mandarin)
    channel 2  被告    JFK inaugural (English)
    channel 3  证人    LibriSpeech 1995-1837-0001 (English)

`--set en`: 审判长 the LibriVox ss01 reader (clips 0870 and 0880), 原告 JFK, 被告 LibriSpeech 1995, and channel 3
"-": a spare microphone no one speaks into, hearing only the room and everyone's bleed.

Each clip is trimmed to its speech (Silero VAD on the clean clip, 50 ms padding; pauses under 0.5 s count as
speech) and levelled to -26 dBFS of active speech. Turns follow each other with 0.3-1.5 s gaps, a seeded
generator choosing the next speaker; a turn starts inside the previous one (by 40-90% of the shorter of the two,
never three voices at once) whenever that keeps the overlapped share of speech under 30%: "30% of the speech
overlapped" is the per-speaker speech time spoken while another speaker talks, over all speech time. Every
other seat's voice bleeds into a channel 15-25 dB down (drawn per channel pair) with a 3-12 ms path delay; a
common room noise (low-passed, -60 dBFS) and each microphone's own noise (-66 dBFS) are added. Beside the
4-channel WAV the builder writes the room's mono mix (half the sum of the channels: what a mixing desk records),
the RTTM reference (one line per speech region, pauses of 0.5 s or more inside a clip left out), the turns with
their text and whether they are overlapped (`.turns.jsonl`) and a `.meta.json` (bleed levels, overlap shares).

Two paths on the same input, each in its own child process (wall time and peak RSS from wait4 are the whole
pipeline's, model loading included, as bench/long.py measures them):
  channels  `pipeline.transcribe(WAV, TranscribeOptions.from_settings(channels=<the set's map>))`
  mono      `pipeline.transcribe(MIX, TranscribeOptions.from_settings())` (today's path: ASR + diarization)
and a third row, "channel activity only": the channel engine's per-seat speech activity
(`workbench.speech.channels.channel_turns`) scored by DER before any recognition, so crosstalk rejection and
overlap are measured apart from Whisper's word timing. Wall and CPU seconds are both shown: CPU seconds over
audio seconds do not depend on what else the machine runs (2 threads: an idle machine's RTF is about half).

Scoring:
  DER   pyannote.metrics' DiarizationErrorRate at collar 0.25 s and 0, overlap included, hypothesis speakers
        mapped optimally (DER's own mapping). The hypothesis is the transcript's speech as it states it: each
        segment's words (a segment without words: its span) under the segment's speaker, words of one speaker
        less than 0.5 s apart merged, the same rule as the reference's regions.
  CER   Mandarin turns, WER English turns (workbench.speech.text's normalisation, as bench/asr.py), split by
        overlapped / not overlapped. Each hypothesis word goes to one reference turn: the turn of the reference
        speaker its segment's speaker maps to (DER's optimal mapping) that contains the word's midpoint, or is
        nearest to it within 0.5 s. A turn's hypothesis is its words in time order; a word matching no turn (a
        speaker mapped to no one, speech in a pause, a word given to someone not speaking then) is "stray" and
        counted apart. Errors are pooled (sum of edit distances over sum of reference lengths).

Known limits of the input: each voice repeats its one or two clips; in `--set mixed` the Mandarin and English
voices share the file, and today's Whisper path picks one language per file (from the first speech), so the
mono path's scores on the other language measure that too: `--set en` scores it without that.
`../shared/testdata/asr/en_jfk.flac` is two-channel, but both channels carry the same speech: it is no seat
recording and is used here as one voice.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import wave
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402
from workbench.speech import audio, text  # noqa: E402

RATE = audio.SAMPLE_RATE
OUT_DIR = ROOT / "data" / "bench"


@dataclass(frozen=True, slots=True)
class Voice:
    name: str  # the reference speaker label
    clips: tuple[str, ...]  # under ../shared/testdata, each with a human transcript in its manifest
    language: str  # "zh" (CER) or "en" (WER)
    role: str  # the channel map item


_ZH_0764 = Voice("zh_S0764", ("asr/zh_aishell1_BAC009S0764W0121.wav",), "zh", "审判长")
_ZH_0724 = Voice("zh_S0724", ("asr/zh_aishell1_BAC009S0724W0121.wav",), "zh", "原告")
_EN_JFK = Voice("en_jfk", ("asr/en_jfk.flac",), "en", "被告")
_EN_1995 = Voice("en_1995", ("asr/en_librispeech_1995-1837-0001.wav",), "en", "证人")
_EN_SS01 = Voice("en_ss01", ("asr/en_librivox_ss01_0870.wav", "asr/en_librivox_ss01_0880.wav"), "en", "审判长")
# One voice per channel, in channel order; None: a channel no one speaks into ("-": a spare microphone that
# hears the room and everyone's bleed). "mixed" is the design's set; "en" keeps one language in the file, so
# that today's path, which picks one language per file, is scored on overlap and diarization alone.
SETS: dict[str, tuple[Voice | None, ...]] = {
    "mixed": (_ZH_0764, _ZH_0724, _EN_JFK, _EN_1995),
    "en": (_EN_SS01, replace(_EN_JFK, role="原告"), replace(_EN_1995, role="被告"), None),
}


def channel_map(voices: Sequence[Voice | None]) -> tuple[str, ...]:
    """The `--channels` items of a set: each voice's role, "-" for a channel without one."""
    return tuple(v.role if v else "-" for v in voices)


LEVEL_DBFS = -26.0  # active speech level of every voice on its own channel
BLEED_DB = (15.0, 25.0)  # how far down a neighbour's voice is heard
DELAY_MS = (3.0, 12.0)  # the extra path to a neighbour's microphone
ROOM_NOISE_DBFS = -60.0
MIC_NOISE_DBFS = -66.0
OVERLAP_SHARE = 0.30
OVERLAP_PART = (0.4, 0.9)  # of the shorter turn, when a turn starts inside the previous one
GAP_S = (0.3, 1.5)
BRIDGE_S = 0.5  # pauses shorter than this are speech, on both sides of the scoring
BLOCK_S = 10.0
NEAR_S = 0.5


@dataclass(frozen=True, slots=True)
class Clip:
    voice: Voice
    source: str  # the clip's path under ../shared/testdata
    samples: np.ndarray  # float32, trimmed to speech and levelled
    regions: tuple[tuple[float, float], ...]  # speech inside the trimmed clip, seconds

    @property
    def duration(self) -> float:
        return self.samples.shape[0] / RATE


@dataclass(slots=True)
class Turn:
    index: int
    speaker: str
    channel: int
    clip: str
    language: str
    start: float
    end: float
    text: str
    regions: list[tuple[float, float]] = field(default_factory=list)  # absolute seconds
    overlapped: bool = False


@dataclass(frozen=True, slots=True)
class Built:
    wav: Path  # 4 channels
    mix: Path  # the room's mono mix
    rttm: Path
    turns_path: Path
    meta_path: Path
    uri: str
    channels: tuple[str, ...]  # the channel map of the set, as given to --channels

    def files(self) -> tuple[Path, ...]:
        return (self.wav, self.mix, self.rttm, self.turns_path, self.meta_path)


def speech_regions(samples: np.ndarray) -> list[tuple[float, float]]:
    """Speech in a clean clip: Silero VAD (as packaged with faster-whisper), pauses of 0.5 s or more kept.

    Run on each clip alone, before any mixing, so neither path's own speech detection defines the reference.
    The regions come padded by 50 ms; pauses the padding leaves under BRIDGE_S are bridged, as the scoring does.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(min_silence_duration_ms=500, speech_pad_ms=50, min_speech_duration_ms=100)
    regions: list[list[float]] = []
    for found in get_speech_timestamps(samples, options):
        begin, end = found["start"] / RATE, found["end"] / RATE
        if regions and begin - regions[-1][1] < BRIDGE_S:
            regions[-1][1] = end
        else:
            regions.append([begin, end])
    return [(a, b) for a, b in regions]


def load_clips(voices: Sequence[Voice | None]) -> list[list[Clip]]:
    """Per channel, its voice's clips trimmed to speech and levelled (no clips for a channel without a voice)."""
    out: list[list[Clip]] = []
    for voice in voices:
        out.append([])
        for source in voice.clips if voice else ():
            raw = audio.load(inputs.TESTDATA / source)
            found = speech_regions(raw)
            first, last = int(found[0][0] * RATE), int(found[-1][1] * RATE)
            trimmed = raw[first:last].astype(np.float64)
            active = np.concatenate([trimmed[int(s * RATE) - first : int(e * RATE) - first] for s, e in found])
            gain = 10 ** (LEVEL_DBFS / 20) / max(float(np.sqrt(np.mean(np.square(active)))), 1e-9)
            offset = first / RATE
            regions = tuple((round(s - offset, 3), round(e - offset, 3)) for s, e in found)
            out[-1].append(Clip(voice, source, (trimmed * gain).astype(np.float32), regions))
    return out


def references() -> dict[str, str]:
    manifest = json.loads((inputs.TESTDATA / "manifest.json").read_text(encoding="utf-8"))
    return {item["file"]: item["reference"] for item in manifest}


def plan(minutes: float, seed: int, clips: Sequence[Sequence[Clip]]) -> list[Turn]:
    """The turns of the input, in start order (pure: no audio is made)."""
    rng = random.Random(seed)
    texts = references()
    target = minutes * 60.0
    turns: list[Turn] = []
    speech = overlapped = 0.0
    previous_end = 0.0  # the end of the turn before the last one: never three voices at once
    cursor = 0.5
    last: Turn | None = None
    while True:
        choices = [i for i, own in enumerate(clips) if own and (last is None or own[0].voice.name != last.speaker)]
        channel = rng.choice(choices)
        clip = rng.choice(clips[channel])
        gap = rng.uniform(*GAP_S)
        part = rng.uniform(*OVERLAP_PART)
        start = cursor + gap
        if last is not None:
            shorter = min(clip.duration, last.end - last.start)
            inside = last.end - part * shorter
            share_if = (overlapped + 2 * (last.end - inside)) / (speech + clip.duration)
            if share_if <= OVERLAP_SHARE and inside >= previous_end + 0.2 and inside > last.start + 0.3:
                start = inside
        end = start + clip.duration
        if end > target:
            break
        turn = Turn(
            index=len(turns),
            speaker=clip.voice.name,
            channel=channel,
            clip=clip.source,
            language=clip.voice.language,
            start=round(start, 3),
            end=round(end, 3),
            text=texts[clip.source],
            regions=[(round(start + s, 3), min(round(start + e, 3), round(end, 3))) for s, e in clip.regions],
        )
        if last is not None and turn.start < last.end:
            turn.overlapped = last.overlapped = True
            overlapped += 2 * (last.end - turn.start)
        speech += clip.duration
        previous_end = last.end if last is not None else 0.0
        last = turn  # a turn inside the previous one starts before its end and ends after it: never enclosed
        turns.append(turn)
        cursor = turn.end
    return turns


def _noise_filter(signal: np.ndarray, state: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A one-pole low-pass (room rumble and ventilation, not hiss), its state carried across blocks."""
    from scipy.signal import lfilter

    a = 0.98
    out, state = lfilter([1 - a], [1, -a], signal, zi=state)
    return out, state


def render(turns: Sequence[Turn], clips: Sequence[Sequence[Clip]], duration: float, seed: int) -> Iterator[np.ndarray]:
    """Float32 blocks shaped (channels, n): every channel's own voice, its neighbours' bleed, the noise."""
    channels = len(clips)
    by_source = {c.source: c for own in clips for c in own}
    rng = np.random.default_rng(seed)
    bleed_db = rng.uniform(*BLEED_DB, size=(channels, channels))
    delay = (rng.uniform(*DELAY_MS, size=(channels, channels)) * RATE / 1000).astype(int)
    margin = int(delay.max()) + 1
    total = int(duration * RATE)
    block = int(BLOCK_S * RATE)
    room_state = np.zeros(1)
    room_scale = 10 ** (ROOM_NOISE_DBFS / 20) / np.sqrt((1 - 0.98) / (1 + 0.98))  # unit-variance filtered noise
    for b0 in range(0, total, block):
        n = min(block, total - b0)
        lo = b0 - margin
        dry = np.zeros((channels, n + margin), dtype=np.float64)
        for turn in turns:
            samples = by_source[turn.clip].samples
            t0 = round(turn.start * RATE)
            t1 = t0 + samples.shape[0]
            if t1 <= lo or t0 >= b0 + n:
                continue
            a, b = max(t0, lo), min(t1, b0 + n)
            dry[turn.channel, a - lo : b - lo] += samples[a - t0 : b - t0]
        wet = dry[:, margin:].copy()
        for i in range(channels):
            for j in range(channels):
                if i != j:
                    d = int(delay[i, j])
                    wet[i] += 10 ** (-bleed_db[i, j] / 20) * dry[j, margin - d : margin - d + n]
        room, room_state = _noise_filter(rng.standard_normal(n), room_state)
        wet += room_scale * room
        wet += 10 ** (MIC_NOISE_DBFS / 20) * rng.standard_normal((channels, n))
        yield wet.astype(np.float32)


def bleed_levels(seed: int, channels: int) -> list[list[float]]:
    """The bleed matrix render() draws for a seed (dB down; row: the microphone, column: the voice)."""
    rng = np.random.default_rng(seed)
    matrix = rng.uniform(*BLEED_DB, size=(channels, channels))
    np.fill_diagonal(matrix, 0.0)
    return [[round(float(x), 2) for x in row] for row in matrix]


def overlap_shares(turns: Sequence[Turn]) -> dict[str, float]:
    """Per-speaker speech spoken while another talks / all speech; and time with two voices / time with any."""
    from pyannote.core import Annotation, Segment

    ann = Annotation()
    for t in turns:
        ann[Segment(t.start, t.end), t.index] = t.speaker
    speech = sum(t.end - t.start for t in turns)
    any_voice = ann.get_timeline().support().duration()
    two = ann.get_overlap().duration()
    return {
        "speech_overlapped": round(2 * two / speech, 4) if speech else 0.0,
        "time_two_voices": round(two / any_voice, 4) if any_voice else 0.0,
        "turns_overlapped": round(sum(t.overlapped for t in turns) / max(len(turns), 1), 4),
    }


def _write_wav(path: Path, channels: int, blocks: Iterator[np.ndarray]) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(RATE)
        for b in blocks:
            out.writeframes((np.clip(b, -1, 1) * 32767).astype("<i2").T.tobytes())


def build(minutes: float = 3.0, seed: int = 0, out_dir: Path | None = None, voice_set: str = "mixed") -> Built:
    """Writes (or finds) the 4-channel input, its mono mix and references for `minutes`, `seed` and voice set."""
    if minutes <= 0:
        raise ValueError(f"minutes {minutes}: expected a positive length")
    if voice_set not in SETS:
        raise ValueError(f"voice set {voice_set!r}: expected one of {', '.join(SETS)}")
    voices = SETS[voice_set]
    out_dir = out_dir or OUT_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    uri = f"channels_{voice_set}_{minutes:g}min_seed{seed}"
    built = Built(
        wav=out_dir / f"{uri}.wav",
        mix=out_dir / f"{uri}_mix.wav",
        rttm=out_dir / f"{uri}.rttm",
        turns_path=out_dir / f"{uri}.turns.jsonl",
        meta_path=out_dir / f"{uri}.meta.json",
        uri=uri,
        channels=channel_map(voices),
    )
    if all(p.exists() for p in built.files()):
        return built
    clips = load_clips(voices)
    turns = plan(minutes, seed, clips)
    if not turns:
        longest = max(c.duration for own in clips for c in own)
        raise ValueError(f"minutes {minutes}: too short for one turn (the longest clip is {longest:.1f} s)")
    duration = round(turns[-1].end + 1.0, 3)
    part, mix_part = built.wav.with_suffix(".part"), built.mix.with_suffix(".part")

    def tee(mix_out: wave.Wave_write) -> Iterator[np.ndarray]:
        for b in render(turns, clips, duration, seed):
            mix = np.clip(0.5 * b.sum(axis=0), -1, 1)
            mix_out.writeframes((mix * 32767).astype("<i2").tobytes())
            yield b

    with wave.open(str(mix_part), "wb") as mix_out:
        mix_out.setnchannels(1)
        mix_out.setsampwidth(2)
        mix_out.setframerate(RATE)
        _write_wav(part, len(clips), tee(mix_out))
    lines = [
        f"SPEAKER {uri} 1 {s:.3f} {e - s:.3f} <NA> <NA> {t.speaker} <NA> <NA>" for t in turns for s, e in t.regions
    ]
    built.rttm.write_text("\n".join(lines) + "\n", encoding="utf-8")
    built.turns_path.write_text(
        "".join(json.dumps(asdict(t), ensure_ascii=False) + "\n" for t in turns), encoding="utf-8"
    )
    meta = {
        "uri": uri,
        "seed": seed,
        "minutes": minutes,
        "duration": duration,
        "voice_set": voice_set,
        "channels": list(channel_map(voices)),
        "voices": [asdict(v) if v else None for v in voices],
        "turns": len(turns),
        "bleed_db_down": bleed_levels(seed, len(clips)),
        **overlap_shares(turns),
    }
    built.meta_path.write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    part.replace(built.wav)
    mix_part.replace(built.mix)
    return built


def load_turns(path: Path) -> list[Turn]:
    turns = []
    for line in path.read_text(encoding="utf-8").splitlines():
        data = json.loads(line)
        data["regions"] = [tuple(r) for r in data["regions"]]
        turns.append(Turn(**data))
    return turns


# --- scoring ------------------------------------------------------------------------------------------------


def reference_annotation(turns: Sequence[Turn], uri: str):  # type: ignore[no-untyped-def]
    from pyannote.core import Annotation, Segment

    ann = Annotation(uri=uri)
    for t in turns:
        for i, (s, e) in enumerate(t.regions):
            ann[Segment(s, e), f"{t.index}.{i}"] = t.speaker
    return ann


def _hyp_words(transcript) -> list[tuple[float, float, str | None, str]]:  # type: ignore[no-untyped-def]
    """(start, end, speaker, text) per word; a segment without words is one 'word'."""
    words = []
    for seg in transcript.segments:
        if seg.words:
            words += [(w.start, max(w.end, w.start + 0.01), seg.speaker, w.text) for w in seg.words]
        else:
            words.append((seg.start, max(seg.end, seg.start + 0.01), seg.speaker, seg.text))
    return sorted(words, key=lambda w: w[0])


def hypothesis_annotation(transcript, uri: str):  # type: ignore[no-untyped-def]
    """The transcript's speech per speaker: its words, those less than BRIDGE_S apart merged."""
    from pyannote.core import Annotation, Segment

    spans: dict[str, list[list[float]]] = {}
    for start, end, speaker, _ in _hyp_words(transcript):
        if speaker is None:
            continue
        own = spans.setdefault(speaker, [])
        if own and start - own[-1][1] < BRIDGE_S:
            own[-1][1] = max(own[-1][1], end)
        else:
            own.append([start, end])
    ann = Annotation(uri=uri)
    for speaker, own in spans.items():
        for i, (s, e) in enumerate(own):
            ann[Segment(s, e), i] = speaker
    return ann


def der_scores(reference, hypothesis, uem) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from pyannote.metrics.diarization import DiarizationErrorRate

    out: dict[str, float] = {}
    for name, collar in (("25", 0.25), ("0", 0.0)):
        parts = DiarizationErrorRate(collar=collar)(reference, hypothesis, uem=uem, detailed=True)
        out[f"der{name}"] = parts["diarization error rate"]
        for part in ("missed detection", "false alarm", "confusion", "total"):
            out[f"{part.split()[0]}{name}"] = parts[part]
    return out


def per_speaker(reference, hypothesis, mapping: dict) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    """Per reference speaker: speech, missed (no hypothesis mapped to them), stray (theirs while they are silent)."""
    out = {}
    for ref_label in reference.labels():
        ref_tl = reference.label_timeline(ref_label).support()
        hyp_labels = [h for h, r in mapping.items() if r == ref_label]
        hyp_tl = hypothesis.label_timeline(hyp_labels[0]).support() if hyp_labels else None
        for extra in hyp_labels[1:]:
            hyp_tl = hyp_tl.union(hypothesis.label_timeline(extra)).support()
        speech = ref_tl.duration()
        if hyp_tl is None:
            out[ref_label] = {"speech": speech, "missed": speech, "stray": 0.0}
            continue
        hit = ref_tl.crop(hyp_tl, mode="intersection").support().duration()
        out[ref_label] = {"speech": speech, "missed": speech - hit, "stray": hyp_tl.duration() - hit}
    return out


@dataclass(slots=True)
class TextScore:
    errors: int = 0
    length: int = 0
    turns: int = 0

    @property
    def rate(self) -> float:
        return self.errors / self.length if self.length else float("nan")


def text_scores(turns: Sequence[Turn], transcript, mapping: dict) -> tuple[dict[str, TextScore], int]:  # type: ignore[no-untyped-def]
    """Pooled CER/WER per "zh|en" x "overlapped|clear"; and the count of stray words (matching no turn)."""
    by_speaker: dict[str, list[Turn]] = {}
    for t in turns:
        by_speaker.setdefault(t.speaker, []).append(t)
    hyp_text: dict[int, list[str]] = {t.index: [] for t in turns}
    stray = 0
    for start, end, speaker, word in _hyp_words(transcript):
        ref_speaker = mapping.get(speaker)
        middle = (start + end) / 2
        best, best_distance = None, NEAR_S
        for t in by_speaker.get(ref_speaker, []) if ref_speaker is not None else []:
            distance = max(t.start - middle, middle - t.end, 0.0)
            if distance <= best_distance:
                best, best_distance = t, distance
        if best is None:
            stray += 1
        else:
            hyp_text[best.index].append(word)
    scores: dict[str, TextScore] = {}
    for t in turns:
        joined = "".join(hyp_text[t.index])
        if t.language == "zh":
            ref, hyp = text.normalise_cer(t.text), text.normalise_cer(joined)
        else:
            ref, hyp = text.normalise_wer(t.text), text.normalise_wer(joined)
        score = scores.setdefault(f"{t.language}_{'overlapped' if t.overlapped else 'clear'}", TextScore())
        score.errors += text.edit_distance(ref, hyp)
        score.length += len(ref)
        score.turns += 1
    return scores, stray


def score(built: Built, transcript) -> dict:  # type: ignore[no-untyped-def]
    from pyannote.core import Segment, Timeline
    from pyannote.metrics.diarization import DiarizationErrorRate

    turns = load_turns(built.turns_path)
    reference = reference_annotation(turns, built.uri)
    hypothesis = hypothesis_annotation(transcript, built.uri)
    uem = Timeline([Segment(0.0, max(turns[-1].end + 1.0, transcript.duration))], uri=built.uri)  # the whole file
    mapping = DiarizationErrorRate().optimal_mapping(reference, hypothesis, uem=uem)
    texts, stray = text_scores(turns, transcript, mapping)
    return {
        **der_scores(reference, hypothesis, uem),
        "speakers_found": len(hypothesis.labels()),
        "speakers_ref": len(reference.labels()),
        "mapping": {str(k): v for k, v in mapping.items()},
        "per_speaker": per_speaker(reference, hypothesis, mapping),
        "text": {k: asdict(v) | {"rate": v.rate} for k, v in texts.items()},
        "stray_words": stray,
        "words": len(_hyp_words(transcript)),
    }


# --- running the paths ------------------------------------------------------------------------------------


def child(mode: str, path: Path, out: Path, channels: str) -> None:
    """In the child process: one whole `pipeline.transcribe`, written as JSON (embeddings left out)."""
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

    options = (
        TranscribeOptions.from_settings(channels=tuple(channels.split(",")))
        if mode == "channels"
        else TranscribeOptions.from_settings()
    )
    started = time.perf_counter()
    result = transcribe(path, options)
    wall = time.perf_counter() - started
    out.write_text(result.to_json(), encoding="utf-8")
    print(json.dumps({"transcribe_s": wall}))


def _outputs(built: Built, mode: str) -> tuple[Path, Path]:
    """Where a path's transcript and its run figures are kept (beside the input, so --rescore can score again)."""
    return built.wav.with_name(f"{built.uri}.{mode}.json"), built.wav.with_name(f"{built.uri}.{mode}.run.json")


def run_path(mode: str, built: Built, log: Path, *, rescore: bool = False) -> dict:
    """One path in a fresh process: its transcript, wall time and peak RSS (wait4), then its scores.

    With `rescore`, the transcript and figures of an earlier run are scored again (no transcription).
    """
    from workbench.speech.transcript import Transcript

    source = built.wav if mode == "channels" else built.mix
    out, figures = _outputs(built, mode)
    if not (rescore and out.exists() and figures.exists()):
        started = time.perf_counter()
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", mode, str(source), str(out), ",".join(built.channels)],
                stdout=subprocess.PIPE,
                stderr=err,
            )
            assert proc.stdout is not None
            stdout = proc.stdout.read()
            _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise SystemExit(f"{mode} path failed on {source.name} (status {status}); see {log}")
        inner = json.loads(stdout.decode().strip().splitlines()[-1])
        cpu = usage.ru_utime + usage.ru_stime  # CPU seconds: a check that does not depend on what else runs
        run = {"wall": wall, "cpu": cpu, "transcribe_s": inner["transcribe_s"], "peak_mb": usage.ru_maxrss / 1024}
        figures.write_text(json.dumps(run), encoding="utf-8")
    run = json.loads(figures.read_text(encoding="utf-8"))
    transcript = Transcript.load(out)
    return {
        "mode": mode,
        "duration": transcript.duration,
        **run,
        "rtf": run["wall"] / transcript.duration,
        "cpu_rtf": run.get("cpu", float("nan")) / transcript.duration,
        "segments": len(transcript.segments),
        "diarization": transcript.engine.diarization,
        "warnings": transcript.warnings,
        **score(built, transcript),
    }


def activity_scores(built: Built) -> dict:
    """DER of the channel engine's speech activity alone (`workbench.speech.channels.channel_turns`), before
    recognition: the seats' turns as it decides them, crosstalk rejected, so this row measures crosstalk and
    overlap handling without Whisper's word timing (which the transcript rows carry)."""
    from pyannote.core import Annotation, Segment, Timeline

    from workbench.speech import channels as engine
    from workbench.speech.seats import parse_channels

    seats = parse_channels(built.channels)
    seat_channels = [i for i, seat in enumerate(seats) if seat.is_seat]
    started = time.perf_counter()
    powers = engine.frame_powers(audio.channel_blocks(built.wav))
    per_seat = engine.channel_turns(powers[seat_channels])
    wall = time.perf_counter() - started
    hypothesis = Annotation(uri=built.uri)
    for channel, turns in zip(seat_channels, per_seat, strict=True):
        for i, turn in enumerate(turns):
            hypothesis[Segment(turn.start, turn.end), i] = f"channel{channel}"
    turns = load_turns(built.turns_path)
    reference = reference_annotation(turns, built.uri)
    uem = Timeline([Segment(0.0, turns[-1].end + 1.0)], uri=built.uri)
    from pyannote.metrics.diarization import DiarizationErrorRate

    mapping = DiarizationErrorRate().optimal_mapping(reference, hypothesis, uem=uem)
    return {
        **der_scores(reference, hypothesis, uem),
        "wall": wall,
        "per_speaker": per_speaker(reference, hypothesis, mapping),
        "mapping": {str(k): v for k, v in mapping.items()},
    }


def _pct(x: float) -> str:
    return "—" if x != x else f"{100 * x:.1f}%"


def table(rows: Sequence[dict], meta: dict, activity: dict | None = None) -> str:
    lines = [
        f"\n{meta['uri']}: {meta['duration']:.0f} s, {len(meta['channels'])} channels ({','.join(meta['channels'])}), "
        f"{meta['turns']} turns, "
        f"speech overlapped {meta['speech_overlapped']:.0%} (two voices {meta['time_two_voices']:.0%} of speech time, "
        f"{meta['turns_overlapped']:.0%} of turns), bleed 15-25 dB down, "
        f"{os.environ.get('WORKBENCH_CPU_THREADS', '2')} CPU threads\n",
        "| path | DER c0.25 | DER c0 | miss / FA / conf c0.25 | speakers | zh CER clear | zh CER overlapped "
        "| en WER clear | en WER overlapped | stray words | wall s | RTF | CPU s / audio s | peak RSS MB |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        t = r["text"]
        rate = {
            k: t.get(k, {"rate": float("nan")})["rate"]
            for k in ("zh_clear", "zh_overlapped", "en_clear", "en_overlapped")
        }
        total = r["total25"] or 1.0
        lines.append(
            f"| {r['mode']} | {_pct(r['der25'])} | {_pct(r['der0'])} | {_pct(r['missed25'] / total)} / "
            f"{_pct(r['false25'] / total)} / {_pct(r['confusion25'] / total)} "
            f"| {r['speakers_found']}/{r['speakers_ref']} "
            f"| {_pct(rate['zh_clear'])} | {_pct(rate['zh_overlapped'])} | {_pct(rate['en_clear'])} "
            f"| {_pct(rate['en_overlapped'])} | {r['stray_words']}/{r['words']} | {r['wall']:.0f} | {r['rtf']:.3f} "
            f"| {r['cpu_rtf']:.3f} | {r['peak_mb']:.0f} |"
        )
    if activity is not None:
        total = activity["total25"] or 1.0
        lines.append(
            f"| channel activity only | {_pct(activity['der25'])} | {_pct(activity['der0'])} "
            f"| {_pct(activity['missed25'] / total)} / {_pct(activity['false25'] / total)} / "
            f"{_pct(activity['confusion25'] / total)} | | | | | | | {activity['wall']:.0f} | | | |"
        )
    counts = rows[0]["text"] if rows else {}
    lines.append(
        "\nturns scored: "
        + ", ".join(
            f"{k} {v['turns']} ({v['length']} {'chars' if k.startswith('zh') else 'words'})"
            for k, v in sorted(counts.items())
        )
    )
    for r in [
        *rows,
        *(
            [
                {
                    "mode": "channel activity",
                    "diarization": "-",
                    "segments": 0,
                    "transcribe_s": 0,
                    "warnings": [],
                    **activity,
                }
            ]
            if activity
            else []
        ),
    ]:
        lines.append(f"\n{r['mode']}: diarization {r['diarization']}, mapping {r['mapping']}")
        for speaker, s in r["per_speaker"].items():
            lines.append(
                f"  {speaker:9} speech {s['speech']:7.1f} s  missed {s['missed']:6.1f} s  "
                f"given while silent {s['stray']:6.1f} s"
            )
        if r["segments"]:
            lines.append(
                f"  segments {r['segments']}, transcribe() alone {r['transcribe_s']:.0f} s (models load inside)"
            )
        for w in r["warnings"]:
            lines.append(f"  warning: {w}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", nargs="*", default=["channels", "mono"], choices=["channels", "mono"])
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--rescore", action="store_true", help="score the transcripts of an earlier run again")
    parser.add_argument("--clean", action="store_true", help="delete the built input and transcripts afterwards")
    parser.add_argument("--set", dest="voice_set", default="mixed", choices=sorted(SETS), help="voices (see SETS)")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "WAV", "OUT", "CHANNELS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]), Path(args.child[2]), args.child[3])
        return
    built = build(args.minutes, args.seed, args.out, args.voice_set)
    meta = json.loads(built.meta_path.read_text(encoding="utf-8"))
    print(f"built {built.wav} (+ mix, rttm, turns, meta)", file=sys.stderr)
    if args.build_only:
        print(json.dumps(meta, ensure_ascii=False, indent=1))
        return
    log = built.wav.with_name(f"{built.uri}.log")
    rows = []
    for mode in args.paths:
        rows.append(run_path(mode, built, log, rescore=args.rescore))
        print(f"done {mode}", file=sys.stderr, flush=True)
    activity = activity_scores(built) if "channels" in args.paths else None
    print(table(rows, meta, activity))
    results = built.wav.with_name(f"{built.uri}.results.json")
    results.write_text(
        json.dumps({"meta": meta, "rows": rows, "activity": activity}, ensure_ascii=False, indent=1), encoding="utf-8"
    )
    if args.clean:
        for p in (*built.files(), *(f for m in args.paths for f in _outputs(built, m))):
            p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
