"""Loaded models, memory readings, and unloading that really gives memory back.

Every model the pipeline loads goes through `load()`, which keeps one instance per key for the
process (CLI, worker and pages share it) and notes roughly how much memory it took. `unload_all()`
drops them, collects garbage, asks glibc to return freed heap to the system (`malloc_trim`) and
empties the CUDA cache, so RSS falls back instead of staying at its peak.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil

from workbench.models import safety
from workbench.store import index as keyword_index

log = logging.getLogger("workbench.models.memory")

T = TypeVar("T")

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_ARENA_MAX = -1, -3, -8


@dataclass(slots=True)
class LoadedModel:
    key: tuple[Any, ...]
    name: str
    path: Path
    instance: Any
    approx_bytes: int


_lock = threading.RLock()
_loaded: dict[tuple[Any, ...], LoadedModel] = {}


def rss_bytes() -> int:
    return psutil.Process().memory_info().rss


def load(key: tuple[Any, ...], name: str, path: Path, loader: Callable[[], T]) -> T:
    """The cached instance for `key`, loading it once with `loader()`.

    A model folder (one with a manifest) is checked first (`safety.check_before_load`): no code in it,
    checkpoints of plain tensors only, a pinned default's files still their pinned sha256.
    """
    with _lock:
        hit = _loaded.get(key)
        if hit is not None:
            return hit.instance
        safety.check_before_load(Path(path))
        before = rss_bytes()
        instance = loader()
        _loaded[key] = LoadedModel(key, name, Path(path), instance, max(rss_bytes() - before, 0))
        log.info("loaded %s (%s)", name, key[0])
        return instance


def loaded() -> list[LoadedModel]:
    with _lock:
        return list(_loaded.values())


def is_loaded(path: Path) -> bool:
    resolved = Path(path).resolve()
    return any(m.path.resolve() == resolved for m in loaded())


def one_heap_arena() -> None:
    """Makes every thread of this process allocate from glibc's one main heap; call it before models start
    their threads (a process that runs models: the CLI, a job's child).

    glibc gives each thread that contends for the heap an arena of its own, and each arena keeps what
    its thread freed. CTranslate2's and onnxruntime's worker threads so held about 100 MB of a 20-minute
    `transcribe --no-diarize` run's peak (639-648 MB, 516-546 MB with one arena), at no measurable cost in
    speed. Not glibc: nothing to do.
    """
    libc = _glibc()
    if libc is not None:
        libc.mallopt(_M_ARENA_MAX, 1)


@contextlib.contextmanager
def large_blocks_kept() -> Iterator[None]:
    """While inside, blocks of up to 256 MB come from glibc's heap and are reused when freed, instead of
    being mapped fresh each time (glibc maps anything over 32 MB); on the way out the heap is handed back.

    Whisper's encoder allocates ~70 MB of attention scores per layer per window: mapped fresh, each
    one's pages are faulted in and zeroed again, which cost a 20-minute `transcribe --no-diarize` 8 to
    12 s of system time. Outside, glibc is left where its own adjusting ends (mapping from 32 MB,
    trimming the heap's top from 64 MB), so whatever runs next is as before. Not glibc: nothing.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 256 << 20)
    libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 64 << 20)
        libc.malloc_trim(0)


def trim() -> None:
    """Collects garbage and returns freed heap pages to the OS (glibc only)."""
    gc.collect()
    return_freed_heap()


def return_freed_heap() -> None:
    """Gives the pages of heap that are free back to the OS (glibc's `malloc_trim`; elsewhere nothing).

    A stage that alternates between two large working sets calls it between them: glibc keeps what one
    freed (its mmap threshold rises to 32 MB after the first large free, so torch's buffers come from the
    heap), and the next one's peak would sit on top of it.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> Any:
    """glibc, for its allocator's knobs (`mallopt`, `malloc_trim`); None on any other C library."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def _clear_library_caches() -> None:
    """Caches filled outside `load()`: faster-whisper keeps its Silero VAD (an onnxruntime session) in an
    lru_cache (looked up only if faster-whisper was imported), and the keyword index keeps term hashes
    that grow with every transcript stored."""
    _clear_vad_cache()
    keyword_index.clear_caches()


def _clear_vad_cache() -> None:
    vad = getattr(sys.modules.get("faster_whisper.vad"), "get_vad_model", None)
    if vad is not None and hasattr(vad, "cache_clear"):
        vad.cache_clear()


def release(kinds: Iterable[str]) -> list[str]:
    """Drops the cached models whose key starts with one of `kinds` ("whisper", "funasr", ...) and gives
    the memory back; returns the names released.

    For a one-shot process between its stages: `workbench transcribe` needs Whisper no more once
    recognition is done, and diarization's peak need not carry it. Whisper's Silero VAD session goes with it.
    """
    wanted = set(kinds)
    with _lock:
        keys = [key for key in _loaded if key[0] in wanted]
        names = [_loaded.pop(key).name for key in keys]  # no reference kept: the instances can be collected
        if "whisper" in wanted:
            _clear_vad_cache()
    trim()
    return names


def unload_all() -> list[str]:
    """Drops every cached model and gives the memory back; returns the names unloaded."""
    with _lock:
        names = [m.name for m in _loaded.values()]
        _loaded.clear()
        _clear_library_caches()
    trim()
    cuda = _cuda()
    if cuda is not None:
        with contextlib.suppress(RuntimeError):
            cuda.empty_cache()
    return names


def _cuda() -> Any:
    """`torch.cuda` when a GPU is there and a job has imported torch, else None.

    Never imports torch itself: that would cost a page two seconds and ~300 MB, and before a job
    imports it no model can be on the GPU anyway.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        return torch.cuda if torch.cuda.is_available() else None
    except (RuntimeError, AttributeError):
        return None


@dataclass(frozen=True, slots=True)
class MemoryReading:
    rss: int
    system_used: int
    system_total: int
    gpu_used: int | None
    gpu_total: int | None


class _NvmlMemory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong), ("used", ctypes.c_ulonglong)]


@functools.cache
def _nvml() -> Any:
    """The driver's NVML library, initialised; None without an NVIDIA driver."""
    try:
        lib = ctypes.CDLL("libnvidia-ml.so.1")
        return lib if lib.nvmlInit_v2() == 0 else None
    except (OSError, AttributeError):
        return None


def gpu_memory() -> tuple[int, int] | None:
    """(used, total) bytes over the machine's NVIDIA GPUs, whichever process uses them.

    Read from NVML, not torch: the web server does not import torch (jobs run in a child process).
    """
    lib = _nvml()
    if lib is None:
        cuda = _cuda()  # no NVML (another vendor's build): this process's own view, if it has torch
        if cuda is None:
            return None
        with contextlib.suppress(RuntimeError):
            free, total = cuda.mem_get_info()
            return total - free, total
        return None
    count = ctypes.c_uint()
    if lib.nvmlDeviceGetCount_v2(ctypes.byref(count)) != 0 or count.value == 0:
        return None
    used = total = 0
    for index in range(count.value):
        handle, info = ctypes.c_void_p(), _NvmlMemory()
        if (
            lib.nvmlDeviceGetHandleByIndex_v2(index, ctypes.byref(handle)) == 0
            and lib.nvmlDeviceGetMemoryInfo(handle, ctypes.byref(info)) == 0
        ):
            used, total = used + info.used, total + info.total
    return (used, total) if total else None


def reading() -> MemoryReading:
    vm = psutil.virtual_memory()
    gpu = gpu_memory()
    return MemoryReading(
        rss_bytes(), vm.total - vm.available, vm.total, gpu[0] if gpu else None, gpu[1] if gpu else None
    )
