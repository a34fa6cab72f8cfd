"""Decoding any recording to 16 kHz mono (or its channels apart), in blocks, with PyAV.

`blocks()` is a generator: a three-hour hearing is never held whole as float32; each stage pulls
the next block (30 s by default) when it is ready for it. `speech_chunks()` regroups blocks into
longer chunks cut at the quietest moment near the chunk size, so that recognition never splits a
word at a chunk edge. Every error names the file and the reason.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

log = logging.getLogger("workbench.speech.audio")

SAMPLE_RATE = 16000
_FRAME = SAMPLE_RATE // 100  # 10 ms, the unit of the quiet-point search


class AudioError(Exception):
    """A file that cannot be decoded; `str()` is a one-line reason naming the file."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(path).name}: {reason}")

    def __reduce__(self) -> tuple[Any, ...]:  # crosses the pipe from the job's child process intact
        return (AudioError, (self.path, self.reason))


@dataclass(slots=True)
class AudioInfo:
    path: Path
    container: str
    codec: str
    sample_rate: int
    channels: int
    duration: float  # as declared by the container; 0.0 when it does not say
    has_video: bool
    warnings: list[str] = field(default_factory=list)
    decoded: float = 0.0  # seconds actually decoded, set once `blocks()` has run to the end


def _open(path: Path) -> av.container.InputContainer:
    if not path.exists():
        raise AudioError(path, "no such file")
    if path.is_dir():
        raise AudioError(path, "is a folder, not a recording")
    if path.stat().st_size == 0:
        raise AudioError(path, "the file is empty (0 bytes)")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as e:
        raise AudioError(path, f"not a recording in a format FFmpeg can read ({_reason(e)})") from e


def _reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return text.split(":")[0].strip() if isinstance(e, av.error.FFmpegError) and text else text


def probe(path: str | Path) -> AudioInfo:
    """What the container says about the file, without decoding it."""
    path = Path(path)
    with _open(path) as container:
        return _info(path, container)


def _info(path: Path, container: av.container.InputContainer) -> AudioInfo:
    if not container.streams.audio:
        kind = "a video with no audio track" if container.streams.video else "no audio track"
        raise AudioError(path, f"{kind}, nothing to transcribe")
    stream = container.streams.audio[0]
    duration = 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    return AudioInfo(
        path=path,
        container=container.format.name,
        codec=stream.codec_context.name,
        sample_rate=stream.codec_context.sample_rate or 0,
        channels=stream.codec_context.channels or 0,
        duration=duration,
        has_video=bool(container.streams.video),
    )


def blocks(path: str | Path, block_seconds: float = 30.0, info: AudioInfo | None = None) -> Iterator[np.ndarray]:
    """Yields the audio as float32 mono 16 kHz blocks of `block_seconds` (the last one shorter).

    A stream that breaks off part way (a truncated upload) yields what could be decoded and notes a
    warning on `info`; a file that yields nothing raises AudioError.
    """
    for block in _blocks(Path(path), block_seconds, info, keep_channels=False):
        yield block[0]


def channel_blocks(
    path: str | Path, block_seconds: float = 30.0, info: AudioInfo | None = None
) -> Iterator[np.ndarray]:
    """Like `blocks()`, with the file's channels kept apart: float32 blocks shaped (channels, n) at 16 kHz.

    A courtroom records one microphone per seat on its own channel; mixing them to mono would lose who
    spoke. Same errors and warnings as `blocks()`. A caller that needs one channel takes its row and lets
    the rest go, so an hour of four channels is never held (`channels.transcribe_channels` decodes again
    per channel rather than keep them).
    """
    yield from _blocks(Path(path), block_seconds, info, keep_channels=True)


