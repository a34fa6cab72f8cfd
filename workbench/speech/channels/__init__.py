"""Speakers from a courtroom's microphones: one channel per seat, speech activity per channel, crosstalk rejected.

With a channel map (`workbench.speech.seats`) the seats say who spoke, so there is no diarization of the mix:

1. Activity, one decoding pass over all channels: the mean power of every 10 ms frame of every channel, in
   numpy (an hour of four channels is 1.4 million numbers). A seat is speaking where its frame stands well
   above its own noise floor and above the crosstalk the other seats' speech puts on its microphone. That
   crosstalk is measured, not assumed: for each pair of seats, the level difference while one seat talks
   alone gives how strongly its voice reaches the other's microphone (`estimate_coupling`), so a voice heard
   15-25 dB down on a neighbour's microphone is predicted there and rejected, while two people talking at once
   each stand far above what the other puts on their microphone and are both active. Hysteresis (start high,
   continue lower), gap merging, a minimum length and a little padding turn frames into turns.
2. Recognition, one more decoding pass over all channels together: each seat's turns, merged where the seat
   pauses briefly and no one else speaks (`recognition_units`), cut from the seat's own channel as the stream
   passes and laid, in time order across seats, into Whisper windows of up to `WINDOW_S` with a second of
   silence between pieces (`_Packer`): the encoder always works on 30 s, so a window per short turn would cost
   several times the speech, and consecutive pieces of a window come from different seats (Whisper lets go of
   a sentence said again right after itself in one window; a piece that still gets no words is decoded again
   alone). One window holds one language's seats (the options' language, or each seat's detected once from its
   first speech). The piece map (`_Layout`) takes each word back to its seat and the recording's time, words
   kept within their piece and a line split where it ran over two; nothing of a neighbour's bleed between
   turns reaches the recogniser. Overlapped speech thus gives two segments with overlapping times, each from
   its own microphone. (FunASR, with its own VAD, gets each seat's turns laid end to end, one pass per seat.)
3. Voices: one per seat of one person (its role from the map); a shared seat (`ChannelSeat.shared`) is
   diarized within its channel by the embedded engine (`diarize_stream`, 1..len(roles) voices), fed only the
   seat's own turns, and its voices get no role: the clerk, the roster or the voice library names them. Each
   voice's embedding is the mean CAM++ embedding of its speech (the diarization model, so the voice library
   can match it with voices from mono hearings). Ids S1, S2, ... by first appearance.

`mix` and `-` channels are decoded but never recognised and never compared against (a mix carries everyone).

The package, stage by stage (imports go one way: activity <- packing <- voices <- this module):

- `activity`: frame powers, noise floors, crosstalk coupling, margins over both, turns (numpy only).
- `packing`: one channel's audio streamed, recognition units, pieces and windows, the packer, the piece map
  (`_Layout`), edge snapping, and the recognition passes (Whisper's packed windows, FunASR's per seat).
- `voices`: embedding pieces, the mean CAM++ embedding, a shared seat's diarization, the speaker summaries.
- `__init__` (here): `transcribe_channels`, the three stages in turn, and the names callers use.
"""

# the stages' names are re-exported: callers and tests use `channels.X`, private names included
# ruff: noqa: F401

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from workbench.progress import Fraction, ProgressHook, no_progress
from workbench.speech import align, audio, text
from workbench.speech.asr.engine import AsrEngine, AsrError, AsrOptions
from workbench.speech.asr.whisper import WhisperEngine
from workbench.speech.channels.activity import (
    _TINY,
    FRAME,
    FRAME_S,
    SILENT_DB,
    ActivityParams,
    Turn,
    _max_reach,
    _noise_floors,
    _runs,
    _smooth,
    channel_turns,
    estimate_coupling,
    frame_powers,
    speech_margins,
    turns_from_margins,
)
from workbench.speech.channels.packing import (
    GAP_S,
    LANGUAGE_SAMPLE_S,
    LONGEST_UNIT_S,
    MERGE_GAP_S,
    OPEN_WINDOWS,
    QUEUE_S,
    REDO_MIN_S,
    WINDOW_S,
    Unit,
    _decode_windows,
    _Heard,
    _Layout,
    _one_channel,
    _Packer,
    _Piece,
    _recognise_one_seat,
    _recognise_packed,
    _snap_edges,
    _spans_audio,
    _split_long,
    _Window,
    _window_cuts,
    recognition_units,
)
from workbench.speech.channels.voices import (
    PIECE_S,
    _as_diarization,
    _campp,
    _diarize_seat,
    _speakers,
    _Voice,
    embedding_pieces,
    mean_embedding,
)
from workbench.speech.seats import ChannelSeat
from workbench.speech.transcript import Segment, SpeakerSummary

log = logging.getLogger("workbench.speech.channels")

# --- the whole channel path -----------------------------------------------------------------------


@dataclass(slots=True)
class ChannelsResult:
    segments: list[Segment]
    speakers: list[SpeakerSummary]
    language: str | None  # the language of most of the recognised speech; None when nothing was recognised
    diarization: str  # "channels", or "channels+<engine>" when a shared seat was diarized
    warnings: list[str] = field(default_factory=list)


