"""`workbench jobs list | cancel | retry | work`: the transcription queue."""

from __future__ import annotations

import click

from workbench.cli.common import echo_json, with_store
from workbench.server.worker import run_next
from workbench.store import Store
from workbench.store import jobs as jobs_mod
from workbench.store import search as search_mod

# --- jobs ----------------------------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The transcription queue."""


@jobs_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in jobs_mod.JobState]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_store
def jobs_list(store: Store, state: str | None, as_json: bool) -> None:
    """Jobs, newest first."""
    rows = jobs_mod.jobs(store, state=state)
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
@with_store
def jobs_cancel(store: Store, job_id: int) -> None:
    """Cancel a queued job, or stop a running one at its next progress step."""
    j = jobs_mod.cancel(store, job_id)
    click.echo(f"job {j.id}: {'cancel requested' if j.state == jobs_mod.JobState.RUNNING else j.state.value}")


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@with_store
def jobs_retry(store: Store, job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    j = jobs_mod.retry(store, job_id)
    click.echo(f"job {j.id}: {j.state.value}")


@jobs_group.command("work")
@click.option("--once", is_flag=True, help="Run at most one job.")
@with_store
def jobs_work(store: Store, once: bool) -> None:
    """Process queued jobs in this process until the queue is empty (resumes jobs of dead workers)."""
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
