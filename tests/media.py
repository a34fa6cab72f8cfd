"""Test recordings in every container and codec a clerk may bring, made with PyAV from a real clip."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# (file suffix, container format, audio codec, sample rate, layout, video codec or None)
VARIANTS = {
    "wav-8k": (".wav", "wav", "pcm_s16le", 8000, "mono", None),
    "wav-48k-stereo": (".wav", "wav", "pcm_s16le", 48000, "stereo", None),
    "flac": (".flac", "flac", "flac", 44100, "stereo", None),
    "mp3": (".mp3", "mp3", "libmp3lame", 44100, "stereo", None),
    "m4a": (".m4a", "ipod", "aac", 44100, "stereo", None),
    "aac": (".aac", "adts", "aac", 22050, "mono", None),
    "ogg-opus": (".ogg", "ogg", "libopus", 48000, "stereo", None),
    "opus": (".opus", "opus", "libopus", 48000, "mono", None),
    "ogg-vorbis": (".ogg", "ogg", "vorbis", 44100, "stereo", None),
    "wma": (".wma", "asf", "wmav2", 44100, "stereo", None),
    "amr": (".amr", "amr", "libopencore_amrnb", 8000, "mono", None),
    "mp4": (".mp4", "mp4", "aac", 48000, "stereo", "mpeg4"),
    "mkv": (".mkv", "matroska", "libopus", 48000, "stereo", "mpeg4"),
    "mov": (".mov", "mov", "aac", 44100, "stereo", "mpeg4"),
}


def encode(samples: np.ndarray, path: Path, variant: str, source_rate: int = 16000) -> Path:
    """Writes float32 mono `samples` (at `source_rate`) in the given variant."""
    _, fmt, codec, rate, layout, video_codec = VARIANTS[variant]
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if codec == "libopencore_amrnb":
            stream.bit_rate = 12200
        elif codec == "wmav2":
            stream.bit_rate = 128_000
        elif codec == "vorbis":
            stream.codec_context.options = {"strict": "experimental"}
        video = None
        if video_codec:
            video = out.add_stream(video_codec, rate=5)
            video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        frame_len = source_rate // 10
        for i in range(0, pcm.shape[0], frame_len):
            frame = av.AudioFrame.from_ndarray(pcm[None, i : i + frame_len], format="s16", layout="mono")
            frame.sample_rate = source_rate
            frame.pts = i
            frame.time_base = Fraction(1, source_rate)
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
        for resampled in resampler.resample(None):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
        if video is not None:
            seconds = int(samples.shape[0] / source_rate) + 1
            for n in range(seconds * 5):
                picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), n % 255, dtype=np.uint8), format="rgb24")
                picture.pts = n
                out.mux(video.encode(picture))
            out.mux(video.encode(None))
    return path


def video_without_audio(path: Path, seconds: int = 2) -> Path:
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=5)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        for n in range(seconds * 5):
            picture = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), dtype=np.uint8), format="rgb24")
            picture.pts = n
            out.mux(video.encode(picture))
        out.mux(video.encode(None))
    return path


def write_wav(samples: np.ndarray, path: Path, rate: int = 16000) -> Path:
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path
