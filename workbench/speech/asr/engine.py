"""What every recognition engine is: the protocol, its options and errors, and the chunked base both share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from workbench.progress import ProgressHook, no_progress
from workbench.speech import text
from workbench.speech.text import Hotword
from workbench.speech.transcript import Segment

# Languages a court deals with; automatic detection chooses among these only, so a cough or a
# burst of noise is not taken for Welsh.
LANGUAGES = ("zh", "en", "yue", "ja", "ko")


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


class ChunkedEngine:
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


def resolve_device(device: str, library: str = "ctranslate2") -> str:
    """`device`, with "auto" made concrete: "cuda" if `library` (the one that runs the model) sees a GPU, else "cpu".

    Whisper runs on CTranslate2, so its question goes to CTranslate2: asking torch would import it
    (~300 MB and seconds) into a process that never uses it. FunASR and diarization ask torch, which
    they import anyway.
    """
    if device != "auto":
        return device
    try:
        if library == "ctranslate2":
            import ctranslate2

            return "cuda" if ctranslate2.get_cuda_device_count() > 0 else "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    except (ImportError, RuntimeError):  # no such library, or a driver that fails to answer
        return "cpu"


def to_script(word: str, language: str | None) -> str:
    """A word in the script the transcript uses: Simplified characters for Chinese, else as spoken."""
    return text.to_simplified(word) if text.is_chinese(language) else word
