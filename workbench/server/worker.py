"""Running the queue's jobs: the worker thread(s) of a server, and the one-job step of the CLI.

`run_job()` runs `workbench.speech.pipeline.transcribe` (in the server: in a child process, see
`workbench.server.job_process`) with a progress hook that writes progress, ETA and a heartbeat to the
job's row and notices a cancel request, then stores the transcript and marks the job done in one
transaction. The options are the job's own with the case's hotwords and roster names merged in, and the channel
map of the hearing's courtroom when its recording has that many channels (`with_profile`). `Worker` is the
thread(s) the web server starts once (`settings.get("workers")` at a time); `run_next()` is the same step for the
CLI (`hearings add --wait`, `jobs work`) and tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path

from workbench import settings
from workbench.progress import Eta, ProgressHook
from workbench.speech.options import TranscribeOptions
from workbench.speech.text import Hotword, merge_hotwords
from workbench.speech.transcript import Transcript
from workbench.store import Hearing, Recording, Store, StoreError, audit, search
from workbench.store.courtrooms import roster_hotwords
from workbench.store.jobs import JobInfo, JobState, claim, job
from workbench.store.status import Event

log = logging.getLogger("workbench.server.worker")

PROGRESS_EVERY_S = 1.0  # at most one progress write per job per second

Pipeline = Callable[[Path, TranscribeOptions, ProgressHook], Transcript]


class JobCancelled(Exception):
    """Raised inside the pipeline by the progress hook when the job's cancel was requested."""


class _JobHook:
    """The pipeline's progress hook for one job: throttled writes of progress/ETA/heartbeat, and cancel."""

    def __init__(self, store: Store, job_id: int) -> None:
        self.store, self.job_id = store, job_id
        self.eta = Eta()
        self.last_write = 0.0
        self.last_step = ""

    def __call__(self, step: str, completed: float, total: float | None = None) -> None:
        now = time.monotonic()
        if now - self.last_write < PROGRESS_EVERY_S and step == self.last_step:
            return
        self.last_write, self.last_step = now, step
        fraction = min(max(completed / total, 0.0), 1.0) if total else None
        eta = self.eta.remaining(fraction) if fraction is not None else None
        with self.store.writing() as con:
            row = con.execute(
                "UPDATE jobs SET progress = coalesce(?, progress), eta_s = ?, step = ?, "
                "heartbeat_at = current_timestamp WHERE id = ? RETURNING cancel_requested",
                [fraction, eta, step, self.job_id],
            ).fetchone()
        if row and row[0]:
            raise JobCancelled(f"job {self.job_id} was cancelled")


def _default_pipeline() -> Pipeline:
    from workbench.speech.pipeline import transcribe

    return transcribe


def run_job(store: Store, info: JobInfo, pipeline: Pipeline | None = None) -> JobInfo:
    """Runs a claimed job to its end state; never raises for a pipeline failure (it is the job's error)."""
    pipeline = pipeline or _default_pipeline()
    hook = _JobHook(store, info.id)
    running: Recording | None = None  # set once the pipeline has the file
    warning: str | None = None  # the courtroom profile could not be used
    try:
        recording = store.recording(info.recording_id)
        hearing = store.hearing(info.hearing_id)
        options = job_options(store, hearing, info.options)
        if not recording.stored_path.exists():
            raise StoreError(
                f"{recording.stored_path}: the stored recording is missing; upload {recording.file_name} again"
            )
        options, warning = with_profile(store, hearing, recording.stored_path, options)
        running = recording
        transcript = pipeline(recording.stored_path, options, hook)
        if warning:
            transcript.warnings.append(warning)
    except JobCancelled:
        _finish(store, info, JobState.CANCELLED, None)
        log.info("job %d cancelled", info.id)
        return job(store, info.id)
    except Exception as e:  # the pipeline's failure is the job's result: recorded, shown, retryable
        log.exception("job %d (%s) failed", info.id, info.file_name)
        kind = getattr(e, "kind", type(e).__name__)  # a child process's failure names its own class
        message = str(e) if running is None else _as_uploaded(str(e), running)
        _finish(store, info, JobState.FAILED, f"{kind}: {message}")
        return job(store, info.id)
    try:
        with store.writing() as con:
            row = con.execute("SELECT state, worker FROM jobs WHERE id = ?", [info.id]).fetchone()
            if row is None or row[0] != JobState.RUNNING or row[1] != info.worker:
                log.warning("job %d was taken over while it ran; its result is dropped", info.id)
                return job(store, info.id)
            n = store.save_transcript(info.hearing_id, transcript, actor=audit.SYSTEM, con=con)
            if warning:  # the transcript's warnings are not stored: the job's audit row keeps this one
                audit.append(
                    con, audit.SYSTEM, audit.JOB_CHANGED, case_id=hearing.case_id, hearing_id=hearing.id,
                    detail={"job_id": info.id, "change": "warning", "warning": warning},
                )  # fmt: skip
            con.execute(
                "UPDATE jobs SET state = 'done', progress = 1, eta_s = 0, step = 'done', "
                "finished_at = current_timestamp, heartbeat_at = current_timestamp WHERE id = ?",
                [info.id],
            )
    except Exception as e:  # nothing of the transcript was stored (one transaction); the job says why
        log.exception("job %d: storing the transcript failed", info.id)
        _finish(store, info, JobState.FAILED, f"storing the transcript failed: {type(e).__name__}: {e}")
        return job(store, info.id)
    store.segments_changed()
    log.info("job %d done: hearing %d, %d segments", info.id, info.hearing_id, n)
    return job(store, info.id)


