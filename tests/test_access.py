"""Per-case access: who sees, edits, exports, uploads and manages members of which case (real DuckDB)."""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from workbench.accounts import (
    HEARING_NOT_YOURS,
    Access,
    Account,
    Accounts,
    Forbidden,
    NotYours,
    Role,
    console_access,
)
from workbench.accounts.access import CASE_NOT_YOURS
from workbench.store import NotFound, Store, StoreError, audit

CASE_A = "（2024）京0105民初1号"
CASE_B = "（2024）京0105民初2号"
PASSWORD = "correct-horse-9"


@dataclass(frozen=True)
class World:
    store: Store
    users: dict[str, Account]
    case_a: int
    case_b: int
    hearing_a: int
    hearing_b: int

    def access(self, name: str) -> Access:
        return Access(self.store, Accounts(self.store).get(name), "10.0.0.7")


@pytest.fixture
def world(tmp_path: Path) -> World:
    """Case A has a judge, a clerk and a viewer as members; the `*_out` accounts are members of case B only."""
    with Store(tmp_path / "w.duckdb") as store:
        console = console_access(store, "tester")
        accounts = Accounts(store)
        users = {}
        for name, role in (
            ("admin", Role.ADMIN),
            ("judge", Role.JUDGE),
            ("clerk", Role.CLERK),
            ("viewer", Role.VIEWER),
            ("judge_out", Role.JUDGE),
            ("clerk_out", Role.CLERK),
            ("viewer_out", Role.VIEWER),
        ):
            users[name] = accounts.add(name, role, by=console.actor, password=PASSWORD)[0]
        case_a = store.add_case(CASE_A, actor=console.actor).id
        case_b = store.add_case(CASE_B, actor=console.actor).id
        hearing_a = store.add_hearing(case_a, courtroom="第一法庭")
        hearing_b = store.add_hearing(case_b, courtroom="第二法庭")
        for name in ("judge", "clerk", "viewer"):
            console.grant(case_a, name)
        for name in ("judge_out", "clerk_out", "viewer_out"):
            console.grant(case_b, name)
        yield World(store, users, case_a, case_b, hearing_a, hearing_b)


# role, member of case A?, may: see, edit, export, manage members, upload (anywhere), upload into case A
MATRIX = [
    ("admin", True, dict(see=True, edit=True, export=True, manage=True, upload=True, upload_to=True)),
    ("judge", True, dict(see=True, edit=True, export=True, manage=True, upload=True, upload_to=True)),
    ("clerk", True, dict(see=True, edit=True, export=True, manage=False, upload=True, upload_to=True)),
    ("viewer", True, dict(see=True, edit=False, export=True, manage=False, upload=False, upload_to=False)),
    ("judge_out", False, dict(see=False, edit=False, export=False, manage=False, upload=True, upload_to=False)),
    ("clerk_out", False, dict(see=False, edit=False, export=False, manage=False, upload=True, upload_to=False)),
    ("viewer_out", False, dict(see=False, edit=False, export=False, manage=False, upload=False, upload_to=False)),
]


@pytest.mark.parametrize(("name", "member", "may"), MATRIX, ids=[m[0] for m in MATRIX])
def test_access_matrix(world: World, name: str, member: bool, may: dict[str, bool]) -> None:
    access = world.access(name)
    a = world.case_a
    assert access.can_see_case(a) is may["see"]
    assert access.may_edit(a) is may["edit"]
    assert access.may_export(a) is may["export"]
    assert access.may_manage_members(a) is may["manage"]
    assert access.may_upload() is may["upload"]
    assert access.may_upload_to(CASE_A) is may["upload_to"]
    assert access.may_upload_to("（2025）京0105民初99号") is may["upload"]  # a new case: any uploader

    # the checks that raise agree with the answers
    for check, allowed in (
        (lambda: access.require_edit(a), may["edit"]),
        (lambda: access.require_export(a), may["export"]),
        (lambda: access.require_manage_members(a), may["manage"]),
        (lambda: access.require_upload_to(CASE_A), may["upload_to"]),
        (access.require_upload, may["upload"]),
        (access.require_admin, name == "admin"),
    ):
        if allowed:
            check()
        else:
            with pytest.raises(StoreError):  # Forbidden, or NotYours for a case it may not see
                check()

    if may["see"]:
        assert access.hearing(world.hearing_a).id == world.hearing_a
    else:
        with pytest.raises(NotYours):
            access.hearing(world.hearing_a)
    # the admin sees case B too; everyone else there only through membership
    assert access.can_see_case(world.case_b) is (name == "admin" or name.endswith("_out"))


