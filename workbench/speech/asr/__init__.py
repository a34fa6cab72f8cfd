"""Speech recognition engines behind one small interface.

An engine takes (offset, chunk) pairs of 16 kHz audio (see `audio.speech_chunks`) and yields
`Segment`s with absolute times, lazily, so a worker can store and report progress as they come.
Two engines:

- `WhisperEngine`: faster-whisper, VAD-segmented batched decoding (int8 on CPU, float16 on GPU).
- `FunAsrEngine`: `funasr.AutoModel` over an imported model folder (Paraformer, SeACo-Paraformer,
  SenseVoice-Small, Fun-ASR-Nano), with fsmn-vad cutting the speech and ct-punc when imported.

Both apply the same text step (`text.finish`): Simplified Chinese, then ITN on or off.

The protocol and the base both engines share are in `engine.py`, Whisper's VAD windows and the
sentence cuts in `windows.py`, the engines in `whisper.py` and `funasr.py`; this module loads them.
None of them imports faster-whisper, FunASR or torch until an engine is made.
"""

from __future__ import annotations

import logging

from workbench.models import memory, registry
from workbench.speech.asr.engine import LANGUAGES, AsrEngine, AsrError, AsrOptions, LanguageBox, resolve_device
from workbench.speech.asr.funasr import FunAsrEngine
from workbench.speech.asr.whisper import HOTWORD_PROMPT_TOKENS, WhisperEngine
from workbench.speech.asr.windows import split_sentences

__all__ = [
    "HOTWORD_PROMPT_TOKENS",
    "LANGUAGES",
    "AsrEngine",
    "AsrError",
    "AsrOptions",
    "FunAsrEngine",
    "LanguageBox",
    "WhisperEngine",
    "load_engine",
    "resolve_device",
    "split_sentences",
]

log = logging.getLogger("workbench.speech.asr")


def load_engine(
    engine: str,
    model: str = "",
    *,
    device: str = "auto",
    cpu_threads: int = 2,
    batch_size: int = 8,
) -> AsrEngine:
    """The engine for a registered model, loaded once per process (see `memory.load`)."""
    if engine == "whisper":
        entry = registry.resolve(model, registry.WHISPER) if model else _default(registry.WHISPER, "whisper")
        return memory.load(
            ("whisper", str(entry.path), device, cpu_threads, batch_size),
            entry.name,
            entry.path,
            lambda: WhisperEngine(entry, device, cpu_threads, batch_size),
        )
    if engine == "funasr":
        entry = registry.resolve(model, registry.FUNASR_ASR) if model else _default(registry.FUNASR_ASR, "funasr")
        vad = _default(registry.FUNASR_VAD, "funasr")
        punc = registry.default_of(registry.FUNASR_PUNC)
        return memory.load(
            ("funasr", str(entry.path), str(vad.path), str(punc.path) if punc else None, device, cpu_threads),
            entry.name,
            entry.path,
            lambda: FunAsrEngine(entry, vad, punc, device, cpu_threads, batch_size),
        )
    raise AsrError(f"unknown engine {engine!r}: use whisper or funasr")


def _default(kind: str, engine: str) -> registry.ModelEntry:
    entry = registry.default_of(kind)
    if entry is None:
        if kind == registry.FUNASR_ASR:
            raise AsrError(
                "the funasr engine needs a FunASR speech model (Paraformer-zh, SeACo-Paraformer, SenseVoice-Small "
                "or Fun-ASR-Nano): copy its folder in and run `workbench models import PATH`"
            )
        raise AsrError(f"no {kind} model registered for the {engine} engine: run `workbench models pull`")
    return entry