def _blocks(path: Path, block_seconds: float, info: AudioInfo | None, *, keep_channels: bool) -> Iterator[np.ndarray]:
    """(channels, n) float32 blocks: one row (the mono mix) or every channel of the file's first audio stream."""
    block_len = int(block_seconds * SAMPLE_RATE)
    with _open(path) as container:
        found = _info(path, container)
        info = info or found  # the caller's copy collects the warnings
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        if keep_channels:
            # the stream's own layout, so nothing is remixed; packed, since PyAV's planar to_ndarray() crashes
            # on 8 channels and more (seen with PyAV 18 on "8 channels" WAV files)
            resampler = av.AudioResampler(format="flt", layout=stream.codec_context.layout, rate=SAMPLE_RATE)
        else:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[np.ndarray] = []
        pending_len = 0
        total = 0
        try:
            for frame in _decode(path, container, stream, info):
                for out in resampler.resample(frame):
                    pending.append(_planes(out))
                    pending_len += pending[-1].shape[1]
                while pending_len >= block_len:
                    joined = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
                    yield _finite(joined[:, :block_len])
                    total += block_len
                    pending, pending_len = [joined[:, block_len:]], joined.shape[1] - block_len
            for out in resampler.resample(None):
                pending.append(_planes(out))
        except av.error.FFmpegError as e:
            raise AudioError(path, f"cannot decode the audio ({_reason(e)})") from e
        if pending:
            tail = np.concatenate(pending, axis=1)
            if tail.shape[1]:
                total += tail.shape[1]
                yield _finite(tail)
        if total == 0:
            raise AudioError(path, "no audio could be decoded from it (corrupt or truncated)")
        decoded = info.decoded = total / SAMPLE_RATE
        if found.duration > 5 and decoded < found.duration * 0.98 - 1.0:
            info.warnings.append(
                f"only {decoded:.1f} s of the declared {found.duration:.1f} s could be decoded (truncated file?)"
            )


def _planes(frame: av.AudioFrame) -> np.ndarray:
    """A resampled packed float frame, (1, n * channels) interleaved, as contiguous (channels, n) float32."""
    count = len(frame.layout.channels)
    array = frame.to_ndarray()
    return array.reshape(1, -1) if count == 1 else np.ascontiguousarray(array.reshape(-1, count).T)


def _finite(block: np.ndarray) -> np.ndarray:
    """`block` with a float file's NaN and inf made 0 and ±1, which would poison every later sum (a channel's
    noise floor, a Whisper window's features); in place, once a block rather than once a frame."""
    return np.nan_to_num(block, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)


def _decode(
    path: Path, container: av.container.InputContainer, stream: av.audio.stream.AudioStream, info: AudioInfo
) -> Iterator[av.AudioFrame]:
    """Decoded frames; corrupt packets are skipped (counted in a warning) rather than ending the file."""
    bad = 0
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            bad += 1
            if bad > 1000:
                raise AudioError(path, "too many corrupt audio packets; the file is damaged") from None
    if bad:
        info.warnings.append(f"{bad} corrupt audio packet(s) skipped")


def load(path: str | Path) -> np.ndarray:
    """The whole file as one float32 array: for short clips and tests only."""
    parts = list(blocks(path))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def speech_chunks(
    source: Iterator[np.ndarray], chunk_seconds: float = 240.0, search_seconds: float = 20.0
) -> Iterator[tuple[float, np.ndarray]]:
    """Regroups blocks into (offset seconds, chunk) pairs of about `chunk_seconds`.

    Each cut is placed at the quietest 100 ms in the last `search_seconds` of the chunk, so a cut
    falls in a pause rather than inside a word; the rest is carried into the next chunk.
    """
    target = int(chunk_seconds * SAMPLE_RATE)
    search = int(search_seconds * SAMPLE_RATE)
    buffer = np.zeros(0, dtype=np.float32)
    offset = 0
    for block in source:
        buffer = np.concatenate([buffer, block]) if buffer.size else block
        while buffer.shape[0] >= target + search:
            cut = _quiet_point(buffer, target - search, target + search)
            yield offset / SAMPLE_RATE, buffer[:cut]
            offset += cut
            buffer = buffer[cut:].copy()
    if buffer.size:
        yield offset / SAMPLE_RATE, buffer


def _quiet_point(audio: np.ndarray, lo: int, hi: int) -> int:
    """The sample index in [lo, hi) at the centre of the lowest-energy 100 ms window."""
    frames = audio[lo:hi]
    n = frames.shape[0] // _FRAME
    energy = np.square(frames[: n * _FRAME].reshape(n, _FRAME)).mean(axis=1)
    window = np.convolve(energy, np.ones(10), mode="valid")
    return lo + (int(np.argmin(window)) + 5) * _FRAME