def test_upload_to_is_decided_by_the_case_number_never_its_id(world: World) -> None:
    store = world.store
    digits = store.add_case(str(world.case_a), actor=console_access(store).actor)  # a case numbered like A's id
    clerk = world.access("clerk")  # a member of case A (whose id is that number), not of the case with it
    assert not clerk.may_upload_to(digits.number)
    assert world.access("clerk").may_upload_to(CASE_A)


def test_require_failures_are_forbidden_store_errors(world: World) -> None:
    with pytest.raises(Forbidden, match="only an admin"):
        world.access("judge").require_admin()
    with pytest.raises(Forbidden, match="may not edit"):
        world.access("viewer").require_edit(world.case_a)
    with pytest.raises(Forbidden, match="exists and you are not a member"):
        world.access("clerk_out").require_upload_to(CASE_A)
    with pytest.raises(Forbidden, match="may not upload"):
        world.access("viewer").require_upload_to("（2025）京0105民初99号")
    assert issubclass(Forbidden, StoreError)


def test_not_yours_says_the_same_for_missing_and_forbidden(world: World) -> None:
    clerk = world.access("clerk")
    messages = set()
    for hearing_id in (world.hearing_b, 999_999, 0, -1, 2**40, "nan", "1e3", None, "abc", str(world.hearing_b)):
        with pytest.raises(NotYours) as e:
            clerk.hearing(hearing_id)  # type: ignore[arg-type]
        messages.add(str(e.value))
        assert isinstance(e.value, NotFound)
    assert messages == {HEARING_NOT_YOURS} == {"庭审不存在或无权查看 (not found or not yours)"}
    assert clerk.hearing(str(world.hearing_a)).id == world.hearing_a

    case_messages = set()
    for key in (world.case_b, CASE_B, 9999, "（2099）不存在1号"):
        with pytest.raises(NotYours) as e:
            clerk.case(key)
        case_messages.add(str(e.value))
    assert case_messages == {CASE_NOT_YOURS}


def test_hearings_and_cases_are_filtered(world: World) -> None:
    store = world.store
    extra = [store.add_hearing(world.case_b) for _ in range(3)]
    clerk = world.access("clerk")
    assert clerk.case_ids() == frozenset({world.case_a})
    assert [h.id for h in clerk.hearings()] == [world.hearing_a]
    assert [h.id for h in clerk.hearings(limit=1)] == [world.hearing_a]  # the limit applies after the filter
    assert clerk.hearings(case=CASE_B) == []
    assert [c.number for c in clerk.cases()] == [CASE_A]

    admin = world.access("admin")
    assert admin.case_ids() is None
    assert {h.id for h in admin.hearings()} == {world.hearing_a, world.hearing_b, *extra}
    assert len(admin.hearings(limit=2)) == 2
    assert {h.id for h in world.access("viewer_out").hearings()} == {world.hearing_b, *extra}

    loner = Accounts(store).add("loner", Role.CLERK, by=console_access(store).actor, password=PASSWORD)[0]
    assert Access(store, loner).hearings() == [] and Access(store, loner).case_ids() == frozenset()


def test_disabled_account_sees_nothing(world: World) -> None:
    clerk = world.access("clerk")
    disabled = Accounts(world.store).disable("clerk", by=world.access("admin").actor)
    access = Access(world.store, disabled)
    assert not access.can_see_case(world.case_a) and access.hearings() == []
    assert not access.may_upload()
    with pytest.raises(NotYours):
        access.hearing(world.hearing_a)
    assert clerk.account.disabled is False  # an Access made before holds its account; sessions end on disable


