"""`workbench corrections`: correction requests (补正申请) for a locked record, filed and decided from a shell.

A locked record is not edited: a party, a lawyer or a member of the court asks for a correction, a judge or
clerk of the case files the request on their behalf (`request`), and the case's judge accepts or rejects it
with a reason (`accept`, `reject`). Accepting makes the proposed texts edits tied to the request; the
record stays locked and its appendix lists every request and its outcome.

Every verb is an API client (`with_api`), with the API's checks: another case's hearing or request answers
"not found or not yours", a viewer may not file, only the judge decides.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from workbench.cli.common import echo_json, with_api
from workbench.cli.hearings import pages

if TYPE_CHECKING:
    from workbench.api.client import Api

KINDS = ("party", "lawyer", "member")
KIND_WORDS = {"party": "当事人", "lawyer": "代理律师", "member": "本院人员"}


def _when(value: str | None) -> str:
    return datetime.fromisoformat(value).strftime("%Y-%m-%d %H:%M") if value else "-"


def _echo_request(r: dict[str, Any], *, changes: bool = True) -> None:
    who = f"{KIND_WORDS.get(r['requester_kind'], r['requester_kind'])} {r['requester']}"
    click.echo(f"correction request {r['id']} (hearing {r['hearing_id']}): {r['state']}  {who}  "
               f"filed by {r['filed_by']} at {_when(r['filed_at'])}: {r['reason']}")  # fmt: skip
    if changes:
        for c in r["changes"]:
            click.echo(f"  segment {c['segment_id']} (version {c['version']}): {c['text']}")
    if r["state"] != "pending":
        click.echo(f"  {r['state']} by {r['decided_by']} at {_when(r['decided_at'])}: {r['decision_reason'] or ''}")


@click.group("corrections")
def corrections_group() -> None:
    """Correction requests (补正申请) for a locked record: file, list, accept or reject them."""


@corrections_group.command("request")
@click.argument("hearing_id", type=int)
@click.option(
    "--segment",
    "segments",
    type=int,
    multiple=True,
    required=True,
    help="A segment to correct (repeat for several; each with its --text, in order).",
)
@click.option("--text", "texts", multiple=True, required=True, help="The proposed text for the --segment before it.")
@click.option("--requester", required=True, help="Who asks: the party's or lawyer's name, or the member's.")
@click.option("--kind", type=click.Choice(KINDS), required=True, help="party, lawyer or member (of the court).")
@click.option("--reason", required=True, help="Why the record is wrong there.")
@with_api
def corrections_request(
    api: Api, hearing_id: int, segments: tuple[int, ...], texts: tuple[str, ...], requester: str, kind: str,
    reason: str,
) -> None:  # fmt: skip
    """File a correction request for locked hearing HEARING_ID (a judge or clerk of the case; audited)."""
    if len(segments) != len(texts):
        raise click.UsageError(
            f"每个 --segment 需要一个 --text (give one --text per --segment: {len(segments)} segments, "
            f"{len(texts)} texts)"
        )
    if not requester.strip():
        raise click.BadParameter("请写明申请人 (name who asks)", param_hint="--requester")
    if not reason.strip():
        raise click.BadParameter("请写明理由 (give a reason)", param_hint="--reason")
    body = {
        "changes": [{"segment_id": sid, "text": text} for sid, text in zip(segments, texts, strict=True)],
        "requester": requester,
        "requester_kind": kind,
        "reason": reason,
    }
    _echo_request(api.call("POST", f"/hearings/{hearing_id}/corrections", json=body))


@corrections_group.command("list")
@click.argument("hearing_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def corrections_list(api: Api, hearing_id: int, as_json: bool) -> None:
    """HEARING_ID's correction requests, oldest first, with their proposed texts and outcomes."""
    requests = list(pages(api, f"/hearings/{hearing_id}/corrections"))
    if as_json:
        echo_json(requests)
        return
    if not requests:
        click.echo(f"hearing {hearing_id}: no correction requests")
    for r in requests:
        _echo_request(r)


def _decide(api: Api, request_id: int, verb: str, reason: str) -> None:
    if not reason.strip():
        raise click.BadParameter("请写明理由 (give a reason)", param_hint="--reason")
    _echo_request(api.call("POST", f"/corrections/{request_id}/{verb}", json={"reason": reason}), changes=False)


@corrections_group.command("accept")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why it is accepted (kept with the decision).")
@with_api
def corrections_accept(api: Api, request_id: int, reason: str) -> None:
    """Accept REQUEST_ID: its texts become edits tied to it (the case's judge; audited)."""
    _decide(api, request_id, "accept", reason)


@corrections_group.command("reject")
@click.argument("request_id", type=int)
@click.option("--reason", required=True, help="Why it is rejected (kept with the decision).")
@with_api
def corrections_reject(api: Api, request_id: int, reason: str) -> None:
    """Reject REQUEST_ID (the case's judge; audited)."""
    _decide(api, request_id, "reject", reason)
