"""Browser sessions: the cookie is a random token; the store keeps only its sha256.

`resolve` runs on every HTTP request and page run, so it is cheap: a small in-process cache (2 s)
keyed by the token's hash, and `last_seen` written at most every 30 s per session (not a DuckDB
write per request). A session ends on sign-out, after `session_idle_minutes` without activity, and
when its account is disabled or its password reset by an admin.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from workbench import settings
from workbench.accounts import users
from workbench.accounts.users import _COLUMNS, Account, _account
from workbench.store import audit
from workbench.store.audit import Actor

if TYPE_CHECKING:
    from workbench.store.db import Database

COOKIE = "wb_session"
TOUCH_EVERY = timedelta(seconds=30)
CACHE_TTL_S = 2.0


@dataclass(frozen=True, slots=True)
class _Cached:
    account: Account
    user_id: int
    last_seen: datetime
    fetched: float  # time.monotonic()


_cache: dict[tuple[Path, str], _Cached] = {}
_cache_guard = threading.Lock()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def idle_limit() -> timedelta:
    return timedelta(minutes=float(settings.get("session_idle_minutes")))


def forget_user(db: Database, user_id: int | None) -> None:
    """Drops an account's sessions from the cache (its state changed: disabled, role, password)."""
    with _cache_guard:
        for key in [k for k, v in _cache.items() if k[0] == db.path and v.user_id == user_id]:
            del _cache[key]


users.ON_ACCOUNT_CHANGED.append(forget_user)


def _forget(db: Database, digest: str) -> None:
    with _cache_guard:
        _cache.pop((db.path, digest), None)


class Sessions:
    """The sessions of one store. `clock` is for tests (naive local time, like the audit's)."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self._clock = clock or (lambda: datetime.now().replace(tzinfo=None))

    def start(self, account: Account, client: str) -> str:
        """A new session for the account; returns the cookie value (never stored, never logged)."""
        if account.id is None or account.disabled:
            raise ValueError("a session is only for a stored, enabled account")
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self.db.writing() as con:
            con.execute(
                "INSERT INTO sessions (token_sha256, user_id, client, created_at, last_seen) VALUES (?, ?, ?, ?, ?)",
                [token_hash(token), account.id, client[:200], now, now],
            )
        return token

    def resolve(self, token: str | None, *, touch: bool = True) -> Account | None:
        """The session's account; None when unknown, ended, idle too long, or the account is disabled.

        `touch` counts this as activity (a page run, a click, a request); a refresh that runs by itself (a
        queue redrawn every few seconds) passes False, or an unattended screen would never time out.
        """
        if not token or not isinstance(token, str) or len(token) > 200:
            return None
        digest = token_hash(token)
        now = self._clock()
        key = (self.db.path, digest)
        with _cache_guard:
            cached = _cache.get(key)
        # A recent answer serves while the session needs no touch; past that, the table decides (idle, ended).
        if (
            cached is not None
            and time.monotonic() - cached.fetched <= CACHE_TTL_S
            and now - cached.last_seen < min(TOUCH_EVERY, idle_limit())
        ):
            return cached.account
        with self.db.reading() as con:
            row = con.execute(
                f"SELECT s.last_seen, s.ended_at, {', '.join('u.' + c for c in _COLUMNS.split(', '))} "
                "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_sha256 = ?",
                [digest],
            ).fetchone()
        if row is None or row[1] is not None:
            _forget(self.db, digest)
            return None
        last_seen, account = row[0], _account(row[2:])
        if account.disabled or now - last_seen > idle_limit():
            _forget(self.db, digest)
            return None
        if touch and now - last_seen >= TOUCH_EVERY:
            with self.db.writing() as con:
                # `ended_at IS NULL`: a sign-out or disabling that committed meanwhile wins
                touched = con.execute(
                    "UPDATE sessions SET last_seen = ? WHERE token_sha256 = ? AND ended_at IS NULL "
                    "RETURNING token_sha256",
                    [now, digest],
                ).fetchall()
            if not touched:
                _forget(self.db, digest)
                return None
            last_seen = now
        with _cache_guard:
            if len(_cache) >= 1000:  # old entries of sessions nobody uses any more
                stale = time.monotonic() - CACHE_TTL_S
                for k in [k for k, v in _cache.items() if v.fetched < stale]:
                    del _cache[k]
            _cache[key] = _Cached(account, int(account.id), last_seen, time.monotonic())
        return account

    def end(self, token: str | None, actor: Actor) -> bool:
        """Signs the session out (audited SIGN_OUT); False if there was no open session with this token."""
        if not token or not isinstance(token, str):
            return False
        digest = token_hash(token)
        _forget(self.db, digest)
        with self.db.writing() as con:
            ended = con.execute(
                "UPDATE sessions SET ended_at = ? WHERE token_sha256 = ? AND ended_at IS NULL RETURNING user_id",
                [self._clock(), digest],
            ).fetchall()
            if ended:
                audit.append(con, actor, audit.SIGN_OUT, detail={"user_id": ended[0][0]})
        return bool(ended)

    def end_all(self, account: Account, actor: Actor) -> int:
        """Ends every open session of the account (e.g. "sign out everywhere"); audited; returns how many."""
        with self.db.writing() as con:
            ended = con.execute(
                "UPDATE sessions SET ended_at = ? WHERE user_id = ? AND ended_at IS NULL RETURNING token_sha256",
                [self._clock(), account.id],
            ).fetchall()
            if ended:
                audit.append(con, actor, audit.SIGN_OUT, detail={"user_id": account.id, "sessions": len(ended)})
        forget_user(self.db, account.id)
        return len(ended)