def job_options(store: Store, hearing: Hearing, options: TranscribeOptions) -> TranscribeOptions:
    """The job's options with the hotwords merged: the job's own, the case's list and then its roster's names (a
    party's name is the word the recogniser most often gets wrong), then the global list."""
    roster = roster_hotwords(store.participants(hearing.case_id))
    case_words = merge_hotwords(store.hotwords(case_id=hearing.case_id), tuple(Hotword(name) for name in roster))
    return options.with_hotwords(case_words, store.hotwords())


def with_profile(
    store: Store, hearing: Hearing, path: Path, options: TranscribeOptions
) -> tuple[TranscribeOptions, str | None]:
    """The options with the channel map of the hearing's courtroom, and a warning when it cannot be used.

    Options that name channels already (`transcribe --channels`, a re-queue from the profile offer) are kept. A
    profile applies when the recording has exactly as many channels as it names; otherwise the recording is
    processed as a mono mix (as without a profile) and the warning says why. A file the container cannot read is
    left to the pipeline, which says what is wrong with it.
    """
    if options.channels:
        return options, None
    profile = store.find_courtroom(hearing.courtroom)
    if profile is None:
        return options, None
    from workbench.speech import audio  # PyAV: only when a profile could apply

    try:
        channels = audio.probe(path).channels
    except audio.AudioError:
        return options, None
    if channels != len(profile.channels):
        return options, (
            f"法庭 {profile.name} 的声道配置有 {len(profile.channels)} 个声道，录音有 {channels} 个，已按混音处理 "
            f"(courtroom {profile.name}'s profile has {len(profile.channels)} channels, the recording has {channels}: "
            "processed as a mono mix)"
        )
    return replace(options, channels=profile.channels), None


def _as_uploaded(message: str, recording: Recording) -> str:
    """The pipeline's error names the file it read, stored under its sha256; the clerk knows it by the name uploaded."""
    stored = recording.stored_path
    return message.replace(str(stored), recording.file_name).replace(stored.name, recording.file_name)


def _finish(store: Store, info: JobInfo, state: JobState, error: str | None) -> None:
    with store.writing() as con:
        con.execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = current_timestamp, cancel_requested = false "
            "WHERE id = ?",
            [state.value, error, info.id],
        )
        event = Event.JOB_CANCELLED if state is JobState.CANCELLED else Event.JOB_FAILED
        store.advance(info.hearing_id, event, con)


def run_next(store: Store, pipeline: Pipeline | None = None, *, only: Collection[int] | None = None) -> JobInfo | None:
    """Claims and runs the next queued job (of `only`, when given); None when there was none."""
    info = claim(store, only=only)
    if info is None:
        return None
    return run_job(store, info, pipeline)


class Worker:
    """Background thread(s) draining the queue; the Streamlit server starts one per process.

    `concurrency` defaults to `settings.get("workers")`. `stop()` lets running jobs finish; a job cut
    off by the process ending is resumed by the next worker (see `recover`).
    """

    def __init__(
        self,
        store: Store,
        *,
        concurrency: int | None = None,
        pipeline: Pipeline | None = None,
        poll_s: float = 1.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.concurrency = max(1, int(concurrency or settings.get("workers")))
        self.pipeline = pipeline
        self.poll_s = poll_s
        self.on_idle = on_idle  # e.g. the UI's deferred "Unload models"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy: set[int] = set()
        self._busy_lock = threading.Lock()
        self.last_error: str | None = None

    def start(self) -> Worker:
        if self._threads:
            return self
        for i in range(self.concurrency):
            t = threading.Thread(target=self._loop, name=f"workbench-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def wake(self) -> None:
        """Look at the queue now (after a submit) instead of at the next poll."""
        self._wake.set()

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)
        self._threads = []

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    @property
    def busy(self) -> set[int]:
        """Ids of the jobs this worker is running now."""
        with self._busy_lock:
            return set(self._busy)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                info = claim(self.store)
                if info is None:
                    self._idle()
                    continue
                with self._busy_lock:
                    self._busy.add(info.id)
                try:
                    run_job(self.store, info, self.pipeline)
                finally:
                    with self._busy_lock:
                        self._busy.discard(info.id)
                search.optimize(self.store)  # keeps lookups fast once many hearings were appended
            except Exception as e:  # the loop must survive a locked file or a full disk; the error is kept
                self.last_error = f"{type(e).__name__}: {e}"
                log.exception("worker loop error; retrying in %.0f s", self.poll_s * 5)
                self._stop.wait(self.poll_s * 5)

    def _idle(self) -> None:
        if self.on_idle is not None and not self.busy:
            self.on_idle()
        self._wake.wait(self.poll_s)
        self._wake.clear()
