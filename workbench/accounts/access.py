"""Who may do what to which case: one signed-in account's view of the store.

Policy (issue 13): an admin sees and does everything. A judge, clerk or viewer sees only the cases
they are members of; judges and clerks edit and upload there, viewers only read, play, search and
export; a judge grants and revokes members of their own cases. Uploading into an existing case number
needs membership; a new number makes the uploader a member.

Sign-off, on cases the account is a member of: a clerk or the judge checks (and unchecks) a
record, the judge approves and reopens it (with a reason), a clerk or the judge locks (files) the approved
record, seals parts 不公开 and files correction requests, the judge decides them. An admin is IT, not a
court officer: no sign-off step, no correction, no seal, though an admin may read sealed text. A viewer
sees a placeholder for sealed text and never finds it in search.

A hearing the account may not see answers exactly like a missing one (`NotYours`), so a URL with
another case's hearing id tells nothing about it.
"""

from __future__ import annotations

import getpass
import os
import socket
from datetime import datetime
from typing import TYPE_CHECKING, Any

from workbench.accounts.roles import Forbidden, Role
from workbench.accounts.users import CONSOLE, Account, Accounts, no_such_user
from workbench.store import members
from workbench.store.audit import Actor
from workbench.store.records import Case, Hearing, NotFound
from workbench.store.status import STEP_WORDS, HearingStatus, allowed_steps

if TYPE_CHECKING:
    from workbench.store.store import Store

HEARING_NOT_YOURS = "庭审不存在或无权查看 (not found or not yours)"
CASE_NOT_YOURS = "案件不存在或无权查看 (case not found or not yours)"

__all__ = [
    "CASE_NOT_YOURS", "HEARING_NOT_YOURS", "Access", "Forbidden", "NoAccount", "NotYours", "choose_access",
    "console_access",
]  # fmt: skip


class NotYours(NotFound):
    """Missing, or not the account's to see: the same message for both."""

    def __init__(self, message: str = HEARING_NOT_YOURS) -> None:
        super().__init__(message)


