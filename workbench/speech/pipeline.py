"""One recording to one `Transcript`: decode → recognise → diarize → attribute speakers.

The CLI, the job worker and the benchmarks all call `transcribe()`; the options it was given are
recorded in the transcript's `engine` field. With a channel map (`options.channels`) the speakers come
from the seats' microphones instead (`workbench.speech.channels`): no mix, no diarization of the room.
"""

from __future__ import annotations

import logging
from pathlib import Path

from workbench import settings
from workbench.files import sha256_file
from workbench.progress import Fraction, ProgressHook, no_progress
from workbench.speech import align, asr, audio, text
from workbench.speech.diarization import SpeakerCount
from workbench.speech.options import TranscribeOptions
from workbench.speech.seats import ChannelSeat, parse_channels
from workbench.speech.text import Hotword
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript

log = logging.getLogger("workbench.speech.pipeline")


def transcribe(path: str | Path, options: TranscribeOptions, progress: ProgressHook = no_progress) -> Transcript:
    """Transcribes one file; raises `audio.AudioError` or `asr.AsrError` naming the file and reason."""
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
    segments_iter, language = engine.transcribe(
        audio.speech_chunks(audio.blocks(path, info=info)),
        asr.AsrOptions(options.language, options.itn, hotwords),
        info.duration,
        Fraction(progress, 0.0, asr_share, "recognition"),
    )
    try:
        segments = list(segments_iter)
    except asr.AsrError as e:
        raise asr.AsrError(f"{path.name}: {e}") from e
    speakers = None
    diarization_name = None
    if options.diarize:
        from workbench.speech.diarization.pipeline import diarize_file  # torch and pyannote: only when diarizing

        result = diarize_file(
            path,
            SpeakerCount.parse(options.speakers),
            device=engine.device,
            progress=Fraction(progress, asr_share, 1.0, "speakers"),
        )
        segments = align.assign_speakers(segments, result)
        for segment in segments:  # a split segment's text is rebuilt from words: finish it again
            segment.text = text.finish(segment.text, language.value, itn=options.itn)
        speakers = result.speakers
        diarization_name = result.engine or "pyannote"
    progress("done", 1.0, 1.0)
    return _transcript(path, info, options, engine, hotwords, language.value, segments, speakers, diarization_name,
                       warnings)  # fmt: skip


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
        device=engine.device,
    )
    return _transcript(path, info, options, engine, hotwords, result.language, result.segments, result.speakers,
                       result.diarization, [*warnings, *result.warnings])  # fmt: skip


def _transcript(
    path: Path,
    info: audio.AudioInfo,
    options: TranscribeOptions,
    engine: asr.AsrEngine,
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
