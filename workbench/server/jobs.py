"""The processing queue, kept in the store's `jobs` table so it outlives any process.

A job transcribes one hearing's recording: queued → running → done | failed | cancelled. A worker
claims the oldest queued job in a write transaction (so two workers never take the same one), runs
`workbench.speech.pipeline.transcribe` with a progress hook that writes progress, ETA and a heartbeat to the
row (and notices a cancel request), then stores the transcript and marks the job done in one
transaction. A process that dies mid-job leaves the row 'running' under its host:pid:start-time;
`recover()` (called before every claim) sees that process is gone and queues the job again, up to
`MAX_ATTEMPTS` times, so a recording that crashes the worker does not loop forever.

`Worker` is the thread(s) the Streamlit server starts once (`settings.get("workers")` at a time);
`run_next()` is the same step for the CLI (`hearings add --wait`, `jobs work`) and tests.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import psutil

from workbench import settings
from workbench.progress import Eta, ProgressHook
from workbench.store import NotFound, Store, StoreError
from workbench.speech.text import Hotword
from workbench.speech.transcript import Transcript

log = logging.getLogger("workbench.server.jobs")

MAX_ATTEMPTS = 3
PROGRESS_EVERY_S = 1.0  # at most one progress write per job per second
OPTION_FIELDS = ("engine", "model", "language", "itn", "hotwords", "diarize", "speakers", "device")

Pipeline = Callable[[Path, Any, ProgressHook], Transcript]


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class JobCancelled(Exception):
    """Raised inside the pipeline by the progress hook when the job's cancel was requested."""


@dataclass(frozen=True, slots=True)
class JobInfo:
    id: int
    hearing_id: int
    recording_id: int
    state: JobState
    progress: float  # 0..1
    eta_s: float | None
    step: str
    error: str | None
    attempts: int
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    file_name: str
    case_number: str

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class Submission:
    file: Path
    hearing_id: int
    job_id: int | None  # None when the recording was already stored (duplicate)
    duplicate: bool = False


_JOB_SQL = """
SELECT j.id, j.hearing_id, j.recording_id, j.state, j.progress, j.eta_s, j.step, j.error, j.attempts, j.params,
       j.created_at, j.started_at, j.finished_at, j.worker, j.heartbeat_at, coalesce(j.cancel_requested, false),
       coalesce(r.file_name, ''), coalesce(c.number, '')
FROM jobs j LEFT JOIN recordings r ON r.id = j.recording_id
LEFT JOIN hearings h ON h.id = j.hearing_id LEFT JOIN cases c ON c.id = h.case_id"""


def _job(row: tuple) -> JobInfo:
    return JobInfo(
        row[0], row[1], row[2], JobState(row[3]), row[4], row[5], row[6], row[7], row[8], json.loads(row[9] or "{}"),
        *row[10:15], bool(row[15]), row[16], row[17],
    )  # fmt: skip


def this_worker() -> str:
    """host:pid:start-time, enough to tell later whether the process that claimed a job is still alive."""
    proc = psutil.Process()
    return f"{socket.gethostname()}:{proc.pid}:{proc.create_time():.2f}"


def _alive(worker: str | None) -> bool:
    if not worker:
        return False
    try:
        host, pid_s, started = worker.rsplit(":", 2)
        pid = int(pid_s)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another machine's process: only a stale heartbeat tells (see recover)
    try:
        return f"{psutil.Process(pid).create_time():.2f}" == started
    except psutil.Error:
        return False


# --- queue operations ------------------------------------------------------------------------------


def params_json(params: dict[str, Any] | None) -> str:
    """Job parameters as stored: only TranscribeOptions fields, hotwords as [term, weight] pairs."""
    params = dict(params or {})
    unknown = set(params) - set(OPTION_FIELDS)
    if unknown:
        raise StoreError(f"unknown job parameter(s) {', '.join(sorted(unknown))}; known: {', '.join(OPTION_FIELDS)}")
    if "hotwords" in params:
        params["hotwords"] = [
            [h.term, h.weight] if isinstance(h, Hotword) else [h[0], h[1] if len(h) > 1 else None]
            for h in params["hotwords"]
        ]
    return json.dumps({k: v for k, v in params.items() if v is not None}, ensure_ascii=False)


