"""Pipelines for `workbench.server.job_process` tests: each runs inside the child process."""

from __future__ import annotations

import os
import time
from pathlib import Path

from workbench.models import memory
from workbench.progress import ProgressHook
from workbench.speech.audio import AudioError
from workbench.speech.transcript import EngineInfo, Segment, Transcript


class Unpicklable(Exception):
    def __init__(self, a: str, b: str) -> None:
        super().__init__(f"{a} and {b}")  # args no longer match __init__: pickle cannot rebuild it


def echo(path: Path, options: object, hook: ProgressHook) -> Transcript:
    """Loads a 'model' once per process and answers with this process's pid in the text."""
    memory.load(("fake",), "fake-model", path, lambda: bytearray(4 << 20))
    for i in range(3):
        hook("recognition", i + 1, 3)
    return Transcript(
        file=path.name,
        sha256="",
        duration=1.0,
        language="en",
        engine=EngineInfo("test", str(options)),
        segments=[Segment(0.0, 1.0, f"pid {os.getpid()} nice {os.nice(0)}")],
    )


def fail(path: Path, options: object, hook: ProgressHook) -> Transcript:
    raise AudioError(path, "cannot decode: truncated file")


def fail_oddly(path: Path, options: object, hook: ProgressHook) -> Transcript:
    raise Unpicklable("one", "two")


def die(path: Path, options: object, hook: ProgressHook) -> Transcript:
    os._exit(3)


def slow(path: Path, options: object, hook: ProgressHook) -> Transcript:
    for i in range(600):
        hook("recognition", i, 600)
        time.sleep(0.05)
    raise AssertionError("the job should have been cancelled")
