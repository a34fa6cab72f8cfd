"""API tokens: a script's (or the CLI's) way in to the server's HTTP API, acting as one account.

A token is `wbt_` + 43 URL-safe characters (32 random bytes), shown once when it is made; the store keeps
only its sha256 (`api_tokens.token_sha256`), like a session cookie's. Looking a token up by its hash means no
secret is ever compared character by character, so the time an answer takes tells nothing about the secret.

Each account may have several, told apart by a name of its own choosing (unique among the account's live
tokens). An account makes and revokes its own; an admin may make, list and revoke anyone's (a system account
for a scanner, say). Made and revoked tokens are audited (`TOKEN_CREATED`, `TOKEN_REVOKED`), never with the
secret. A revoked token stays in the list with `revoked_at`.

`resolve` runs on every API request, so it is cheap: a small in-process cache (2 s) keyed by the hash, and
`last_used_at` written at most once a minute (a client polling a job every second does not write every
second). A revoke, or a change to the account (disabled, new role), drops the cache entry at once in this
process; the server is the one process that answers tokens.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.accounts import users
from workbench.accounts.access import Access
from workbench.accounts.roles import AccountError, Forbidden, Role
from workbench.accounts.users import _COLUMNS, Account, Accounts, _account
from workbench.store import audit
from workbench.store.audit import Actor
from workbench.store.records import NotFound

if TYPE_CHECKING:
    import duckdb

    from workbench.store.db import Database

PREFIX = "wbt_"
SECRET_BYTES = 32  # token_urlsafe(32): 43 characters
SECRET_MAX = 200  # longer is no token of ours (checked before hashing anything)
NAME_MAX = 64
MAX_LIVE_PER_ACCOUNT = 100  # a runaway script cannot fill the table
TOUCH_EVERY = timedelta(minutes=1)
CACHE_TTL_S = 2.0

# As for display names: bidi embedding/override and isolate controls reorder the text around them.
_BIDI_CONTROLS = frozenset(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
# A name is a path segment (`DELETE /tokens/{name}`): "/" would split it; "?" "#" "%" confuse URLs typed by hand.
_URL_CHARS = frozenset("/?#%\\")


@dataclass(frozen=True, slots=True)
class ApiToken:
    """One token as listed (never its secret)."""

    name: str
    account: str  # the account it acts as
    created_at: datetime
    created_by: str  # who made it (the account itself, or an admin)
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True, slots=True)
class _Cached:
    token: ApiToken
    account: Account
    user_id: int
    last_used: datetime | None
    fetched: float  # time.monotonic()


_cache: dict[tuple[Path, str], _Cached] = {}
_cache_guard = threading.Lock()

_TOKEN_COLUMNS = "t.name, u.name, t.created_at, t.created_by, t.last_used_at, t.revoked_at"


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def looks_like_token(text: str | None) -> bool:
    """True for text shaped like one of our tokens (the HTTP door tells a token from the console key by it)."""
    return isinstance(text, str) and text.startswith(PREFIX) and len(text) <= SECRET_MAX


def check_token_name(name: str) -> str:
    """The name, stripped: 1-64 characters, any script, no control, bidi or URL characters; AccountError why."""
    if not isinstance(name, str):
        raise AccountError("令牌名称必须是文本 (a token name must be text)")
    name = name.strip()
    if not name:
        raise AccountError("令牌名称不能为空 (a token name cannot be empty): 1-64 characters")
    if len(name) > NAME_MAX:
        raise AccountError(
            f"令牌名称最多 {NAME_MAX} 个字符，现为 {len(name)} "
            f"(a token name has at most {NAME_MAX} characters, this one {len(name)})"
        )
    for pos, ch in enumerate(name):
        if ch in _BIDI_CONTROLS or ch in _URL_CHARS or unicodedata.category(ch) in ("Cc", "Cs"):
            shown = f"U+{ord(ch):04X} {unicodedata.name(ch, 'control character')}"
            raise AccountError(
                f"令牌名称含有不允许的字符 {shown}，位置 {pos + 1} "
                f"(a token name cannot contain {shown}, at position {pos + 1}; nor / ? # % \\)"
            )
    return name


def no_such_token(name: str) -> str:
    return f"没有令牌 {name!r} 或已撤销 (no live token {name!r})"


def _forget_user(db: Database, user_id: int | None) -> None:
    """Drops an account's tokens from the cache (its state changed: disabled, role)."""
    with _cache_guard:
        for key in [k for k, v in _cache.items() if k[0] == db.path and v.user_id == user_id]:
            del _cache[key]


