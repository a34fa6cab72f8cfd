"""NIST RTTM, the format pyannote.metrics and md-eval read: the one writer, for turns and transcript segments."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

from workbench.speech.diarization.types import Diarization


class SpeakerSpan(Protocol):
    """Anything with a time span and a speaker: a `SpeakerTurn`, a transcript `Segment`."""

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def speaker(self) -> str | None: ...


def to_rttm(spans: Diarization | Iterable[SpeakerSpan], uri: str) -> str:
    """One SPEAKER line per span that has a speaker, in the order given; "" when there is none.

    `uri` is the recording's name (its stem, as pyannote and the references in testdata write it);
    whitespace becomes "_" because RTTM fields are separated by spaces, and so speaker ids must hold none.
    """
    if isinstance(spans, Diarization):
        spans = spans.turns
    safe_uri = re.sub(r"\s+", "_", uri) or "recording"
    lines = [
        f"SPEAKER {safe_uri} 1 {s.start:.3f} {max(0.0, s.end - s.start):.3f} <NA> <NA> {s.speaker} <NA> <NA>"
        for s in spans
        if s.speaker is not None
    ]
    return "\n".join(lines) + "\n" if lines else ""


def rttm_speaker_count(text: str) -> int:
    """Distinct speakers in an RTTM text (for tests and benches)."""
    return len({line.split()[7] for line in text.splitlines() if line.startswith("SPEAKER")})


__all__ = ["SpeakerSpan", "rttm_speaker_count", "to_rttm"]
