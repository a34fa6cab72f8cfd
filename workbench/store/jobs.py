"""The processing queue, kept in the store's `jobs` table so it outlives any process.

A job transcribes one hearing's recording with the `TranscribeOptions` it was queued with (stored as
JSON): queued → running → done | failed | cancelled. A worker (`workbench.server.worker`) claims the
oldest queued job in a write transaction, so two workers never take the same one. A process that dies
mid-job leaves the row 'running' under its host:pid:start-time; `recover()` (called before every
claim) sees that process is gone and queues the job again, up to `MAX_ATTEMPTS` times, so a recording
that crashes the worker does not loop forever. Each step moves the hearing's status on
(`workbench.store.status`) in the same transaction.

What people do to the queue is audited: an upload (`submit`: UPLOADED, with the file's name, sha256 and
size; a new case makes the uploader a member), a cancel or a retry (JOB_CHANGED). The worker's own
steps (claim, progress, recover) are not: they are the machine's, and many.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import socket
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import duckdb
import psutil

from workbench.speech.options import TranscribeOptions
from workbench.speech.transcript import Party
from workbench.store import audit, members
from workbench.store.audit import Actor
from workbench.store.cases import require_unlocked
from workbench.store.records import NotFound, StoreError
from workbench.store.status import Event
from workbench.store.store import Store

log = logging.getLogger("workbench.store.jobs")

MAX_ATTEMPTS = 3


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


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
    options: TranscribeOptions
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    worker: str | None
    heartbeat_at: datetime | None
    cancel_requested: bool
    file_name: str
    case_number: str
    case_id: int | None = None

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)


@dataclass(frozen=True, slots=True)
class Spooled:
    """A recording already written to a file of ours (an upload spooled by the API, a finished resumable
    upload): `submit` moves it into the audio store instead of copying it, under the name it was sent as."""

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class Submission:
    file: Path
    hearing_id: int
    job_id: int | None  # None when the recording was already stored (duplicate)
    duplicate: bool = False


_JOB_SQL = """
SELECT j.id, j.hearing_id, j.recording_id, j.state, j.progress, j.eta_s, j.step, j.error, j.attempts, j.params,
       j.created_at, j.started_at, j.finished_at, j.worker, j.heartbeat_at, coalesce(j.cancel_requested, false),
       coalesce(r.file_name, ''), coalesce(c.number, ''), h.case_id
