"""Accounts, roles and who may do what (issue 13).

roles      the four roles (`Role`), `AccountError`, `Forbidden`
passwords  argon2id hashes, the password policy, one-time passwords
users      `Account`, `Accounts`: the users table, names checked, every change audited
sessions   `Sessions`: browser sessions (cookie `wb_session`, stored as sha256), idle timeout
signin     `sign_in`: local or directory (LDAP) sign-in, lockout, audited
access     `Access`: one account's view of the store (its cases), `NotYours`, `console_access`
tokens     `ApiTokens`, `ApiToken`: API tokens (`wbt_...`, stored as sha256), made, listed, revoked, resolved
directory  LDAP sign-in (optional; imported only when `ldap_url` is set)
"""

from __future__ import annotations

from workbench.accounts.access import CASE_NOT_YOURS, HEARING_NOT_YOURS, Access, NotYours, console_access
from workbench.accounts.roles import AccountError, Forbidden, Role
from workbench.accounts.sessions import COOKIE, Sessions
from workbench.accounts.signin import SignInRefused, sign_in
from workbench.accounts.tokens import ApiToken, ApiTokens
from workbench.accounts.users import Account, Accounts

__all__ = [
    "CASE_NOT_YOURS",
    "COOKIE",
    "HEARING_NOT_YOURS",
    "Access",
    "Account",
    "AccountError",
    "Accounts",
    "ApiToken",
    "ApiTokens",
    "Forbidden",
    "NotYours",
    "Role",
    "Sessions",
    "SignInRefused",
    "console_access",
    "sign_in",
]
