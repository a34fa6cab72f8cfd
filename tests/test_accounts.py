"""Accounts, passwords, sign-in, lockout, sessions and the `workbench users` verbs: real DuckDB, real argon2."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from workbench.accounts import (
    Account,
    AccountError,
    Accounts,
    Forbidden,
    Role,
    Sessions,
    SignInRefused,
    console_access,
    passwords,
    sign_in,
    signin,
)
from workbench.accounts import sessions as sessions_module
from workbench.accounts.users import check_display_name, check_name
from workbench.store import NotFound, Store, audit
from workbench.store.audit import Actor

PASSWORD = "correct-horse-9"


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "w.duckdb") as s:
        yield s


@pytest.fixture
def console(store: Store) -> Actor:
    return console_access(store, "tester").actor


@pytest.fixture
def accounts(store: Store) -> Accounts:
    return Accounts(store)


def _rows(store: Store, action: str | None = None) -> list[audit.AuditRow]:
    with store.reading() as con:
        return audit.rows(con, action=action)


def test_guesses_sent_at_once_are_counted_one_by_one(store: Store, accounts: Accounts, console: Actor) -> None:
    """20 wrong passwords at once, from 20 addresses: only 5 are checked, the rest meet the lock."""
    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)

    def guess(i: int) -> str:
        try:
            sign_in(store, "clerk1", "wrong-password", f"10.0.2.{i}")
        except SignInRefused as e:
            return e.reason
        return "signed in"

    with ThreadPoolExecutor(20) as pool:
        reasons = list(pool.map(guess, range(20)))
    assert reasons.count(signin.WRONG_PASSWORD) == 5, reasons
    assert reasons.count(signin.LOCKED_ACCOUNT) == 15, reasons


def test_the_case_of_a_name_does_not_buy_more_guesses(store: Store, accounts: Accounts, console: Actor) -> None:
    """An unknown name (a directory user before their first sign-in, say) locks whatever its case."""
    for i, typed in enumerate(["carol", "Carol", "cAROL", "CAROL", "caRol"]):
        with pytest.raises(SignInRefused):
            sign_in(store, typed, "wrong-password", f"10.0.3.{i}")
    with pytest.raises(SignInRefused) as sixth:
        sign_in(store, "CaRoL", "wrong-password", "10.0.3.9")
    assert sixth.value.reason == signin.LOCKED_ACCOUNT


def _admin(accounts: Accounts, console: Actor, name: str = "admin1") -> Account:
    account, _ = accounts.add(name, Role.ADMIN, by=console, password=PASSWORD, must_change=False)
    return account


# -- accounts ------------------------------------------------------------------------------------


def test_add_list_role_disable_enable_each_audited(store: Store, accounts: Accounts, console: Actor) -> None:
    assert accounts.count() == 0 and not accounts.has_admin()
    admin = _admin(accounts, console)
    assert accounts.has_admin()
    by = admin.actor("10.0.0.1")
    clerk, one_time = accounts.add("clerk1", "书记员", by=by, display_name="王书记员", password=PASSWORD)
    assert one_time is None
    assert (clerk.role, clerk.display_name, clerk.source, clerk.must_change) == (Role.CLERK, "王书记员", "local", True)
    assert clerk.shown == "王书记员" and admin.shown == "admin1"
    assert [a.name for a in accounts.list()] == ["admin1", "clerk1"]
    assert accounts.get("CLERK1") == clerk  # names ignore case when looked up
    with pytest.raises(AccountError, match="already exists"):
        accounts.add("Clerk1", Role.JUDGE, by=by, password=PASSWORD)
    with pytest.raises(NotFound, match="no user 'nobody'"):
        accounts.get("nobody")

    assert accounts.set_role("clerk1", Role.JUDGE, by=by).role is Role.JUDGE
    assert accounts.disable("clerk1", by=by).disabled
    assert not accounts.enable("clerk1", by=by).disabled

    added = _rows(store, audit.USER_ADDED)
    assert [r.detail["user"] for r in added] == ["clerk1", "admin1"]
    assert added[0].account == "admin1" and added[0].client == "10.0.0.1"
    assert added[1].account == "cli:tester"
    changed = [r.detail for r in reversed(_rows(store, audit.USER_CHANGED))]
    assert changed[0]["role"] == ["clerk", "judge"]
    assert changed[1]["disabled"] == [False, True]
    assert changed[2]["disabled"] == [True, False]
    with store.reading() as con:
        assert audit.verify(con).ok


def test_unknown_role_is_refused_naming_the_choices(accounts: Accounts, console: Actor) -> None:
    with pytest.raises(AccountError, match=r"unknown role 'boss'.*admin.*judge.*clerk.*viewer"):
        accounts.add("x1", "boss", by=console, password=PASSWORD)
    assert accounts.count() == 0


def test_never_zero_enabled_admins(accounts: Accounts, console: Actor) -> None:
    first = _admin(accounts, console, "admin1")
    by = first.actor("10.0.0.1")
    with pytest.raises(AccountError, match="at least one enabled admin"):
        accounts.disable("admin1", by=by)
    with pytest.raises(AccountError, match="at least one enabled admin"):
        accounts.set_role("admin1", Role.JUDGE, by=by)
    _admin(accounts, console, "admin2")
    accounts.disable("admin2", by=by)  # a disabled admin does not count
    with pytest.raises(AccountError, match="at least one enabled admin"):
        accounts.set_role("admin1", Role.CLERK, by=by)
    accounts.enable("admin2", by=by)
    accounts.set_role("admin1", Role.CLERK, by=by)  # admin2 remains
    with pytest.raises(AccountError, match="at least one enabled admin"):
        accounts.disable("admin2", by=accounts.get("admin2").actor(""))
    assert [a.name for a in accounts.admins()] == ["admin2"]


def test_only_an_admin_changes_accounts(accounts: Accounts, console: Actor) -> None:
    _admin(accounts, console)
    clerk, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    as_clerk = clerk.actor("10.0.0.2")
    with pytest.raises(Forbidden, match="only an admin"):
        accounts.add("mole", Role.ADMIN, by=as_clerk, password=PASSWORD)
    with pytest.raises(Forbidden):
        accounts.set_role("clerk1", Role.ADMIN, by=as_clerk)
    with pytest.raises(Forbidden):
        accounts.disable("admin1", by=as_clerk)
    with pytest.raises(Forbidden):
        accounts.set_password("admin1", "mine-now-12345", by=as_clerk)
    assert accounts.get("clerk1").role is Role.CLERK and accounts.count() == 2


def test_password_policy(accounts: Accounts, console: Actor, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(AccountError, match="at least 10 characters"):
        accounts.add("judge1", Role.JUDGE, by=console, password="short")
    with pytest.raises(AccountError, match="cannot be the user name"):
        accounts.add("judge-number1", Role.JUDGE, by=console, password="Judge-Number1")
    with pytest.raises(AccountError, match="NUL"):
        accounts.add("judge1", Role.JUDGE, by=console, password="abc\x00defghijk")
    with pytest.raises(AccountError, match="at most 256"):
        accounts.add("judge1", Role.JUDGE, by=console, password="x" * 257)
    monkeypatch.setenv("WORKBENCH_PASSWORD_MIN_LENGTH", "14")
    with pytest.raises(AccountError, match="at least 14 characters"):
        accounts.add("judge1", Role.JUDGE, by=console, password="thirteen-char")
    assert accounts.count() == 0
    account, _ = accounts.add("judge1", Role.JUDGE, by=console, password="fourteen-chars")
    assert account.name == "judge1"
    assert len(passwords.one_time_password().replace("-", "")) >= 16


def test_hash_is_argon2id_and_no_secret_reaches_the_audit(store: Store, accounts: Accounts, console: Actor) -> None:
    admin = _admin(accounts, console)
    accounts.add("clerk1", Role.CLERK, by=console, password="first-secret-1")
    accounts.set_password("clerk1", "second-secret-2", by=admin.actor(""))
    _, one_time = accounts.add("clerk2", Role.CLERK, by=console)
    with store.reading() as con:
        hashes = [r[0] for r in con.execute("SELECT password_hash FROM users ORDER BY id").fetchall()]
        audit_text = " ".join(r[0] for r in con.execute("SELECT detail FROM audit").fetchall())
    assert all(h.startswith("$argon2id$") for h in hashes)
    for secret in ("first-secret-1", "second-secret-2", one_time, *hashes, "$argon2"):
        assert secret not in audit_text


def test_one_time_password_must_be_changed(store: Store, accounts: Accounts, console: Actor) -> None:
    admin = _admin(accounts, console)
    clerk, one_time = accounts.add("clerk1", Role.CLERK, by=admin.actor("10.0.0.1"))
    assert one_time and clerk.must_change
    signed = sign_in(store, "clerk1", one_time, "10.0.0.2")
    assert signed.must_change
    with pytest.raises(AccountError, match="current password is wrong"):
        accounts.change_own_password(signed, "not-it-at-all", "my-own-secret-1", "10.0.0.2")
    with pytest.raises(AccountError, match="must differ"):
        accounts.change_own_password(signed, one_time, one_time, "10.0.0.2")
    with pytest.raises(AccountError, match="at least 10"):
        accounts.change_own_password(signed, one_time, "short", "10.0.0.2")
    changed = accounts.change_own_password(signed, one_time, "my-own-secret-1", "10.0.0.2")
    assert not changed.must_change
    assert not sign_in(store, "clerk1", "my-own-secret-1", "10.0.0.2").must_change
    with pytest.raises(SignInRefused):
        sign_in(store, "clerk1", one_time, "10.0.0.2")
    row = _rows(store, audit.PASSWORD_CHANGED)[0]
    assert (row.account, row.detail["by_admin"]) == ("clerk1", False)

    # an admin's reset: must change again, and the sessions end
    sessions = Sessions(store)
    token = sessions.start(changed, "10.0.0.2")
    assert sessions.resolve(token) is not None
    reset = accounts.set_password("clerk1", "reset-by-admin-1", by=admin.actor("10.0.0.1"))
    assert reset.must_change
    assert sessions.resolve(token) is None
    assert _rows(store, audit.PASSWORD_CHANGED)[0].detail == {
        "user": "clerk1", "user_id": clerk.id, "by_admin": True, "must_change": True, "sessions_ended": 1,
        "tokens_revoked": 0,
    }  # fmt: skip


def test_a_hash_with_old_parameters_is_replaced_at_sign_in(store: Store, accounts: Accounts, console: Actor) -> None:
    from argon2 import PasswordHasher

    account, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    old = PasswordHasher(memory_cost=8192, time_cost=1, parallelism=1).hash(PASSWORD)
    with store.writing() as con:
        con.execute("UPDATE users SET password_hash = ? WHERE id = ?", [old, account.id])
    assert sign_in(store, "clerk1", PASSWORD, "10.0.0.2").name == "clerk1"
    with store.reading() as con:
        new = con.execute("SELECT password_hash FROM users WHERE id = ?", [account.id]).fetchone()[0]
    assert new != old and not passwords.needs_rehash(new)
    assert sign_in(store, "clerk1", PASSWORD, "10.0.0.2").name == "clerk1"


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("a b", "U\\+0020 SPACE, at position 2"),
        ("王五", "U\\+738B CJK UNIFIED IDEOGRAPH-738B, at position 1"),
        ("<script>", "U\\+003C LESS-THAN SIGN"),
        ('o"neil', "QUOTATION MARK"),
        ("it's", "APOSTROPHE"),
        ("a\x00b", "U\\+0000 control character, at position 2"),
        ("x" * 65, "65 characters is too long"),
        ("x" * 500, "500 characters is too long"),
        ("محمد", "ARABIC LETTER"),
        ("pаypal", "CYRILLIC SMALL LETTER A"),  # a Cyrillic а among Latin letters
    ],
)
def test_bad_sign_in_names_are_refused(name: str, why: str, accounts: Accounts, console: Actor) -> None:
    with pytest.raises(AccountError, match=why):
        check_name(name)
    with pytest.raises(AccountError):
        accounts.add(name, Role.CLERK, by=console, password=PASSWORD)
    assert accounts.count() == 0


def test_good_names() -> None:
    assert check_name(" a.b_c@d-e.9 ") == "a.b_c@d-e.9"
    assert check_name("x" * 64) == "x" * 64


@pytest.mark.parametrize(
    "text",
    [
        '<img src=x onerror="alert(1)">',  # kept as text: the pages escape it
        'O\'Brien "the judge"',
        "张三",
        "محمد الأحمد",  # right-to-left Arabic
        "דוד לוי",  # right-to-left Hebrew
        "x" * 64,
        "",
    ],
)
def test_display_names_kept_as_text(text: str, accounts: Accounts, console: Actor) -> None:
    account, _ = accounts.add("user1", Role.VIEWER, by=console, display_name=text, password=PASSWORD)
    assert account.display_name == text == accounts.get("user1").display_name


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("x" * 65, "at most 64 characters, this one 65"),
        ("x" * 500, "at most 64 characters, this one 500"),
        ("张\x00三", "U\\+0000 control character, at position 2"),
        ("evil\u202egnp.exe", "U\\+202E RIGHT-TO-LEFT OVERRIDE, at position 5"),
        ("a\u2066b", "U\\+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u2069", "U\\+2069 POP DIRECTIONAL ISOLATE"),
        ("a\u202ab", "U\\+202A LEFT-TO-RIGHT EMBEDDING"),
        ("two\nlines", "U\\+000A control character"),
        ("bell\x07", "U\\+0007"),
    ],
)
def test_bad_display_names_are_refused(text: str, why: str, accounts: Accounts, console: Actor) -> None:
    with pytest.raises(AccountError, match=why):
        check_display_name(text)
    with pytest.raises(AccountError, match=why):
        accounts.add("user1", Role.VIEWER, by=console, display_name=text, password=PASSWORD)
    assert accounts.count() == 0


# -- sign-in -------------------------------------------------------------------------------------


def test_sign_in_ok_wrong_unknown_disabled(store: Store, accounts: Accounts, console: Actor) -> None:
    admin = _admin(accounts, console)
    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    signed = sign_in(store, "clerk1", PASSWORD, "10.0.0.2")
    assert signed.name == "clerk1" and signed.role is Role.CLERK
    ok = _rows(store, audit.SIGN_IN)[0]
    assert (ok.account, ok.client, ok.detail["user_id"]) == ("clerk1", "10.0.0.2", signed.id)

    with pytest.raises(SignInRefused) as wrong:
        sign_in(store, "clerk1", "not-the-password", "10.0.0.3")
    with pytest.raises(SignInRefused) as unknown:
        sign_in(store, "nobody", PASSWORD, "10.0.0.4")
    with pytest.raises(SignInRefused) as empty:
        sign_in(store, "clerk1", "", "10.0.0.5")
    assert str(wrong.value) == str(unknown.value) == str(empty.value) == signin.WRONG
    assert (wrong.value.reason, unknown.value.reason) == (signin.WRONG_PASSWORD, signin.UNKNOWN_NAME)

    accounts.disable("clerk1", by=admin.actor(""))
    with pytest.raises(SignInRefused, match="disabled") as disabled:
        sign_in(store, "clerk1", PASSWORD, "10.0.0.2")
    assert disabled.value.reason == signin.ACCOUNT_DISABLED
    with pytest.raises(SignInRefused, match="wrong name or password"):  # no hint without the password
        sign_in(store, "clerk1", "not-the-password", "10.0.0.2")

    failed = _rows(store, audit.SIGN_IN_FAILED)
    assert [(r.account, r.detail["reason"]) for r in reversed(failed)] == [
        ("clerk1", "wrong_password"),
        ("nobody", "unknown_name"),
        ("clerk1", "wrong_password"),
        ("clerk1", "disabled"),
        ("clerk1", "wrong_password"),
    ]


def test_a_failed_sign_in_records_the_name_typed_cut_to_64(store: Store) -> None:
    for typed in ("x" * 100, "evil\x00name", "<script>alert(1)</script>"):
        with pytest.raises(SignInRefused, match="wrong name or password"):
            sign_in(store, typed, PASSWORD, "10.0.0.9")
    rows = list(reversed(_rows(store, audit.SIGN_IN_FAILED)))
    assert rows[0].detail == {"reason": "bad_name", "name": "x" * 64} and rows[0].account == "x" * 64
    assert rows[1].detail["name"] == "evil\ufffdname"
    assert rows[2].detail["name"] == "<script>alert(1)</script>"


def test_unknown_name_takes_as_long_as_a_wrong_password(store: Store, accounts: Accounts, console: Actor) -> None:
    import time

    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)

    def took(name: str, client: str) -> float:
        start = time.perf_counter()
        with pytest.raises(SignInRefused):
            sign_in(store, name, "not-the-password", client)
        return time.perf_counter() - start

    wrong = min(took("clerk1", f"10.1.0.{i}") for i in range(3))
    unknown = min(took("nobody", f"10.2.0.{i}") for i in range(3))
    assert unknown > wrong * 0.5  # both verify an argon2 hash; without the dummy one it would be ~0
    assert wrong < 1.0


def _backdate(store: Store, minutes: int) -> None:
    """Moves every audit row back in time (plain SQL: the chain breaks, which this test does not check)."""
    with store.writing() as con:
        con.execute(f"UPDATE audit SET logged_at = logged_at - INTERVAL {int(minutes)} MINUTE")


def test_lockout_per_account_after_5_failures(store: Store, accounts: Accounts, console: Actor) -> None:
    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    for i in range(4):
        with pytest.raises(SignInRefused) as e:
            sign_in(store, "clerk1", "wrong-password", f"10.0.1.{i}")  # other addresses: only the account locks
        assert str(e.value) == signin.WRONG
    with pytest.raises(SignInRefused, match="locked until") as fifth:
        sign_in(store, "clerk1", "wrong-password", "10.0.1.4")
    first_failure = _rows(store, audit.SIGN_IN_FAILED)[-1].logged_at
    until = first_failure + signin.WINDOW
    assert fifth.value.locked_until == until

    with pytest.raises(SignInRefused) as locked:  # the right password, too late
        sign_in(store, "clerk1", PASSWORD, "10.0.1.9")
    assert locked.value.reason == signin.LOCKED_ACCOUNT
    assert str(locked.value) == (
        f"账户 clerk1 登录失败次数过多，已锁定至 {until:%H:%M} "
        f"(too many failed sign-ins for this account: locked until {until:%H:%M})"
    )
    for _ in range(3):  # refusals of the lock are not counted again: it ends when it says
        with pytest.raises(SignInRefused) as again:
            sign_in(store, "clerk1", PASSWORD, "10.0.1.9")
        assert again.value.locked_until == until
    assert _rows(store, audit.SIGN_IN_FAILED)[0].detail["reason"] == "locked_account"

    _backdate(store, 16)
    assert sign_in(store, "clerk1", PASSWORD, "10.0.1.9").name == "clerk1"


def test_a_successful_sign_in_starts_the_count_again(store: Store, accounts: Accounts, console: Actor) -> None:
    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    for i in range(4):
        with pytest.raises(SignInRefused):
            sign_in(store, "clerk1", "wrong-password", f"10.0.2.{i}")
    sign_in(store, "clerk1", PASSWORD, "10.0.2.9")
    for i in range(4):
        with pytest.raises(SignInRefused) as e:
            sign_in(store, "clerk1", "wrong-password", f"10.0.3.{i}")
        assert e.value.reason == signin.WRONG_PASSWORD
    assert sign_in(store, "clerk1", PASSWORD, "10.0.3.9").name == "clerk1"


def test_unknown_names_lock_like_known_ones(store: Store) -> None:
    """Otherwise the lock would tell which names exist."""
    for i in range(5):
        with pytest.raises(SignInRefused):
            sign_in(store, "ghost", "wrong-password", f"10.0.4.{i}")
    with pytest.raises(SignInRefused, match="locked until") as e:
        sign_in(store, "ghost", "wrong-password", "10.0.4.9")
    assert e.value.reason == signin.LOCKED_ACCOUNT


def test_a_name_cannot_smuggle_a_lock_reason_into_the_count(store: Store) -> None:
    """Refusals of a lock are not counted; a typed name that looks like one must still count."""
    for _ in range(5):
        with pytest.raises(SignInRefused):
            sign_in(store, 'x","reason":"locked_account', "wrong-password", "10.0.6.1")
    with pytest.raises(SignInRefused) as e:
        sign_in(store, "anyone", "wrong-password", "10.0.6.1")
    assert e.value.reason == signin.LOCKED_ADDRESS


def test_lockout_per_address_after_5_failures(store: Store, accounts: Accounts, console: Actor) -> None:
    accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    for name in ("a1", "a2", "a3", "a4", "a5"):  # a different name each time: only the address locks
        with pytest.raises(SignInRefused):
            sign_in(store, name, "wrong-password", "192.168.1.66")
    with pytest.raises(SignInRefused) as locked:
        sign_in(store, "clerk1", PASSWORD, "192.168.1.66")
    assert locked.value.reason == signin.LOCKED_ADDRESS
    until = locked.value.locked_until
    assert str(locked.value) == (
        f"此地址登录失败次数过多，已锁定至 {until:%H:%M} "
        f"(too many failed sign-ins from this address 192.168.1.66: locked until {until:%H:%M})"
    )
    assert until - datetime.now() <= signin.WINDOW
    assert sign_in(store, "clerk1", PASSWORD, "192.168.1.67").name == "clerk1"  # another address is not locked
    _backdate(store, 16)
    assert sign_in(store, "clerk1", PASSWORD, "192.168.1.66").name == "clerk1"


# -- directory (the directory module replaced by a double in these unit tests; test_ldap.py runs the real slapd) --


@pytest.fixture
def directory(monkeypatch: pytest.MonkeyPatch):
    from workbench.accounts import directory as module

    monkeypatch.setenv("WORKBENCH_LDAP_URL", "ldap://127.0.0.1:1")
    calls: list[str] = []
    people = {("dir.judge", "dir-secret-1"): module.DirectoryUser("dir.judge", "李法官", Role.JUDGE)}

    def authenticate(name: str, password: str):
        calls.append(name)
        if name == "down":
            raise module.DirectoryUnavailable("connection refused")
        return people.get((name, password))

    monkeypatch.setattr(module, "authenticate", authenticate)
    return calls, people, module


def test_directory_sign_in_provisions_and_follows_the_directory(store: Store, accounts: Accounts, directory) -> None:
    calls, people, module = directory
    account = sign_in(store, "dir.judge", "dir-secret-1", "10.0.5.1")
    assert (account.source, account.role, account.display_name, account.must_change) == (
        "ldap",
        Role.JUDGE,
        "李法官",
        False,
    )
    assert _rows(store, audit.USER_ADDED)[0].detail["source"] == "ldap"
    people[("dir.judge", "dir-secret-1")] = module.DirectoryUser("dir.judge", "李法官", Role.VIEWER)
    assert sign_in(store, "dir.judge", "dir-secret-1", "10.0.5.1").role is Role.VIEWER
    assert _rows(store, audit.USER_CHANGED)[0].detail["role"] == ["judge", "viewer"]
    with pytest.raises(SignInRefused, match="wrong name or password") as wrong:
        sign_in(store, "dir.judge", "not-it", "10.0.5.1")
    assert wrong.value.reason == signin.DIRECTORY_REFUSED
    assert calls == ["dir.judge", "dir.judge", "dir.judge"]


def test_directory_unreachable_and_local_accounts_stay_local(
    store: Store, accounts: Accounts, console: Actor, directory
) -> None:
    calls, _, _ = directory
    with pytest.raises(SignInRefused, match=r"directory server ldap://127\.0\.0\.1:1 cannot be reached") as e:
        sign_in(store, "down", "whatever-1234", "10.0.5.2")
    assert e.value.reason == signin.DIRECTORY_UNAVAILABLE
    accounts.add("local1", Role.CLERK, by=console, password=PASSWORD)
    assert sign_in(store, "local1", PASSWORD, "10.0.5.2").source == "local"
    assert calls == ["down"]  # the local account never went to the directory


# -- sessions ------------------------------------------------------------------------------------


def test_session_token_is_stored_only_as_its_hash(store: Store, accounts: Accounts, console: Actor) -> None:
    account, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    sessions = Sessions(store)
    token = sessions.start(account, "10.0.0.2")
    assert len(token) >= 43
    assert sessions.resolve(token) == account
    with store.reading() as con:
        stored = con.execute("SELECT * FROM sessions").fetchall()
    assert token not in repr(stored)
    assert stored[0][0] == __import__("hashlib").sha256(token.encode()).hexdigest()
    for bad in (None, "", "x" * 43, token[:-1], token + "x", "y" * 10_000):
        assert sessions.resolve(bad) is None


def test_session_idle_timeout_and_touch(
    store: Store, accounts: Accounts, console: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    account, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    start = datetime.now()
    now = [start]
    sessions = Sessions(store, clock=lambda: now[0])
    token = sessions.start(account, "10.0.0.2")

    def last_seen() -> datetime:
        with store.reading() as con:
            return con.execute("SELECT last_seen FROM sessions").fetchone()[0]

    now[0] = start + timedelta(seconds=10)
    assert sessions.resolve(token) == account
    assert last_seen() == start  # not written more than once per 30 s
    now[0] = start + timedelta(minutes=29)
    assert sessions.resolve(token) == account
    assert last_seen() == now[0]  # activity moves the idle limit on
    now[0] = start + timedelta(minutes=29 + 29)
    assert sessions.resolve(token) == account
    now[0] += timedelta(minutes=30, seconds=1)  # 30 minutes (the default) without activity
    assert sessions.resolve(token) is None

    token = sessions.start(account, "10.0.0.2")
    monkeypatch.setenv("WORKBENCH_SESSION_IDLE_MINUTES", "5")
    now[0] += timedelta(minutes=4)
    assert sessions.resolve(token) == account
    now[0] += timedelta(minutes=5, seconds=1)
    sessions_module._cache.clear()  # as after the 2 s the cache keeps an answer: read from the table
    assert sessions.resolve(token) is None


def test_sign_out_and_disabling_end_sessions(store: Store, accounts: Accounts, console: Actor) -> None:
    admin = _admin(accounts, console)
    account, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    sessions = Sessions(store)
    token = sessions.start(account, "10.0.0.2")
    other = sessions.start(account, "10.0.0.3")
    assert sessions.resolve(token) and sessions.resolve(other)
    assert sessions.end(token, account.actor("10.0.0.2"))
    assert sessions.resolve(token) is None and sessions.resolve(other) == account
    assert not sessions.end(token, account.actor("10.0.0.2"))  # once
    out = _rows(store, audit.SIGN_OUT)
    assert len(out) == 1 and (out[0].account, out[0].client) == ("clerk1", "10.0.0.2")

    accounts.set_role("clerk1", Role.VIEWER, by=admin.actor(""))
    assert sessions.resolve(other).role is Role.VIEWER  # the cache follows changes at once
    accounts.disable("clerk1", by=admin.actor(""))
    assert sessions.resolve(other) is None
    accounts.enable("clerk1", by=admin.actor(""))
    assert sessions.resolve(other) is None  # ended, not just hidden
    with pytest.raises(ValueError):
        sessions.start(accounts.disable("clerk1", by=admin.actor("")), "10.0.0.2")


def test_a_session_of_another_process_ended_is_seen_within_the_cache_time(
    store: Store, accounts: Accounts, console: Actor
) -> None:
    import time

    account, _ = accounts.add("clerk1", Role.CLERK, by=console, password=PASSWORD)
    sessions = Sessions(store)
    token = sessions.start(account, "10.0.0.2")
    assert sessions.resolve(token) == account
    with store.writing() as con:  # as a CLI in another process would: no cache of ours to clear
        con.execute("UPDATE users SET disabled = true")
    time.sleep(sessions_module.CACHE_TTL_S + 0.1)
    assert sessions.resolve(token) is None


# -- the CLI -------------------------------------------------------------------------------------


def _cli(db: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None):
    from workbench.cli.users import users_group

    return CliRunner().invoke(users_group, [*args[:1], "--db", str(db), *args[1:]], input=input, env=env)


def test_cli_bootstrap_and_verbs(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    first = _cli(db, "add", "boss", "--role", "admin", "--display-name", "张庭长")
    assert first.exit_code == 0, first.output
    one_time = first.output.split("shown only now): ")[1].split()[0]
    assert "must be changed at the first sign-in" in first.output
    with Store(db) as store:
        signed = sign_in(store, "boss", one_time, "10.0.0.1")
        assert signed.must_change and signed.role is Role.ADMIN
        assert _rows(store, audit.USER_ADDED)[0].account.startswith("cli:")

    # with one admin the verbs act as it
    clerk = _cli(db, "add", "clerk1", "--role", "书记员", "--password-stdin", input=PASSWORD + "\n")
    assert clerk.exit_code == 0, clerk.output
    assert "one-time" not in clerk.output and PASSWORD not in clerk.output
    listed = _cli(db, "list", "--json")
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.output)
    assert [(r["name"], r["role"], r["display_name"]) for r in rows] == [
        ("boss", "admin", "张庭长"),
        ("clerk1", "clerk", ""),
    ]
    assert "clerk1" in _cli(db, "list").output
    with Store(db) as store:
        assert _rows(store, audit.USER_ADDED)[0].account == "boss"

    assert _cli(db, "role", "clerk1", "judge").exit_code == 0
    assert _cli(db, "disable", "clerk1").exit_code == 0
    assert _cli(db, "enable", "clerk1").exit_code == 0
    passwd = _cli(db, "passwd", "clerk1", input="new-password-1\nnew-password-1\n")
    assert passwd.exit_code == 0, passwd.output
    assert "new-password-1" not in passwd.output
    mismatch = _cli(db, "passwd", "clerk1", input="new-password-2\nother-password\n")
    assert mismatch.exit_code != 0
    with Store(db) as store:
        account = sign_in(store, "clerk1", "new-password-1", "10.0.0.2")
        assert (account.role, account.must_change) == (Role.JUDGE, True)

    last = _cli(db, "disable", "boss")
    assert last.exit_code != 0 and "at least one enabled admin" in last.output
    short = _cli(db, "passwd", "clerk1", "--password-stdin", input="short\n")
    assert short.exit_code != 0 and "at least 10 characters" in short.output
    bad = _cli(db, "add", "bad name", "--role", "clerk")
    assert bad.exit_code != 0 and "SPACE" in bad.output
    role = _cli(db, "add", "x1", "--role", "boss")
    assert role.exit_code != 0 and "unknown role" in role.output


def test_cli_bootstrap_holds_until_an_admin_exists(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert _cli(db, "add", "clerk1", "--role", "clerk").exit_code == 0  # the console operator, no admin yet
    assert _cli(db, "add", "boss", "--role", "admin").exit_code == 0  # still no admin: still the console
    refused = _cli(db, "add", "x1", "--role", "clerk", "--as", "clerk1")
    assert refused.exit_code != 0 and "only an admin" in refused.output
    assert _cli(db, "disable", "clerk1").exit_code == 0  # now as boss, the one admin
    disabled = _cli(db, "list", "--as", "clerk1")
    assert disabled.exit_code != 0 and "disabled" in disabled.output
    with Store(db) as store:
        rows = _rows(store)
    assert [(r.action, r.account) for r in rows[:3]] == [
        ("user_changed", "boss"),
        ("user_added", "cli:" + __import__("getpass").getuser()),
        ("user_added", "cli:" + __import__("getpass").getuser()),
    ]


def test_cli_as_a_clerk_is_refused_and_several_admins_need_as(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert _cli(db, "add", "boss", "--role", "admin").exit_code == 0
    assert _cli(db, "add", "clerk1", "--role", "clerk").exit_code == 0
    refused = _cli(db, "add", "mole", "--role", "admin", "--as", "clerk1")
    assert refused.exit_code != 0 and "only an admin" in refused.output
    assert _cli(db, "list", "--as", "clerk1").exit_code != 0
    refused_env = _cli(db, "role", "clerk1", "admin", env={"WORKBENCH_AS": "clerk1"})
    assert refused_env.exit_code != 0 and "only an admin" in refused_env.output
    nobody = _cli(db, "list", "--as", "nobody")
    assert nobody.exit_code != 0 and "no user 'nobody'" in nobody.output

    assert _cli(db, "add", "boss2", "--role", "admin").exit_code == 0
    ambiguous = _cli(db, "add", "x1", "--role", "clerk")
    assert ambiguous.exit_code != 0 and "ambiguous: pass --as NAME (admins: boss, boss2)" in ambiguous.output
    assert _cli(db, "add", "x1", "--role", "clerk", "--as", "boss2").exit_code == 0
    with Store(db) as store:
        assert {a.name for a in Accounts(store).list()} == {"boss", "clerk1", "boss2", "x1"}
        assert _rows(store, audit.USER_ADDED)[0].account == "boss2"
