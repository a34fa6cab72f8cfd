"""The Whisper engine: faster-whisper, VAD-windowed batched decoding (int8 on CPU, float16 on GPU).

faster-whisper is imported when an engine is made, not with this module.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np

from workbench.models import memory
from workbench.models.manifest import ModelEntry
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
from workbench.speech.asr.windows import PackedBatch, Timeline, WindowPacker, speech_regions, split_sentences
from workbench.speech.audio import SAMPLE_RATE
from workbench.speech.text import Hotword
from workbench.speech.transcript import Segment, Word

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

# faster-whisper keeps at most this many tokens of hotwords (max_length // 2 - 1, max_length 448).
HOTWORD_PROMPT_TOKENS = 223

# Steers Whisper to Simplified characters and full-width punctuation for Mandarin.
_ZH_PROMPT = "以下是普通话的句子，使用简体中文。"


def _split_threads(cpu_threads: int) -> tuple[int, int]:
    """(workers, threads each) for CTranslate2 on CPU, `cpu_threads` in all (0: every core).

    Two workers of one thread, each taking half the windows, beat one worker of two threads taking
    them all: measured on 8 windows of speech, 2 cores, base int8, encoding took 4.5 s against 5.5 s
    and beam search 2.0 s against 3.9 s (one window's small matrices split badly across threads).
    """
    threads = cpu_threads or os.cpu_count() or 1
    workers = 2 if threads >= 2 else 1
    return workers, threads // workers


class _SplitBeamSearch:
    """CTranslate2's Whisper model, each beam search batch split among its workers and run at once
    (`asynchronous`); everything else passed through."""

    def __init__(self, whisper: Any, workers: int) -> None:
        self._whisper = whisper
        self._workers = workers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._whisper, name)

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> list[Any]:
        import ctranslate2

        if len(prompts) < 2:
            return self._whisper.generate(features, prompts, **options)
        array = np.asarray(features)
        pending = []
        for part in np.array_split(np.arange(len(prompts)), min(self._workers, len(prompts))):
            first, last = int(part[0]), int(part[-1]) + 1
            view = ctranslate2.StorageView.from_array(np.ascontiguousarray(array[first:last]))
            pending.append(self._whisper.generate(view, prompts[first:last], asynchronous=True, **options))
        return [result.result() for results in pending for result in results]


def _share_out_windows(model: WhisperModel, workers: int) -> None:
    """Makes `model` encode, and align words, one window at a time on each of its `workers`, and split
    each beam search batch among them.

    On CPU the encoder's cost grows faster than its batch (each window's self-attention over 1,500
    frames is ~70 MB per layer, and a batch of them falls out of cache): measured on 8 windows of a
    built input, 2 threads, base int8, encoding them one by one took 4.9 CPU s against 7.1 as one
    batch of 8, and peaked 600 MB lower. Word alignment one window at a time costs the same and
    peaked 140 MB lower at batch 4. Beam search is the other way round (a larger batch takes fewer
    decoder steps per window), so each worker gets its share of the batch as one.

    Two windows encoding at once peak about 100 MB above one, so the encoder's blocks, reused while it
    runs (`memory.large_blocks_kept`), are handed back before beam search, and what a batch freed
    before the next batch encodes.
    """
    import ctranslate2

    encode_batch, align_batch = model.encode, model.find_alignment
    pool = ThreadPoolExecutor(workers, thread_name_prefix="whisper")  # ctranslate2 lets go of the GIL

    last: tuple[np.ndarray, np.ndarray] | None = None  # the latest window encoded, and its encoder output

    def encode_one(window: np.ndarray) -> np.ndarray:
        return np.asarray(encode_batch(window[np.newaxis]))

    def encode(features: np.ndarray) -> ctranslate2.StorageView:
        # Language detection encodes the first window of speech, then its batch encodes it again
        nonlocal last
        windows = [features] if features.ndim == 2 else list(features)
        outputs = [last[1]] if last is not None and np.array_equal(last[0], windows[0]) else []
        with memory.large_blocks_kept():
            outputs.extend(pool.map(encode_one, windows[len(outputs) :]))
        last = (windows[-1], outputs[-1])
        return ctranslate2.StorageView.from_array(np.concatenate(outputs))

    def find_alignment(
        tokenizer: Any, text_tokens: list[list[int]], encoder_output: Any, num_frames: list[int], *args: Any
    ) -> list[Any]:
        outputs = np.asarray(encoder_output)

        def align_one(i: int) -> list[Any]:
            one = ctranslate2.StorageView.from_array(np.ascontiguousarray(outputs[i : i + 1]))
            return align_batch(tokenizer, [text_tokens[i]], one, [num_frames[i]], *args)

        return [found for window in pool.map(align_one, range(len(text_tokens))) for found in window]

    # BatchedInferencePipeline calls all three through the model it holds
    model.encode = encode  # type: ignore[method-assign]
    model.find_alignment = find_alignment  # type: ignore[method-assign]
    model.model = _SplitBeamSearch(model.model, workers)  # type: ignore[assignment]


class WhisperEngine(ChunkedEngine):
    name = "whisper"
    punctuation = "model"

    def __init__(self, entry: ModelEntry, device: str = "auto", cpu_threads: int = 2, batch_size: int = 8):
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        self.model_name = entry.name
        self.device = resolve_device(device)
        compute_type = "float16" if self.device == "cuda" else "int8"
        workers, threads = _split_threads(cpu_threads) if self.device == "cpu" else (1, cpu_threads)
        try:
            self.model = WhisperModel(
                str(entry.path),
                device=self.device,
                compute_type=compute_type,
                cpu_threads=threads,
                num_workers=workers,
            )
        except (RuntimeError, ValueError, OSError) as e:
            raise AsrError(f"cannot load Whisper model {entry.name} from {entry.path}: {e}") from e
        if self.device == "cpu":
            _share_out_windows(self.model, workers)
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
        from faster_whisper.audio import pad_or_trim

        # the features exactly as the batch computes them, so that its encoder output is reused
        features = pad_or_trim(self.model.feature_extractor(speech)[..., :-1])
        _, _, probs = self.model.detect_language(features=features)
        allowed = [(p, lang) for lang, p in probs if lang in LANGUAGES]
        return max(allowed)[1] if allowed else "zh"

    def transcribe_windows(
        self,
        samples: np.ndarray,
        windows: list[dict[str, float]],
        options: AsrOptions,
        language: str,
        offset: float = 0.0,
    ) -> Iterator[Segment]:
        """The segments of the caller's own speech windows of `samples`, in `samples`' time plus `offset`.

        `windows` are {"start", "end"} in seconds within `samples`, each at most 30 s: each is one encoder
        pass (Whisper always works on 30 s, however little speech a window holds), decoded in batches of
        `batch_size`. Lines are split at sentence ends and finished (`text.finish`); words keep their spoken
        form and are only converted to the transcript's script.
        """
        timeline = Timeline()
        timeline.add(0.0, offset, samples.shape[0] / SAMPLE_RATE)
        return self._decode(samples, windows, options, language, timeline)

    def _decode(
        self,
        samples: np.ndarray,
        windows: list[dict[str, float]],
        options: AsrOptions,
        language: str,
        timeline: Timeline,
    ) -> Iterator[Segment]:
        """`transcribe_windows` with times mapped back through `timeline` (packed speech → the recording)."""
        hotwords = " ".join(h.term for h in options.hotwords) or None
        segments, _ = self.pipeline.transcribe(
            samples,
            clip_timestamps=windows,
            language=language,
            initial_prompt=_ZH_PROMPT if language == "zh" else None,
            hotwords=hotwords,
            batch_size=self.batch_size,
            word_timestamps=True,
            beam_size=5,
        )
        starts = [w["start"] for w in windows]
        for seg in segments:
            # Whisper may place a last word up to a second past its window: keep it inside, so it is not
            # mapped onto the speech packed after it. A segment's start is its window's start floored to
            # Whisper's 10 ms frames, hence the tolerance.
            window = windows[max(bisect.bisect_right(starts, seg.start + 0.02) - 1, 0)]

            def inside(t: float, window: dict[str, float] = window) -> float:
                return min(max(t, window["start"]), window["end"])

            # Words keep their spoken form (ITN needs the whole line); only the script is converted.
            words = [
                Word(*timeline.span(inside(w.start), inside(w.end)), to_script(w.word, language), w.probability)
                for w in seg.words or ()
            ]
            if not words:
                line = text.finish(seg.text.strip(), language, itn=options.itn)
                if line:
                    yield Segment(timeline.start(inside(seg.start)), timeline.end(inside(seg.end)), line, None, [])
                continue
            for sentence in split_sentences(words):
                line = text.finish("".join(w.text for w in sentence).strip(), language, itn=options.itn)
                if line:
                    yield Segment(sentence[0].start, sentence[-1].end, line, None, sentence)

    def _segments(
        self,
        chunks: Iterable[tuple[float, np.ndarray]],
        options: AsrOptions,
        duration: float,
        progress: ProgressHook,
        box: LanguageBox,
    ) -> Iterator[Segment]:
        """Speech of consecutive chunks packed into full windows (see `WindowPacker`), `batch_size` a call.

        Waiting for a full batch holds at most batch × 30 s of speech; a chunk's last words wait for the
        next chunk's first, so no window is cut, nor a batch left short, where a chunk happens to end.
        """
        packer = WindowPacker()
        for offset, chunk in chunks:
            packer.add(offset, chunk, speech_regions(chunk))  # Silero's speech regions of a mono chunk
            memory.return_freed_heap()  # Silero's working memory, before the encoder's (see _share_out_windows)
            while packer.ready() >= self.batch_size:
                batch = packer.take(self.batch_size)
                assert batch is not None
                yield from self._decode_batch(batch, options, box)
            done = offset + chunk.shape[0] / SAMPLE_RATE
            waiting = packer.pending_start()
            progress("recognition", done if waiting is None else min(waiting, done), duration)
        for batch in packer.flush():
            yield from self._decode_batch(batch, options, box)
        progress("recognition", duration, duration)

    def _decode_batch(self, batch: PackedBatch, options: AsrOptions, box: LanguageBox) -> Iterator[Segment]:
        if box.value is None:  # the language of the first window of speech
            box.value = self.detect_language(batch.samples, batch.windows[:1])
        yield from self._decode(batch.samples, batch.windows, options, box.value, batch.timeline)
        memory.return_freed_heap()  # see _share_out_windows
