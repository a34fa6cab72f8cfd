"""What diarization takes and gives: plain dataclasses, importable without torch or pyannote."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from workbench.speech.transcript import SpeakerSummary

_COUNT_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


class DiarizationError(Exception):
    """Diarization cannot run; the message names the file or model, the reason and the fix."""


@dataclass(frozen=True, slots=True)
class SpeakerCount:
    """How many speakers to find: auto (both None), exactly N (min == max), or a MIN-MAX range."""

    min: int | None = None
    max: int | None = None

    def __post_init__(self) -> None:
        for value in (self.min, self.max):
            if value is not None and value < 1:
                raise ValueError(f"speaker count must be at least 1, got {value}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"speaker range {self.min}-{self.max}: the minimum is above the maximum")

    @classmethod
    def parse(cls, text: str | int | None) -> SpeakerCount:
        """`"auto"` (or empty), `"3"` or `"2-4"`."""
        if text is None or (isinstance(text, str) and text.strip().lower() in ("", "auto")):
            return cls()
        match = _COUNT_RE.match(str(text))
        if match is None:
            raise ValueError(f"speaker count {text!r}: expected auto, a number such as 3, or a range such as 2-4")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        return cls(low, high)

    @property
    def exact(self) -> int | None:
        return self.min if self.min is not None and self.min == self.max else None

    def __str__(self) -> str:
        if self.min is None and self.max is None:
            return "auto"
        if self.exact is not None:
            return str(self.exact)
        return f"{self.min or 1}-{self.max or ''}"


@dataclass(slots=True)
class SpeakerTurn:
    start: float
    end: float
    speaker: str


@dataclass(slots=True)
class Diarization:
    """Speaker turns (overlapping where people talk at once), sorted by start, and one summary per speaker."""

    turns: list[SpeakerTurn] = field(default_factory=list)
    speakers: list[SpeakerSummary] = field(default_factory=list)
    engine: str = ""  # which models made it, e.g. "pyannote-segmentation-3.0+campplus-zh-en"


__all__ = ["Diarization", "DiarizationError", "SpeakerCount", "SpeakerSummary", "SpeakerTurn"]