FROM jobs j LEFT JOIN recordings r ON r.id = j.recording_id
LEFT JOIN hearings h ON h.id = j.hearing_id LEFT JOIN cases c ON c.id = h.case_id"""


def _job(row: tuple) -> JobInfo:
    return JobInfo(
        *row[:3], JobState(row[3]), *row[4:9], TranscribeOptions.from_json(row[9]),
        *row[10:15], bool(row[15]), row[16], row[17], row[18],
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


def _store_spooled(store: Store, spooled: Spooled) -> tuple[str, Path]:
    """Moves a spooled file under `audio/<sha[:2]>/<sha256><suffix>` (the layout of `store_audio`): hashed
    by reading it once, then renamed; copied by `store_audio` when it lies on another file system."""
    source = spooled.path
    if not source.is_file():
        raise StoreError(f"{spooled.name}: the uploaded file is gone ({source})")
    digest = hashlib.sha256()
    with source.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    sha = digest.hexdigest()
    target = store.audio_dir / sha[:2] / f"{sha}{Path(spooled.name).suffix.lower()}"
    try:
        if target.exists():
            source.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            source.replace(target)
    except OSError as e:
        if e.errno != errno.EXDEV:
            raise StoreError(f"{spooled.name}: could not move it into {store.audio_dir}: {e}") from e
        sha, target = store.store_audio(source)
        source.unlink(missing_ok=True)
    return sha, target


def submit(
    store: Store,
    files: Sequence[str | Path | Spooled],
    *,
    case_number: str,
    starts_at: datetime | None = None,
    courtroom: str = "",
    presiding_judge: str = "",
    clerk: str = "",
    options: TranscribeOptions | None = None,
    cause: str = "",
    parties: Sequence[Party] = (),
    actor: Actor,
) -> list[Submission]:
    """Stores each file (by content hash), creates its hearing and queues its job, as `actor` (audited).

    A path is copied into the store (it stays where it is); a `Spooled` file is moved there (and is gone
    from where it was, also when it turns out to be a duplicate), named as it was sent.

    A new case number creates the case (with `cause` and `parties`) and makes `actor` a member. Whether
    `actor` may upload into an existing case is the caller's check (`Access.may_upload_to`), checked
    again here. A file whose content is already stored in this case is not added again: its Submission
    says `duplicate` and names the existing hearing.
    """
    # copy (or move) outside the transaction: can be GBs
    stored = [
        (Path(f.name), *_store_spooled(store, f)) if isinstance(f, Spooled) else (Path(f), *store.store_audio(f))
        for f in files
    ]
    payload = (options or TranscribeOptions.from_settings()).to_json()
    case = store.ensure_case(case_number, actor=actor, cause=cause, parties=parties)
    if actor.user_id is not None and actor.role != "admin":
        # The caller checked membership before the copy; a case made by someone else since then must
        # not take this account's upload (it would land in a case the uploader cannot see).
        with store.reading() as con:
            if not members.is_member(con, case.id, actor.user_id):
                raise StoreError(
                    f"案件 {case.number} 已存在且您不是其成员 (case {case.number} exists and you are not a member)"
                )
    out = []
    for source, sha, path in stored:
        with store.writing() as con:
            # A duplicate is the same audio in the same case. The same audio in another case makes a
            # hearing of its own (its file shared): telling the uploader "already stored as hearing N"
            # would say that a case they may not see holds this recording.
            dup = con.execute(
                "SELECT r.hearing_id FROM recordings r JOIN hearings h ON h.id = r.hearing_id "
                "WHERE r.sha256 = ? AND h.case_id = ? ORDER BY r.id LIMIT 1",
                [sha, case.id],
            ).fetchone()
            if dup:
                out.append(Submission(source, int(dup[0]), None, duplicate=True))
                continue
            hearing_id = store.add_hearing(
                case.id, starts_at=starts_at, courtroom=courtroom, presiding_judge=presiding_judge, clerk=clerk,
                created_by=actor.account, con=con,
            )  # fmt: skip
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
            audit.append(
                con, actor, audit.UPLOADED, case_id=case.id, hearing_id=hearing_id,
                detail={"file": source.name, "sha256": sha, "size": path.stat().st_size, "job_id": int(job_id)},
            )  # fmt: skip
        out.append(Submission(source, hearing_id, int(job_id)))
        log.info("queued %s as hearing %d (job %d)", source.name, hearing_id, job_id)
    return out


def enqueue(store: Store, hearing_id: int, options: TranscribeOptions | None = None, *, actor: Actor) -> int:
    """Queues the hearing's recording for (re)transcription; its segments are replaced when it is done."""
    recs = store.recordings(hearing_id)
    if not recs:
        raise NotFound(f"hearing {hearing_id} has no recording to transcribe")
    with store.writing() as con:
        require_unlocked(con, hearing_id)  # its transcript would replace the filed record's text
        row = con.execute(
            "INSERT INTO jobs (hearing_id, recording_id, params) VALUES (?, ?, ?) RETURNING id",
            [hearing_id, recs[0].id, (options or TranscribeOptions.from_settings()).to_json()],
        ).fetchone()
        store.advance(hearing_id, Event.JOB_QUEUED, con)
        _audit_job(con, actor, int(row[0]), hearing_id, "queued")
    return int(row[0])


