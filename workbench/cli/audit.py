"""`workbench audit verify | list`: the audit trail, checked and read (an admin's, or the console operator's).

`verify` recomputes the chain of hashes (`workbench.store.audit`) and names the first row that was
altered, removed or inserted; it prints the head (row count and last hash), which an admin can note
down elsewhere and give back later as `--head HASH`: the chain must still contain that row, so rows
cut off the end together are noticed too.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from workbench.cli.common import echo_json, parse_datetime, with_access
from workbench.store import audit

if TYPE_CHECKING:
    from workbench.accounts import Access

ACTIONS = sorted(
    value for name, value in vars(audit).items() if name.isupper() and isinstance(value, str) and name != "GENESIS"
)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: who did what to which case, from where and when (admins only)."""


@audit_group.command("verify")
@click.option(
    "--head",
    "head",
    metavar="HASH",
    help="A head hash noted down earlier: fails unless that row is still in the chain.",
)
@with_access
def audit_verify(access: Access, head: str | None) -> None:
    """Recompute the chain; exit 1 naming the first altered or missing row."""
    access.require_admin()
    report = access.store.verify_audit()
    if not report.ok:
        click.echo(
            f"审计链已损坏 (audit chain broken): {report.reason}; first bad row: {report.first_bad}; "
            f"{report.rows} row(s) before it are intact",
            err=True,
        )
        sys.exit(1)
    if head:
        at = access.store.audit_row_with_hash(head)
        if at is None:
            click.echo(
                f"审计链不含该头部 (head not in the chain): no row has hash {head.strip()}; rows were removed "
                f"from the end, or the hash is from another store ({report.rows} row(s) now)",
                err=True,
            )
            sys.exit(1)
        click.echo(f"head {head.strip()} is row {at} of the chain")
    click.echo(f"审计链完好 (audit chain ok): {report.rows} row(s), head {report.head}")


@audit_group.command("list")
@click.option("--user", "account", help="Only this account's rows (its sign-in name, e.g. cli:root).")
@click.option("--case", help="Only rows about this case (number or id).")
@click.option("--since", help="From this date or date-time on, e.g. 2024-03-05 or 2024-03-05T09:30.")
@click.option("--action", type=click.Choice(ACTIONS), help="Only this kind of row.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000), help="Newest rows at most.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@with_access
def audit_list(
    access: Access,
    account: str | None,
    case: str | None,
    since: str | None,
    action: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Audit rows, newest first."""
    access.require_admin()
    case_id = access.store.case(case).id if case else None
    rows = access.store.audit_rows(
        account=account, case_id=case_id, action=action, since=parse_datetime(since), limit=limit
    )
    if as_json:
        echo_json(
            [
                {
                    "id": r.id,
                    "at": r.logged_at.isoformat(timespec="microseconds"),
                    "account": r.account,
                    "client": r.client,
                    "action": r.action,
                    "case_id": r.case_id,
                    "hearing_id": r.hearing_id,
                    "detail": r.detail,
                    "hash": r.hash,
                }
                for r in rows
            ]
        )
        return
    if not rows:
        click.echo("no audit rows match", err=True)
        return
    for r in rows:
        where = " ".join(
            part
            for part in (f"case {r.case_id}" if r.case_id else "", f"hearing {r.hearing_id}" if r.hearing_id else "")
            if part
        )
        detail = " ".join(f"{k}={_short(v)}" for k, v in sorted(r.detail.items()))
        when = f"{r.logged_at:%Y-%m-%d %H:%M:%S}"
        click.echo(f"{r.id:>6}  {when}  {r.account}  {r.client}  {r.action}  {where}  {detail}".rstrip())


def _short(value: object, width: int = 60) -> str:
    """A detail value on one line, cut to `width` characters (the full row: --json)."""
    text = " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"
