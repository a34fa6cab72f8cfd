"""`workbench jobs list | cancel | retry | work`: the transcription queue.

An account sees the jobs of its cases; cancel and retry are for admins and the case's members who may
edit (not viewers), audited. `list`, `cancel` and `retry` are clients of the API (`with_api`: the running
server, or this process on the store); `work` runs the queue in this process, so it opens the store itself
(an admin's: it runs every case's jobs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from workbench.cli.common import echo_json, with_access, with_api
from workbench.cli.hearings import pages
from workbench.server.worker import run_next
from workbench.store import jobs as jobs_mod
from workbench.store import search as search_mod

if TYPE_CHECKING:
    from workbench.accounts import Access
    from workbench.api.client import Api


# --- jobs ----------------------------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The transcription queue."""


@jobs_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in jobs_mod.JobState]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def jobs_list(api: Api, state: str | None, as_json: bool) -> None:
    """The jobs of the cases this account may see, newest first."""
    rows = list(pages(api, "/jobs", {"state": state} if state else None))
    if as_json:
        echo_json(
            [
                {
                    "id": j["id"],
                    "hearing_id": j["hearing_id"],
                    "file": j["file"],
                    "state": j["state"],
                    "progress": j["progress"],
                    "eta_s": j["eta_s"],
                    "step": j["step"],
                    "error": j["error"],
                    "attempts": j["attempts"],
                }
                for j in rows
            ]
        )
        return
    for j in rows:
        eta = f" eta {j['eta_s']:.0f}s" if j["eta_s"] and j["state"] == jobs_mod.JobState.RUNNING else ""
        err = f"  {j['error']}" if j["error"] else ""
        click.echo(
            f"{j['id']:>5}  hearing {j['hearing_id']:<5} {j['state']:9} {j['progress'] * 100:3.0f}%{eta}  "
            f"{j['file']}{err}"
        )


@jobs_group.command("cancel")
@click.argument("job_id", type=int)
@with_api
def jobs_cancel(api: Api, job_id: int) -> None:
    """Cancel a queued job, or stop a running one at its next progress step."""
    j = api.call("POST", f"/jobs/{job_id}/cancel")
    click.echo(f"job {j['id']}: {'cancel requested' if j['state'] == jobs_mod.JobState.RUNNING else j['state']}")


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@with_api
def jobs_retry(api: Api, job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    j = api.call("POST", f"/jobs/{job_id}/retry")
    click.echo(f"job {j['id']}: {j['state']}")


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
