"""`workbench users ...`: accounts on the server's command line (an admin's tool).

There is no password in the CLI: whoever has a shell on the server with access to its data folder
already has everything. The verbs act as `--as NAME` (env WORKBENCH_AS); without it, as the console
operator `cli:<login>` while no enabled admin exists (to make the first one), else as the one enabled
admin, else they ask which. Only an admin may run them.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

import click

from workbench.accounts import Access, Account, Accounts, Role, console_access
from workbench.accounts.roles import choices
from workbench.cli.common import as_option, db_option, echo_json, resolve_access
from workbench.store import Store, StoreError

_NO_PASSWORD_NOTE = (
    "No password is asked: shell access to the server's data folder is already full access, so the CLI trusts "
    "its operator."
)


def operator_access(store: Store, as_name: str | None) -> Access:
    """Who a `users` verb runs as: `common.resolve_access`'s rules, except that while no enabled admin exists
    (a fresh install, or only other roles made so far) the console operator may act, to make one."""
    if not as_name and not Accounts(store).has_admin():
        return console_access(store)
    return resolve_access(store, as_name)


def _as_admin(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Adds `--db` and `--as`, opens the store, resolves the operator, requires an admin."""

    @db_option
    @as_option
    @wraps(fn)
    def wrapper(*args: Any, db: Path | None, as_name: str | None, **kwargs: Any) -> Any:
        try:
            with Store(db) as store:
                access = operator_access(store, as_name)
                access.require_admin()
                return fn(store, access, *args, **kwargs)
        except StoreError as e:
            raise click.ClickException(str(e)) from e

    return wrapper


def _role(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Role | None:
    if value is None:
        return None
    try:
        return Role.parse(value)
    except StoreError as e:
        raise click.BadParameter(str(e)) from None


def _read_password_stdin() -> str:
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise click.ClickException("--password-stdin: 标准输入中没有密码 (no password on standard input)")
    return password


def _describe(account: Account) -> str:
    return f"{account.name} ({account.role.label} {account.role.value})"


@click.group("users", help=f"Accounts: add, list, passwords, disable, roles. {_NO_PASSWORD_NOTE}")
def users_group() -> None:
    pass


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, callback=_role, help=f"One of {choices()}.")
@click.option("--display-name", default="", help="Name shown in the pages and the audit (any script, 64 at most).")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line). Without it a one-time password is printed once.",
)
@_as_admin
def add_cmd(store: Store, access: Access, name: str, role: Role, display_name: str, password_stdin: bool) -> None:
    """Add a local account. Its password must be changed at the first sign-in."""
    password = _read_password_stdin() if password_stdin else None
    account, one_time = Accounts(store).add(
        name, role, by=access.actor, display_name=display_name, password=password, must_change=True
    )
    click.echo(f"已添加用户 {_describe(account)} (added)")
    if one_time is not None:
        click.echo(f"一次性密码 (one-time password, shown only now): {one_time}")
    click.echo("首次登录时必须修改密码 (the password must be changed at the first sign-in)")


@users_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@_as_admin
def list_cmd(store: Store, access: Access, as_json: bool) -> None:
    """List the accounts."""
    accounts = Accounts(store).list()
    if as_json:
        echo_json(
            [
                {
                    "id": a.id,
                    "name": a.name,
                    "display_name": a.display_name,
                    "role": a.role.value,
                    "role_label": a.role.label,
                    "source": a.source,
                    "must_change": a.must_change,
                    "disabled": a.disabled,
                    "created_at": a.created_at.isoformat(timespec="seconds"),
                }
                for a in accounts
            ]
        )
        return
    if not accounts:
        click.echo("还没有用户 (no accounts yet): `workbench users add NAME --role admin` makes the first admin")
        return
    for a in accounts:
        state = "已停用 disabled" if a.disabled else ("须改密码 must change password" if a.must_change else "")
        click.echo(
            f"{a.name:<20} {a.role.value:<7} {a.role.label:<4} {a.source:<6} "
            f"{a.created_at:%Y-%m-%d %H:%M}  {a.display_name}  {state}".rstrip()
        )


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the new password from standard input (one line).")
@_as_admin
def passwd_cmd(store: Store, access: Access, name: str, password_stdin: bool) -> None:
    """Set an account's password (asked twice, hidden). Someone else's must be changed at their next sign-in,
    and their open sessions end."""
    accounts = Accounts(store)
    account = accounts.get(name)
    if password_stdin:
        password = _read_password_stdin()
    else:
        password = click.prompt(
            f"{account.name} 的新密码 (new password)", hide_input=True, confirmation_prompt=True, type=str
        )
    own = account.id is not None and account.id == access.account.id
    accounts.set_password(account.name, password, by=access.actor, must_change=not own)
    click.echo(f"已设置 {account.name} 的密码 (password set)")
    if not own:
        click.echo("下次登录时必须修改密码 (it must be changed at the next sign-in); 其会话已结束 (sessions ended)")


@users_group.command("disable")
@click.argument("name")
@_as_admin
def disable_cmd(store: Store, access: Access, name: str) -> None:
    """Disable an account (it cannot sign in; its sessions end). The last enabled admin cannot be disabled."""
    account = Accounts(store).disable(name, by=access.actor)
    click.echo(f"已停用 {_describe(account)} (disabled)")


@users_group.command("enable")
@click.argument("name")
@_as_admin
def enable_cmd(store: Store, access: Access, name: str) -> None:
    """Enable a disabled account again."""
    account = Accounts(store).enable(name, by=access.actor)
    click.echo(f"已启用 {_describe(account)} (enabled)")


@users_group.command("role")
@click.argument("name")
@click.argument("role", callback=_role)
@_as_admin
def role_cmd(store: Store, access: Access, name: str, role: Role) -> None:
    """Change an account's role (admin, judge, clerk, viewer). The last enabled admin keeps theirs."""
    account = Accounts(store).set_role(name, role, by=access.actor)
    click.echo(f"{account.name} 现在是 {account.role.label} (now {account.role.value})")


@users_group.command("display-name")
@click.argument("name")
@click.argument("display_name")
@_as_admin
def display_name_cmd(store: Store, access: Access, name: str, display_name: str) -> None:
    """Change the name shown for an account."""
    account = Accounts(store).set_display_name(name, display_name, by=access.actor)
    click.echo(f"{account.name}: {account.display_name or '(none)'}")
