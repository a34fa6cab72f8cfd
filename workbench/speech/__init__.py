"""The speech stages, one module per stage, each streaming where the audio is long.

audio          any recording → 16 kHz mono blocks (PyAV), never held whole
asr/           speech → segments: the engine protocol, Whisper and FunASR behind it
text           Simplified Chinese, inverse text normalisation, hotword lists
diarization/   who spoke when (pyannote.audio with CAM++), streamed
align          each segment and word gets its speaker
options        what a transcription is asked to do (one typed, validated object)
pipeline       one recording → one `Transcript` (transcript: the dataclasses at the boundaries)
"""