class Access:
    """What `account` may do in `store`; `client` is where it asks from (the browser's address, `cli:...`)."""

    def __init__(self, store: Store, account: Account, client: str = "") -> None:
        self.store = store
        self.account = account
        self.client = client

    def __repr__(self) -> str:
        return f"Access({self.account.name!r}, {self.account.role.value}, {self.client!r})"

    @property
    def actor(self) -> Actor:
        return self.account.actor(self.client)

    @property
    def is_admin(self) -> bool:
        return self.account.role is Role.ADMIN and not self.account.disabled

    # -- seeing --

    def case_ids(self) -> frozenset[int] | None:
        """The cases the account may see; None means every case (an admin)."""
        if self.is_admin:
            return None
        if self.account.disabled or self.account.id is None:
            return frozenset()
        with self.store.reading() as con:
            return members.case_ids(con, self.account.id)

    def can_see_case(self, case_id: int) -> bool:
        if self.is_admin:
            return True
        if self.account.disabled or self.account.id is None:
            return False
        with self.store.reading() as con:
            return members.is_member(con, case_id, self.account.id)

    def case(self, key: int | str) -> Case:
        """A case by id or number, if the account may see it; NotYours (same message) otherwise."""
        try:
            case = self.store.case(key)
        except NotFound:
            raise NotYours(CASE_NOT_YOURS) from None
        if not self.can_see_case(case.id):
            raise NotYours(CASE_NOT_YOURS)
        return case

    def cases(self) -> list[Case]:
        allowed = self.case_ids()
        return [c for c in self.store.cases() if allowed is None or c.id in allowed]

    def hearing(self, hearing_id: int) -> Hearing:
        """The hearing if the account may see it; NotYours for a missing and a forbidden one alike."""
        try:
            hearing_id = int(hearing_id)
            if not 0 < hearing_id < 2**31:  # the column is an INTEGER: a larger id is no hearing
                raise NotYours()
            hearing = self.store.hearing(hearing_id)
        except (NotFound, TypeError, ValueError, OverflowError):
            raise NotYours() from None
        if not self.can_see_case(hearing.case_id):
            raise NotYours()
        return hearing

    def hearings(self, *, limit: int | None = None, **filters: Any) -> list[Hearing]:
        """`Store.hearings(...)` (same filters) with only the account's cases; `limit` after filtering."""
        return self.store.hearings(limit=limit, case_ids=self.case_ids(), **filters)

    # -- doing --

    def may_edit(self, case_id: int) -> bool:
        """Edit segments, speakers, hearing fields (judges and clerks of the case, admins); the store refuses a
        locked record's edits whoever asks (`may_edit_record` says both)."""
        return self.account.role.may_edit and self.can_see_case(case_id)

    def may_edit_record(self, hearing: Hearing) -> bool:
        """Edit this hearing's record now: `may_edit` its case, and the record is not locked (a checked or approved
        one may be edited: the edit sends it back to review). What the desk and the review page offer."""
        return hearing.status != HearingStatus.LOCKED and self.may_edit(hearing.case_id)

    # -- sign-off: a member of the case, in a court role; never an admin as such --

    def _member_in_role(self, allowed: bool, case_id: int) -> bool:
        if not allowed or self.account.disabled or self.account.id is None:
            return False
        with self.store.reading() as con:
            return members.is_member(con, case_id, self.account.id)

    def may_check(self, case_id: int) -> bool:
        """Check a record against the recording, and uncheck it: a clerk or the judge of the case."""
        return self._member_in_role(self.account.role.may_check, case_id)

    def may_approve(self, case_id: int) -> bool:
        """Approve a checked record: the judge of the case."""
        return self._member_in_role(self.account.role.may_approve, case_id)

    def may_lock(self, case_id: int) -> bool:
        """Lock (file) an approved record: a clerk or the judge of the case."""
        return self._member_in_role(self.account.role.may_lock, case_id)

    def may_reopen(self, case_id: int) -> bool:
        """Take a checked, approved or locked record back to review (with a reason): the judge of the case."""
        return self._member_in_role(self.account.role.may_approve, case_id)

    def may_seal(self, case_id: int) -> bool:
        """Mark a time range 不公开 (non-public), or take the mark away: a clerk or the judge of the case."""
        return self._member_in_role(self.account.role.may_lock, case_id)

    def may_request_correction(self, case_id: int) -> bool:
        """File a correction request (on behalf of whoever asked): a clerk or the judge of the case."""
        return self._member_in_role(self.account.role.may_lock, case_id)

    def may_decide_correction(self, case_id: int) -> bool:
        """Accept or reject a correction request: the judge of the case."""
        return self._member_in_role(self.account.role.may_approve, case_id)

    def may_see_sealed(self, case_id: int) -> bool:
        """Read sealed text: a clerk or the judge of the case, or an admin; never a viewer."""
        return self.account.role.may_see_sealed and self.can_see_case(case_id)

    def next_steps(self, hearing: Hearing) -> list[str]:
        """The sign-off steps this account may take on the hearing now, in order, from "check", "uncheck",
        "approve", "lock", "reopen" (what the status allows and the account may do)."""
        may = {
            "check": self.may_check,
            "uncheck": self.may_check,
            "approve": self.may_approve,
            "lock": self.may_lock,
            "reopen": self.may_reopen,
        }
        names = [STEP_WORDS[e][1] for e in allowed_steps(hearing.status)]
        return [name for name in names if may[name](hearing.case_id)]

    def may_export(self, case_id: int) -> bool:
        return self.can_see_case(case_id)

    def may_upload(self) -> bool:
        return self.account.role.may_upload and not self.account.disabled

    def may_upload_to(self, case_number: str) -> bool:
        """Upload into this case number: an existing case needs membership; a new one is made (and joined)."""
        if not self.may_upload():
            return False
        if self.is_admin:
            return True
        # By number only (`Store.case` also takes an id: "5" must not mean case id 5 here)
        with self.store.reading() as con:
            row = con.execute("SELECT id FROM cases WHERE number = ?", [case_number.strip()]).fetchone()
        return row is None or self.can_see_case(int(row[0]))

    def may_manage_members(self, case_id: int) -> bool:
        return self.account.role.may_manage_members and self.can_see_case(case_id)

    def may_manage_job(self, job: Any) -> bool:
        """Cancel or retry a job: admins, or members of its case who may edit (not viewers)."""
        if self.is_admin:
            return True
        try:
            case_id = self.store.hearing(job.hearing_id).case_id
        except NotFound:
            return False
        return self.may_edit(case_id)

    # -- the checks that raise --

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("只有管理员可以这样做 (only an admin may do this)")

    def require_see(self, case_id: int) -> None:
        if not self.can_see_case(case_id):
            raise NotYours(CASE_NOT_YOURS)

    def require_edit(self, case_id: int) -> None:
        self.require_see(case_id)
        if not self.may_edit(case_id):
            raise Forbidden(f"{self.account.role.label}不能修改笔录 (a {self.account.role.value} may not edit records)")

    def require_export(self, case_id: int) -> None:
        self.require_see(case_id)

    def require_upload(self) -> None:
        if not self.may_upload():
            raise Forbidden(f"{self.account.role.label}不能上传录音 (a {self.account.role.value} may not upload)")

    def require_upload_to(self, case_number: str) -> None:
        self.require_upload()
        if not self.may_upload_to(case_number):
            raise Forbidden(
                f"案件 {case_number} 已存在且您不是其成员 (case {case_number} exists and you are not a member of it): "
                "ask its judge or an admin to add you"
            )

    def _require_step(self, allowed: bool, case_id: int, what_zh: str, what_en: str, who_zh: str, who_en: str) -> None:
        self.require_see(case_id)
        if not allowed:
            role = self.account.role
            raise Forbidden(
                f"{role.label}不能{what_zh}，只有{who_zh}可以 (a {role.value} may not {what_en}: only {who_en} may)"
            )

    def require_check(self, case_id: int) -> None:
        self._require_step(self.may_check(case_id), case_id, "核对笔录", "check a record", "本案书记员或法官",
                           "a clerk or the judge of the case")  # fmt: skip

    def require_approve(self, case_id: int) -> None:
        self._require_step(self.may_approve(case_id), case_id, "审批笔录", "approve a record", "本案法官",
                           "the judge of the case")  # fmt: skip

    def require_lock(self, case_id: int) -> None:
        self._require_step(self.may_lock(case_id), case_id, "锁定笔录", "lock a record", "本案书记员或法官",
                           "a clerk or the judge of the case")  # fmt: skip

    def require_reopen(self, case_id: int) -> None:
        self._require_step(self.may_reopen(case_id), case_id, "重新打开笔录", "reopen a record", "本案法官",
                           "the judge of the case")  # fmt: skip

    def require_seal(self, case_id: int) -> None:
        self._require_step(self.may_seal(case_id), case_id, "设置不公开部分", "seal parts of a record",
                           "本案书记员或法官", "a clerk or the judge of the case")  # fmt: skip

    def require_request_correction(self, case_id: int) -> None:
        self._require_step(self.may_request_correction(case_id), case_id, "提交补正申请", "file a correction request",
                           "本案书记员或法官", "a clerk or the judge of the case")  # fmt: skip

    def require_decide_correction(self, case_id: int) -> None:
        self._require_step(self.may_decide_correction(case_id), case_id, "决定补正申请", "decide a correction request",
                           "本案法官", "the judge of the case")  # fmt: skip

    def require_manage_members(self, case_id: int) -> None:
        self.require_see(case_id)
        if not self.may_manage_members(case_id):
            raise Forbidden("只有管理员和本案法官可以管理成员 (only an admin or the case's judge may manage members)")

    def require_manage_job(self, job: Any) -> None:
        if not self.may_manage_job(job):
            raise Forbidden(
                "只有管理员和本案成员（查阅人除外）可以取消或重试任务 "
                "(only an admin or a member of the job's case, not a viewer, may cancel or retry it)"
            )

    # -- membership --

    def _case(self, case: Case | int | str) -> Case:
        return case if isinstance(case, Case) else self.case(case)

    def grant(self, case: Case | int | str, user_name: str) -> bool:
        """Makes the user a member of the case (audited); False if they already were."""
        case = self._case(case)
        self.require_manage_members(case.id)
        target = Accounts(self.store).get(user_name)
        if target.disabled:
            if not self.is_admin:  # to a judge, a disabled account is one that is not there
                raise NotFound(no_such_user(user_name))
            raise Forbidden(f"账户 {target.name} 已停用 (account {target.name} is disabled): enable it first")
        with self.store.writing() as con:
            return members.add(con, case.id, target.id, self.actor)

    def revoke(self, case: Case | int | str, user_name: str) -> bool:
        """Ends the user's membership of the case (audited); False if they were not a member."""
        case = self._case(case)
        self.require_manage_members(case.id)
        target = Accounts(self.store).get(user_name)
        with self.store.writing() as con:
            return members.remove(con, case.id, target.id, self.actor)

    def members(self, case_id: int) -> list[Account]:
        """The case's members in the order they joined (for anyone who may see the case)."""
        self.require_see(case_id)
        with self.store.reading() as con:
            ids = members.user_ids(con, case_id)
        accounts = Accounts(self.store)
        return [accounts.by_id(i) for i in ids]


