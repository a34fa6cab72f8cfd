"""Speech recognition engines behind one small interface.

An engine takes (offset, chunk) pairs of 16 kHz audio (see `audio.speech_chunks`) and yields
`Segment`s with absolute times, lazily, so a worker can store and report progress as they come.
Two engines:

- `WhisperEngine`: faster-whisper, VAD-segmented batched decoding (int8 on CPU, float16 on GPU).
- `FunAsrEngine`: `funasr.AutoModel` over an imported model folder (Paraformer, SeACo-Paraformer,
  SenseVoice-Small, Fun-ASR-Nano), with fsmn-vad cutting the speech and ct-punc when imported.

Both apply the same text step (`text.finish`): Simplified Chinese, then ITN on or off.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from workbench.models import memory, registry
from workbench.progress import ProgressHook, no_progress
from workbench.speech import text
from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.text import Hotword
from workbench.speech.transcript import Segment, Word

log = logging.getLogger("workbench.speech.asr")

# Languages a court deals with; automatic detection chooses among these only, so a cough or a
# burst of noise is not taken for Welsh.
LANGUAGES = ("zh", "en", "yue", "ja", "ko")

# faster-whisper keeps at most this many tokens of hotwords (max_length // 2 - 1, max_length 448).
HOTWORD_PROMPT_TOKENS = 223

# Steers Whisper to Simplified characters and full-width punctuation for Mandarin.
_ZH_PROMPT = "以下是普通话的句子，使用简体中文。"


@dataclass(frozen=True, slots=True)
class AsrOptions:
    language: str = "auto"
    itn: bool = True
    hotwords: tuple[Hotword, ...] = ()


class AsrError(Exception):
    """Recognition failed; the message says which model and why."""


class AsrEngine(Protocol):
    name: str  # "whisper" or "funasr"
    model_name: str
    device: str
    punctuation: str | None  # "model" when the ASR model writes it, a punc model's name, or None

    def fit_hotwords(self, hotwords: tuple[Hotword, ...]) -> tuple[tuple[Hotword, ...], tuple[Hotword, ...]]:
        """(the terms this engine will use, those it has no room for), in the given order."""
        ...

    def transcribe(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook = no_progress,
    ) -> tuple[Iterator[Segment], LanguageBox]: ...


class LanguageBox:
    """The language an engine settled on, known once the first speech has been decoded."""

    def __init__(self, language: str | None) -> None:
        self.value = language


class _ChunkedEngine:
    """What both engines share: a lazy generator of segments, and the language it settles on."""

    def fit_hotwords(self, hotwords: tuple[Hotword, ...]) -> tuple[tuple[Hotword, ...], tuple[Hotword, ...]]:
        return hotwords, ()

    def transcribe(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook = no_progress,
    ) -> tuple[Iterator[Segment], LanguageBox]:
        box = LanguageBox(self._fixed_language(options))
        return self._segments(chunks, options, duration, progress, box), box

    def _fixed_language(self, options: AsrOptions) -> str | None:
        """The language known before decoding; None to detect it from the speech."""
        return None if options.language == "auto" else options.language

    def _segments(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook,
        box: LanguageBox,
    ) -> Iterator[Segment]:
        raise NotImplementedError


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    try:
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except ImportError:
        return "cpu"


def speech_windows(chunk: np.ndarray, max_window: float = 30.0, vad_slice: float = 60.0) -> list[dict[str, float]]:
    """Speech regions (Silero VAD) merged into windows of at most `max_window` seconds.

    faster-whisper would run its VAD over the whole chunk at once, and its memory grows with the
    chunk (about 3 MB per second of audio); running it over 60 s slices keeps that flat.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    vad = VadOptions(max_speech_duration_s=max_window, min_silence_duration_ms=160)
    step = int(vad_slice * SAMPLE_RATE)
    limit = max_window * SAMPLE_RATE
    windows: list[list[int]] = []
    for begin in range(0, chunk.shape[0], step):
        for region in get_speech_timestamps(chunk[begin : begin + step], vad):
            start, end = begin + region["start"], begin + region["end"]
            if windows and end - windows[-1][0] <= limit:
                windows[-1][1] = end
            else:
                windows.append([start, end])
    return [{"start": s / SAMPLE_RATE, "end": e / SAMPLE_RATE} for s, e in windows]


# --- Whisper ------------------------------------------------------------------------------------


