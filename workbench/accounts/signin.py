"""Signing in: name and password checked (locally, or against the directory), locked after repeated failures.

Every attempt is audited: `SIGN_IN`, or `SIGN_IN_FAILED` with the reason (an unknown name still
records the name typed, cut to 64 characters). Lockout: 5 failures within 15 minutes lock the
account, and 5 from one client address lock that address; counted from the audit rows themselves
(an account's count starts again after its last successful sign-in). A locked attempt is refused
before the password is looked at and is not counted again, so the lock ends when it says it does.

An unknown name and a wrong password get the same message and take the same time.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from workbench import settings
from workbench.accounts import passwords
from workbench.accounts.roles import AccountError
from workbench.accounts.users import LDAP, LOCAL, NAME_MAX, Account, Accounts, check_name
from workbench.store import audit
from workbench.store.audit import Actor

if TYPE_CHECKING:
    from workbench.store.db import Database

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)
WRONG = "用户名或密码错误 (wrong name or password)"
DISABLED = "账户已停用，请联系管理员 (this account is disabled: ask an admin)"
_LONGEST_PASSWORD = 1024  # a longer one is wrong without hashing it

# the reasons recorded in SIGN_IN_FAILED rows' detail
LOCKED_ACCOUNT = "locked_account"
LOCKED_ADDRESS = "locked_address"
UNKNOWN_NAME = "unknown_name"
BAD_NAME = "bad_name"
WRONG_PASSWORD = "wrong_password"
ACCOUNT_DISABLED = "disabled"
DIRECTORY_UNAVAILABLE = "directory_unavailable"
DIRECTORY_REFUSED = "directory_refused"
DIRECTORY_CONFLICT = "directory_conflict"
DIRECTORY_MISCONFIGURED = "directory_misconfigured"


class SignInRefused(Exception):
    """The sign-in was refused; the message is for the person signing in (`reason` for code and tests)."""

    def __init__(self, message: str, *, reason: str, locked_until: datetime | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.locked_until = locked_until


# Attempts for one name, or from one address, run one at a time: the lock check, the password check
# and the recorded failure must not interleave, or 20 guesses sent at once would all be checked before
# the first failure is counted. Striped (a fixed set of locks), so made-up names cannot grow a table.
_STRIPES = [threading.Lock() for _ in range(64)]
# Password checks at once (argon2id takes 64 MiB and a core each): a flood of sign-ins queues here
# instead of taking the server's memory and both cores from the pages.
_HASHING = threading.BoundedSemaphore(2)


def _stripe(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8", "replace"), digest_size=4).digest(), "big") % len(
        _STRIPES
    )


def sign_in(db: Database, name: str, password: str, client: str) -> Account:
    """The account, signed in (audited); SignInRefused saying why otherwise."""
    try:
        key = (check_name(name) or "").casefold()
    except AccountError:
        key = ""
    stripes = sorted({_stripe("name:" + key), _stripe("client:" + client)})
    with contextlib.ExitStack() as held:
        for i in stripes:
            held.enter_context(_STRIPES[i])
        with _HASHING:
            return _sign_in(db, name, password, client)


def _sign_in(db: Database, name: str, password: str, client: str) -> Account:
    now = datetime.now().replace(tzinfo=None)
    typed = _typed(name)
    accounts = Accounts(db)

    try:
        valid_name: str | None = check_name(name)
    except AccountError:
        valid_name = None
    account = accounts.find(valid_name) if valid_name else None
    # Names are one account whatever their case (lookups ignore it): so is the lock's count.
    key = account.name if account else (valid_name.casefold() if valid_name else typed)
    actor = Actor(key, client, account.id if account else None)

    # Locked: refused before the password is looked at. The account's lock is named first: it is the
    # one that follows the person, the address's lock only the machine.
    with db.reading() as con:
        account_until = _locked_until(con, account=key, now=now) if valid_name else None
        address_until = _locked_until(con, client=client, now=now)
    if account_until is not None:
        _failed(db, actor, LOCKED_ACCOUNT, typed)
        raise SignInRefused(
            f"账户 {key} 登录失败次数过多，已锁定至 {account_until:%H:%M} "
            f"(too many failed sign-ins for this account: locked until {account_until:%H:%M})",
            reason=LOCKED_ACCOUNT,
            locked_until=account_until,
        )
    if address_until is not None:
        _failed(db, actor, LOCKED_ADDRESS, typed)
        raise SignInRefused(
            f"此地址登录失败次数过多，已锁定至 {address_until:%H:%M} "
            f"(too many failed sign-ins from this address {client}: locked until {address_until:%H:%M})",
            reason=LOCKED_ADDRESS,
            locked_until=address_until,
        )
    if valid_name is None:
        passwords.verify_nothing(str(password)[:_LONGEST_PASSWORD])
        raise _refuse_wrong(db, actor, BAD_NAME, typed, client)

    if not isinstance(password, str) or not password or len(password) > _LONGEST_PASSWORD:
        password = ""
    directory_on = bool(settings.get("ldap_url"))
    if directory_on and (account is None or account.source == LDAP):
        account = _directory(db, accounts, valid_name, password, client, typed)
    elif account is None or account.source != LOCAL:
        passwords.verify_nothing(password)
        reason = UNKNOWN_NAME if account is None else DIRECTORY_REFUSED  # a directory account, directory off
        raise _refuse_wrong(db, actor, reason, typed, client)
    else:
        with db.reading() as con:
            stored = con.execute("SELECT password_hash FROM users WHERE id = ?", [account.id]).fetchone()
        stored_hash = stored[0] if stored else None
        if not password or not passwords.verify_password(stored_hash, password):
            raise _refuse_wrong(db, account.actor(client), WRONG_PASSWORD, typed, client)
        if account.disabled:
            _failed(db, account.actor(client), ACCOUNT_DISABLED, typed)
            raise SignInRefused(DISABLED, reason=ACCOUNT_DISABLED)
        if passwords.needs_rehash(stored_hash):
            _rehash(db, account, password)

    with db.writing() as con:
        detail = {"user_id": account.id, "source": account.source}
        audit.append(con, account.actor(client), audit.SIGN_IN, detail=detail)
    return account


def _directory(db: Database, accounts: Accounts, name: str, password: str, client: str, typed: str) -> Account:
    """Signs in through the LDAP directory (`workbench.accounts.directory`); provisions the account."""
    from workbench.accounts import directory  # optional part; imported only when a directory is configured

    known = accounts.find(name)
    actor = Actor(known.name if known else name, client, known.id if known else None)
    try:
        found = directory.authenticate(name, password) if password else None
    except directory.DirectoryUnavailable as e:
        _failed(db, actor, DIRECTORY_UNAVAILABLE, typed, error=str(e)[:300])
        url = settings.get("ldap_url")
        raise SignInRefused(
            f"无法连接目录服务器 {url}，请稍后再试或联系管理员 "
            f"(the directory server {url} cannot be reached: try again later or ask an admin)",
            reason=DIRECTORY_UNAVAILABLE,
        ) from e
    except ValueError as e:  # the directory settings are wrong (DirectoryConfigError): the admin's to fix
        _failed(db, actor, DIRECTORY_MISCONFIGURED, typed, error=str(e)[:300])
        raise SignInRefused(
            "目录登录的设置有误，请联系管理员 (directory sign-in is misconfigured: ask an admin)",
            reason=DIRECTORY_MISCONFIGURED,
        ) from e
    if found is None:
        raise _refuse_wrong(db, actor, DIRECTORY_REFUSED, typed, client)
    try:
        account = accounts.provision_directory(found.name, found.display_name, found.role, by=Actor(found.name, client))
    except AccountError as e:
        _failed(db, actor, DIRECTORY_CONFLICT, typed, error=str(e)[:300])
        raise SignInRefused(str(e), reason=DIRECTORY_CONFLICT) from e
    if account.disabled:
        _failed(db, account.actor(client), ACCOUNT_DISABLED, typed)
        raise SignInRefused(DISABLED, reason=ACCOUNT_DISABLED)
    return account


def _typed(name: Any) -> str:
    """The name as typed, for the audit row: text, control characters replaced, at most 64 characters."""
    text = name if isinstance(name, str) else ""
    text = "".join("\ufffd" if unicodedata.category(c) in ("Cc", "Cs") else c for c in text.strip())
    return text[:NAME_MAX]


def _failed(db: Database, actor: Actor, reason: str, typed: str, **more: Any) -> None:
    with db.writing() as con:
        audit.append(con, actor, audit.SIGN_IN_FAILED, detail={"reason": reason, "name": typed, **more})


def _refuse_wrong(db: Database, actor: Actor, reason: str, typed: str, client: str) -> SignInRefused:
    """Records a failure; the refusal to raise (saying so when this failure started a lock)."""
    _failed(db, actor, reason, typed)
    now = datetime.now().replace(tzinfo=None)
    with db.reading() as con:
        until = _locked_until(con, account=actor.account, now=now) or _locked_until(con, client=client, now=now)
    if until is None:
        return SignInRefused(WRONG, reason=reason)
    return SignInRefused(
        f"{WRONG}；连续失败 {MAX_FAILURES} 次，已锁定至 {until:%H:%M} "
        f"({MAX_FAILURES} failures: locked until {until:%H:%M})",
        reason=reason,
        locked_until=until,
    )


def _locked_until(
    con: duckdb.DuckDBPyConnection, *, now: datetime, account: str | None = None, client: str | None = None
) -> datetime | None:
    """When the lock on the account (or the client address) ends; None if it is not locked.

    Failures counted: SIGN_IN_FAILED rows of the last 15 minutes (for an account, only those after its
    last successful sign-in), not counting the refusals of a lock itself.
    """
    since = now - WINDOW
    if account is not None:
        column, value = "lower(account)", account.lower()
        last_ok = con.execute(
            "SELECT max(logged_at) FROM audit WHERE action = ? AND lower(account) = ? AND logged_at >= ?",
            [audit.SIGN_IN, value, since],
        ).fetchone()[0]
        if last_ok is not None:
            since = max(since, last_ok)
    else:
        column, value = "client", client or ""
    rows = con.execute(
        f"SELECT logged_at FROM audit WHERE action = ? AND {column} = ? AND logged_at > ? "
        'AND detail NOT LIKE \'%"reason":"locked%\' ORDER BY logged_at DESC LIMIT ?',
        [audit.SIGN_IN_FAILED, value, since, MAX_FAILURES],
    ).fetchall()
    if len(rows) < MAX_FAILURES:
        return None
    return rows[-1][0] + WINDOW


def _rehash(db: Database, account: Account, password: str) -> None:
    """A hash made with older parameters is replaced at sign-in (the password is at hand only then)."""
    with db.writing() as con:
        con.execute("UPDATE users SET password_hash = ? WHERE id = ?", [passwords.hash_password(password), account.id])