def submit(
    store: Store,
    files: Sequence[str | Path],
    *,
    case_number: str,
    starts_at: datetime | None = None,
    courtroom: str = "",
    presiding_judge: str = "",
    clerk: str = "",
    params: dict[str, Any] | None = None,
) -> list[Submission]:
    """Stores each file (by content hash), creates its hearing and queues its job.

    A file whose content is already stored is not added again: its Submission says `duplicate` and
    names the existing hearing.
    """
    stored = [(Path(f), *store.store_audio(f)) for f in files]  # copy outside the transaction: can be GBs
    payload = params_json(params)
    case = store.ensure_case(case_number)
    out = []
    for source, sha, path in stored:
        with store.writing() as con:
            dup = con.execute(
                "SELECT hearing_id FROM recordings WHERE sha256 = ? ORDER BY id LIMIT 1", [sha]
            ).fetchone()
            if dup:
                out.append(Submission(source, int(dup[0]), None, duplicate=True))
                continue
            hearing_id = store.add_hearing(
                case.id, starts_at=starts_at, courtroom=courtroom, presiding_judge=presiding_judge, clerk=clerk, con=con
            )
            rec_id = store.add_recording(
                hearing_id,
                file_name=source.name,
                stored_path=path,
                sha256=sha,
                format=source.suffix.lstrip("."),
                con=con,
            )
            job_id = con.execute(
                "INSERT INTO jobs (hearing_id, recording_id, params) VALUES (?, ?, ?) RETURNING id",
                [hearing_id, rec_id, payload],
            ).fetchone()[0]
        out.append(Submission(source, hearing_id, int(job_id)))
        log.info("queued %s as hearing %d (job %d)", source.name, hearing_id, job_id)
    return out


def enqueue(store: Store, hearing_id: int, params: dict[str, Any] | None = None) -> int:
    """Queues the hearing's recording for (re)transcription; its segments are replaced when it is done."""
    recs = store.recordings(hearing_id)
    if not recs:
        raise NotFound(f"hearing {hearing_id} has no recording to transcribe")
    with store.writing() as con:
        row = con.execute(
            "INSERT INTO jobs (hearing_id, recording_id, params) VALUES (?, ?, ?) RETURNING id",
            [hearing_id, recs[0].id, params_json(params)],
        ).fetchone()
    return int(row[0])


def jobs(
    store: Store, *, state: str | None = None, hearing_id: int | None = None, limit: int | None = None
) -> list[JobInfo]:
    where, params = [], []
    if state:
        where.append("j.state = ?")
        params.append(JobState(state).value)
    if hearing_id is not None:
        where.append("j.hearing_id = ?")
        params.append(hearing_id)
    sql = _JOB_SQL + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY j.id DESC"
    if limit:
        sql += f" LIMIT {int(limit)}"
    with store.reading() as con:
        return [_job(r) for r in con.execute(sql, params).fetchall()]


def job(store: Store, job_id: int) -> JobInfo:
    with store.reading() as con:
        row = con.execute(_JOB_SQL + " WHERE j.id = ?", [job_id]).fetchone()
    if row is None:
        raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
    return _job(row)


