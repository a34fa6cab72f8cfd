"""What a transcription is asked to do: one typed, validated options object.

The CLI, the upload page, the job queue (which stores it as JSON in the jobs table), the worker and
the job's child process all pass this one object; a bad value is refused where the options are made
(`hearings add --language xx` fails at once, naming the choices), not inside the job.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from workbench import settings
from workbench.speech.diarization.types import SpeakerCount
from workbench.speech.seats import SeatsError, channels_spec, parse_channels
from workbench.speech.text import Hotword, merge_hotwords


class OptionsError(ValueError):
    """An option value that no engine accepts; the message names the option and the allowed values."""


def _choice(name: str, value: str) -> None:
    choices = settings.REGISTRY[name].choices or ()
    if value not in choices:
        raise OptionsError(f"{name} {value!r}: expected one of {', '.join(choices)}")


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    engine: str = "whisper"
    model: str = ""  # a registered model's name or a model folder; empty: the engine's default
    language: str = "auto"
    itn: bool = True
    hotwords: tuple[Hotword, ...] = ()
    diarize: bool = True
    speakers: str = "auto"  # auto, N, or MIN-MAX
    device: str = "auto"
    # one item per channel (workbench.speech.seats): with a map, speakers come from the channels; () mixes to mono
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _choice("engine", self.engine)
        _choice("language", self.language)
        _choice("device", self.device)
        try:
            SpeakerCount.parse(self.speakers)
        except ValueError as e:
            raise OptionsError(str(e)) from e
        # Hotwords arrive as Hotword objects, or as [term, weight] pairs from JSON.
        words = tuple(h if isinstance(h, Hotword) else Hotword(*h) for h in self.hotwords)
        object.__setattr__(self, "hotwords", words)
        channels: tuple[str, ...] = ()
        if self.channels:
            try:
                channels = channels_spec(parse_channels(self.channels))  # normal form: 审判长 -> 审判席:审判长
            except SeatsError as e:
                raise OptionsError(f"channels: {e}") from e
        object.__setattr__(self, "channels", channels)

    @classmethod
    def from_settings(cls, **given: Any) -> TranscribeOptions:
        """The settings' defaults, then the given values (None means not given)."""
        unknown = set(given) - {f.name for f in fields(cls)}
        if unknown:
            raise OptionsError(f"unknown option(s) {', '.join(sorted(unknown))}")
        base = {
            "engine": settings.get("engine"),
            "model": settings.get("asr_model"),
            "language": settings.get("language"),
            "itn": settings.get("itn"),
            "diarize": settings.get("diarize"),
            "speakers": settings.get("speakers"),
            "device": settings.get("device"),
        }
        return cls(**{**base, **{k: v for k, v in given.items() if v is not None}})

    def with_hotwords(self, *lists: tuple[Hotword, ...]) -> TranscribeOptions:
        """These options with the case's and the global lists merged after the job's own (the job's win)."""
        return replace(self, hotwords=merge_hotwords(self.hotwords, *lists))

    def to_json(self) -> str:
        data = asdict(self)
        data["hotwords"] = [[h.term, h.weight] for h in self.hotwords]
        data["channels"] = list(self.channels)
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | None) -> TranscribeOptions:
        """The stored options; fields missing from an older row take today's settings."""
        return cls.from_settings(**json.loads(text or "{}"))
