"""`workbench cases | hearings`: cases and their members, and their hearings added, listed and shown.

Every verb runs as an account (`--as`, see `workbench.cli.common`) and sees only its cases.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from workbench.cli.common import echo_json, parse_date, parse_datetime, with_access
from workbench.display import clock
from workbench.server.worker import run_next
from workbench.speech.options import OptionsError, TranscribeOptions
from workbench.speech.text import read_hotwords
from workbench.store import audit
from workbench.store import jobs as jobs_mod
from workbench.store.status import HearingStatus

if TYPE_CHECKING:
    from workbench.accounts import Access

# --- cases -------------------------------------------------------------------------------------------


@click.group("cases")
def cases_group() -> None:
    """Court cases: their number, cause of action and court."""


@cases_group.command("add")
@click.argument("number")
@click.option("--cause", default="", help="Cause of action (案由), e.g. 买卖合同纠纷.")
@click.option("--court", default="", help="Court name.")
@with_access
def cases_add(access: Access, number: str, cause: str, court: str) -> None:
    """Add a case by its number, e.g. （2024）京0105民初1234号. Its creator becomes a member."""
    access.require_upload()
    case = access.store.add_case(number, cause=cause, court=court, actor=access.actor)
    click.echo(f"case {case.id}: {case.number}")


@cases_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def cases_list(access: Access, as_json: bool) -> None:
    """The cases this account may see (an admin: all)."""
    cases = access.cases()
    if as_json:
        echo_json([{"id": c.id, "number": c.number, "cause": c.cause, "court": c.court} for c in cases])
        return
    for c in cases:
        click.echo(f"{c.id:>5}  {c.number}  {c.cause}  {c.court}".rstrip())


@cases_group.command("grant")
@click.argument("case")
@click.argument("user")
@with_access
def cases_grant(access: Access, case: str, user: str) -> None:
    """Make USER a member of CASE (number or id): they see its hearings. Admins and the case's judges."""
    found = access.case(case)
    added = access.grant(found, user)
    click.echo(f"{user}: {'now a member of' if added else 'already a member of'} case {found.number}")


@cases_group.command("revoke")
@click.argument("case")
@click.argument("user")
@with_access
def cases_revoke(access: Access, case: str, user: str) -> None:
    """End USER's membership of CASE (number or id). Admins and the case's judges."""
    found = access.case(case)
    removed = access.revoke(found, user)
    click.echo(f"{user}: {'no longer a member of' if removed else 'was not a member of'} case {found.number}")


@cases_group.command("members")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def cases_members(access: Access, case: str, as_json: bool) -> None:
    """The accounts that may see CASE (number or id), in the order they were added."""
    found = access.case(case)
    people = access.members(found.id)
    if as_json:
        echo_json(
            [
                {"name": a.name, "display_name": a.display_name, "role": a.role.value, "disabled": a.disabled}
                for a in people
            ]
        )
        return
    if not people:
        click.echo(f"case {found.number} has no members (only admins see it)", err=True)
    for a in people:
        note = "  (disabled)" if a.disabled else ""
        click.echo(f"{a.name:<20} {a.role.value:<7} {a.role.label}  {a.display_name}{note}".rstrip())


# --- hearings ----------------------------------------------------------------------------------------


@click.group("hearings")
def hearings_group() -> None:
    """Hearings: add recordings (queued for transcription), list and show them."""


