"""The transcription pipeline in a child process of the web server.

Why a process and not a thread: a job in the server's own process shares one GIL and the same cores
with the pages. Measured here with a 30-minute recording, pages then answered in 0.8 to 1.9 s, however
the model threads were prioritised. A child has its own interpreter, runs at a lower CPU priority as a
whole (every thread the models start inherits it), and "Unload models" simply ends it, which gives
back everything the models and their libraries took.

The child holds its models between jobs, like the in-process cache. The two talk over a pipe
(`multiprocessing.connection`, pickled tuples):

    parent → child   ("run", path, options)  |  ("exit",)
    child → parent   ("progress", step, completed, total) ... then
                     ("done", transcript, models)  |  ("failed", error, models)

The parent calls the job's progress hook for each progress message. If the hook raises (the job was
cancelled), the child is ended at once; the next job starts a fresh one.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from workbench.models import memory
from workbench.progress import ProgressHook
from workbench.speech.transcript import Transcript

log = logging.getLogger("workbench.server.job_process")

DEFAULT_TARGET = "workbench.speech.pipeline:transcribe"
# Below the pages (nice 0): CFS gives a nice-0 thread about 9 times a nice-10 one's share. nice 19
# measured no better in bench/ui.py (page maxima 0.71-1.13 s in one run, 0.67-1.20 s in three at 10):
# the slow visits were Streamlit's post-run garbage collection and the browser drawing the review
# page, not the job's CPU share (see .streamlit/config.toml and pages/review.py).
JOB_NICENESS = 10
PROGRESS_EVERY_S = 0.25  # the child sends at most this often per step (the parent writes once a second)
EXIT_WAIT_S = 5.0

Models = tuple[tuple[str, int], ...]  # (name, approximate bytes) of the models a child holds


class PipelineFailed(Exception):
    """A failure inside the child sent without its own class (see `_portable`); `kind` is that class's name."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        return (PipelineFailed, (self.kind, str(self)))


class WorkerProcessDied(RuntimeError):
    """The child ended in the middle of a job (killed, or out of memory)."""


class _Child:
    """One running child process and its end of the pipe."""

    def __init__(self, target: str) -> None:
        ours, theirs = os.pipe(), os.pipe()  # parent→child and child→parent
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workbench.server.job_process", str(ours[0]), str(theirs[1]), target],
            pass_fds=(ours[0], theirs[1]),
            stdin=subprocess.DEVNULL,
            start_new_session=False,
        )
        os.close(ours[0])
        os.close(theirs[1])
        self.send_conn = Connection(ours[1], readable=False)
        self.recv_conn = Connection(theirs[0], writable=False)
        self.models: Models = ()
        self.finished = True  # False while a job runs: the child answered its last "run"
        log.info("started processing process %d", self.proc.pid)

    def run(self, path: Path, options: Any, hook: ProgressHook) -> Transcript:
        self.finished = False
        try:
            self.send_conn.send(("run", str(path), options))
        except OSError:  # it died while it waited for work
            raise self._died() from None
        while True:
            try:
                message = self.recv_conn.recv()
            except (EOFError, OSError):
                raise self._died() from None
            kind = message[0]
            if kind == "progress":
                hook(*message[1:])  # may raise JobCancelled: the caller ends this child
            elif kind in ("done", "failed"):
                self.models, self.finished = message[2], True
                if kind == "failed":
                    raise message[1]
                return message[1]

    def _died(self) -> WorkerProcessDied:
        code = self.proc.wait()
        killed = ", killed: out of memory?" if code == -signal.SIGKILL else ""
        return WorkerProcessDied(f"the processing process ended during the job (exit code {code}{killed})")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss(self) -> int:
        try:
            return psutil.Process(self.proc.pid).memory_info().rss
        except psutil.Error:
            return 0

    def end(self) -> None:
        """Asks an idle child to exit (killing it if it does not soon); kills one left mid-job at once."""
        if self.alive and self.finished:
            with contextlib.suppress(OSError):
                self.send_conn.send(("exit",))
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(EXIT_WAIT_S)
        if self.alive:
            self.proc.kill()
        self.proc.wait()
        for conn in (self.send_conn, self.recv_conn):
            conn.close()
        log.info("processing process %d ended (exit code %s)", self.proc.pid, self.proc.returncode)


