"""The transcription queue: `/jobs` (list), `/jobs/{job_id}` (read), `.../cancel`, `.../retry`.

A caller sees the jobs of the cases they may see; another case's job answers exactly like a missing one
(404, the same words). Cancel and retry are for admins and the case's members who may edit (not viewers),
audited by the store. Polling reads are not audited (a CLI waiting on a job asks every second).
"""

from __future__ import annotations

from typing import Any

from workbench.api.core import PAGE_PARAMS, Call, JsonSchema, Param, Reply, endpoint, page_schema, paged
from workbench.store import NotFound
from workbench.store import jobs as jobs_mod
from workbench.store.jobs import JobInfo, JobState

TAG = "jobs"
JOB_NOT_YOURS = "任务不存在或无权查看 (job not found or not yours)"

JOB: JsonSchema = {
    "type": "object",
    "required": ["id", "hearing_id", "case", "state", "progress", "stage", "message", "error", "worker",
                 "created_at", "started_at", "finished_at"],
    "properties": {
        "id": {"type": "integer"},
        "hearing_id": {"type": "integer"},
        "case": {"type": "string", "description": "The case number."},
        "case_id": {"type": ["integer", "null"]},
        "file": {"type": "string", "description": "The recording's name as uploaded."},
        "state": {"type": "string", "enum": [s.value for s in JobState]},
        "progress": {"type": "number", "minimum": 0, "maximum": 1},
        "stage": {"type": "string", "description": "The step the worker last reported (recognition, ...)."},
        "message": {"type": "string", "description": "The state in words, for people."},
        "step": {"type": "string", "description": "The same as stage (the name `jobs list --json` prints)."},
        "eta_s": {"type": ["number", "null"], "description": "Seconds left, estimated, while running."},
        "error": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "cancel_requested": {"type": "boolean"},
        "worker": {"type": ["string", "null"], "description": "host:pid:start of the process running it."},
        "created_at": {"type": "string", "format": "date-time"},
        "started_at": {"type": ["string", "null"], "format": "date-time"},
        "finished_at": {"type": ["string", "null"], "format": "date-time"},
    },
}  # fmt: skip

JOB_ID = Param("job_id", int, "path", required=True, help="The job's id.")


def message(j: JobInfo) -> str:
    if j.state == JobState.RUNNING:
        if j.cancel_requested:
            return "cancel requested"
        eta = f", about {j.eta_s:.0f} s left" if j.eta_s else ""
        return f"{j.step or 'running'} {j.progress * 100:.0f}%{eta}"
    if j.state == JobState.FAILED:
        return f"failed: {j.error or ''}".rstrip(": ")
    return j.step if j.state == JobState.QUEUED and j.step else j.state.value


def job_json(j: JobInfo) -> dict[str, Any]:
    return {
        "id": j.id,
        "hearing_id": j.hearing_id,
        "case": j.case_number,
        "case_id": j.case_id,
        "file": j.file_name,
        "state": j.state.value,
        "progress": float(j.progress),
        "stage": j.step,
        "message": message(j),
        "step": j.step,
        "eta_s": j.eta_s,
        "error": j.error,
        "attempts": j.attempts,
        "cancel_requested": j.cancel_requested,
        "worker": j.worker,
        "created_at": j.created_at.isoformat(),
        "started_at": j.started_at.isoformat() if j.started_at else None,
        "finished_at": j.finished_at.isoformat() if j.finished_at else None,
    }


def visible_job(call: Call, job_id: int) -> JobInfo:
    """The job if the caller may see its case; the same "not found or not yours" otherwise."""
    from workbench.accounts import NotYours

    access = call.access
    try:
        if not 0 < job_id < 2**31:  # the column is an INTEGER
            raise NotFound(f"no job {job_id}: `workbench jobs list` shows the queue")
        info = jobs_mod.job(access.store, job_id)
    except NotFound:
        if access.is_admin:
            raise
        raise NotYours(JOB_NOT_YOURS) from None
    if not access.is_admin and (info.case_id is None or not access.can_see_case(info.case_id)):
        raise NotYours(JOB_NOT_YOURS)
    return info


@endpoint("GET", "/jobs", summary="The jobs of the caller's cases, newest first.", tag=TAG,
          params=(Param("state", choices=tuple(s.value for s in JobState)),
                  Param("hearing", int, help="Only this hearing's jobs."), *PAGE_PARAMS),
          response=page_schema(JOB))  # fmt: skip
def list_jobs(call: Call) -> Reply:
    rows = jobs_mod.jobs(
        call.access.store, state=call.params["state"], hearing_id=call.params["hearing"],
        case_ids=call.access.case_ids(),
    )  # fmt: skip
    return paged(call, [job_json(j) for j in rows])


@endpoint("GET", "/jobs/{job_id}", summary="One job and its progress.", tag=TAG, params=(JOB_ID,), response=JOB)
def get_job(call: Call) -> Reply:
    return Reply(job_json(visible_job(call, call.params["job_id"])))


@endpoint("POST", "/jobs/{job_id}/cancel", summary="Cancel a queued job, or stop a running one at its next step.",
          tag=TAG, params=(JOB_ID,), response=JOB)  # fmt: skip
def cancel_job(call: Call) -> Reply:
    info = visible_job(call, call.params["job_id"])
    call.access.require_manage_job(info)
    return Reply(job_json(jobs_mod.cancel(call.access.store, info.id, actor=call.access.actor)))


@endpoint("POST", "/jobs/{job_id}/retry", summary="Queue a failed or cancelled job again.", tag=TAG,
          params=(JOB_ID,), response=JOB)  # fmt: skip
def retry_job(call: Call) -> Reply:
    info = visible_job(call, call.params["job_id"])
    call.access.require_manage_job(info)
    retried = jobs_mod.retry(call.access.store, info.id, actor=call.access.actor)
    call.wake()
    return Reply(job_json(retried))
