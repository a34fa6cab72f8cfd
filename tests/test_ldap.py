"""Directory sign-in against a real OpenLDAP slapd that this module starts (tests/slapd.py), not a mock.

The directory: alice (wb-judges), bob (wb-clerks), carol (a group no role maps), dave (posixGroup
wb-viewers), `o,brien` (wb-clerks, a comma in the uid), `d*` (no group, a star in the uid).
"""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import slapd
from conftest import require_tool

from workbench.accounts import Role, SignInRefused, directory, sign_in
from workbench.accounts.directory import DirectoryConfigError, DirectoryUnavailable, DirectoryUser
from workbench.store import Store, audit


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[slapd.Slapd]:
    require_tool(*slapd.TOOLS, install=slapd.INSTALL)
    running = slapd.start(tmp_path_factory.mktemp("slapd"))
    try:
        yield running
    finally:
        running.stop()


def _use(monkeypatch: pytest.MonkeyPatch, url: str, **more: str) -> None:
    """Directory settings from the environment, every one given (a saved settings.json plays no part)."""
    values = {
        "WORKBENCH_LDAP_URL": url,
        "WORKBENCH_LDAP_USER_DN": f"uid={{name}},{slapd.PEOPLE}",
        "WORKBENCH_LDAP_GROUP_BASE": slapd.GROUPS,
        "WORKBENCH_LDAP_ROLES": "admin=wb-admins,judge=wb-judges,clerk=wb-clerks,viewer=wb-viewers",
        "WORKBENCH_LDAP_CA_FILE": "",
        **more,
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def ldap(server: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> slapd.Slapd:
    _use(monkeypatch, server.url)
    return server


def _closed_port() -> int:
    """A port with nothing listening on it."""
    return slapd.free_port()


# --- authenticate ---------------------------------------------------------------------------------


def test_a_judge_signs_in_with_role_and_display_name(ldap: slapd.Slapd) -> None:
    assert directory.configured()
    assert directory.authenticate("alice", slapd.PASSWORDS["alice"]) == DirectoryUser("alice", "Alice 法官", Role.JUDGE)
    assert directory.authenticate("bob", slapd.PASSWORDS["bob"]) == DirectoryUser("bob", "Bob Clerk", Role.CLERK)


def test_a_posix_group_member_gets_its_role(ldap: slapd.Slapd) -> None:
    assert directory.authenticate("dave", slapd.PASSWORDS["dave"]) == DirectoryUser("dave", "Dave", Role.VIEWER)


def test_the_name_is_spelled_as_the_directory_has_it(ldap: slapd.Slapd) -> None:
    # uid matches case-insensitively; the account must not become a second one called ALICE
    assert directory.authenticate("ALICE", slapd.PASSWORDS["alice"]).name == "alice"


def test_a_name_with_a_comma_is_escaped_for_the_dn(ldap: slapd.Slapd) -> None:
    # uid=o\,brien binds only if the comma is escaped; unescaped it is another (invalid) DN
    user = directory.authenticate("o,brien", slapd.PASSWORDS["o,brien"])
    assert user == DirectoryUser("o,brien", "O'Brien", Role.CLERK)


def test_the_highest_role_wins(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LDAP_ROLES", "viewer=wb-judges,admin=unrelated,clerk=wb-clerks")
    assert directory.authenticate("carol", slapd.PASSWORDS["carol"]).role is Role.ADMIN
    assert directory.authenticate("alice", slapd.PASSWORDS["alice"]).role is Role.VIEWER


def test_wrong_password_is_refused(ldap: slapd.Slapd) -> None:
    assert directory.authenticate("alice", slapd.PASSWORDS["bob"]) is None
    assert directory.authenticate("alice", slapd.PASSWORDS["alice"] + "x") is None
    assert directory.authenticate("nobody", "some-password") is None


def test_empty_password_is_refused_without_binding(server: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty simple bind is an unauthenticated bind that slapd answers with success. Pointed at a port
    # where nothing listens, any attempt to bind would raise DirectoryUnavailable: None proves none was made.
    _use(monkeypatch, f"ldap://127.0.0.1:{_closed_port()}")
    assert directory.authenticate("alice", "") is None
    assert directory.authenticate("alice", None) is None  # type: ignore[arg-type]
    with pytest.raises(DirectoryUnavailable):
        directory.authenticate("alice", "x")  # the same settings do reach for the server


def test_an_empty_bind_would_have_succeeded(ldap: slapd.Slapd) -> None:
    """Why the refusal above matters: this server, like AD, answers an empty password for alice's DN with
    success (an unauthenticated bind; ldap3 happens to refuse sending one, other clients do not)."""
    done = subprocess.run(
        [slapd.LDAPWHOAMI, "-x", "-H", ldap.url, "-D", slapd.user_dn("alice"), "-w", ""],
        capture_output=True,
        text=True,
        timeout=10,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "anonymous")


def test_a_user_in_no_role_group_is_refused(ldap: slapd.Slapd) -> None:
    assert directory.authenticate("carol", slapd.PASSWORDS["carol"]) is None


@pytest.mark.parametrize(
    "name",
    ["*", ")(uid=*", "*)(uid=*))(|(uid=*", "alice)(|(uid=*", "\\", "alice\\", "alice\x00", "\x00", "uid=alice", " "],
)
def test_injection_characters_in_the_name_find_nobody(ldap: slapd.Slapd, name: str) -> None:
    for password in ("x", slapd.PASSWORDS["alice"]):
        assert directory.authenticate(name, password) is None


def test_a_star_in_the_name_is_escaped_in_filters(ldap: slapd.Slapd) -> None:
    # `d*` binds (it is a real uid) but is in no group; an unescaped (memberUid=d*) would match dave's
    # posixGroup and make it a viewer.
    assert directory.authenticate("d*", slapd.PASSWORDS["d*"]) is None


def test_server_down_is_unavailable(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    port = _closed_port()
    _use(monkeypatch, f"ldap://127.0.0.1:{port}")
    with pytest.raises(DirectoryUnavailable, match=f"127.0.0.1:{port}"):
        directory.authenticate("alice", slapd.PASSWORDS["alice"])


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    # accepts the connection (the kernel's backlog) but never answers the bind
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        _use(monkeypatch, f"ldap://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setattr(directory, "TIMEOUT_S", 1)
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            directory.authenticate("alice", "some-password")
        assert time.monotonic() - started < 4


def test_ldaps_speaks_tls(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    # an ldaps:// URL to the plain-LDAP port: a TLS handshake is attempted and fails, nothing goes in clear
    _use(monkeypatch, f"ldaps://127.0.0.1:{ldap.port}")
    with pytest.raises(DirectoryUnavailable):
        directory.authenticate("alice", slapd.PASSWORDS["alice"])


def test_the_password_is_not_logged(ldap: slapd.Slapd, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    directory.authenticate("alice", "not-alices-password-9")
    directory.authenticate("carol", slapd.PASSWORDS["carol"])
    assert caplog.text  # the refusals are logged ...
    assert "not-alices-password-9" not in caplog.text and slapd.PASSWORDS["carol"] not in caplog.text  # ... not these


def test_off_without_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_LDAP_URL", "")
    monkeypatch.setattr(directory.settings, "_saved", lambda data_dir: {})
    assert not directory.configured()


# --- settings ---------------------------------------------------------------------------------------


def test_roles_setting_is_parsed() -> None:
    roles = directory.parse_roles(" admin = WB-Admins , judge=wb-judges,judge=court-judges ")
    assert roles == {"wb-admins": Role.ADMIN, "wb-judges": Role.JUDGE, "court-judges": Role.JUDGE}


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("judge", "is not role=group"),
        ("judge=", "is not role=group"),
        ("boss=wb-admins", "unknown role 'boss'"),
        ("admin=wb-x,viewer=WB-X", "given two roles"),
        ("", "no role=group pair"),
    ],
)
def test_bad_roles_setting_says_what(text: str, says: str) -> None:
    with pytest.raises(DirectoryConfigError, match=says):
        directory.parse_roles(text)


@pytest.mark.parametrize(
    ("env", "value", "says"),
    [
        ("WORKBENCH_LDAP_URL", "http://127.0.0.1:389", "ldap_url"),
        ("WORKBENCH_LDAP_URL", "ldap://127.0.0.1:notaport", "ldap_url"),
        ("WORKBENCH_LDAP_URL", "ldap://127.0.0.1/dc=x", "ldap_url"),
        ("WORKBENCH_LDAP_USER_DN", "uid=alice,ou=people,dc=court,dc=local", "ldap_user_dn"),
        ("WORKBENCH_LDAP_USER_DN", "uid={name},ou={dept},dc=court", "ldap_user_dn"),
        ("WORKBENCH_LDAP_GROUP_BASE", "not a dn", "ldap_group_base"),
        ("WORKBENCH_LDAP_ROLES", "judge:wb-judges", "ldap_roles"),
    ],
)
def test_bad_settings_are_named(monkeypatch: pytest.MonkeyPatch, env: str, value: str, says: str) -> None:
    _use(monkeypatch, "ldap://127.0.0.1:389", **{env: value})
    with pytest.raises(DirectoryConfigError, match=says):
        directory.authenticate("alice", "some-password")


def test_ad_bind_names_refuse_what_cannot_be_in_them(monkeypatch: pytest.MonkeyPatch) -> None:
    _use(monkeypatch, "ldap://127.0.0.1:389", WORKBENCH_LDAP_USER_DN="{name}@court.local")
    cfg = directory.config()
    assert not cfg.binds_with_dn
    assert directory.bind_name(cfg, "alice") == "alice@court.local"
    for name in ("alice@evil.local", "a*", "a,b", "a\\b", "a b", "a)(x=*"):
        assert directory.bind_name(cfg, name) is None


# --- through sign_in --------------------------------------------------------------------------------


def _users_row(store: Store, name: str) -> tuple:
    with store.reading() as con:
        return con.execute(
            "SELECT name, display_name, role, source, password_hash FROM users WHERE name = ?", [name]
        ).fetchone()


def test_directory_sign_in_provisions_and_audits(ldap: slapd.Slapd, tmp_path: Path) -> None:
    store = Store(tmp_path / "w.duckdb")
    account = sign_in(store, "alice", slapd.PASSWORDS["alice"], "10.0.0.7")
    assert (account.name, account.role, account.source, account.display_name) == (
        "alice",
        Role.JUDGE,
        "ldap",
        "Alice 法官",
    )
    assert _users_row(store, "alice") == ("alice", "Alice 法官", "judge", "ldap", None)  # no password kept here
    with store.reading() as con:
        signed = audit.rows(con, account="alice", action=audit.SIGN_IN)
        added = audit.rows(con, action=audit.USER_ADDED)
    assert [(r.client, r.detail.get("source")) for r in signed] == [("10.0.0.7", "ldap")]
    assert added and added[0].detail["user"] == "alice" and added[0].detail["source"] == "ldap"

    with pytest.raises(SignInRefused):
        sign_in(store, "alice", "wrong-password-here", "10.0.0.7")
    with store.reading() as con:
        failed = audit.rows(con, account="alice", action=audit.SIGN_IN_FAILED)
        assert audit.verify(con).ok
    assert len(failed) == 1 and "wrong-password-here" not in str(failed[0].detail)


def test_directory_refusals_through_sign_in(ldap: slapd.Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "w.duckdb")
    for name, password in (("carol", slapd.PASSWORDS["carol"]), ("alice", ""), ("*", "x")):
        with pytest.raises(SignInRefused):
            sign_in(store, name, password, "10.0.0.8")
    with store.reading() as con:
        assert con.execute("SELECT count(*) FROM users").fetchone()[0] == 0
    _use(monkeypatch, f"ldap://127.0.0.1:{_closed_port()}")
    with pytest.raises(SignInRefused, match="cannot be reached") as refused:
        sign_in(store, "bob", slapd.PASSWORDS["bob"], "10.0.0.8")
    assert refused.value.reason == "directory_unavailable"


def test_a_role_change_in_the_directory_shows_at_the_next_sign_in(ldap: slapd.Slapd, tmp_path: Path) -> None:
    store = Store(tmp_path / "w.duckdb")
    assert sign_in(store, "bob", slapd.PASSWORDS["bob"], "10.0.0.9").role is Role.CLERK
    ldap.move_member("bob", "wb-clerks", "wb-judges")
    try:
        again = sign_in(store, "bob", slapd.PASSWORDS["bob"], "10.0.0.9")
        assert again.role is Role.JUDGE
        assert _users_row(store, "bob")[2] == "judge"
        with store.reading() as con:
            assert con.execute("SELECT count(*) FROM users WHERE name = 'bob'").fetchone()[0] == 1
            changed = audit.rows(con, action=audit.USER_CHANGED)
        assert changed and "judge" in str(changed[0].detail)
    finally:
        ldap.move_member("bob", "wb-judges", "wb-clerks")


def test_sign_ins_run_side_by_side(ldap: slapd.Slapd) -> None:
    """authenticate keeps no shared connection: parallel sign-ins (the web server's threads) each get their own."""
    results: list[DirectoryUser | None] = []
    names = ["alice", "bob", "dave"] * 3

    def one(name: str) -> None:
        results.append(directory.authenticate(name, slapd.PASSWORDS[name]))

    threads = [threading.Thread(target=one, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(r.name for r in results if r) == sorted(names)


# --- ldaps ------------------------------------------------------------------------------------------


def test_ldaps_checks_the_certificate(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    # a certificate from a CA the system does not know: refused until its CA is given
    _use(monkeypatch, ldap.tls_url, WORKBENCH_LDAP_CA_FILE="")
    with pytest.raises(DirectoryUnavailable, match="not trusted"):
        directory.authenticate("alice", slapd.PASSWORDS["alice"])
    monkeypatch.setenv("WORKBENCH_LDAP_CA_FILE", str(ldap.ca_file))
    assert directory.authenticate("alice", slapd.PASSWORDS["alice"]) == DirectoryUser("alice", "Alice 法官", Role.JUDGE)


def test_ldaps_checks_the_host_name(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch) -> None:
    # a trusted certificate, but for 127.0.0.1 only, reached as localhost
    _use(monkeypatch, f"ldaps://localhost:{ldap.tls_port}", WORKBENCH_LDAP_CA_FILE=str(ldap.ca_file))
    with pytest.raises(DirectoryUnavailable, match="not for localhost"):
        directory.authenticate("alice", slapd.PASSWORDS["alice"])


def test_a_missing_ca_file_is_named(ldap: slapd.Slapd, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _use(monkeypatch, ldap.tls_url, WORKBENCH_LDAP_CA_FILE=str(tmp_path / "nope.pem"))
    with pytest.raises(DirectoryConfigError, match="ldap_ca_file"):
        directory.authenticate("alice", slapd.PASSWORDS["alice"])
