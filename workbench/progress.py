"""One progress-hook signature for every stage: `hook(step, completed, total)`.

Stages take `progress: ProgressHook = no_progress`, so none checks for None. `completed` and `total`
are in the step's own unit (seconds of audio for decoding and recognition, files for a batch).
Adapters turn the calls into a tqdm bar (CLI), a jobs-table row (worker) or a Streamlit bar.
"""

from __future__ import annotations

import sys
import time
from typing import Protocol


class ProgressHook(Protocol):
    def __call__(self, step: str, completed: float, total: float | None = None) -> None: ...


def no_progress(step: str, completed: float, total: float | None = None) -> None:
    """The default hook: does nothing."""


class Hooks:
    """Several hooks called as one."""

    def __init__(self, *hooks: ProgressHook) -> None:
        self.hooks = hooks

    def __call__(self, step: str, completed: float, total: float | None = None) -> None:
        for hook in self.hooks:
            hook(step, completed, total)


class Fraction:
    """Maps a stage's progress onto a slice [low, high] of an overall 0..1 scale.

    The pipeline gives recognition and diarization each a slice, so a caller sees one steady bar.
    """

    def __init__(self, hook: ProgressHook, low: float, high: float, step: str | None = None) -> None:
        self.hook, self.low, self.high, self.step = hook, low, high, step

    def __call__(self, step: str, completed: float, total: float | None = None) -> None:
        if not total:
            return
        share = min(max(completed / total, 0.0), 1.0)
        self.hook(self.step or step, self.low + share * (self.high - self.low), 1.0)


class TqdmHook:
    """A bar on stderr with elapsed time and ETA, one per file, for the CLI."""

    def __init__(self, desc: str, unit: str = "s") -> None:
        from tqdm import tqdm

        self._bar = tqdm(
            total=1.0,
            desc=desc,
            unit=unit,
            file=sys.stderr,
            bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}] {postfix}",
            dynamic_ncols=True,
        )

    def __call__(self, step: str, completed: float, total: float | None = None) -> None:
        if not total:
            return
        self._bar.set_postfix_str(step, refresh=False)
        self._bar.n = min(completed / total, 1.0)
        self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class Eta:
    """Elapsed time and a linear ETA from fractions of work done; used by the jobs table."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def remaining(self, fraction: float) -> float | None:
        if fraction <= 0.01:
            return None
        elapsed = time.monotonic() - self.started
        return elapsed * (1 - fraction) / fraction
