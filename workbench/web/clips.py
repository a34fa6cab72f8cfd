"""Audio for the browser: a stretch of a recording as WAV bytes, decoded from where it starts."""

from __future__ import annotations

import io
import math
import wave
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from workbench.store import StoredSegment

SAMPLE_SECONDS = 6.0  # length of each speaker's audio sample
PLAY_WINDOW_S = 300.0  # audio sent to the browser per click: five minutes from the segment


def clip_wav(path: Path, start: float, duration: float) -> bytes:
    """`duration` seconds of the recording from `start`, as 16 kHz mono WAV bytes for the browser.

    Seeks in the container rather than decoding from the beginning, so a click at 2:40:00 in a
    three-hour file answers as fast as one at the start.
    """
    # Imported on the first clip, not with the pages: PyAV (~0.1 s; workbench.speech.audio imports it
    # too) is needed only by the review page's player and speaker samples.
    import av

    from workbench.speech.audio import SAMPLE_RATE, AudioError

    start = max(float(start), 0.0)
    want = int(duration * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    got = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            if start > 1.0:
                container.seek(int(start / stream.time_base), stream=stream, any_frame=False, backward=True)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                t0 = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1)
                    skip = int(max(start - t0, 0.0) * SAMPLE_RATE)
                    if skip >= data.shape[0]:
                        continue
                    data = data[skip:]
                    parts.append(data)
                    got += data.shape[0]
                    t0 = start  # later chunks of this frame continue where this one ended
                if got >= want:
                    break
    except (av.error.FFmpegError, IndexError) as e:
        raise AudioError(path, f"cannot decode audio for playback ({e})") from e
    pcm = np.concatenate(parts)[:want] if parts else np.zeros(0, dtype=np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype(np.int16).tobytes())
    return buf.getvalue()


def silence(wav: bytes, start: float, spans: Sequence[tuple[float, float]]) -> bytes:
    """`wav` (as `clip_wav` makes it, starting at `start` seconds of the recording) with the recording's `spans`
    (start, end in seconds of the recording) made silent: a sealed (不公开) part, for a listener who may not hear
    it. The length stays, so the player's times still match the recording's."""
    from workbench.speech.audio import SAMPLE_RATE

    header = 44  # the plain PCM header `wave` writes
    out = bytearray(wav)
    frames = (len(out) - header) // 2
    for a, b in spans:
        first = max(0, int((a - start) * SAMPLE_RATE))
        last = min(frames, math.ceil((b - start) * SAMPLE_RATE))
        if last > first:
            out[header + 2 * first : header + 2 * last] = bytes(2 * (last - first))
    return bytes(out)


def sample_span(segments: Sequence[StoredSegment], label: str, seconds: float = SAMPLE_SECONDS) -> tuple[float, float]:
    """A stretch of `label`'s speech to play as their sample: their longest segment, at most `seconds`."""
    own = [s for s in segments if s.speaker == label]
    if not own:
        return 0.0, 0.0
    best = max(own, key=lambda s: min(s.end - s.start, seconds * 2))
    return best.start, min(best.end, best.start + seconds)
