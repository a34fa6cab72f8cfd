"""`workbench jobs list | cancel | retry | work`: the transcription queue.

An account sees the jobs of its cases; cancel and retry are for admins and the case's members who may
edit (not viewers), audited; `work` (running the queue in this process) is an admin's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from workbench.cli.common import echo_json, with_access
from workbench.server.worker import run_next
from workbench.store import NotFound
from workbench.store import jobs as jobs_mod
from workbench.store import search as search_mod

if TYPE_CHECKING:
    from workbench.accounts import Access


def _job(access: Access, job_id: int) -> jobs_mod.JobInfo:
    """The job if the account may see its case; the same "not found or not yours" otherwise."""
    from workbench.accounts import NotYours

    try:
        info = jobs_mod.job(access.store, job_id)
    except NotFound:
        if access.is_admin:
            raise
        raise NotYours("任务不存在或无权查看 (job not found or not yours)") from None
    if not access.is_admin and (info.case_id is None or not access.can_see_case(info.case_id)):
        raise NotYours("任务不存在或无权查看 (job not found or not yours)")
    return info


# --- jobs ----------------------------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The transcription queue."""


@jobs_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in jobs_mod.JobState]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def jobs_list(access: Access, state: str | None, as_json: bool) -> None:
    """The jobs of the cases this account may see, newest first."""
    rows = jobs_mod.jobs(access.store, state=state, case_ids=access.case_ids())
    if as_json:
        echo_json(
            [
                {
                    "id": j.id,
                    "hearing_id": j.hearing_id,
                    "file": j.file_name,
                    "state": j.state.value,
                    "progress": j.progress,
                    "eta_s": j.eta_s,
                    "step": j.step,
                    "error": j.error,
                    "attempts": j.attempts,
                }
                for j in rows
            ]
        )
        return
    for j in rows:
        eta = f" eta {j.eta_s:.0f}s" if j.eta_s and j.state == jobs_mod.JobState.RUNNING else ""
        err = f"  {j.error}" if j.error else ""
        click.echo(
            f"{j.id:>5}  hearing {j.hearing_id:<5} {j.state.value:9} {j.progress * 100:3.0f}%{eta}  {j.file_name}{err}"
        )


@jobs_group.command("cancel")
@click.argument("job_id", type=int)
@with_access
def jobs_cancel(access: Access, job_id: int) -> None:
    """Cancel a queued job, or stop a running one at its next progress step."""
    access.require_manage_job(_job(access, job_id))
    j = jobs_mod.cancel(access.store, job_id, actor=access.actor)
    click.echo(f"job {j.id}: {'cancel requested' if j.state == jobs_mod.JobState.RUNNING else j.state.value}")


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@with_access
def jobs_retry(access: Access, job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    access.require_manage_job(_job(access, job_id))
    j = jobs_mod.retry(access.store, job_id, actor=access.actor)
    click.echo(f"job {j.id}: {j.state.value}")


@jobs_group.command("work")
@click.option("--once", is_flag=True, help="Run at most one job.")
@with_access
def jobs_work(access: Access, once: bool) -> None:
    """Process queued jobs in this process until the queue is empty (resumes jobs of dead workers). Admins."""
    access.require_admin()  # it runs every case's jobs
    store = access.store
    done = 0
    while True:
        info = run_next(store)
        if info is None:
            break
        done += 1
        click.echo(f"job {info.id} (hearing {info.hearing_id}, {info.file_name}): {info.state.value}"
                   + (f": {info.error}" if info.error else ""))  # fmt: skip
        if once:
            break
    search_mod.optimize(store)
    click.echo(f"{done} job(s) run; queue empty" if not once else f"{done} job(s) run")
