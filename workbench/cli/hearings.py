"""`workbench cases | hearings`: cases and their members, and their hearings added, listed and shown.

Every verb is a client of the API (`workbench.api`): through the running server when there is one, else
in this process on the store (`with_api`); either way the same checks, output and exit codes. Every verb
runs as an account (`--as`, see `workbench.cli.common`) and sees only its cases.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.accounts.access import CASE_NOT_YOURS
from workbench.cli.common import echo_json, parse_date, parse_datetime, with_api
from workbench.display import clock, parse_clock
from workbench.speech.options import OptionsError, TranscribeOptions
from workbench.speech.text import read_hotwords
from workbench.store.status import HearingStatus

if TYPE_CHECKING:
    from workbench.api.client import Api

PAGE = 1000  # items per request when a verb reads a whole list (core.MAX_LIMIT)


def pages(api: Api, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Every item of a paged list, page after page."""
    offset: int | None = 0
    while offset is not None:
        page = api.call("GET", path, params={**(params or {}), "limit": PAGE, "offset": offset})
        yield from page["items"]
        offset = page["next_offset"]


def find_case(api: Api, key: str) -> dict[str, Any]:
    """The case by number or id among those the account sees (a number first, as `Store.case` reads it),
    so that no case number (full-width brackets, slashes) has to travel in a URL path."""
    cases = list(pages(api, "/cases"))
    key = key.strip()
    for c in cases:
        if c["number"] == key:
            return c
    if key.isdigit():
        for c in cases:
            if c["id"] == int(key):
                return c
    raise click.ClickException(CASE_NOT_YOURS)


# --- cases -------------------------------------------------------------------------------------------


@click.group("cases")
def cases_group() -> None:
    """Court cases: their number, cause of action and court."""


@cases_group.command("add")
@click.argument("number")
@click.option("--cause", default="", help="Cause of action (案由), e.g. 买卖合同纠纷.")
@click.option("--court", default="", help="Court name.")
@with_api
def cases_add(api: Api, number: str, cause: str, court: str) -> None:
    """Add a case by its number, e.g. （2024）京0105民初1234号. Its creator becomes a member."""
    case = api.call("POST", "/cases", json={"number": number, "cause": cause, "court": court})
    click.echo(f"case {case['id']}: {case['number']}")


@cases_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def cases_list(api: Api, as_json: bool) -> None:
    """The cases this account may see (an admin: all)."""
    cases = list(pages(api, "/cases"))
    if as_json:
        echo_json([{"id": c["id"], "number": c["number"], "cause": c["cause"], "court": c["court"]} for c in cases])
        return
    for c in cases:
        click.echo(f"{c['id']:>5}  {c['number']}  {c['cause']}  {c['court']}".rstrip())


@cases_group.command("grant")
@click.argument("case")
@click.argument("user")
@with_api
def cases_grant(api: Api, case: str, user: str) -> None:
    """Make USER a member of CASE (number or id): they see its hearings. Admins and the case's judges."""
    found = find_case(api, case)
    added = api.call("PUT", f"/cases/{found['id']}/members/{user}")["added"]
    click.echo(f"{user}: {'now a member of' if added else 'already a member of'} case {found['number']}")


@cases_group.command("revoke")
@click.argument("case")
@click.argument("user")
@with_api
def cases_revoke(api: Api, case: str, user: str) -> None:
    """End USER's membership of CASE (number or id). Admins and the case's judges."""
    found = find_case(api, case)
    removed = api.call("DELETE", f"/cases/{found['id']}/members/{user}")["removed"]
    click.echo(f"{user}: {'no longer a member of' if removed else 'was not a member of'} case {found['number']}")


@cases_group.command("members")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def cases_members(api: Api, case: str, as_json: bool) -> None:
    """The accounts that may see CASE (number or id), in the order they were added."""
    found = find_case(api, case)
    people = list(pages(api, f"/cases/{found['id']}/members"))
    if as_json:
        echo_json(
            [{"name": a["name"], "display_name": a["display_name"], "role": a["role"], "disabled": a["disabled"]}
             for a in people]
        )  # fmt: skip
        return
    if not people:
        click.echo(f"case {found['number']} has no members (only admins see it)", err=True)
    from workbench.accounts.roles import Role

    for a in people:
        note = "  (disabled)" if a["disabled"] else ""
        click.echo(f"{a['name']:<20} {a['role']:<7} {Role(a['role']).label}  {a['display_name']}{note}".rstrip())