def cancel(store: Store, job_id: int) -> JobInfo:
    """A queued job is cancelled at once; a running one stops at its next progress report."""
    with store.writing() as con:
        row = con.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
        if row[0] == JobState.QUEUED:
            con.execute("UPDATE jobs SET state = 'cancelled', finished_at = current_timestamp WHERE id = ?", [job_id])
        elif row[0] == JobState.RUNNING:
            con.execute("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])
        else:
            raise StoreError(f"job {job_id} is {row[0]}: only queued or running jobs can be cancelled")
    return job(store, job_id)


def retry(store: Store, job_id: int) -> JobInfo:
    """Queues a failed or cancelled job again (attempts start over)."""
    with store.writing() as con:
        row = con.execute("SELECT state, hearing_id FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
        if row[0] not in (JobState.FAILED, JobState.CANCELLED):
            raise StoreError(f"job {job_id} is {row[0]}: only failed or cancelled jobs can be retried")
        con.execute(
            "UPDATE jobs SET state = 'queued', progress = 0, eta_s = NULL, step = '', error = NULL, attempts = 0, "
            "cancel_requested = false, worker = NULL, started_at = NULL, finished_at = NULL WHERE id = ?",
            [job_id],
        )
        con.execute("UPDATE hearings SET status = 'queued' WHERE id = ? AND status = 'processing'", [row[1]])
    return job(store, job_id)


def recover(store: Store, *, stale_after_s: float = 300.0) -> list[int]:
    """Queues again the jobs left 'running' by a process that is gone; returns their ids.

    Past MAX_ATTEMPTS the job fails instead, naming the reason.
    """
    with store.reading() as con:
        running = con.execute(
            "SELECT id, worker, attempts, epoch(current_timestamp::TIMESTAMP - coalesce(heartbeat_at, started_at)) "
            "FROM jobs WHERE state = 'running'"
        ).fetchall()
    dead = [
        (jid, attempts)
        for jid, worker, attempts, age in running
        if not _alive(worker)
        or (worker and not worker.startswith(socket.gethostname() + ":") and (age or 0) > stale_after_s)
    ]
    recovered = []
    for jid, attempts in dead:
        with store.writing() as con:
            if attempts >= MAX_ATTEMPTS:
                con.execute(
                    "UPDATE jobs SET state = 'failed', finished_at = current_timestamp, error = ? "
                    "WHERE id = ? AND state = 'running'",
                    [f"the worker process died {attempts} times while running this job (out of memory?); "
                     "retry it after checking the recording", jid],
                )  # fmt: skip
                con.execute(
                    "UPDATE hearings SET status = 'queued' WHERE id = (SELECT hearing_id FROM jobs WHERE id = ?)", [jid]
                )
            else:
                con.execute(
                    "UPDATE jobs SET state = 'queued', worker = NULL, step = 'interrupted, queued again' "
                    "WHERE id = ? AND state = 'running'",
                    [jid],
                )
                recovered.append(jid)
        log.warning(
            "job %d was left running by a process that is gone: %s",
            jid,
            "queued again" if attempts < MAX_ATTEMPTS else "failed",
        )
    return recovered


def claim(store: Store, worker: str | None = None) -> JobInfo | None:
    """Takes the oldest queued job for this process, or None when the queue is empty."""
    worker = worker or this_worker()
    recover(store)
    with store.writing() as con:
        row = con.execute("SELECT id, hearing_id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
        if row is None:
            return None
        con.execute(
            "UPDATE jobs SET state = 'running', worker = ?, attempts = attempts + 1, progress = 0, eta_s = NULL, "
            "step = 'starting', error = NULL, started_at = current_timestamp, heartbeat_at = current_timestamp "
            "WHERE id = ?",
            [worker, row[0]],
        )
        con.execute("UPDATE hearings SET status = 'processing' WHERE id = ?", [row[1]])
    return job(store, row[0])


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


def transcribe_options(params: dict[str, Any], hotwords: Sequence[Hotword]) -> Any:
    """`workbench.speech.pipeline.TranscribeOptions` from the stored parameters, the settings and the hotword lists."""
    from workbench.speech.pipeline import TranscribeOptions

    given = {k: params.get(k) for k in OPTION_FIELDS if k != "hotwords"}
    words: dict[str, Hotword] = {}
    for term, weight in params.get("hotwords", []):
        words.setdefault(term, Hotword(term, weight))
    for h in hotwords:
        words.setdefault(h.term, h)
    return TranscribeOptions.from_settings(**given, hotwords=tuple(words.values()))


def _default_pipeline() -> Pipeline:
    from workbench.speech.pipeline import transcribe

    return transcribe


def run_job(store: Store, info: JobInfo, pipeline: Pipeline | None = None) -> JobInfo:
    """Runs a claimed job to its end state; never raises for a pipeline failure (it is the job's error)."""
    pipeline = pipeline or _default_pipeline()
    hook = _JobHook(store, info.id)
    try:
        recording = store.recording(info.recording_id)
        hearing = store.hearing(info.hearing_id)
        options = transcribe_options(info.params, store.hotwords_for(hearing.case_id))
        if not recording.stored_path.exists():
            raise StoreError(
                f"{recording.stored_path}: the stored recording is missing; upload {recording.file_name} again"
            )
        transcript = pipeline(recording.stored_path, options, hook)
    except JobCancelled:
        _finish(store, info, JobState.CANCELLED, None)
        log.info("job %d cancelled", info.id)
        return job(store, info.id)
    except Exception as e:  # the pipeline's failure is the job's result: recorded, shown, retryable
        log.exception("job %d (%s) failed", info.id, info.file_name)
        kind = getattr(e, "kind", type(e).__name__)  # a child process's failure names its own class
        _finish(store, info, JobState.FAILED, f"{kind}: {e}")
        return job(store, info.id)
    try:
        with store.writing() as con:
            row = con.execute("SELECT state, worker FROM jobs WHERE id = ?", [info.id]).fetchone()
            if row is None or row[0] != JobState.RUNNING or row[1] != info.worker:
                log.warning("job %d was taken over while it ran; its result is dropped", info.id)
                return job(store, info.id)
            n = store.save_transcript(info.hearing_id, transcript, con=con)
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


def _finish(store: Store, info: JobInfo, state: JobState, error: str | None) -> None:
    with store.writing() as con:
        con.execute(
            "UPDATE jobs SET state = ?, error = ?, finished_at = current_timestamp, cancel_requested = false "
            "WHERE id = ?",
            [state.value, error, info.id],
        )
        con.execute("UPDATE hearings SET status = 'queued' WHERE id = ? AND status = 'processing'", [info.hearing_id])


def run_next(store: Store, pipeline: Pipeline | None = None) -> JobInfo | None:
    """Claims and runs the next queued job; None when there was none."""
    info = claim(store)
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
                from workbench.store import search

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


__all__ = [
    "MAX_ATTEMPTS",
    "JobCancelled",
    "JobInfo",
    "JobState",
    "Submission",
    "Worker",
    "cancel",
    "claim",
    "enqueue",
    "job",
    "jobs",
    "recover",
    "retry",
    "run_job",
    "run_next",
    "submit",
    "transcribe_options",
]