class PipelineProcesses:
    """A `workbench.server.worker.Pipeline` that runs each job in a child process, one child per concurrent job.

    Children stay between jobs (their models stay loaded); `end_all()` ends the idle ones, which is
    how the server unloads models. A child busy with a job is never ended by `end_all()`.
    """

    def __init__(self, target: str = DEFAULT_TARGET) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()

    def __call__(self, path: Path, options: Any, hook: ProgressHook) -> Transcript:
        with self._lock:
            child = self._idle.pop() if self._idle else None
        if child is not None and not child.alive:  # killed while idle (e.g. by the OOM killer)
            child.end()
            child = None
        if child is None:
            child = _Child(self.target)
        with self._lock:
            self._busy.add(child)
        try:
            return child.run(path, options, hook)
        finally:
            # A child that answered (done, or a failure it reported) waits for the next job; one left
            # mid-job (the hook raised for a cancel, the pipe broke) is ended.
            keep = child.finished and child.alive
            with self._lock:
                self._busy.discard(child)
                if keep:
                    self._idle.append(child)
            if not keep:
                child.end()

    def end_all(self) -> list[str]:
        """Ends the idle children; returns the names of the models they held."""
        with self._lock:
            idle, self._idle = self._idle, []
        names = [name for child in idle for name, _ in child.models]
        for child in idle:
            child.end()
        return names

    def _children(self) -> list[_Child]:
        with self._lock:
            return [*self._idle, *self._busy]

    def models(self) -> Models:
        return tuple(m for c in self._children() for m in c.models)

    def rss(self) -> int:
        """The children's resident memory, together."""
        return sum(c.rss() for c in self._children())

    def pids(self) -> list[int]:
        return [c.proc.pid for c in self._children()]


# --- the child's side ------------------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the server dies, even mid-job (no pipe read then)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _portable(error: BaseException) -> BaseException:
    """The exception itself when the server can rebuild it cheaply, else a PipelineFailed naming its class.

    Only builtins and workbench exceptions cross as they are: unpickling a torch or ctranslate2 error
    would import that library into the server, which is what the child process is there to avoid.
    """
    module = type(error).__module__
    if module == "builtins" or module.startswith("workbench."):
        try:
            return pickle.loads(pickle.dumps(error))
        except Exception:
            pass
    return PipelineFailed(type(error).__name__, str(error))


def _models() -> Models:
    return tuple((m.name, m.approx_bytes) for m in memory.loaded())


def _resolve(target: str) -> Callable[[Path, Any, ProgressHook], Transcript]:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class _ForwardProgress:
    """The child's progress hook: sends each step's progress to the server, a few times a second."""

    def __init__(self, outbox: Connection, parent: int) -> None:
        self.outbox, self.parent = outbox, parent
        self.last: dict[str, float] = {}

    def __call__(self, step: str, completed: float, total: float | None = None) -> None:
        if os.getppid() != self.parent:  # the server is gone; nobody will read the result
            os._exit(1)
        now = time.monotonic()
        if now - self.last.get(step, -1e9) < PROGRESS_EVERY_S and completed != total:
            return
        self.last[step] = now
        self.outbox.send(("progress", step, completed, total))


def serve(read_fd: int, write_fd: int, target: str) -> None:
    """The child's loop: one job at a time until told to exit or the server goes away."""
    os.nice(JOB_NICENESS)  # before the models start threads: each inherits this
    memory.one_heap_arena()  # likewise before any model thread allocates
    # The server decides when this process ends. A stop signal sent to the whole process group (Ctrl-C,
    # `systemctl stop`, `kill -- -PGID`) must not end a job here first: the server would record it as
    # failed. Ignored, the job stops when the server is gone (PDEATHSIG) and is resumed on restart.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    parent = os.getppid()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s[child]: %(message)s")
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    pipeline = _resolve(target)
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return
        if message[0] != "run":
            return
        _, path, options = message
        hook = _ForwardProgress(outbox, parent)
        try:
            transcript = pipeline(Path(path), options, hook)
        except Exception as e:  # the job's failure: reported to the parent, the child lives on
            log.exception("job on %s failed", Path(path).name)
            outbox.send(("failed", _portable(e), _models()))
        else:
            outbox.send(("done", transcript, _models()))


if __name__ == "__main__":
    # Through the imported module, not this __main__ copy: exceptions pickled here must name
    # workbench.server.job_process.PipelineFailed for the server to read them back.
    from workbench.server.job_process import serve as serve_imported

    serve_imported(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
