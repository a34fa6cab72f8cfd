"""The four roles, what each may do in general, and the error every account operation raises.

Whether an account may act on a given case (membership) is decided in `workbench.accounts.access`;
this module only knows what a role allows anywhere.
"""

from __future__ import annotations

from enum import StrEnum

from workbench.store.records import StoreError


class AccountError(StoreError, ValueError):
    """An account operation that cannot be done: bad name, weak password, the last admin, ...

    The message says what and why. A `StoreError` too, so the CLI and the pages that already turn store
    errors into messages show it the same way.
    """


class Forbidden(StoreError):
    """The account may not do this (a `require_*` check of `Access`, or an account change by a non-admin)."""


class Role(StrEnum):
    ADMIN = "admin"  # users, models, settings, global hotwords, every case, the audit trail
    JUDGE = "judge"  # their cases: read, edit, check, approve, lock, reopen, export; manage members; uploads
    CLERK = "clerk"  # their cases: read, edit, check, lock (file the approved record), export; uploads
    VIEWER = "viewer"  # their cases: read, play, search, export; no edits

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def may_edit(self) -> bool:
        """Edits and speaker changes (on cases the account may see)."""
        return self is not Role.VIEWER

    # Sign-off is the court officers' work: an admin is IT, not a court officer, and takes no step.

    @property
    def may_check(self) -> bool:
        """Check a record against the recording, and take the mark back."""
        return self in (Role.CLERK, Role.JUDGE)

    @property
    def may_approve(self) -> bool:
        """Approve a checked record, reopen one; decide correction requests."""
        return self is Role.JUDGE

    @property
    def may_lock(self) -> bool:
        """File (lock) an approved record; mark parts 不公开; file correction requests."""
        return self in (Role.CLERK, Role.JUDGE)

    @property
    def may_see_sealed(self) -> bool:
        """Read the text of sealed (不公开) parts: the court officers, and an admin (IT keeps the data)."""
        return self in (Role.CLERK, Role.JUDGE, Role.ADMIN)

    @property
    def may_upload(self) -> bool:
        return self is not Role.VIEWER

    @property
    def may_manage_members(self) -> bool:
        """Grants and revokes members (an admin of every case, a judge of their own)."""
        return self in (Role.ADMIN, Role.JUDGE)

    @classmethod
    def parse(cls, text: str | Role) -> Role:
        """A role from its name (`clerk`) or its label (`书记员`); AccountError naming the choices otherwise."""
        if isinstance(text, Role):
            return text
        key = str(text).strip().lower()
        for role in cls:
            if key in (role.value, role.label):
                return role
        raise AccountError(f"未知角色 {text!r} (unknown role {text!r}): one of {choices()}")


_LABELS = {Role.ADMIN: "管理员", Role.JUDGE: "法官", Role.CLERK: "书记员", Role.VIEWER: "查阅人"}


def choices() -> str:
    """`admin (管理员), judge (法官), ...` for help texts and messages."""
    return ", ".join(f"{r.value} ({r.label})" for r in Role)
