"""Case membership: which accounts may see a case (its judges, clerks and viewers), as rows of `case_members`.

Functions on a connection, so a change joins the caller's transaction with its audit row: the
uploader of a new case becomes a member in the same transaction that creates the case. Who may
grant is decided by `workbench.accounts.access`; this module only keeps the rows.
"""

from __future__ import annotations

import duckdb

from workbench.store import audit
from workbench.store.audit import Actor


def add(con: duckdb.DuckDBPyConnection, case_id: int, user_id: int, by: Actor) -> bool:
    """Makes the account a member of the case (audited); False if it already was."""
    exists = con.execute("SELECT 1 FROM case_members WHERE case_id = ? AND user_id = ?", [case_id, user_id]).fetchone()
    if exists:
        return False
    con.execute(
        "INSERT INTO case_members (case_id, user_id, added_by) VALUES (?, ?, ?)", [case_id, user_id, by.account]
    )
    audit.append(con, by, audit.MEMBER_ADDED, case_id=case_id, detail={"user_id": user_id, "user": _name(con, user_id)})
    return True


def remove(con: duckdb.DuckDBPyConnection, case_id: int, user_id: int, by: Actor) -> bool:
    """Ends the account's membership of the case (audited); False if it was not a member."""
    gone = con.execute(
        "DELETE FROM case_members WHERE case_id = ? AND user_id = ? RETURNING user_id", [case_id, user_id]
    ).fetchall()
    if not gone:
        return False
    audit.append(
        con, by, audit.MEMBER_REMOVED, case_id=case_id, detail={"user_id": user_id, "user": _name(con, user_id)}
    )
    return True


def case_ids(con: duckdb.DuckDBPyConnection, user_id: int) -> frozenset[int]:
    """The cases the account is a member of."""
    return frozenset(
        r[0] for r in con.execute("SELECT case_id FROM case_members WHERE user_id = ?", [user_id]).fetchall()
    )


def user_ids(con: duckdb.DuckDBPyConnection, case_id: int) -> list[int]:
    """The case's members, in the order they were added."""
    rows = con.execute("SELECT user_id FROM case_members WHERE case_id = ? ORDER BY added_at, user_id", [case_id])
    return [r[0] for r in rows.fetchall()]


def is_member(con: duckdb.DuckDBPyConnection, case_id: int, user_id: int) -> bool:
    return bool(
        con.execute("SELECT 1 FROM case_members WHERE case_id = ? AND user_id = ?", [case_id, user_id]).fetchone()
    )


def _name(con: duckdb.DuckDBPyConnection, user_id: int) -> str:
    row = con.execute("SELECT name FROM users WHERE id = ?", [user_id]).fetchone()
    return row[0] if row else ""
