"""Accounts: the `users` table, names and display names checked, passwords set and changed, roles, disabling.

Every change is audited in the transaction that makes it (`USER_ADDED`, `USER_CHANGED` with what
changed, `PASSWORD_CHANGED`), never with the password or its hash. No change leaves the store without
an enabled admin. Changes to other accounts need an admin's `Actor` (checked here as well as by the
caller: a page or verb that forgot its check still cannot make a clerk an admin).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import duckdb

from workbench.accounts import passwords
from workbench.accounts.roles import AccountError, Forbidden, Role
from workbench.store import audit
from workbench.store.audit import Actor
from workbench.store.records import NotFound

if TYPE_CHECKING:
    from workbench.store.db import Database

NAME_MAX = 64
DISPLAY_NAME_MAX = 64
LOCAL = "local"
LDAP = "ldap"
CONSOLE = "console"  # the CLI's operator pseudo-account (`access.console_access`), never stored

_NAME = re.compile(r"[A-Za-z0-9._@-]+")
_NAME_CHAR = re.compile(r"[A-Za-z0-9._@-]")
# Bidi embedding/override (U+202A-U+202E) and isolate (U+2066-U+2069) controls: they reorder the text
# around them, so a name could show as something else than it is ("Trojan Source").
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))

_COLUMNS = "id, name, display_name, role, source, must_change, disabled, created_at"


@dataclass(frozen=True, slots=True)
class Account:
    id: int | None  # None only for the console operator (`access.console_access`)
    name: str  # the sign-in name
    display_name: str
    role: Role
    source: str  # local | ldap (| console)
    must_change: bool  # must choose a new password before anything else
    disabled: bool
    created_at: datetime

    def actor(self, client: str) -> Actor:
        return Actor(account=self.name, client=client, user_id=self.id, role=self.role.value)

    @property
    def shown(self) -> str:
        return self.display_name or self.name

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def _account(row: tuple[Any, ...]) -> Account:
    return Account(row[0], row[1], row[2], Role(row[3]), row[4], bool(row[5]), bool(row[6]), row[7])


def _now() -> datetime:
    return datetime.now().replace(tzinfo=None)


def _char_name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"


def check_name(name: str) -> str:
    """The sign-in name, stripped; AccountError naming the first character that is not allowed."""
    if not isinstance(name, str):
        raise AccountError("用户名必须是文本 (a user name must be text)")
    name = name.strip()
    rule = "1-64 个字母、数字或 . _ @ - (1-64 ASCII letters, digits or . _ @ -)"
    if not name:
        raise AccountError(f"用户名不能为空 (a user name cannot be empty): {rule}")
    if len(name) > NAME_MAX:
        raise AccountError(f"用户名太长：{len(name)} 个字符 (a name of {len(name)} characters is too long): {rule}")
    if not _NAME.fullmatch(name):
        pos, ch = next((i, c) for i, c in enumerate(name) if not _NAME_CHAR.fullmatch(c))
        raise AccountError(
            f"用户名含有不允许的字符 {_char_name(ch)}，位置 {pos + 1} "
            f"(a user name cannot contain {_char_name(ch)}, at position {pos + 1}): {rule}"
        )
    return name


def check_display_name(text: str) -> str:
    """The display name, stripped: any script, up to 64 characters, no NUL, control or bidi override characters.

    HTML and quotes are kept as they are (they are text; pages escape what they show).
    """
    if not isinstance(text, str):
        raise AccountError("显示名称必须是文本 (a display name must be text)")
    text = text.strip()
    if len(text) > DISPLAY_NAME_MAX:
        raise AccountError(
            f"显示名称最多 {DISPLAY_NAME_MAX} 个字符，现为 {len(text)} "
            f"(a display name has at most {DISPLAY_NAME_MAX} characters, this one {len(text)})"
        )
    for pos, ch in enumerate(text):
        if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs"):
            raise AccountError(
                f"显示名称含有不允许的字符 {_char_name(ch)}，位置 {pos + 1} "
                f"(a display name cannot contain {_char_name(ch)}, at position {pos + 1})"
            )
    return text


def _require_admin(by: Actor) -> None:
    if by.role != Role.ADMIN.value:
        raise Forbidden("只有管理员可以管理用户 (only an admin may manage users)")


def no_such_user(name: str) -> str:
    return f"没有用户 {name!r} (no user {name!r}): `workbench users list` shows them"


class Accounts:
    """The accounts of one store."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reads --

    def get(self, name: str) -> Account:
        """The account by sign-in name (exactly, else ignoring case); NotFound."""
        with self.db.reading() as con:
            row = _find(con, name)
        if row is None:
            raise NotFound(no_such_user(name))
        return row

    def find(self, name: str) -> Account | None:
        with self.db.reading() as con:
            return _find(con, name)

    def by_id(self, user_id: int) -> Account:
        with self.db.reading() as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM users WHERE id = ?", [user_id]).fetchone()
        if row is None:
            raise NotFound(f"没有编号为 {user_id} 的用户 (no user with id {user_id})")
        return _account(row)

    def list(self) -> list[Account]:
        with self.db.reading() as con:
            return [_account(r) for r in con.execute(f"SELECT {_COLUMNS} FROM users ORDER BY id").fetchall()]

    def has_admin(self) -> bool:
        """True if an enabled admin exists."""
        with self.db.reading() as con:
            return bool(con.execute("SELECT 1 FROM users WHERE role = 'admin' AND NOT disabled LIMIT 1").fetchone())

    def admins(self) -> list[Account]:
        """The enabled admins."""
        return [a for a in self.list() if a.is_admin and not a.disabled]

    def count(self) -> int:
        with self.db.reading() as con:
            return int(con.execute("SELECT count(*) FROM users").fetchone()[0])

    # -- changes --

    def add(
        self,
        name: str,
        role: Role | str,
        *,
        by: Actor,
        display_name: str = "",
        password: str | None = None,
        must_change: bool = True,
    ) -> tuple[Account, str | None]:
        """Makes a local account; returns it and the generated one-time password when none was given.

        The one-time password is shown once to the admin and never stored in clear; it must be changed
        at the first sign-in whatever `must_change` says.
        """
        _require_admin(by)
        name = check_name(name)
        role = Role.parse(role)
        display_name = check_display_name(display_name)
        one_time = None
        if password is None:
            password = one_time = passwords.one_time_password()
            must_change = True
        passwords.check_policy(password, name)
        password_hash = passwords.hash_password(password)
        now = _now()
        with self.db.writing() as con:
            if _find(con, name) is not None:
                raise AccountError(f"用户 {name!r} 已存在 (user {name!r} already exists; names ignore case)")
            user_id = _insert_user(
                con, by, name, display_name, role, LOCAL, password_hash, must_change=must_change, changed_at=now,
                one_time_password=one_time is not None,
            )  # fmt: skip
        return self.by_id(user_id), one_time

    def set_password(self, name: str, password: str, *, by: Actor, must_change: bool = True) -> Account:
        """An admin sets an account's password (a reset); its sessions end unless it is the admin's own."""
        _require_admin(by)
        account = self.get(name)
        if account.source != LOCAL:
            raise AccountError(
                f"{account.name} 是目录账户，密码在目录服务器上修改 "
                f"({account.name} is a directory account: its password is changed on the directory server)"
            )
        passwords.check_policy(password, account.name)
        password_hash = passwords.hash_password(password)
        ends_sessions = by.user_id != account.id
        with self.db.writing() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change = ?, password_changed_at = ? WHERE id = ?",
                [password_hash, must_change, _now(), account.id],
            )
            ended = _end_sessions(con, account.id) if ends_sessions else 0
            # A reset is what an admin does when a password may be known to someone else: that someone's
            # API tokens (made with it) go with the sessions.
            revoked = _revoke_tokens(con, account.id, by) if ends_sessions else 0
            audit.append(
                con,
                by,
                audit.PASSWORD_CHANGED,
                detail={
                    "user": account.name,
                    "user_id": account.id,
                    "by_admin": True,
                    "must_change": must_change,
                    "sessions_ended": ended,
                    "tokens_revoked": revoked,
                },
            )
        _forget_sessions(self.db, account.id)
        return self.by_id(account.id)

    def change_own_password(self, account: Account, old: str, new: str, client: str) -> Account:
        """The account holder changes their password (knowing the current one); clears `must_change`."""
        if account.source != LOCAL or account.id is None:
            raise AccountError("目录账户的密码在目录服务器上修改 (a directory account's password is changed there)")
        with self.db.reading() as con:
            row = con.execute("SELECT password_hash, disabled FROM users WHERE id = ?", [account.id]).fetchone()
        if row is None or row[1]:
            raise AccountError("账户不存在或已停用 (the account does not exist or is disabled)")
        if not passwords.verify_password(row[0], old):
            raise AccountError("当前密码不正确 (the current password is wrong)")
        if new == old:
            raise AccountError("新密码不能与当前密码相同 (the new password must differ from the current one)")
        passwords.check_policy(new, account.name)
        password_hash = passwords.hash_password(new)
        with self.db.writing() as con:
            con.execute(
                "UPDATE users SET password_hash = ?, must_change = false, password_changed_at = ? WHERE id = ?",
                [password_hash, _now(), account.id],
            )
            audit.append(
                con,
                account.actor(client),
                audit.PASSWORD_CHANGED,
                detail={"user": account.name, "user_id": account.id, "by_admin": False, "must_change": False},
            )
        _forget_sessions(self.db, account.id)
        return self.by_id(account.id)

    def set_role(self, name: str, role: Role | str, *, by: Actor) -> Account:
        _require_admin(by)
        role = Role.parse(role)
        with self.db.writing() as con:
            account = _get(con, name)
            if account.role is role:
                return account
            if account.is_admin and not account.disabled:
                _keep_an_admin(con, account, f"不能改变最后一个管理员的角色 (cannot change the role of {account.name})")
            con.execute("UPDATE users SET role = ? WHERE id = ?", [role.value, account.id])
            _changed(con, by, account, {"role": [account.role.value, role.value]})
        _forget_sessions(self.db, account.id)
        return self.by_id(account.id)

    def set_display_name(self, name: str, display_name: str, *, by: Actor) -> Account:
        _require_admin(by)
        display_name = check_display_name(display_name)
        with self.db.writing() as con:
            account = _get(con, name)
            if account.display_name == display_name:
                return account
            con.execute("UPDATE users SET display_name = ? WHERE id = ?", [display_name, account.id])
            _changed(con, by, account, {"display_name": [account.display_name, display_name]})
        _forget_sessions(self.db, account.id)
        return self.by_id(account.id)

    def disable(self, name: str, *, by: Actor) -> Account:
        """Disables the account and ends its sessions; refused for the last enabled admin."""
        _require_admin(by)
        with self.db.writing() as con:
            account = _get(con, name)
            if account.disabled:
                return account
            if account.is_admin:
                _keep_an_admin(con, account, f"不能停用最后一个管理员 (cannot disable {account.name})")
            con.execute("UPDATE users SET disabled = true WHERE id = ?", [account.id])
            ended = _end_sessions(con, account.id)
            _changed(con, by, account, {"disabled": [False, True], "sessions_ended": ended})
        _forget_sessions(self.db, account.id)
        return self.by_id(account.id)

    def enable(self, name: str, *, by: Actor) -> Account:
        _require_admin(by)
        with self.db.writing() as con:
            account = _get(con, name)
            if not account.disabled:
                return account
            con.execute("UPDATE users SET disabled = false WHERE id = ?", [account.id])
            _changed(con, by, account, {"disabled": [True, False]})
        return self.by_id(account.id)

    def provision_directory(self, name: str, display_name: str, role: Role | str, *, by: Actor) -> Account:
        """The account of a user the directory (LDAP) vouched for: made on first sign-in, kept in step after.

        Its role and display name follow the directory's; it has no password here. A local account of
        the same name is never taken over.
        """
        name = check_name(name)
        role = Role.parse(role)
        try:
            display_name = check_display_name(display_name)
        except AccountError:
            display_name = ""  # the directory's name is not ours to refuse the sign-in over; show the name
        with self.db.writing() as con:
            account = _find(con, name)
            if account is None:
                _insert_user(con, by, name, display_name, role, LDAP, None)
                return _get(con, name)
            if account.source != LDAP:
                raise AccountError(
                    f"本地账户 {account.name} 已存在，不能用目录登录 "
                    f"(a local account {account.name} exists; it does not sign in through the directory)"
                )
            changes: dict[str, Any] = {}
            if account.role is not role:
                if account.is_admin and not account.disabled:
                    _keep_an_admin(con, account, f"目录不能改变最后一个管理员的角色 ({account.name})")
                changes["role"] = [account.role.value, role.value]
            if display_name and account.display_name != display_name:
                changes["display_name"] = [account.display_name, display_name]
            if changes:
                con.execute(
                    "UPDATE users SET role = ?, display_name = ? WHERE id = ?",
                    [role.value, display_name or account.display_name, account.id],
                )
                _changed(con, by, account, {**changes, "from": "directory"})
                return _get(con, name)
            return account


