"""`workbench tokens create | list | revoke`: API tokens, through the API like every store verb.

`create` prints the token alone on standard output (so `TOKEN=$(workbench tokens create nightly)` works)
and its note on standard error; the token is shown this once, only its sha256 is kept. An account manages
its own tokens; an admin may name another account (`--for`) or list every account's (`--all`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import click

from workbench.cli.common import echo_json, with_api

if TYPE_CHECKING:
    from workbench.api.client import Api

FOR_HELP = "Another account's token (admins only; default: your own)."


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: scripts (and the CLI on another machine) reach the server's /api/v1 with them."""


@tokens_group.command("create")
@click.argument("name")
@click.option("--for", "for_account", metavar="ACCOUNT", help=FOR_HELP)
@with_api
def tokens_create(api: Api, name: str, for_account: str | None) -> None:
    """Makes the token NAME and prints it, shown this once.

    The token is alone on standard output (`TOKEN=$(workbench tokens create ci)`); the note goes to standard error.
    """
    body: dict[str, Any] = {"name": name}
    if for_account:
        body["account"] = for_account
    made = api.call("POST", "/tokens", json=body)
    click.echo(
        f"令牌 {made['name']!r} 已为 {made['account']} 创建；只显示这一次，请立即保存 "
        f"(token {made['name']!r} made for {made['account']}; shown this once, store it now). "
        "Use it as `Authorization: Bearer <token>` or WORKBENCH_TOKEN.",
        err=True,
    )
    click.echo(made["token"])


@tokens_group.command("list")
@click.option("--all", "every", is_flag=True, help="Every account's tokens (admins only).")
@click.option("--for", "for_account", metavar="ACCOUNT", help=FOR_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_api
def tokens_list(api: Api, every: bool, for_account: str | None, as_json: bool) -> None:
    """Your tokens (revoked ones too), newest first."""
    if every and for_account:
        raise click.UsageError("--all and --for: give one of them")
    params: dict[str, Any] = {"limit": 1000}
    if every:
        params["all"] = True
    if for_account:
        params["account"] = for_account
    items: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = api.call("GET", "/tokens", params={**params, "offset": offset})
        items.extend(page["items"])
        offset = page["next_offset"]
    if as_json:
        echo_json(items)
        return
    if not items:
        click.echo("no tokens", err=True)
        return
    for t in items:
        state = f"revoked {_short(t['revoked_at'])}" if t["revoked_at"] else "live"
        used = _short(t["last_used_at"]) if t["last_used_at"] else "never"
        click.echo(
            f"{t['name']}\t{t['account']}\tmade {_short(t['created_at'])} by {t['created_by']}\t"
            f"last used {used}\t{state}"
        )


@tokens_group.command("revoke")
@click.argument("name")
@click.option("--for", "for_account", metavar="ACCOUNT", help=FOR_HELP)
@with_api
def tokens_revoke(api: Api, name: str, for_account: str | None) -> None:
    """Revokes the token NAME at once.

    It stays listed, with the time it was revoked; the name is free for a new token.
    """
    # Quoted: a name may hold spaces and any script; the endpoint unquotes it (a name never holds "%").
    api.call("DELETE", f"/tokens/{quote(name.strip(), safe='')}", params={"account": for_account})
    click.echo(f"令牌 {name!r} 已撤销 (token {name!r} revoked)", err=True)


def _short(iso: str) -> str:
    """`2024-03-05T09:30:12.345678` as `2024-03-05 09:30`."""
    return iso.replace("T", " ")[:16]
