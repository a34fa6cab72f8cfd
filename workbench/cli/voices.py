"""`workbench voices`: names proposed for a hearing's speakers from the same case's other hearings.

    workbench voices list HEARING
    workbench voices accept HEARING LABEL --from HID:LABEL
    workbench voices decline HEARING LABEL --from HID:LABEL

A speaker named in one hearing of a case is proposed for the matching voice (mean CAM++ embeddings) of the
case's other hearings; nothing is named until someone accepts. Every verb is an API client (`with_api`),
with the API's checks: another case's hearing answers "not found or not yours", a viewer may list but not
accept or decline, a locked record refuses the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, with_api
from workbench.cli.hearings import pages

if TYPE_CHECKING:
    from workbench.api.client import Api


def parse_from(value: str) -> tuple[int, str]:
    """ "12:S1" -> (12, "S1"); BadParameter naming the form otherwise."""
    hearing, sep, label = value.partition(":")
    if not sep or not hearing.strip().isdigit() or not label.strip() or int(hearing) < 1:
        raise click.BadParameter(
            f"{value!r}: 应为 庭审号:说话人，如 12:S1 (expected HEARING:LABEL, e.g. 12:S1)", param_hint="--from"
        )
    return int(hearing), label.strip()


def proposal_line(p: dict[str, Any]) -> str:
    return (f"{p['label']} 可能是 {p['display']} (hearing {p['from_hearing']}, {p['from_label']}) "
            f"相似度 {p['similarity']:.2f}  --from {p['from_hearing']}:{p['from_label']}")  # fmt: skip


@click.group("voices")
def voices_group() -> None:
    """A case's voices: a speaker named in one hearing, proposed for the matching voice in another."""


@voices_group.command("list")
@click.argument("hearing_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def voices_list(api: Api, hearing_id: int, as_json: bool) -> None:
    """The names proposed for HEARING_ID's unnamed speakers, from the case's other hearings."""
    proposals = list(pages(api, f"/hearings/{hearing_id}/voices"))
    if as_json:
        echo_json(proposals)
        return
    if not proposals:
        click.echo(f"hearing {hearing_id}: 没有推荐 (no voices proposed)")
    for p in proposals:
        click.echo(proposal_line(p))


def _decide(api: Api, hearing_id: int, label: str, source: str, verb: str) -> dict[str, Any]:
    from_hearing, from_label = parse_from(source)
    body = {"from_hearing": from_hearing, "from_label": from_label}
    return api.call("POST", f"/hearings/{hearing_id}/voices/{label}/{verb}", json=body)  # type: ignore[no-any-return]


FROM_HELP = "The proposal's voice, HEARING:LABEL (as `voices list` prints it)."


@voices_group.command("accept")
@click.argument("hearing_id", type=int)
@click.argument("label")
@click.option("--from", "source", required=True, metavar="HID:LABEL", help=FROM_HELP)
@with_api
def voices_accept(api: Api, hearing_id: int, label: str, source: str) -> None:
    """Speaker LABEL of HEARING_ID is the proposed voice: it gets its role and name (audited)."""
    s = _decide(api, hearing_id, label, source, "accept")
    click.echo(f"hearing {hearing_id} {s['label']}: {s['display']}")


@voices_group.command("decline")
@click.argument("hearing_id", type=int)
@click.argument("label")
@click.option("--from", "source", required=True, metavar="HID:LABEL", help=FROM_HELP)
@with_api
def voices_decline(api: Api, hearing_id: int, label: str, source: str) -> None:
    """Speaker LABEL of HEARING_ID is not the proposed voice: not proposed again (audited)."""
    d = _decide(api, hearing_id, label, source, "decline")
    click.echo(f"hearing {hearing_id} {d['label']}: 不是 {d['from_hearing']}:{d['from_label']} (declined)")