def _audit_job(con: duckdb.DuckDBPyConnection, actor: Actor, job_id: int, hearing_id: int, what: str) -> None:
    case = con.execute("SELECT case_id FROM hearings WHERE id = ?", [hearing_id]).fetchone()
    audit.append(
        con, actor, audit.JOB_CHANGED, case_id=case[0] if case else None, hearing_id=hearing_id,
        detail={"job_id": job_id, "change": what},
    )  # fmt: skip


def jobs(
    store: Store,
    *,
    state: str | None = None,
    hearing_id: int | None = None,
    case_ids: frozenset[int] | None = None,
    limit: int | None = None,
) -> list[JobInfo]:
    """Jobs, newest first; `case_ids` (an account's cases, None for all) keeps only those cases' jobs."""
    if case_ids is not None and not case_ids:
        return []
    where, params = [], []
    if state:
        where.append("j.state = ?")
        params.append(JobState(state).value)
    if hearing_id is not None:
        where.append("j.hearing_id = ?")
        params.append(hearing_id)
    if case_ids is not None:
        where.append(f"h.case_id IN ({','.join(str(int(c)) for c in sorted(case_ids))})")
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


def cancel(store: Store, job_id: int, *, actor: Actor) -> JobInfo:
    """A queued job is cancelled at once; a running one stops at its next progress report. Audited."""
    with store.writing() as con:
        row = con.execute("SELECT state, hearing_id FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
        if row[0] == JobState.QUEUED:
            con.execute("UPDATE jobs SET state = 'cancelled', finished_at = current_timestamp WHERE id = ?", [job_id])
        elif row[0] == JobState.RUNNING:
            con.execute("UPDATE jobs SET cancel_requested = true WHERE id = ?", [job_id])
        else:
            raise StoreError(f"job {job_id} is {row[0]}: only queued or running jobs can be cancelled")
        _audit_job(con, actor, job_id, row[1], "cancelled" if row[0] == JobState.QUEUED else "cancel requested")
    return job(store, job_id)


def retry(store: Store, job_id: int, *, actor: Actor) -> JobInfo:
    """Queues a failed or cancelled job again (attempts start over). Audited."""
    with store.writing() as con:
        row = con.execute("SELECT state, hearing_id FROM jobs WHERE id = ?", [job_id]).fetchone()
        if row is None:
            raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
        if row[0] not in (JobState.FAILED, JobState.CANCELLED):
            raise StoreError(f"job {job_id} is {row[0]}: only failed or cancelled jobs can be retried")
        require_unlocked(con, row[1])
        con.execute(
            "UPDATE jobs SET state = 'queued', progress = 0, eta_s = NULL, step = '', error = NULL, attempts = 0, "
            "cancel_requested = false, worker = NULL, started_at = NULL, finished_at = NULL WHERE id = ?",
            [job_id],
        )
        store.advance(row[1], Event.JOB_QUEUED, con)
        _audit_job(con, actor, job_id, row[1], "retried")
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
                hearing_id = con.execute("SELECT hearing_id FROM jobs WHERE id = ?", [jid]).fetchone()[0]
                store.advance(hearing_id, Event.JOB_FAILED, con)
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


def claim(store: Store, worker: str | None = None, *, only: Collection[int] | None = None) -> JobInfo | None:
    """Takes the oldest queued job (of `only`, when given) for this process, or None when there is none."""
    worker = worker or this_worker()
    recover(store)
    among = f" AND id IN ({', '.join(str(int(i)) for i in only) or '-1'})" if only is not None else ""
    with store.writing() as con:
        row = con.execute(
            f"SELECT id, hearing_id FROM jobs WHERE state = 'queued'{among} ORDER BY id LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        con.execute(
            "UPDATE jobs SET state = 'running', worker = ?, attempts = attempts + 1, progress = 0, eta_s = NULL, "
            "step = 'starting', error = NULL, started_at = current_timestamp, heartbeat_at = current_timestamp "
            "WHERE id = ?",
            [worker, row[0]],
        )
        store.advance(row[1], Event.JOB_STARTED, con)
    return job(store, row[0])