def _find(con: duckdb.DuckDBPyConnection, name: str) -> Account | None:
    if not isinstance(name, str):
        return None
    name = name.strip()
    row = con.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", [name]).fetchone()
    if row is None:
        row = con.execute(f"SELECT {_COLUMNS} FROM users WHERE lower(name) = lower(?) ORDER BY id", [name]).fetchone()
    return _account(row) if row else None


def _get(con: duckdb.DuckDBPyConnection, name: str) -> Account:
    account = _find(con, name)
    if account is None:
        raise NotFound(f"没有用户 {name!r} (no user {name!r}): `workbench users list` shows them")
    return account


def _keep_an_admin(con: duckdb.DuckDBPyConnection, account: Account, message: str) -> None:
    """Refuses a change that would leave no enabled admin (checked inside the change's transaction)."""
    others = con.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> ?", [account.id]
    ).fetchone()[0]
    if not others:
        raise AccountError(f"{message}: 至少要保留一个启用的管理员 (at least one enabled admin must remain)")


def _insert_user(
    con: duckdb.DuckDBPyConnection,
    by: Actor,
    name: str,
    display_name: str,
    role: Role,
    source: str,
    password_hash: str | None,
    *,
    must_change: bool = False,
    changed_at: datetime | None = None,
    **more: Any,
) -> int:
    """Adds the users row and its USER_ADDED audit row (never the password or its hash); returns the id."""
    user_id = con.execute(
        "INSERT INTO users (name, display_name, role, password_hash, source, must_change, created_at, "
        "password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [name, display_name, role.value, password_hash, source, must_change, changed_at or _now(), changed_at],
    ).fetchone()[0]
    detail: dict[str, Any] = {"user": name, "user_id": user_id, "role": role.value, "display_name": display_name}
    detail["source"] = source
    if source == LOCAL:
        detail["must_change"] = must_change
    audit.append(con, by, audit.USER_ADDED, detail={**detail, **more})
    return int(user_id)