# --- hearings ----------------------------------------------------------------------------------------


@click.group("hearings")
def hearings_group() -> None:
    """Hearings: add recordings (queued for transcription), list and show them; sign their records off
    (check, approve, lock, reopen) and seal non-public parts."""


def _options(
    engine: str | None, language: str | None, speakers: str | None, diarize: bool | None, hotwords_file: Path | None
) -> dict[str, Any]:
    """The options given, checked here first (a bad one exits 2 before anything is sent); the server's
    settings fill in the rest."""
    try:
        hotwords = read_hotwords(hotwords_file) if hotwords_file else None
        TranscribeOptions.from_settings(
            engine=engine, language=language, speakers=speakers, diarize=diarize, hotwords=hotwords
        )
    except (OptionsError, ValueError) as e:  # refused before anything is stored
        raise click.BadParameter(str(e)) from e
    given: dict[str, Any] = {"engine": engine, "language": language, "speakers": speakers, "diarize": diarize}
    if hotwords:
        given["hotwords"] = [{"term": h.term, "weight": h.weight} for h in hotwords]
    return {k: v for k, v in given.items() if v is not None}


def _listed_hearing(api: Api, hearing_id: int, case: str) -> dict[str, Any] | None:
    """A hearing as `GET /hearings` lists it (not audited as opened: this only reports a job's result)."""
    return next((h for h in pages(api, "/hearings", {"case": case}) if h["id"] == hearing_id), None)


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
@click.option(
    "--wait",
    is_flag=True,
    help="Wait until these hearings are done (without a server: process them in this process).",
)
@with_api
def hearings_add(
    api: Api,
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
    options = _options(engine, language, speakers, diarize, hotwords_file)
    starts_at = parse_datetime(when)
    body: dict[str, Any] = {"case": case_number, "courtroom": courtroom, "judge": judge, "clerk": clerk}
    if starts_at:
        body["starts_at"] = starts_at.isoformat()
    if options:
        body["options"] = options
    body.update(api.add_files(list(files)))  # {"paths": [...]} beside the store, else {"uploads": [...]}
    subs = api.call("POST", "/hearings", json=body)["submissions"]
    for s in subs:
        if s["duplicate"]:
            click.echo(f"{s['file']}: already stored as hearing {s['hearing_id']} (same content); not added again")
        else:
            click.echo(f"{s['file']}: hearing {s['hearing_id']}, job {s['job_id']} queued")
    if not wait:
        return
    failed = False
    for s in subs:
        if s["job_id"] is None:
            continue
        info = api.wait_job(s["job_id"])  # this upload's jobs only: not other cases' queued work
        if info["state"] == "done":
            h = _listed_hearing(api, info["hearing_id"], case_number.strip())
            if h is not None:
                click.echo(f"hearing {h['id']}: {h['segments']} segments, {h['status']}")
        elif info["state"] == "failed" or (info["state"] == "cancelled" and info["started_at"]):
            failed = True
            click.echo(
                f"hearing {info['hearing_id']}: job {info['id']} {info['state']}: {info['error'] or ''}", err=True
            )
        else:  # cancelled before it ran, or still queued or running elsewhere: report its state
            click.echo(f"job {info['id']} is {info['state']} (run by {info['worker'] or 'nobody'})", err=True)
    if failed:
        sys.exit(1)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@hearings_group.command("list")
@click.option("--case", help="Case number or id.")
@click.option("--status", type=click.Choice([s.value for s in HearingStatus]))
@click.option("--from", "date_from", help="From date (inclusive), YYYY-MM-DD.")
@click.option("--to", "date_to", help="To date (inclusive), YYYY-MM-DD.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def hearings_list(
    api: Api, case: str | None, status: str | None, date_from: str | None, date_to: str | None, as_json: bool
) -> None:
    """The hearings of the cases this account may see, newest first."""
    params = {"case": case, "status": status}
    for name, value in (("from", parse_date(date_from)), ("to", parse_date(date_to))):
        if value:
            params[name] = value.isoformat()
    rows = list(pages(api, "/hearings", {k: v for k, v in params.items() if v is not None}))
    if as_json:
        echo_json(
            [
                {
                    "id": h["id"],
                    "case": h["case"],
                    "starts_at": h["starts_at"],
                    "courtroom": h["courtroom"],
                    "status": h["status"],
                    "segments": h["segments"],
                    "duration": h["duration"],
                }
                for h in rows
            ]
        )
        return
    for h in rows:
        starts = _when(h["starts_at"])
        when = starts.strftime("%Y-%m-%d %H:%M") if starts else "-"
        click.echo(f"{h['id']:>5}  {when:16}  {h['case']}  {h['courtroom'] or '-'}  {h['status']}  "
                   f"{h['segments']} segments")  # fmt: skip


@hearings_group.command("show")
@click.argument("hearing_id", type=int)
@click.option("--original", is_flag=True, help="Show the recognised text, not the corrected one.")
@with_api
def hearings_show(api: Api, hearing_id: int, original: bool) -> None:
    """A hearing's details, speakers and segments (with segment ids for `segments edit`). Audited as opened."""
    h = api.call("GET", f"/hearings/{hearing_id}")
    click.echo(f"hearing {h['id']}  case {h['case']}  {_when(h['starts_at']) or ''}  {h['courtroom']}  "
               f"status: {h['status']}")  # fmt: skip
    for r in h["recordings"]:
        click.echo(f"recording {r['file_name']}  sha256 {r['sha256'][:12]}…  {r['stored_path']}")
    speakers = {s["label"]: s for s in h["speakers"]}
    for s in speakers.values():
        click.echo(f"speaker {s['label']}: {s['role'] or '-'} {s['name'] or ''}".rstrip())
    for seg in pages(api, f"/hearings/{hearing_id}/segments", {"original": "true" if original else "false"}):
        spk = seg["speaker"]  # with ?original, the recognition's speaker and text
        who = speakers[spk]["display"] if spk in speakers else (spk or "?")
        mark = "*" if seg["edited"] and not original else " "
        at = clock(seg["start"], hour_digits=1)
        click.echo(f"{seg['id']:>8}{mark} {at}  {who}: {seg['text']}")


@hearings_group.command("checked")
@click.argument("hearing_id", type=int)
@click.argument("segment_id", type=int, required=False)
@click.option("--clear", is_flag=True, help="Remove the mark.")
@with_api
def hearings_checked(api: Api, hearing_id: int, segment_id: int | None, clear: bool) -> None:
    """The hearing's "checked up to here" mark: show it, set it at SEGMENT, or --clear it (audited)."""
    if clear and segment_id is not None:
        raise click.UsageError("give SEGMENT or --clear, not both")
    if clear or segment_id is not None:
        mark = api.call("PUT", f"/hearings/{hearing_id}/checked", json={"segment_id": segment_id})
    else:
        mark = api.call("GET", f"/hearings/{hearing_id}/checked")  # the mark alone: no text read, no opening
    if mark is None:
        click.echo(f"hearing {hearing_id}: no checked mark")
    else:
        click.echo(f"hearing {hearing_id}: checked up to segment {mark['segment_id']} "
                   f"({clock(mark['t'], hour_digits=1)}) by {mark['by']} at {mark['at']}")  # fmt: skip


# --- sign-off -----------------------------------------------------------------------------------------


class RecordingTime(click.ParamType):
    """A time in the recording: HH:MM:SS, MM:SS or seconds (`display.parse_clock`)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        try:
            return parse_clock(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _echo_signoff(hearing_id: int, s: dict[str, Any]) -> None:
    """One line: the status (its label first, as the pages show it) and the steps this account may take next."""
    nxt = ", ".join(s["next"]) or "none"
    click.echo(f"hearing {hearing_id}: {s['label']} ({s['status']}); next: {nxt}")


def _signoff_step(verb: str, summary: str) -> click.Command:
    """`hearings check|uncheck|approve ID`: one POST, the new status printed."""

    @click.argument("hearing_id", type=int)
    @with_api
    def step(api: Api, hearing_id: int) -> None:
        _echo_signoff(hearing_id, api.call("POST", f"/hearings/{hearing_id}/{verb}"))

    return hearings_group.command(verb, help=summary)(step)


hearings_check = _signoff_step(
    "check", "Mark hearing ID's record checked against the recording (a judge or clerk of the case; audited)."
)
hearings_uncheck = _signoff_step(
    "uncheck", "Take hearing ID's checked mark back: it is in review again (a judge or clerk of the case; audited)."
)
hearings_approve = _signoff_step(
    "approve", "Approve hearing ID's checked record: the draft mark goes (the case's judge; audited)."
)


@hearings_group.command("lock")
@click.argument("hearing_id", type=int)
@click.option("--note", default="", help="Kept with the step, e.g. where the signed paper copy is filed.")
@with_api
def hearings_lock(api: Api, hearing_id: int, note: str) -> None:
    """Lock hearing ID's approved record: no edit any more, only correction requests (judge or clerk; audited)."""
    body = {"note": note} if note else None
    _echo_signoff(hearing_id, api.call("POST", f"/hearings/{hearing_id}/lock", json=body))


@hearings_group.command("reopen")
@click.argument("hearing_id", type=int)
@click.option("--reason", required=True, help="Why the record goes back to review (kept with the step).")
@with_api
def hearings_reopen(api: Api, hearing_id: int, reason: str) -> None:
    """Reopen hearing ID's checked, approved or locked record for review (the case's judge; audited)."""
    if not reason.strip():
        raise click.BadParameter("请写明理由 (give a reason)", param_hint="--reason")
    _echo_signoff(hearing_id, api.call("POST", f"/hearings/{hearing_id}/reopen", json={"reason": reason}))


@hearings_group.command("signoff")
@click.argument("hearing_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def hearings_signoff(api: Api, hearing_id: int, as_json: bool) -> None:
    """Hearing ID's sign-off: its status, every step taken (who, when, why) and the steps you may take next."""
    s = api.call("GET", f"/hearings/{hearing_id}/signoff")
    if as_json:
        echo_json(s)
        return
    _echo_signoff(hearing_id, s)
    for step in s["steps"]:
        at = datetime.fromisoformat(step["at"]).strftime("%Y-%m-%d %H:%M:%S")
        reason = f"  {step['reason']}" if step["reason"] else ""
        click.echo(f"  {at}  {step['step']:<9} {step['account']}{reason}")


def _span(part: dict[str, Any]) -> str:
    return f"{clock(part['start'], hour_digits=1)}—{clock(part['end'], hour_digits=1)}"


@hearings_group.command("seal")
@click.argument("hearing_id", type=int)
@click.option("--from", "start", required=True, type=RecordingTime(), help="Start: HH:MM:SS, MM:SS or seconds.")
@click.option("--to", "end", required=True, type=RecordingTime(), help="End (exclusive), same forms.")
@click.option("--reason", required=True, help="Why the part is not public (kept, and shown in exports).")
@with_api
def hearings_seal(api: Api, hearing_id: int, start: float, end: float, reason: str) -> None:
    """Seal a time range of hearing ID as 不公开: left out of exports, hidden from viewers (judge or clerk; audited).

    Every segment overlapping the range at all is sealed."""
    if end <= start:
        raise click.BadParameter(f"--to ({clock(end, hour_digits=1)}) 应晚于 --from ({clock(start, hour_digits=1)}) "
                                 "(must be after --from)", param_hint="--to")  # fmt: skip
    if not reason.strip():
        raise click.BadParameter("请写明理由 (give a reason)", param_hint="--reason")
    part = api.call("POST", f"/hearings/{hearing_id}/sealed", json={"start": start, "end": end, "reason": reason})
    click.echo(f"hearing {hearing_id}: sealed part {part['id']} {_span(part)}: {part['reason']}")


@hearings_group.command("unseal")
@click.argument("hearing_id", type=int)
@click.argument("part_id", type=int)
@with_api
def hearings_unseal(api: Api, hearing_id: int, part_id: int) -> None:
    """Unseal part PART_ID of hearing ID (`hearings sealed ID` lists them; a judge or clerk of the case; audited)."""
    api.call("DELETE", f"/hearings/{hearing_id}/sealed/{part_id}")
    click.echo(f"hearing {hearing_id}: part {part_id} unsealed")


@hearings_group.command("sealed")
@click.argument("hearing_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def hearings_sealed(api: Api, hearing_id: int, as_json: bool) -> None:
    """Hearing ID's sealed (不公开) parts: id, time range, reason, who sealed it."""
    parts = list(pages(api, f"/hearings/{hearing_id}/sealed"))
    if as_json:
        echo_json(parts)
        return
    if not parts:
        click.echo(f"hearing {hearing_id}: no sealed parts")
    for p in parts:
        click.echo(f"{p['id']:>5}  {_span(p)}  {p['reason']}  (by {p['created_by']})")
