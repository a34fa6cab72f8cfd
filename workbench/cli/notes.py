"""`workbench notes`: a hearing's stage marks, timed notes and recesses (the clerk's log notes).

    workbench notes list 7
    workbench notes add 7 --at 00:12:30 --stage 法庭调查
    workbench notes add 7 --at 00:20:05 --note "原告出示证据一：借条"
    workbench notes add 7 --at 00:30:00 --recess --until 00:45:00 --reason 合议庭评议
    workbench notes edit 7 12 --text "原告出示证据一：借条原件"
    workbench notes delete 7 12

Times are in the recording, as HH:MM:SS, MM:SS or seconds. Every verb is an API client (`with_api`), with the
API's checks: another case's hearing answers "not found or not yours", a viewer may not write, a locked record
refuses every change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, with_api
from workbench.cli.hearings import pages
from workbench.display import clock, parse_clock
from workbench.speech.transcript import STAGES

if TYPE_CHECKING:
    from workbench.api.client import Api

KIND_WORDS = {"stage": "阶段 stage", "note": "笔记 note", "recess": "休庭 recess"}


def _time(value: str | None, option: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_clock(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=option) from None


def _line(n: dict[str, Any]) -> str:
    span = clock(n["at"]) + (f"—{clock(n['end'])}" if n.get("end") is not None else "")
    sealed = "  [不公开 sealed]" if n.get("sealed") else ""
    kind = KIND_WORDS.get(n["kind"], n["kind"])
    return f"{n['id']:>5}  {span:<17}  {kind:<10}  {n['text']}  (v{n['version']}, {n['created_by']}){sealed}"


@click.group("notes")
def notes_group() -> None:
    """A hearing's log notes: stage changes (庭审阶段), timed notes, recesses (休庭)."""


@notes_group.command("list")
@click.argument("hearing_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def notes_list(api: Api, hearing_id: int, as_json: bool) -> None:
    """HEARING_ID's notes by time: id, time (a recess: from—to), kind, text, version and author."""
    notes = list(pages(api, f"/hearings/{hearing_id}/notes"))
    if as_json:
        echo_json(notes)
        return
    if not notes:
        click.echo(f"hearing {hearing_id}: no log notes")
    for n in notes:
        click.echo(_line(n))


@notes_group.command("add")
@click.argument("hearing_id", type=int)
@click.option("--at", "at", required=True, help="When, in the recording: HH:MM:SS, MM:SS or seconds.")
@click.option("--stage", help=f"A stage begins here: {'、'.join(STAGES)}, or your own name for it.")
@click.option("--note", help="A timed note (出示证据一, 异议, ...).")
@click.option("--recess", is_flag=True, help="A recess (休庭) from --at until --until.")
@click.option("--until", help="With --recess: when the hearing resumed.")
@click.option("--reason", default="", help="With --recess: why (合议庭评议, ...).")
@with_api
def notes_add(
    api: Api, hearing_id: int, at: str, stage: str | None, note: str | None, recess: bool, until: str | None,
    reason: str,
) -> None:  # fmt: skip
    """Add a stage mark, a note or a recess to HEARING_ID (a judge, clerk or admin of the case; audited)."""
    chosen = [name for name, given in (("--stage", stage is not None), ("--note", note is not None),
                                       ("--recess", recess)) if given]  # fmt: skip
    if len(chosen) != 1:
        raise click.UsageError(
            "请给出 --stage、--note 或 --recess 之一 (give exactly one of --stage NAME, --note TEXT, --recess --until "
            f"TIME; got {', '.join(chosen) or 'none'})"
        )
    if until is not None and not recess:
        raise click.BadParameter("只有休庭有结束时间 (only a --recess has an end)", param_hint="--until")
    if reason and not recess:
        raise click.BadParameter("--reason 只用于休庭 (--reason goes with --recess; a note is its text)",
                                 param_hint="--reason")  # fmt: skip
    body: dict[str, Any] = {"at": _time(at, "--at")}
    if stage is not None:
        body |= {"kind": "stage", "text": stage}
    elif note is not None:
        body |= {"kind": "note", "text": note}
    else:
        if until is None:
            raise click.BadParameter("休庭需要结束时间 (a recess needs --until TIME)", param_hint="--until")
        body |= {"kind": "recess", "end": _time(until, "--until"), "text": reason}
    click.echo(_line(api.call("POST", f"/hearings/{hearing_id}/notes", json=body)))


@notes_group.command("edit")
@click.argument("hearing_id", type=int)
@click.argument("note_id", type=int)
@click.option("--at", "at", help="A new time: HH:MM:SS, MM:SS or seconds.")
@click.option("--text", help="A new text (a stage's name, the note, a recess's reason).")
@click.option("--until", help="A recess's new end.")
@click.option("--version", type=int, help="The version you read (`notes list`): refused if it changed since. "
              "Default: the version now.")  # fmt: skip
@with_api
def notes_edit(
    api: Api, hearing_id: int, note_id: int, at: str | None, text: str | None, until: str | None, version: int | None
) -> None:
    """Change note NOTE_ID of HEARING_ID (a judge, clerk or admin of the case; audited)."""
    body: dict[str, Any] = {}
    if at is not None:
        body["at"] = _time(at, "--at")
    if text is not None:
        body["text"] = text
    if until is not None:
        body["end"] = _time(until, "--until")
    if not body:
        raise click.UsageError("请给出 --at、--text 或 --until (give --at, --text and/or --until)")
    if version is None:  # the version now: a change landing between this read and the PATCH is still refused
        current = next((n for n in pages(api, f"/hearings/{hearing_id}/notes") if n["id"] == note_id), None)
        version = current["version"] if current else None
    if version is not None:
        body["version"] = version
    click.echo(_line(api.call("PATCH", f"/hearings/{hearing_id}/notes/{note_id}", json=body)))


@notes_group.command("delete")
@click.argument("hearing_id", type=int)
@click.argument("note_id", type=int)
@with_api
def notes_delete(api: Api, hearing_id: int, note_id: int) -> None:
    """Remove note NOTE_ID of HEARING_ID (a judge, clerk or admin of the case; audited with what it was)."""
    api.call("DELETE", f"/hearings/{hearing_id}/notes/{note_id}")
    click.echo(f"hearing {hearing_id}: note {note_id} deleted")