def console_login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or "unknown"


def console_account(login: str | None = None) -> Account:
    """The CLI operator on the server: admin rights, never stored (shell access to the data is full access)."""
    login = login or console_login()
    return Account(
        id=None,
        name=f"cli:{login}",
        display_name=f"控制台 {login} (console)",
        role=Role.ADMIN,
        source=CONSOLE,
        must_change=False,
        disabled=False,
        created_at=datetime.now().replace(tzinfo=None),
    )


def console_access(store: Store, login: str | None = None) -> Access:
    """An Access for the console operator `cli:<login>`, from client `cli:<login>@<host>`."""
    account = console_account(login)
    return Access(store, account, f"{account.name}@{socket.gethostname()}")


def cli_client(login: str | None = None) -> str:
    """The client address the CLI's rows carry: `cli:<login>@<host>`."""
    return f"cli:{login or console_login()}@{socket.gethostname()}"


class NoAccount(Exception):
    """Who runs the command cannot be told (unknown or disabled --as, no admin, several admins); says why."""


def choose_access(store: Store, as_name: str | None, *, client: str | None = None, login: str | None = None) -> Access:
    """Who a CLI command runs as: `as_name`, else the only enabled admin, else (no account exists yet) the
    console operator; NoAccount saying why if it cannot tell (see `workbench.cli.common`).

    `client` is the actor client (default `cli:<login>@<host>`); `login` the console operator's login (default:
    this process's). The server's console-key door (`workbench.api.http`) uses the same rules.
    """
    client = client or cli_client(login)
    accounts = Accounts(store)
    if as_name:
        try:
            account = accounts.get(as_name)
        except NotFound as e:
            raise NoAccount(f"--as {as_name}: {e}") from None
        if account.disabled:
            raise NoAccount(f"--as {account.name}: 账户已停用 (the account is disabled)")
        return Access(store, account, client)
    if accounts.count() == 0:
        access = console_access(store, login)
        access.client = client
        return access
    admins = accounts.admins()
    if len(admins) == 1:
        return Access(store, admins[0], client)
    if not admins:
        raise NoAccount(
            "no enabled admin account: pass --as NAME, or make an admin with `workbench users add NAME --role admin`"
        )
    raise NoAccount(f"ambiguous: pass --as NAME (admins: {', '.join(a.name for a in admins)})")
