"""The memory gauge's reading: this process, the job processes, the GPU and the models they hold.

Read every few seconds by the sidebar. Nothing here imports torch (`workbench.models.memory` reads the
GPU through NVML), so a look at the gauge before any job costs no model library.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.models import memory
from workbench.server.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Gauge:
    reading: memory.MemoryReading
    models: tuple[tuple[str, int], ...]  # (name, approximate bytes)
    job_rss: int  # the job processes' resident memory (reading.rss is this process's)
    running: int
    unload_pending: bool
    floor_rss: int | None


def gauge(rt: Runtime) -> Gauge:
    return Gauge(
        memory.reading(),
        rt.models(),
        rt.job_rss(),
        rt.running,
        rt.unload_pending,
        rt.floor_rss,
    )