def _changed(con: duckdb.DuckDBPyConnection, by: Actor, account: Account, changes: dict[str, Any]) -> None:
    audit.append(con, by, audit.USER_CHANGED, detail={"user": account.name, "user_id": account.id, **changes})


def _revoke_tokens(con: duckdb.DuckDBPyConnection, user_id: int | None, by: Actor) -> int:
    """Revokes the account's live API tokens (a password reset); returns how many."""
    rows = con.execute(
        "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE user_id = ? AND revoked_at IS NULL RETURNING id",
        [_now(), by.account, user_id],
    ).fetchall()
    return len(rows)


def _end_sessions(con: duckdb.DuckDBPyConnection, user_id: int | None) -> int:
    """Ends the account's open sessions (disabled, password reset); returns how many."""
    rows = con.execute(
        "UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL RETURNING token_sha256",
        [_now(), user_id],
    ).fetchall()
    return len(rows)


# Called with (db, user_id) after an account's role, name or state changed. `workbench.accounts.sessions`
# adds its cache's forget here when imported: it imports this module, so this one cannot import it.
ON_ACCOUNT_CHANGED: list[Callable[[Database, int | None], None]] = []


def _forget_sessions(db: Database, user_id: int | None) -> None:
    """Drops the account's sessions from this process's resolve cache (role, name or state changed)."""
    for forget in ON_ACCOUNT_CHANGED:
        forget(db, user_id)