def transcribe_channels(
    path: str | Path,
    info: audio.AudioInfo,
    seats: Sequence[ChannelSeat],
    engine: AsrEngine,
    asr_options: AsrOptions,
    progress: ProgressHook = no_progress,
    *,
    device: str = "cpu",
    params: ActivityParams = ActivityParams(),  # noqa: B008 (frozen: defined in .activity)
) -> ChannelsResult:
    """Segments and speakers of a multi-channel recording from its channel map (see the module's docstring).

    The caller has checked that the file has `len(seats)` channels. Raises `audio.AudioError` and `AsrError`.
    """
    path = Path(path)
    seat_channels = [i for i, seat in enumerate(seats) if seat.is_seat]
    progress("speech activity", 0.0, 1.0)
    powers = frame_powers(audio.channel_blocks(path, info=info))
    if powers.shape[0] != len(seats):
        raise audio.AudioError(
            path,
            f"声道数不符 (the recording decodes to {powers.shape[0]} channel(s), the channel map has {len(seats)})",
        )
    per_seat = channel_turns(powers[seat_channels], params)
    powers_duration = powers.shape[1] * FRAME_S
    del powers
    turns_of = dict(zip(seat_channels, per_seat, strict=True))
    speech = {c: sum(t.duration for t in turns_of[c]) for c in seat_channels}
    weight = sum(speech.values()) or 1.0
    progress("speech activity", 1.0, 1.0)

    warnings: list[str] = []
    for c in seat_channels:
        if not turns_of[c]:
            warnings.append(f"声道 {c + 1}（{seats[c].spec()}）没有检测到讲话 (no speech detected on channel {c + 1})")
    spoken = [c for c in seat_channels if turns_of[c]]
    # progress: recognition up to `asr_end`, then the shared seats' diarization (about a fifth of their share)
    asr_end = 0.05 + 0.95 * (1.0 - 0.2 * sum(speech[c] for c in spoken if seats[c].shared) / weight)
    pieces_of = {c: embedding_pieces(turns_of[c]) for c in spoken if not seats[c].shared}
    recognised: dict[int, tuple[list[Segment], str | None, list[np.ndarray]]] = {}
    if isinstance(engine, WhisperEngine):
        try:
            heard = _recognise_packed(
                path,
                info,
                {c: turns_of[c] for c in spoken},
                engine,
                asr_options,
                Fraction(progress, 0.05, asr_end, "recognition"),
                powers_duration,
                pieces_of,
            )
        except AsrError as e:
            raise AsrError(f"{path.name}: {e}") from e
        log.debug("windows: %d piece(s) decoded again alone", heard.redone)
        for c in spoken:
            recognised[c] = (heard.segments[c], heard.languages.get(c), heard.pieces_audio.get(c, []))
    else:
        done = 0.05
        for c in spoken:
            share = (asr_end - 0.05) * speech[c] / weight
            try:
                recognised[c] = _recognise_one_seat(
                    path,
                    c,
                    turns_of[c],
                    engine,
                    asr_options,
                    Fraction(progress, done, done + share, "recognition"),
                    pieces_of.get(c, []),
                )
            except AsrError as e:
                raise AsrError(f"{path.name}: channel {c + 1}: {e}") from e
            done += share

    segments: list[Segment] = []
    voices: list[_Voice] = []
    languages: dict[str, float] = {}
    diarized_by: str | None = None
    done = asr_end
    for c in spoken:
        seat, turns = seats[c], turns_of[c]
        found, language, pieces_audio = recognised[c]
        if language:
            languages[language] = languages.get(language, 0.0) + sum(s.end - s.start for s in found)
        mapped: list[tuple[float, float, str]] = []
        if seat.shared:
            share = 0.95 * 0.2 * speech[c] / weight
            mapped, embeddings, diarized_by = _diarize_seat(
                path, c, seat, turns, device, Fraction(progress, done, done + share, "speakers")
            )
            done += share
        if mapped:  # a shared seat's voices, told apart within its channel
            labelled = align.assign_speakers(found, _as_diarization(mapped))
            for label in dict.fromkeys(lbl for _, _, lbl in mapped):
                own = [Turn(a, b) for a, b, lbl in mapped if lbl == label]
                voices.append(_Voice(c, seat, f"{c}:{label}", own, embeddings.get(label)))
            for segment in labelled:
                segment.speaker = f"{c}:{segment.speaker}" if segment.speaker else None
                # a line split between the two voices is rebuilt from its words: finish it again, as mono does
                segment.text = text.finish(segment.text, language, itn=asr_options.itn)
            found = labelled
        else:  # one person's seat; or a shared seat with too little speech to tell two voices: one voice, no role
            voices.append(_Voice(c, seat, f"{c}:", turns, mean_embedding(pieces_audio, device)))
            for segment in found:
                segment.speaker = f"{c}:"
        segments.extend(found)
    speakers, names = _speakers(voices, segments)
    for segment in segments:
        segment.speaker = names.get(segment.speaker or "")
        segment.words = [replace(w, speaker=segment.speaker) for w in segment.words]
    segments.sort(key=lambda s: (s.start, s.end))
    progress("done", 1.0, 1.0)
    language = max(languages, key=languages.__getitem__) if languages else None
    return ChannelsResult(
        segments=segments,
        speakers=speakers,
        language=language,
        diarization="channels" + (f"+{diarized_by}" if diarized_by else ""),
        warnings=warnings,
    )


__all__: list[str] = [
    "ActivityParams",
    "ChannelsResult",
    "Turn",
    "channel_turns",
    "embedding_pieces",
    "estimate_coupling",
    "frame_powers",
    "mean_embedding",
    "speech_margins",
    "transcribe_channels",
    "turns_from_margins",
]