users.ON_ACCOUNT_CHANGED.append(_forget_user)


def _forget(db: Database, digest: str) -> None:
    with _cache_guard:
        _cache.pop((db.path, digest), None)


def _token(row: tuple) -> ApiToken:  # type: ignore[type-arg]
    return ApiToken(*row)


class ApiTokens:
    """The API tokens of one store. `clock` is for tests (naive local time, like the audit's)."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self._clock = clock or (lambda: datetime.now().replace(tzinfo=None))

    # -- making and revoking --

    def create(
        self, owner: Account, name: str, *, actor: Actor, for_account: str | None = None
    ) -> tuple[ApiToken, str]:
        """A new token acting as `owner`, or as the account `for_account` (admins only); returns it and its secret.

        The secret is shown once (the caller prints it) and never stored or logged; only its sha256 is kept.
        """
        name = check_token_name(name)
        target = self._target(owner, for_account)
        if target.disabled:
            raise AccountError(f"账户 {target.name} 已停用 (account {target.name} is disabled)")
        secret = new_secret()
        now = self._clock()
        with self.db.writing() as con:
            live = con.execute(
                "SELECT name FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL", [target.id]
            ).fetchall()
            if any(r[0] == name for r in live):
                raise AccountError(
                    f"{target.name} 已有名为 {name!r} 的令牌 (account {target.name} already has a live token "
                    f"named {name!r}): revoke it or choose another name"
                )
            if len(live) >= MAX_LIVE_PER_ACCOUNT:
                raise AccountError(
                    f"{target.name} 已有 {len(live)} 个令牌 (account {target.name} has {len(live)} live tokens, "
                    f"the most allowed): revoke some first"
                )
            con.execute(
                "INSERT INTO api_tokens (token_sha256, user_id, name, created_at, created_by) VALUES (?, ?, ?, ?, ?)",
                [token_hash(secret), target.id, name, now, actor.account],
            )
            audit.append(con, actor, audit.TOKEN_CREATED, detail={"name": name, "account": target.name})
        return ApiToken(name, target.name, now, actor.account, None, None), secret

    def revoke(self, name: str, *, actor: Actor, account: str | None = None) -> ApiToken:
        """Revokes the live token `name` of the actor's account, or of `account` (an admin: anyone's); audited.

        Another account's token answers a non-admin like a missing one (NotFound, the same words).
        """
        if not isinstance(name, str):
            raise NotFound(no_such_token(str(name)))
        name = name.strip()
        is_admin = actor.role == Role.ADMIN.value
        accounts = Accounts(self.db)
        if account is None:
            if actor.user_id is None:
                raise AccountError(_CONSOLE_HAS_NONE)
            target = accounts.by_id(actor.user_id)
        else:
            found = accounts.find(account)
            if found is None or (not is_admin and found.id != actor.user_id):
                raise NotFound(no_such_token(name))
            target = found
        now = self._clock()
        with self.db.writing() as con:
            rows = con.execute(
                "UPDATE api_tokens SET revoked_at = ?, revoked_by = ? "
                "WHERE user_id = ? AND name = ? AND revoked_at IS NULL RETURNING token_sha256",
                [now, actor.account, target.id, name],
            ).fetchall()
            if not rows:
                raise NotFound(no_such_token(name))
            audit.append(con, actor, audit.TOKEN_REVOKED, detail={"name": name, "account": target.name})
            token = _token(_one(con, rows[0][0]))
        for (digest,) in rows:
            _forget(self.db, digest)  # at once, not when the cache entry would have aged out
        return token

    # -- reading --

    def list(self, who: Access | Account, account: str | None = None, *, every: bool = False) -> list[ApiToken]:
        """The tokens of `who`'s own account; an admin may ask for `account`'s, or `every` account's.

        Revoked tokens are listed too (with `revoked_at`), newest first within an account.
        """
        caller = who.account if isinstance(who, Access) else who
        is_admin = caller.role is Role.ADMIN and not caller.disabled
        if (every or (account is not None and _other(caller, account))) and not is_admin:
            raise Forbidden("只有管理员可以查看其他账户的令牌 (only an admin may list another account's tokens)")
        sql = f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id"
        params: list[object] = []
        if not every:
            if account is not None:
                user_id = Accounts(self.db).get(account).id
            elif caller.id is None:
                raise AccountError(_CONSOLE_HAS_NONE)
            else:
                user_id = caller.id
            sql += " WHERE t.user_id = ?"
            params.append(user_id)
        sql += " ORDER BY u.name, t.created_at DESC, t.id DESC"
        with self.db.reading() as con:
            return [_token(r) for r in con.execute(sql, params).fetchall()]

    def resolve(self, secret: str | None) -> Account | None:
        """The account a token acts as; None when it is unknown, revoked, or its account is disabled."""
        found = self.resolve_token(secret)
        return None if found is None else found[1]

    def resolve_token(self, secret: str | None) -> tuple[ApiToken, Account] | None:
        """The token (for its name: the actor's client `api:<name>@<addr>`) and its account; None as `resolve`."""
        if not looks_like_token(secret):
            return None
        assert secret is not None
        digest = token_hash(secret)
        key = (self.db.path, digest)
        now = self._clock()
        with _cache_guard:
            cached = _cache.get(key)
        if cached is not None and time.monotonic() - cached.fetched <= CACHE_TTL_S and not _due(cached.last_used, now):
            return cached.token, cached.account
        with self.db.reading() as con:
            row = con.execute(
                f"SELECT {_TOKEN_COLUMNS}, {', '.join('u.' + c for c in _COLUMNS.split(', '))} "
                "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?",
                [digest],
            ).fetchone()
        if row is None:
            _forget(self.db, digest)
            return None
        token, account = _token(row[:6]), _account(row[6:])
        if not token.live or account.disabled:
            _forget(self.db, digest)
            return None
        last_used = token.last_used_at
        if _due(last_used, now):
            with self.db.writing() as con:
                # `revoked_at IS NULL`: a revoke that committed meanwhile wins
                touched = con.execute(
                    "UPDATE api_tokens SET last_used_at = ? WHERE token_sha256 = ? AND revoked_at IS NULL RETURNING id",
                    [now, digest],
                ).fetchall()
            if not touched:
                _forget(self.db, digest)
                return None
            last_used = now
        with _cache_guard:
            if len(_cache) >= 1000:  # entries of tokens nobody uses any more
                stale = time.monotonic() - CACHE_TTL_S
                for k in [k for k, v in _cache.items() if v.fetched < stale]:
                    del _cache[k]
            _cache[key] = _Cached(token, account, int(account.id or 0), last_used, time.monotonic())
        return token, account

    # -- helpers --

    def _target(self, owner: Account, for_account: str | None) -> Account:
        """The account a token is made for: the owner's own, or (an admin's choice) another one."""
        if for_account is None or not _other(owner, for_account):
            if owner.id is None:
                raise AccountError(_CONSOLE_HAS_NONE)
            return Accounts(self.db).by_id(owner.id)  # as stored now (disabled since signing in?)
        if owner.role is not Role.ADMIN or owner.disabled:
            raise Forbidden("只有管理员可以为其他账户创建令牌 (only an admin may make a token for another account)")
        return Accounts(self.db).get(for_account)


_CONSOLE_HAS_NONE = (
    "控制台操作员没有自己的账户，请指定账户 (the console operator has no account of its own: "
    "name the account, e.g. --for NAME or --as NAME)"
)


def _other(caller: Account, account: str) -> bool:
    """True if `account` names another account than the caller's (names ignore case, as sign-in does)."""
    return caller.id is None or account.strip().lower() != caller.name.lower()


def _due(last_used: datetime | None, now: datetime) -> bool:
    return last_used is None or now - last_used >= TOUCH_EVERY


def _one(con: duckdb.DuckDBPyConnection, digest: str) -> tuple:  # type: ignore[type-arg]
    return con.execute(
        f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?",
        [digest],
    ).fetchone()
