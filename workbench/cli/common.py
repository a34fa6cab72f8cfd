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

from workbench.store import Store, StoreError

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
    from workbench.accounts.access import NoAccount, choose_access

    try:
        return choose_access(store, as_name)
    except NoAccount as e:
        raise click.ClickException(str(e)) from None


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


SERVER_HELP = (
    "The running server to call (env WORKBENCH_SERVER, setting server_url); default: the one "
    "<data_dir>/server.json names if it runs, else the store is opened here."
)
TOKEN_HELP = "API token for --server (env WORKBENCH_TOKEN); beside the server its console key is used."


def with_api(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--db`, `--as`, `--server URL` and `--token`, and passes an `Api` first (`workbench.api.client`).

    A running server (found as `client.connect` says) is called over HTTP; else the store is opened here
    and the same endpoints run in this process, as `--as` says (`choose_access`). An `ApiError` either way
    becomes a clean CLI error (its detail, exit status 1).
    """

    @db_option
    @as_option
    @click.option("--server", "server_url", metavar="URL", help=SERVER_HELP)
    @click.option("--token", envvar="WORKBENCH_TOKEN", metavar="TOKEN", help=TOKEN_HELP)
    @wraps(fn)
    def wrapper(
        *args: Any, db: Path | None, as_name: str | None, server_url: str | None, token: str | None, **kwargs: Any
    ) -> Any:
        from workbench.api.client import LocalApi, connect
        from workbench.api.core import ApiError

        try:
            remote = connect(server_url=server_url, token=token, db=db, as_name=as_name)
        except ApiError as e:
            raise click.ClickException(e.detail) from None
        try:
            if remote is not None:
                with remote:
                    return fn(remote, *args, **kwargs)
            with opened_access(db, as_name) as access:
                return fn(LocalApi(access), *args, **kwargs)
        except ApiError as e:
            raise click.ClickException(e.detail) from None
        except StoreError as e:
            raise click.ClickException(str(e)) from e
        except OSError as e:  # the server went away mid-command, a refused connection, a certificate refused
            if remote is None:
                raise
            raise click.ClickException(f"{remote.server.url}: {e}") from e

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
