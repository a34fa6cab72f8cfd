"""One recording to one `Transcript`: decode → recognise → diarize → attribute speakers.

The CLI, the job worker and the benchmarks all call `transcribe()`; the options it was given are
recorded in the transcript's `engine` field. With a channel map (`options.channels`) the speakers come
from the seats' microphones instead (`workbench.speech.channels`): no mix, no diarization of the room.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from workbench import settings
from workbench.files import sha256_file
from workbench.models import memory
from workbench.progress import Fraction, ProgressHook, no_progress
from workbench.speech import align, asr, audio, text
from workbench.speech.diarization import SpeakerCount
from workbench.speech.options import TranscribeOptions
from workbench.speech.seats import ChannelSeat, parse_channels
from workbench.speech.text import Hotword
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript

log = logging.getLogger("workbench.speech.pipeline")


def transcribe(
    path: str | Path,
    options: TranscribeOptions,
    progress: ProgressHook = no_progress,
    *,
    release_between_stages: bool = False,
) -> Transcript:
    """Transcribes one file; raises `audio.AudioError` or `asr.AsrError` naming the file and reason.

    `release_between_stages`: unload the recognition model once recognition is done, before diarization
    loads its own, so that the process's peak is the larger stage's and not both together. For a one-shot
    process (`workbench transcribe`); the server's job child keeps its models for the next job.
    """
    path = Path(path)
    info = audio.probe(path)
    seats = parse_channels(options.channels) if options.channels else ()
    if seats and info.channels != len(seats):
        raise audio.AudioError(
            path,
            f"声道数与声道映射不符 (the recording has {info.channels} channel(s), the channel map "
            f"{len(seats)}: {','.join(options.channels)})",
        )
    engine = asr.load_engine(
        options.engine,
        options.model,
        device=options.device,
        cpu_threads=settings.get("cpu_threads"),
        batch_size=settings.get("batch_size"),
    )
    hotwords, left_out = engine.fit_hotwords(options.hotwords)
    warnings = list(info.warnings)
    if left_out:
        warnings.append(
            f"{len(left_out)} hotword(s) did not fit the {engine.name} engine's prompt and were not used: "
            + "、".join(h.term for h in left_out)
        )
    if seats:
        return _transcribe_channels(path, info, seats, options, engine, hotwords, warnings, progress)
    asr_share = 0.7 if options.diarize else 1.0
    recognition = Fraction(progress, 0.0, asr_share, "recognition")
    recognition("recognition", 0.0, 1.0)  # the stage begins now, not when its first chunk is done
    segments_iter, language = engine.transcribe(
        audio.speech_chunks(audio.blocks(path, info=info)),
        asr.AsrOptions(options.language, options.itn, hotwords),
        info.duration,
        recognition,
    )
    try:
        segments = list(segments_iter)
    except asr.AsrError as e:
        raise asr.AsrError(f"{path.name}: {e}") from e
    del segments_iter
    facts = _EngineFacts.of(engine)
    speakers = None
    diarization_name = None
    if options.diarize:
        if release_between_stages:
            del engine  # the cache held the only other reference
            memory.release(("whisper", "funasr"))
        from workbench.speech.diarization.pipeline import diarize_file  # torch and pyannote: only when diarizing

        result = diarize_file(
            path,
            SpeakerCount.parse(options.speakers),
            device=asr.resolve_device(options.device, library="torch"),  # diarization runs on torch
            progress=Fraction(progress, asr_share, 1.0, "speakers"),
        )
        segments = align.assign_speakers(segments, result)
        for segment in segments:  # a split segment's text is rebuilt from words: finish it again
            segment.text = text.finish(segment.text, language.value, itn=options.itn)
        speakers = result.speakers
        diarization_name = result.engine or "pyannote"
    progress("done", 1.0, 1.0)
    return _transcript(path, info, options, facts, hotwords, language.value, segments, speakers, diarization_name,
                       warnings)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _EngineFacts:
    """What the transcript records of the recognition engine: kept when the engine itself is released."""

    name: str
    model_name: str
    device: str
    punctuation: str | None

    @classmethod
    def of(cls, engine: asr.AsrEngine) -> _EngineFacts:
        return cls(engine.name, engine.model_name, engine.device, engine.punctuation)


def _transcribe_channels(
    path: Path,
    info: audio.AudioInfo,
    seats: tuple[ChannelSeat, ...],
    options: TranscribeOptions,
    engine: asr.AsrEngine,
    hotwords: tuple[Hotword, ...],
    warnings: list[str],
    progress: ProgressHook,
) -> Transcript:
    """The channel path: speakers from the seats' microphones (see `workbench.speech.channels`)."""
    from workbench.speech.channels import transcribe_channels  # numpy and, for the voices, torch

    result = transcribe_channels(
        path,
        info,
        seats,
        engine,
        asr.AsrOptions(options.language, options.itn, hotwords),
        progress,
        device=asr.resolve_device(options.device, library="torch"),  # CAM++ and a shared seat's diarization
    )
    facts = _EngineFacts.of(engine)
    return _transcript(path, info, options, facts, hotwords, result.language, result.segments, result.speakers,
                       result.diarization, [*warnings, *result.warnings])  # fmt: skip


def _transcript(
    path: Path,
    info: audio.AudioInfo,
    options: TranscribeOptions,
    engine: _EngineFacts,
    hotwords: tuple[Hotword, ...],
    language: str | None,
    segments: list[Segment],
    speakers: list[SpeakerSummary] | None,
    diarization: str | None,
    warnings: list[str],
) -> Transcript:
    """What either path made, with where it came from (the engines, the options, the channel map) and every
    warning, those that decoding added to `info` on the way (a truncated file, corrupt packets) included."""
    duration = info.decoded or info.duration  # a truncated file lasts what could be decoded
    return Transcript(
        file=path.name,
        sha256=sha256_file(path),
        duration=round(duration, 3),
        language=language or (options.language if options.language != "auto" else "unknown"),
        engine=EngineInfo(
            asr=engine.name,
            model=engine.model_name,
            device=engine.device,
            punctuation=engine.punctuation,
            itn=options.itn,
            hotwords=tuple(h.term for h in hotwords),
            diarization=diarization,
            channels=options.channels,
        ),
        segments=segments,
        speakers=speakers,
        warnings=[*warnings, *(w for w in info.warnings if w not in warnings)],
    )
