"""`workbench courtrooms` (channel profiles per courtroom) and `workbench roster` (a case's participants).

A courtroom profile says which seat and role each channel of the courtroom's recorder is (`--channels
审判长,原告,被告,-`, as `transcribe --channels` takes it); a hearing added with `--courtroom NAME` whose recording has
that many channels is transcribed channel by channel. Admins set and delete profiles; anyone may list them.

A case's roster is who takes part (role, name, seat): the names join the case's hotwords for its jobs and name the
speakers of its new transcripts where exactly one participant fits. A case's judges and clerks change it; any member
lists it.

Every verb is an API client (`with_api`), with the API's checks: another case answers "not found or not yours", a
viewer may not change a roster, only an admin changes a profile.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, with_api
from workbench.cli.hearings import find_case, pages

if TYPE_CHECKING:
    from workbench.api.client import Api


def _echo_courtroom(c: dict[str, Any]) -> None:
    click.echo(f"{c['name']}: {len(c['channels'])} channels, set by {c['updated_by']} at {c['updated_at'][:16]}")
    for i, item in enumerate(c["channels"], 1):
        click.echo(f"  channel {i}: {item}")


@click.group("courtrooms")
def courtrooms_group() -> None:
    """Courtroom profiles: which seat and role each microphone channel is (admin)."""


@courtrooms_group.command("set")
@click.argument("name")
@click.option(
    "--channels",
    required=True,
    help="One item per channel, comma-separated: a role (审判长), SEAT:ROLE (原告席:原告), SEAT:ROLE+ROLE for a "
    "shared seat, '-' to ignore one, 'mix' for the room's mix. E.g. 审判长,原告,被告,-",
)
@with_api
def courtrooms_set(api: Api, name: str, channels: str) -> None:
    """Create or replace courtroom NAME's profile (an admin; audited)."""
    if not channels.strip():
        raise click.BadParameter(
            "请给出声道映射 (give the channel map, e.g. 审判长,原告,被告,-)", param_hint="--channels"
        )
    _echo_courtroom(api.call("PUT", f"/courtrooms/{name.strip()}", json={"channels": channels}))


@courtrooms_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def courtrooms_list(api: Api, as_json: bool) -> None:
    """The courtroom profiles, by name."""
    profiles = list(pages(api, "/courtrooms"))
    if as_json:
        echo_json(profiles)
        return
    if not profiles:
        click.echo("no courtroom profiles: `workbench courtrooms set NAME --channels 审判长,原告,被告,-` makes one")
    for c in profiles:
        click.echo(f"{c['name']}  {','.join(c['channels'])}")


@courtrooms_group.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def courtrooms_show(api: Api, name: str, as_json: bool) -> None:
    """Courtroom NAME's profile, channel by channel."""
    profile = api.call("GET", f"/courtrooms/{name.strip()}")
    if as_json:
        echo_json(profile)
    else:
        _echo_courtroom(profile)


@courtrooms_group.command("delete")
@click.argument("name")
@with_api
def courtrooms_delete(api: Api, name: str) -> None:
    """Delete courtroom NAME's profile: its recordings are mixed to mono from then on (an admin; audited)."""
    gone = api.call("DELETE", f"/courtrooms/{name.strip()}")["deleted"]
    click.echo(f"deleted the profile of {gone}")


# --- a case's roster ---------------------------------------------------------------------------------


def _echo_participant(p: dict[str, Any]) -> None:
    click.echo(f"{p['id']:>5}  {p['role']}  {p['name']}  {p['seat'] or '-'}")


@click.group("roster")
def roster_group() -> None:
    """A case's participants (role, name, seat): they name the speakers and join the case's hotwords."""


@roster_group.command("list")
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def roster_list(api: Api, case: str, as_json: bool) -> None:
    """CASE's roster (number or id), in the order entered: id, role, name, seat."""
    found = find_case(api, case)
    people = list(pages(api, f"/cases/{found['id']}/roster"))
    if as_json:
        echo_json(people)
        return
    if not people:
        click.echo(f"case {found['number']}: the roster is empty (`workbench roster add CASE --role 原告 --name 张三`)")
    for p in people:
        _echo_participant(p)


@roster_group.command("add")
@click.argument("case")
@click.option("--role", required=True, help="A court role: 审判长, 审判员, 原告, 被告, 代理人, 证人, ...")
@click.option("--name", required=True, help="The person's name.")
@click.option("--seat", default="", help="The seat they sit at, e.g. 原告席 (as the courtroom profile names it).")
@with_api
def roster_add(api: Api, case: str, role: str, name: str, seat: str) -> None:
    """Add a participant to CASE's roster (its judges and clerks, admins; audited)."""
    if not role.strip():
        raise click.BadParameter("请写明角色 (give a role)", param_hint="--role")
    if not name.strip():
        raise click.BadParameter("请写明姓名 (give a name)", param_hint="--name")
    found = find_case(api, case)
    added = api.call("POST", f"/cases/{found['id']}/roster", json={"role": role, "name": name, "seat": seat})
    _echo_participant(added)


@roster_group.command("remove")
@click.argument("case")
@click.argument("participant_id", type=int)
@with_api
def roster_remove(api: Api, case: str, participant_id: int) -> None:
    """Take roster entry PARTICIPANT_ID off CASE's roster (names already given to speakers stay; audited)."""
    found = find_case(api, case)
    removed = api.call("DELETE", f"/cases/{found['id']}/roster/{participant_id}")["removed"]
    click.echo(f"removed roster entry {removed} from case {found['number']}")