class WhisperEngine(_ChunkedEngine):
    name = "whisper"
    punctuation = "model"

    def __init__(self, entry: registry.ModelEntry, device: str = "auto", cpu_threads: int = 2, batch_size: int = 8):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_name = entry.name
        self.device = resolve_device(device)
        compute_type = "float16" if self.device == "cuda" else "int8"
        try:
            self.model = WhisperModel(
                str(entry.path), device=self.device, compute_type=compute_type, cpu_threads=cpu_threads
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise AsrError(f"cannot load Whisper model {entry.name} from {entry.path}: {e}") from e
        self.pipeline = BatchedInferencePipeline(self.model)
        self.batch_size = batch_size

    def fit_hotwords(self, hotwords: tuple[Hotword, ...]) -> tuple[tuple[Hotword, ...], tuple[Hotword, ...]]:
        """The terms that fit faster-whisper's hotword prompt, in order; the rest.

        faster-whisper silently cuts the hotword prompt at half the decoder's context less one
        (223 tokens for Whisper), so whatever comes last would be lost without a word. Here a term
        either fits whole or is named as left out.
        """
        kept: list[Hotword] = []
        dropped: list[Hotword] = []
        for h in hotwords:
            text = " " + " ".join(k.term for k in (*kept, h))
            if len(self.model.hf_tokenizer.encode(text, add_special_tokens=False).ids) <= HOTWORD_PROMPT_TOKENS:
                kept.append(h)
            else:
                dropped.append(h)
        return tuple(kept), tuple(dropped)

    def detect_language(self, chunk: np.ndarray, windows: list[dict[str, float]]) -> str:
        """The most likely of the court's languages in the first speech window."""
        first = windows[0]
        speech = chunk[int(first["start"] * SAMPLE_RATE) : int(first["end"] * SAMPLE_RATE)]
        _, _, probs = self.model.detect_language(speech, vad_filter=False)
        allowed = [(p, lang) for lang, p in probs if lang in LANGUAGES]
        return max(allowed)[1] if allowed else "zh"

    def _segments(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook,
        box: LanguageBox,
    ) -> Iterator[Segment]:
        hotwords = " ".join(h.term for h in options.hotwords) or None
        for offset, chunk in chunks:
            windows = speech_windows(chunk)
            if not windows:  # silence: nothing to decode, nothing to hallucinate
                progress("recognition", offset + chunk.shape[0] / SAMPLE_RATE, duration)
                continue
            if box.value is None:
                box.value = self.detect_language(chunk, windows)
            language = box.value
            segments, _ = self.pipeline.transcribe(
                chunk,
                clip_timestamps=windows,
                language=language,
                initial_prompt=_ZH_PROMPT if language == "zh" else None,
                hotwords=hotwords,
                batch_size=self.batch_size,
                word_timestamps=True,
                beam_size=5,
            )
            for seg in segments:
                # Words keep their spoken form (ITN needs the whole line); only the script is converted.
                words = [
                    Word(offset + w.start, offset + w.end, _script(w.word, language), w.probability)
                    for w in seg.words or ()
                ]
                if not words:
                    line = text.finish(seg.text.strip(), language, itn=options.itn)
                    if line:
                        yield Segment(offset + seg.start, offset + seg.end, line, None, [])
                    continue
                for sentence in split_sentences(words):
                    line = text.finish("".join(w.text for w in sentence).strip(), language, itn=options.itn)
                    if line:
                        yield Segment(sentence[0].start, sentence[-1].end, line, None, sentence)
            progress("recognition", offset + chunk.shape[0] / SAMPLE_RATE, duration)


_SENTENCE_END = tuple("。！？!?；;")
_CLAUSE_END = tuple("，,、：:")


def split_sentences(words: list[Word], max_seconds: float = 20.0) -> Iterator[list[Word]]:
    """Cuts a batched decoding window (up to 30 s) into sentences, so a transcript line is one.

    A cut follows sentence-final punctuation; a sentence still longer than `max_seconds` is cut at
    its last clause punctuation, or at the longest pause between words.
    """
    piece: list[Word] = []
    for word in words:
        piece.append(word)
        stripped = word.text.strip()
        if stripped.endswith(_SENTENCE_END) or (stripped.endswith(".") and not _ABBREVIATION.search(stripped)):
            yield from _limit(piece, max_seconds)
            piece = []
    if piece:
        yield from _limit(piece, max_seconds)


_ABBREVIATION = re.compile(r"\b(Mr|Mrs|Ms|Dr|St|No|vs)\.$")


def _limit(piece: list[Word], max_seconds: float) -> Iterator[list[Word]]:
    if piece[-1].end - piece[0].start <= max_seconds or len(piece) < 2:
        yield piece
        return
    clause = [i for i, w in enumerate(piece[:-1]) if w.text.strip().endswith(_CLAUSE_END)]
    if clause:
        cut = clause[-1] + 1 if piece[clause[-1]].end - piece[0].start <= max_seconds else clause[0] + 1
    else:
        # The longest pause; among equal pauses the one nearest the middle.
        mid = (len(piece) - 1) / 2
        cut = 1 + max(range(len(piece) - 1), key=lambda i: (piece[i + 1].start - piece[i].end, -abs(i - mid)))
    yield from _limit(piece[:cut], max_seconds)
    yield from _limit(piece[cut:], max_seconds)


def _script(word: str, language: str | None) -> str:
    return text.to_simplified(word) if text.is_chinese(language) else word


# --- FunASR -------------------------------------------------------------------------------------

_SENSEVOICE_TAG = re.compile(r"<\|([^|]*)\|>")
_CJK_SPACE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """FunASR prints notices and tables to stdout; keep them out of the CLI's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class FunAsrEngine(_ChunkedEngine):
    name = "funasr"

    def __init__(
        self,
        entry: registry.ModelEntry,
        vad: registry.ModelEntry,
        punc: registry.ModelEntry | None = None,
        device: str = "auto",
        cpu_threads: int = 2,
        batch_size: int = 8,
    ):
        self.model_name = entry.name
        self.device = resolve_device(device)
        self.model_class = entry.detail.get("class", "")
        self.batch_size = batch_size
        writes_punctuation = self.model_class in ("SenseVoiceSmall", "FunASRNano")
        common = {"disable_update": True, "disable_pbar": True, "log_level": "ERROR", "ncpu": cpu_threads}
        try:
            with _quiet():
                from funasr import AutoModel

                extra: dict[str, Any] = {}
                if (entry.path / "model.py").exists():  # Fun-ASR-Nano ships its model code beside the weights
                    extra = {"trust_remote_code": True, "remote_code": str(entry.path / "model.py")}
                self.asr = AutoModel(model=str(entry.path), device=self.device, **common, **extra)
                self.vad = AutoModel(model=str(vad.path), device=self.device, **common)
                self.punc = (
                    AutoModel(model=str(punc.path), device=self.device, **common)
                    if punc is not None and not writes_punctuation
                    else None
                )
        except Exception as e:  # FunASR raises bare Exceptions and AssertionErrors on bad folders
            raise AsrError(f"cannot load FunASR model {entry.name} from {entry.path}: {e}") from e
        if writes_punctuation:
            self.punctuation: str | None = "model"
        else:
            self.punctuation = punc.name if self.punc is not None and punc is not None else None

    def _fixed_language(self, options: AsrOptions) -> str | None:
        if options.language == "auto" and self.model_class not in ("SenseVoiceSmall", "FunASRNano"):
            return "zh"  # Paraformer models are Mandarin models
        return super()._fixed_language(options)

    def _generate_kwargs(self, options: AsrOptions) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"batch_size": self.batch_size}
        if options.hotwords:
            # FunASR takes hotwords as one space-separated string; weights are not used by AutoModel.
            kwargs["hotword"] = " ".join(h.term for h in options.hotwords)
        if self.model_class in ("SenseVoiceSmall", "FunASRNano"):
            kwargs["language"] = options.language
            kwargs["use_itn"] = options.itn
        return kwargs

    def _segments(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook,
        box: LanguageBox,
    ) -> Iterator[Segment]:
        kwargs = self._generate_kwargs(options)
        for offset, chunk in chunks:
            try:
                with _quiet():
                    regions = self.vad.generate(input=chunk)[0]["value"]
                    clips = [chunk[int(b * SAMPLE_RATE / 1000) : int(e * SAMPLE_RATE / 1000)] for b, e in regions]
                    results = self.asr.generate(input=clips, **kwargs) if clips else []
            except Exception as e:  # FunASR surfaces model errors as bare exceptions
                raise AsrError(f"FunASR model {self.model_name} failed at {offset:.0f} s: {e}") from e
            for (beg, end), result in zip(regions, results, strict=True):
                segment = self._segment(offset + beg / 1000, offset + end / 1000, result, options, box)
                if segment is not None:
                    yield segment
            progress("recognition", offset + chunk.shape[0] / SAMPLE_RATE, duration)

    def _segment(
        self, start: float, end: float, result: dict[str, Any], options: AsrOptions, box: LanguageBox
    ) -> Segment | None:
        raw = str(result.get("text", ""))
        tags = _SENSEVOICE_TAG.findall(raw)
        if tags and box.value is None and tags[0] in LANGUAGES:
            box.value = tags[0]
        raw = _SENSEVOICE_TAG.sub("", raw).strip()
        tokens = raw.split()
        words = []
        stamps = result.get("timestamp") or []
        if len(stamps) == len(tokens):
            words = [
                Word(start + b / 1000, start + e / 1000, _script(tok, box.value or "zh"), None)
                for tok, (b, e) in zip(tokens, stamps, strict=True)
            ]
        line = _CJK_SPACE.sub("", raw)
        if self.punc is not None and line:
            with _quiet():
                line = self.punc.generate(input=line)[0]["text"]
        line = text.finish(line, box.value or "zh", itn=options.itn)
        return Segment(start, end, line, None, words) if line else None


# --- loading ------------------------------------------------------------------------------------


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
