"""What the store's commands share: `--db` and `--as`, the open store and who runs the command, dates.

Every store verb takes `--db FILE` (or WORKBENCH_DB); the default is `<data_dir>/workbench.duckdb`.

Who a verb runs as (`with_access`): the account `--as NAME` (or WORKBENCH_AS), checked like the pages
(a clerk sees and changes only their cases). Without it: while the store has no account at all, the
console operator `cli:<login>` with an admin's rights (a fresh install, scripts from before accounts);
else its one enabled admin; with several admins the verb asks which. There is no password: whoever has
a shell with access to the server's data folder can read and change the database file anyway, so the
CLI trusts its operator and records who they said they were (client `cli:<login>@<host>`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workbench.store import NotFound, Store, StoreError

if TYPE_CHECKING:
    from workbench.accounts import Access

AS_HELP = (
    "Run as this account (env WORKBENCH_AS); checked like the pages. Default: the only admin, or the console "
    "operator while no account exists. No password: shell access to the data folder is already full access."
)


def db_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar="WORKBENCH_DB",
        help="DuckDB file (default: <data_dir>/workbench.duckdb; env WORKBENCH_DB).",
    )(fn)


def as_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--as", "as_name", envvar="WORKBENCH_AS", metavar="NAME", help=AS_HELP)(fn)


def resolve_access(store: Store, as_name: str | None) -> Access:
    """Who the command runs as (the rules in this module's docstring); ClickException saying why if it cannot tell."""
    from workbench.accounts import Access, Accounts, console_access  # argon2 and the accounts: only for store verbs
    from workbench.accounts.access import cli_client

    accounts = Accounts(store)
    if as_name:
        try:
            account = accounts.get(as_name)
        except NotFound as e:
            raise click.ClickException(f"--as {as_name}: {e}") from None
        if account.disabled:
            raise click.ClickException(f"--as {account.name}: 账户已停用 (the account is disabled)")
        return Access(store, account, cli_client())
    if accounts.count() == 0:
        return console_access(store)
    admins = accounts.admins()
    if len(admins) == 1:
        return Access(store, admins[0], cli_client())
    if not admins:
        raise click.ClickException(
            "no enabled admin account: pass --as NAME, or make an admin with `workbench users add NAME --role admin`"
        )
    raise click.ClickException(f"ambiguous: pass --as NAME (admins: {', '.join(a.name for a in admins)})")


@contextlib.contextmanager
def opened_access(db: Path | None, as_name: str | None) -> Iterator[Access]:
    """The store opened and the account resolved; store errors become clean CLI errors."""
    try:
        with Store(db) as store:
            yield resolve_access(store, as_name)
    except StoreError as e:
        raise click.ClickException(str(e)) from e


def with_access(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--db` and `--as`, opens the store, resolves who runs the command and passes their `Access`
    first (`access.store` is the store); store errors (NotYours, Forbidden, ...) become clean CLI errors."""

    @db_option
    @as_option
    @wraps(fn)
    def wrapper(*args: Any, db: Path | None, as_name: str | None, **kwargs: Any) -> Any:
        with opened_access(db, as_name) as access:
            try:
                return fn(access, *args, **kwargs)
            except StoreError as e:
                raise click.ClickException(str(e)) from e

    return wrapper


def parse_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-05") from e


def parse_datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as e:
        raise click.BadParameter(f"{value!r} is not a date or date-time like 2024-03-05 or 2024-03-05T09:30") from e


def echo_json(data: object) -> None:
    """`--json` output: UTF-8 as it is (case numbers and names stay readable), one space of indent."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=1))
