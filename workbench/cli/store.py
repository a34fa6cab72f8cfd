"""`workbench cases | hearings | speakers | segments | search | hotwords | jobs`: the store from a shell.

Every verb takes `--db FILE` (or WORKBENCH_DB); the default is `<data_dir>/workbench.duckdb`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import Any

import click

from workbench.display import clock
from workbench.server.worker import run_next
from workbench.speech.options import OptionsError, TranscribeOptions
from workbench.speech.text import format_hotwords, parse_hotwords, read_hotwords
from workbench.store import ROLES, Store, StoreError
from workbench.store import jobs as jobs_mod
from workbench.store import search as search_mod
from workbench.store.status import HearingStatus

log = logging.getLogger("workbench.cli.store")


def _with_store(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--db`, opens the store for the command and turns store errors into clean CLI errors."""

    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="WORKBENCH_DB",
        help="DuckDB file (default: <data_dir>/workbench.duckdb; env WORKBENCH_DB).",
    )
    @wraps(fn)
    def wrapper(*args: Any, db: Path | None, **kwargs: Any) -> Any:
        try:
            with Store(db) as store:
                return fn(store, *args, **kwargs)
        except StoreError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def _date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-05") from e


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date or date-time like 2024-03-05 or 2024-03-05T09:30") from e


# --- cases -------------------------------------------------------------------------------------------


@click.group("cases")
def cases_group() -> None:
    """Court cases: their number, cause of action and court."""


@cases_group.command("add")
@click.argument("number")
@click.option("--cause", default="", help="Cause of action (案由), e.g. 买卖合同纠纷.")
@click.option("--court", default="", help="Court name.")
@_with_store
def cases_add(store: Store, number: str, cause: str, court: str) -> None:
    """Add a case by its number, e.g. （2024）京0105民初1234号."""
    case = store.add_case(number, cause=cause, court=court)
    click.echo(f"case {case.id}: {case.number}")