def test_grant_and_revoke_checked_and_audited(world: World) -> None:
    store = world.store
    judge = world.access("judge")
    assert [m.name for m in judge.members(world.case_a)] == ["judge", "clerk", "viewer"]

    # the case's judge adds and removes members of their case
    assert judge.grant(CASE_A, "clerk_out") is True
    assert judge.grant(world.case_a, "clerk_out") is False  # already
    assert world.access("clerk_out").hearing(world.hearing_a).id == world.hearing_a
    with store.reading() as con:
        row = audit.rows(con, action=audit.MEMBER_ADDED)[0]
    assert (row.account, row.client, row.case_id, row.detail["user"]) == (
        "judge",
        "10.0.0.7",
        world.case_a,
        "clerk_out",
    )
    assert judge.revoke(CASE_A, "clerk_out") is True
    assert judge.revoke(CASE_A, "clerk_out") is False
    with pytest.raises(NotYours):
        world.access("clerk_out").hearing(world.hearing_a)
    with store.reading() as con:
        assert audit.rows(con, action=audit.MEMBER_REMOVED)[0].account == "judge"

    # a clerk or viewer of the case may not; a judge of another case cannot even see it
    with pytest.raises(Forbidden, match="only an admin or the case's judge"):
        world.access("clerk").grant(CASE_A, "clerk_out")
    with pytest.raises(Forbidden):
        world.access("viewer").revoke(CASE_A, "clerk")
    with pytest.raises(NotYours, match="case not found or not yours"):
        judge.grant(CASE_B, "clerk")
    with pytest.raises(NotYours, match="case not found or not yours"):
        world.access("judge_out").revoke(CASE_A, "clerk")
    with pytest.raises(NotYours):
        world.access("clerk_out").members(world.case_a)
    with pytest.raises(NotFound, match="no user 'nobody'"):
        judge.grant(CASE_A, "nobody")
    Accounts(store).disable("clerk_out", by=world.access("admin").actor)
    with pytest.raises(NotFound, match="no user 'clerk_out'"):  # to a judge, like an unknown name: no account states
        judge.grant(CASE_A, "clerk_out")
    with pytest.raises(Forbidden, match="disabled"):  # an admin is told why
        world.access("admin").grant(CASE_A, "clerk_out")

    # the admin manages any case
    assert world.access("admin").grant(CASE_B, "clerk") is True
    assert world.access("clerk").can_see_case(world.case_b)
    assert "clerk" in {m.name for m in world.access("judge_out").members(world.case_b)}
    with store.reading() as con:
        assert audit.verify(con).ok


@dataclass(frozen=True)
class _Job:  # what may_manage_job reads of a jobs.JobInfo
    hearing_id: int


def test_who_may_cancel_or_retry_a_job(world: World) -> None:
    job = _Job(world.hearing_a)
    assert world.access("admin").may_manage_job(job)
    assert world.access("judge").may_manage_job(job)
    assert world.access("clerk").may_manage_job(job)
    assert not world.access("viewer").may_manage_job(job)
    assert not world.access("clerk_out").may_manage_job(job)
    assert not world.access("clerk").may_manage_job(_Job(999_999))
    with pytest.raises(Forbidden, match="cancel or retry"):
        world.access("clerk_out").require_manage_job(job)


def test_console_operator(world: World) -> None:
    console = console_access(world.store, "clerkops")
    assert console.account.name == "cli:clerkops" and console.account.id is None
    assert console.client == f"cli:clerkops@{socket.gethostname()}"
    assert console.actor == audit.Actor("cli:clerkops", console.client, None, "admin")
    assert console.is_admin and console.case_ids() is None
    assert console.hearing(world.hearing_b).id == world.hearing_b
    assert console_access(world.store).account.name == f"cli:{getpass.getuser()}"
    assert console.grant(CASE_B, "viewer")
    with world.store.reading() as con:
        row = audit.rows(con, action=audit.MEMBER_ADDED)[0]
    assert (row.account, row.client) == ("cli:clerkops", console.client)


def test_a_new_case_makes_its_creator_a_member(world: World) -> None:
    """What an upload into a new case number does (the store's `jobs.submit`): the uploader may see the case it made."""
    clerk = world.access("clerk_out")
    case = world.store.add_case("（2025）京0105民初7号", actor=clerk.actor)
    assert clerk.can_see_case(case.id)
    assert not world.access("clerk").can_see_case(case.id)
