"""The server process's runtime: the store, the background worker, the jobs' child processes, unloading.

One `Runtime` per server process (the pages get it through `st.cache_resource`, see `workbench.web.cache`)
owns the store and the background `Worker`. Jobs therefore belong to the server, not to a browser
session: closing a tab does not stop them, every browser sees the same queue, and a restarted server
resumes an interrupted job (`jobs.recover`, called before each claim). The worker's thread keeps the
queue and the database; the recognition itself runs in a child process at lower priority
(`workbench.server.job_process`), so the pages keep their GIL and their CPU share while a job runs.

"Unload models" never pulls a model from under a running job. Every job's pipeline call goes through
`Runtime._pipeline`, which counts running jobs under a condition; `request_unload()` unloads at once
when none runs, and otherwise leaves a request that the last job to finish carries out (and the
worker's idle hook, as a second chance). Unloading ends the idle child processes (their models, their
libraries and their CUDA context go with them), drops `workbench.models.memory`'s cache in this process,
clears the Streamlit caches the pages registered (`on_unload`), closes the idle database file
(DuckDB's buffer pool), collects garbage and returns freed heap to the system (`memory.trim`).

With `watch_folders` set, the runtime also runs the watch folders' thread (`workbench.server.watch`):
it takes the recordings dropped there into the store and wakes the worker; `stop()` ends it.
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import settings
from workbench.display import size
from workbench.models import memory
from workbench.progress import ProgressHook
from workbench.server.job_process import PipelineProcesses
from workbench.server.worker import Pipeline, Worker
from workbench.speech.options import TranscribeOptions
from workbench.speech.transcript import Transcript
from workbench.store import Store, search

if TYPE_CHECKING:
    from workbench.server.watch import Watcher

log = logging.getLogger("workbench.server.runtime")


@dataclass(frozen=True, slots=True)
class UnloadResult:
    done: bool  # False: a job is running; the unload happens when it finishes
    names: tuple[str, ...] = ()
    rss_before: int = 0
    rss_after: int = 0


@dataclass(slots=True)
class Runtime:
    """The server process's store, worker and model-unloading state (one per database file)."""

    store: Store
    worker: Worker | None = None
    processes: PipelineProcesses | None = None  # the jobs' child processes; None: jobs run in this process
    floor_rss: int | None = None  # RSS just before the first job, the pages' libraries imported
    last_unload: UnloadResult | None = None
    on_unload: list[Callable[[], None]] = field(default_factory=list)  # page caches to clear
    watcher: Watcher | None = None  # the watch folders' thread, when `watch_folders` is set
    _running: int = 0
    _unload_pending: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _pipeline_fn: Pipeline | None = None

    @classmethod
    def create(
        cls,
        db_path: Path | None = None,
        *,
        workers: int | None = None,
        pipeline: Pipeline | None = None,
        watch: bool = True,
    ) -> Runtime:
        """A runtime on the database; `workers` 0 runs no worker here (another process drains the queue).

        Jobs run in child processes unless a `pipeline` function is given (tests), which runs in the
        worker's thread. `watch` False leaves the watch folders alone even when they are set.
        """
        rt = cls(Store(db_path), _pipeline_fn=pipeline)
        count = settings.get("workers") if workers is None else workers
        if count > 0:
            if pipeline is None:
                rt.processes = PipelineProcesses()
                rt._pipeline_fn = rt.processes
            rt.worker = Worker(rt.store, concurrency=count, pipeline=rt._pipeline, on_idle=rt._on_idle).start()
            log.info("worker started on %s (%d at a time)", rt.store.path, count)
        if watch:
            rt.start_watching()
        return rt

    def start_watching(self) -> Watcher | None:
        """Starts the watch folders' thread when `watch_folders` is set; a bad setting is logged, never raised
        (the server runs on without it)."""
        if self.watcher is not None or not str(settings.get("watch_folders") or "").strip():
            return self.watcher
        from workbench.server import watch  # imported here: only a server with watch folders needs it

        try:
            config = watch.WatchConfig.from_settings()
        except ValueError as e:
            log.error("watch folders not started: %s", e)
            return None
        self.watcher = watch.Watcher(self.store, config, on_taken=self.wake).start()
        return self.watcher

    def warm_up(self) -> threading.Thread:
        """Loads, in the background, what the first page views would otherwise wait for: the pages'
        libraries, jieba's dictionary (the search box) and the hearings list's tables (DuckDB's cache).
        The first search after a start took 1.0 s without it and 0.7 s with it (`bench/ui.py`). The
        hearings list comes first: it is the page a clerk opens first, and its table needs pandas."""

        def work() -> None:
            t0 = time.perf_counter()
            try:
                importlib.import_module("pandas")  # 0.2 s: Streamlit imports it on the first st.dataframe
                self.store.hearings(limit=50)  # the hearings list's first view, newest first
                self._import_libraries()
                log.info("warmed up in %.1f s", time.perf_counter() - t0)
            except Exception:  # a warm-up is an optimisation: the pages report real errors themselves
                log.exception("warm-up failed")

        thread = threading.Thread(target=work, name="workbench-warm-up", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.watcher is not None:  # first: no new jobs while the worker winds down
            self.watcher.stop(timeout=5)
            self.watcher = None
        if self.worker is not None:
            self.worker.stop(timeout=5)
        if self.processes is not None:
            self.processes.end_all()

    def job_rss(self) -> int:
        """The job processes' resident memory (0 when jobs run in this process or nowhere)."""
        return self.processes.rss() if self.processes is not None else 0

    def total_rss(self) -> int:
        """This process's resident memory plus its job processes'."""
        return memory.rss_bytes() + self.job_rss()

    def models(self) -> tuple[tuple[str, int], ...]:
        """(name, approximate bytes) of the models loaded now, in this process or in a job process."""
        here = tuple((m.name, m.approx_bytes) for m in memory.loaded())
        return here + (self.processes.models() if self.processes is not None else ())

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    @property
    def unload_pending(self) -> bool:
        with self._cond:
            return self._unload_pending

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def _pipeline(self, path: Path, options: TranscribeOptions, hook: ProgressHook) -> Transcript:
        with self._cond:
            self._running += 1
        try:
            models_held = self.processes.pids() if self.processes is not None else memory.loaded()
            if self.floor_rss is None and not models_held:
                self._import_libraries()
                self.floor_rss = self.total_rss()
            assert self._pipeline_fn is not None  # set by create() whenever a worker runs
            return self._pipeline_fn(path, options, hook)
        finally:
            with self._cond:
                self._running -= 1
                run_unload = self._unload_pending and self._running == 0
            if run_unload:
                self._unload_if_idle()

    @staticmethod
    def _import_libraries() -> None:
        """Imports the libraries the pages keep, so the floor reading includes them.

        Imported modules stay for the life of the process whatever "Unload models" does; so does jieba's
        dictionary, which the store needs to index every transcript and the search page to read queries.
        pandas backs every table, altair draws the review timeline and workbench.record the Word record:
        a page imports them for good the first time it is opened, job or no job. The model libraries
        live in the job's child process and leave with it.
        """
        for name in ("pandas", "altair", "workbench.record"):
            importlib.import_module(name)
        search.prepare()

    def _on_idle(self) -> None:
        if self.unload_pending:
            self._unload_if_idle()

    def request_unload(self) -> UnloadResult:
        """Unloads now when no job runs; otherwise marks the unload for when the running job ends."""
        with self._cond:
            if self._running:
                self._unload_pending = True
                log.info("unload deferred: %d job(s) running; the models go when they end", self._running)
                return UnloadResult(False)
        return self._unload_if_idle() or UnloadResult(False)

    def _unload_if_idle(self) -> UnloadResult | None:
        # The condition is held through the unload: a job that starts meanwhile waits for it to finish,
        # then loads its models again.
        with self._cond:
            if self._running:
                self._unload_pending = True
                return None
            before = self.total_rss()
            names = memory.unload_all()
            if self.processes is not None:
                names += self.processes.end_all()
            for clear in self.on_unload:
                clear()
            self.store.release()  # DuckDB's buffer pool and caches; the next page reopens the file
            memory.trim()
            self._unload_pending = False
            result = UnloadResult(True, tuple(names), before, self.total_rss())
            self.last_unload = result
        log.info("unloaded %s: RSS %s -> %s", ", ".join(names) or "nothing", size(before), size(result.rss_after))
        return result