@cases_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_store
def cases_list(store: Store, as_json: bool) -> None:
    """All cases."""
    cases = store.cases()
    if as_json:
        click.echo(
            json.dumps(
                [{"id": c.id, "number": c.number, "cause": c.cause, "court": c.court} for c in cases],
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    for c in cases:
        click.echo(f"{c.id:>5}  {c.number}  {c.cause}  {c.court}".rstrip())


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
@_with_store
def hearings_add(
    store: Store,
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
    subs = jobs_mod.submit(
        store,
        files,
        case_number=case_number,
        starts_at=_datetime(when),
        courtroom=courtroom,
        presiding_judge=judge,
        clerk=clerk,
        options=options,
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
        info = run_next(store)
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
@_with_store
def hearings_list(
    store: Store, case: str | None, status: str | None, date_from: str | None, date_to: str | None, as_json: bool
) -> None:
    """Hearings, newest first."""
    rows = store.hearings(case=case, status=status, date_from=_date(date_from), date_to=_date(date_to))
    if as_json:
        click.echo(
            json.dumps(
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
                ],
                ensure_ascii=False,
                indent=1,
            )
        )
        return
    for h in rows:
        when = h.starts_at.strftime("%Y-%m-%d %H:%M") if h.starts_at else "-"
        click.echo(f"{h.id:>5}  {when:16}  {h.case_number}  {h.courtroom or '-'}  {h.status}  {h.segments} segments")


@hearings_group.command("show")
@click.argument("hearing_id", type=int)
@click.option("--original", is_flag=True, help="Show the recognised text, not the corrected one.")
@_with_store
def hearings_show(store: Store, hearing_id: int, original: bool) -> None:
    """A hearing's details, speakers and segments (with segment ids for `segments edit`)."""
    h = store.hearing(hearing_id)
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


# --- speakers, segments ------------------------------------------------------------------------------


@click.group("speakers")
def speakers_group() -> None:
    """A hearing's speakers: court role and name."""


@speakers_group.command("set")
@click.argument("hearing_id", type=int)
@click.argument("label")
@click.option("--role", help=f"Court role: {', '.join(ROLES)} (or another).")
@click.option("--name", help="Display name.")
@click.option("--user", help="Who made the change (default: setting `user`, then the login name).")
@_with_store
def speakers_set(
    store: Store, hearing_id: int, label: str, role: str | None, name: str | None, user: str | None
) -> None:
    """Give speaker LABEL (S1, S2, ...) of a hearing a role and/or a name."""
    s = store.set_speaker(hearing_id, label, role=role, name=name, user=user)
    click.echo(f"hearing {hearing_id} {s.label}: {s.display()}")


@click.group("segments")
def segments_group() -> None:
    """Correct a segment's text or speaker (the original is kept; each change is logged)."""


@segments_group.command("edit")
@click.argument("segment_id", type=int)
@click.option("--text", help="The corrected text.")
@click.option("--speaker", help="The correct speaker label (S1, S2, ...).")
@click.option("--user", help="Who made the change (default: setting `user`, then the login name).")
@_with_store
def segments_edit(store: Store, segment_id: int, text: str | None, speaker: str | None, user: str | None) -> None:
    """Change SEGMENT's text and/or speaker."""
    if text is None and speaker is None:
        raise click.UsageError("give --text and/or --speaker")
    seg = store.edit_segment(segment_id, text=text, speaker=speaker, user=user)
    click.echo(f"segment {seg.id} ({seg.speaker}): {seg.text}")


# --- search --------------------------------------------------------------------------------------------


@click.command("search")
@click.argument("query")
@click.option("--case", help="Case number or id.")
@click.option("--from", "date_from", help="Hearings from this date (inclusive), YYYY-MM-DD.")
@click.option("--to", "date_to", help="Hearings up to this date (inclusive), YYYY-MM-DD.")
@click.option("--role", help="Only segments spoken by this role, e.g. 原告.")
@click.option("--speaker", help="Only segments of this speaker (name or label).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--original", is_flag=True, help="Search the original recognition instead of the corrected text.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_store
def search_cmd(
    store: Store,
    query: str,
    case: str | None,
    date_from: str | None,
    date_to: str | None,
    role: str | None,
    speaker: str | None,
    limit: int,
    original: bool,
    as_json: bool,
) -> None:
    """Find words or a "quoted phrase" across hearings (Chinese and English), best first."""
    hits = search_mod.search(
        store,
        query,
        case=case,
        date_from=_date(date_from),
        date_to=_date(date_to),
        role=role,
        speaker=speaker,
        limit=limit,
        original=original,
    )
    if as_json:
        click.echo(json.dumps([h.to_dict() for h in hits], ensure_ascii=False, indent=1))
        return
    if not hits:
        click.echo("no match", err=True)
        return
    for h in hits:
        who = h.who or "?"
        day = h.hearing_start[:10] or "-"
        text = h.marked("\x1b[1m", "\x1b[0m") if sys.stdout.isatty() else h.marked()
        edited = " (edited)" if h.edited and not original else ""
        at = clock(h.start, hour_digits=1)
        click.echo(f"hearing {h.hearing_id} {at}  {h.case_number} {day}  {who}: {text}{edited}")


# --- hotwords ------------------------------------------------------------------------------------------


@click.group("hotwords")
def hotwords_group() -> None:
    """Hotword lists (names, places, legal terms) used by every job: global and per case."""


@hotwords_group.command("set")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option("--case", help="The case's list (default: the global list).")
@_with_store
def hotwords_set(store: Store, file: Any, case: str | None) -> None:
    """Replace a list with FILE's (one term per line, optional weight after a space; - reads stdin)."""
    words = parse_hotwords(file.read())
    case_id = store.case(case).id if case else None
    store.set_hotwords(words, case_id=case_id)
    click.echo(f"{len(words)} hotwords set for {'case ' + case if case else 'all cases'}")


@hotwords_group.command("show")
@click.option("--case", help="The case's list (default: the global list).")
@_with_store
def hotwords_show(store: Store, case: str | None) -> None:
    """Print a list in the format `hotwords set` reads."""
    case_id = store.case(case).id if case else None
    text = format_hotwords(store.hotwords(case_id=case_id))
    if text:
        click.echo(text)


# --- jobs ----------------------------------------------------------------------------------------------


@click.group("jobs")
def jobs_group() -> None:
    """The transcription queue."""


@jobs_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in jobs_mod.JobState]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_with_store
def jobs_list(store: Store, state: str | None, as_json: bool) -> None:
    """Jobs, newest first."""
    rows = jobs_mod.jobs(store, state=state)
    if as_json:
        click.echo(
            json.dumps(
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
                ],
                ensure_ascii=False,
                indent=1,
            )
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
@_with_store
def jobs_cancel(store: Store, job_id: int) -> None:
    """Cancel a queued job, or stop a running one at its next progress step."""
    j = jobs_mod.cancel(store, job_id)
    click.echo(f"job {j.id}: {'cancel requested' if j.state == jobs_mod.JobState.RUNNING else j.state.value}")


@jobs_group.command("retry")
@click.argument("job_id", type=int)
@_with_store
def jobs_retry(store: Store, job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    j = jobs_mod.retry(store, job_id)
    click.echo(f"job {j.id}: {j.state.value}")


@jobs_group.command("work")
@click.option("--once", is_flag=True, help="Run at most one job.")
@_with_store
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


COMMANDS = (cases_group, hearings_group, speakers_group, segments_group, search_cmd, hotwords_group, jobs_group)
