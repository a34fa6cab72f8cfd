"""The FunASR engine: `funasr.AutoModel` over an imported model folder, fsmn-vad cutting the speech.

Paraformer, SeACo-Paraformer, SenseVoice-Small and Fun-ASR-Nano; ct-punc adds punctuation when
imported and the model writes none. FunASR is imported when an engine is made, not with this module.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from workbench.models import safety
from workbench.models.manifest import ModelEntry, ModelError
from workbench.progress import ProgressHook
from workbench.speech import text
from workbench.speech.asr.engine import (
    LANGUAGES,
    AsrError,
    AsrOptions,
    ChunkedEngine,
    LanguageBox,
    resolve_device,
    to_script,
)
from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.transcript import Segment, Word

_SENSEVOICE_TAG = re.compile(r"<\|([^|]*)\|>")
_CJK_SPACE = re.compile(r"(?<=[\u3000-\u9fff\uff00-\uffef])\s+(?=[\u3000-\u9fff\uff00-\uffef])")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """FunASR prints notices and tables to stdout; keep them out of the CLI's output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


class FunAsrEngine(ChunkedEngine):
    name = "funasr"

    def __init__(
        self,
        entry: ModelEntry,
        vad: ModelEntry,
        punc: ModelEntry | None = None,
        device: str = "auto",
        cpu_threads: int = 2,
        batch_size: int = 8,
    ):
        self.model_name = entry.name
        self.device = resolve_device(device, library="torch")
        self.model_class = entry.detail.get("class", "")
        self.batch_size = batch_size
        writes_punctuation = self.model_class in ("SenseVoiceSmall", "FunASRNano")
        # Never remote code: FunASR imports a `model.py` named by `remote_code` when `trust_remote_code` is
        # true, and our keywords win over the folder's config.yaml / configuration.json. Every class we use
        # (Fun-ASR-Nano included) is built into the funasr package. The folders are checked before FunASR
        # sees them: no Python files, no remote-code config, checkpoints of plain tensors only.
        common = {
            "disable_update": True,
            "disable_pbar": True,
            "log_level": "ERROR",
            "ncpu": cpu_threads,
            "trust_remote_code": False,
        }
        try:
            for folder in (entry, vad, punc):
                if folder is not None:
                    safety.check_before_load(folder.path)
        except ModelError as e:
            raise AsrError(f"cannot load FunASR model {entry.name}: {e}") from e
        try:
            with _quiet():
                from funasr import AutoModel

                self.asr = AutoModel(model=str(entry.path), device=self.device, **common)
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
            # FunASR takes hotwords as one space-separated string; weights are not used by AutoModel. It also
            # downloads a string that starts with "http" and reads one that names a .txt file: the leading
            # space (stripped before the split) keeps a clerk's term from ever being taken for either.
            kwargs["hotword"] = " " + " ".join(h.term for h in options.hotwords)
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
                Word(start + b / 1000, start + e / 1000, to_script(tok, box.value or "zh"), None)
                for tok, (b, e) in zip(tokens, stamps, strict=True)
            ]
        line = _CJK_SPACE.sub("", raw)
        if self.punc is not None and line:
            with _quiet():
                line = self.punc.generate(input=line)[0]["text"]
        line = text.finish(line, box.value or "zh", itn=options.itn)
        return Segment(start, end, line, None, words) if line else None