@hearings_group.command("add")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--case", "case_number", required=True, help="Case number; created if new.")
@click.option("--date", "when", help="Hearing date or date-time, e.g. 2024-03-05T09:30.")
@click.option("--courtroom", default="", help="Courtroom, e.g. 第三法庭.")
@click.option("--judge", default="", help="Presiding judge.")
@click.option("--clerk", default="", help="Clerk.")
@click.option("--engine", help="ASR engine (default: setting `engine`).")
@click.option("--language", help="Spoken language (default: setting `language`).")
@click.option("--speakers", help="Speaker count: auto, N or MIN-MAX.")
@click.option("--diarize/--no-diarize", default=None, help="Find who spoke when (default: setting `diarize`).")
@click.option(
    "--hotwords",
    "hotwords_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Extra hotwords for these recordings, one per line (the case's and the global list apply too).",
)
@click.option("--wait", is_flag=True, help="Process the queue in this process until these hearings are done.")
@with_access
def hearings_add(
    access: Access,
    files: tuple[Path, ...],
    case_number: str,
    when: str | None,
    courtroom: str,
    judge: str,
    clerk: str,
    engine: str | None,
    language: str | None,
    speakers: str | None,
    diarize: bool | None,
    hotwords_file: Path | None,
    wait: bool,
) -> None:
    """Store recordings as hearings of a case and queue them for transcription."""
    try:
        options = TranscribeOptions.from_settings(
            engine=engine,
            language=language,
            speakers=speakers,
            diarize=diarize,
            hotwords=read_hotwords(hotwords_file) if hotwords_file else None,
        )
    except (OptionsError, ValueError) as e:  # refused before anything is stored
        raise click.BadParameter(str(e)) from e
    access.require_upload_to(case_number)  # before anything is copied: an existing case needs membership
    store = access.store
    subs = jobs_mod.submit(
        store,
        files,
        case_number=case_number,
        starts_at=parse_datetime(when),
        courtroom=courtroom,
        presiding_judge=judge,
        clerk=clerk,
        options=options,
        actor=access.actor,
    )
    for s in subs:
        if s.duplicate:
            click.echo(f"{s.file.name}: already stored as hearing {s.hearing_id} (same content); not added again")
        else:
            click.echo(f"{s.file.name}: hearing {s.hearing_id}, job {s.job_id} queued")
    if not wait:
        return
    pending = {s.job_id for s in subs if s.job_id is not None}
    failed = False
    while pending:
        info = run_next(store, only=pending)  # this upload's jobs only: not other cases' queued work
        if info is None:  # our jobs are claimed elsewhere or were cancelled: report their state
            break
        if info.id in pending:
            pending.discard(info.id)
            if info.state != jobs_mod.JobState.DONE:
                failed = True
                click.echo(f"hearing {info.hearing_id}: job {info.id} {info.state}: {info.error or ''}", err=True)
            else:
                h = store.hearing(info.hearing_id)
                click.echo(f"hearing {h.id}: {h.segments} segments, {h.status}")
    for jid in pending:
        info = jobs_mod.job(store, jid)
        click.echo(f"job {jid} is {info.state} (run by {info.worker or 'nobody'})", err=True)
    if failed:
        sys.exit(1)


@hearings_group.command("list")
@click.option("--case", help="Case number or id.")
@click.option("--status", type=click.Choice([s.value for s in HearingStatus]))
@click.option("--from", "date_from", help="From date (inclusive), YYYY-MM-DD.")
@click.option("--to", "date_to", help="To date (inclusive), YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def hearings_list(
    access: Access, case: str | None, status: str | None, date_from: str | None, date_to: str | None, as_json: bool
) -> None:
    """The hearings of the cases this account may see, newest first."""
    rows = access.hearings(case=case, status=status, date_from=parse_date(date_from), date_to=parse_date(date_to))
    if as_json:
        echo_json(
            [
                {
                    "id": h.id,
                    "case": h.case_number,
                    "starts_at": h.starts_at.isoformat() if h.starts_at else None,
                    "courtroom": h.courtroom,
                    "status": h.status,
                    "segments": h.segments,
                    "duration": h.duration,
                }
                for h in rows
            ]
        )
        return
    for h in rows:
        when = h.starts_at.strftime("%Y-%m-%d %H:%M") if h.starts_at else "-"
        click.echo(f"{h.id:>5}  {when:16}  {h.case_number}  {h.courtroom or '-'}  {h.status}  {h.segments} segments")


@hearings_group.command("show")
@click.argument("hearing_id", type=int)
@click.option("--original", is_flag=True, help="Show the recognised text, not the corrected one.")
@with_access
def hearings_show(access: Access, hearing_id: int, original: bool) -> None:
    """A hearing's details, speakers and segments (with segment ids for `segments edit`). Audited as opened."""
    h = access.hearing(hearing_id)
    store = access.store
    store.record(access.actor, audit.HEARING_OPENED, case_id=h.case_id, hearing_id=h.id, detail={"via": "cli"})
    click.echo(f"hearing {h.id}  case {h.case_number}  {h.starts_at or ''}  {h.courtroom}  status: {h.status}")
    for r in store.recordings(hearing_id):
        click.echo(f"recording {r.file_name}  sha256 {r.sha256[:12]}…  {r.stored_path}")
    speakers = {s.label: s for s in store.speakers(hearing_id)}
    for s in speakers.values():
        click.echo(f"speaker {s.label}: {s.role or '-'} {s.name or ''}".rstrip())
    for seg in store.segments(hearing_id):
        spk = seg.speaker_orig if original else seg.speaker
        who = speakers[spk].display() if spk in speakers else (spk or "?")
        mark = "*" if seg.edited and not original else " "
        at = clock(seg.start, hour_digits=1)
        click.echo(f"{seg.id:>8}{mark} {at}  {who}: {seg.text_orig if original else seg.text}")
