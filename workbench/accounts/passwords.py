"""Passwords: argon2id hashes (argon2-cffi), the policy, and one-time passwords for accounts an admin makes.

Parameters: OWASP's argon2id configuration (Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1),
not argon2-cffi's default (RFC 9106's low-memory choice: 64 MiB, 3 passes, 4 lanes). Measured on the
2-core target machine: the default took 0.16 s a verification idle and 0.37 s with the load at 8,
which left sign-in to the first page drawn at 1.05 s median (`bench/ui.py`, target 1 s); OWASP's takes
59 ms under that load. Hashes made with other parameters are replaced at the next sign-in
(`needs_rehash`), so a change of parameters needs no migration. A password is never logged, put in
an audit row or in a message.
"""

from __future__ import annotations

import contextlib
import functools
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from workbench import settings
from workbench.accounts.roles import AccountError

MAX_LENGTH = 256  # longer is not a password but an attempt to make hashing expensive
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so that an unknown name takes as long as a wrong password
    (the time does not tell which names exist). Made on first use, not at import (every CLI command)."""
    return _hasher.hash(secrets.token_urlsafe(16))


# No 0/O, 1/l/I: a one-time password is read off a screen and typed.
_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if the password matches the hash; False for a wrong one, no hash, or a damaged hash."""
    if not password_hash:
        verify_nothing(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
        return False


def verify_nothing(password: str) -> None:
    """Spends the time of a verification (for an unknown name); always fails."""
    with contextlib.suppress(VerificationError):
        _hasher.verify(_dummy_hash(), password)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with other parameters than today's (rehashed at the next sign-in)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def min_length() -> int:
    return max(1, int(settings.get("password_min_length")))


def check_policy(password: str, name: str) -> None:
    """Raises AccountError saying why the password may not be used for the account `name`."""
    shortest = min_length()
    if not isinstance(password, str) or len(password) < shortest:
        raise AccountError(f"密码至少需要 {shortest} 个字符 (a password needs at least {shortest} characters)")
    if len(password) > MAX_LENGTH:
        raise AccountError(f"密码最多 {MAX_LENGTH} 个字符 (a password has at most {MAX_LENGTH} characters)")
    if "\x00" in password:
        raise AccountError("密码不能包含空字符 NUL (a password cannot contain the NUL character)")
    if password.strip().casefold() == name.strip().casefold():
        raise AccountError("密码不能与用户名相同 (the password cannot be the user name)")


def one_time_password() -> str:
    """A random password for an account an admin makes: groups of 4, at least the policy's length."""
    length = max(16, min_length())
    length += -length % 4
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return "-".join(chars[i : i + 4] for i in range(0, length, 4))
