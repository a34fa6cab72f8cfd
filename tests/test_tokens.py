"""API tokens: made, listed, revoked and resolved, through the API's in-process door; the `workbench tokens`
verbs; schema version 7 on a version-6 file. Real DuckDB, real argon2 accounts."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import jsonschema
import pytest
from click.testing import CliRunner

from workbench.accounts import Access, Account, Accounts, ApiTokens, Role, console_access
from workbench.accounts import tokens as tokens_module
from workbench.api import core
from workbench.api import tokens as tokens_api
from workbench.cli import main
from workbench.store import Store, audit, migrations

PASSWORD = "correct-horse-9"
TOKEN_SHAPE = re.compile(r"^wbt_[A-Za-z0-9_-]{43}$")


@dataclass
class World:
    store: Store
    path: Path

    def access(self, name: str) -> Access:
        return Access(self.store, Accounts(self.store).get(name), "10.0.0.7")

    def call(self, who: str | Access, method: str, path: str, query: dict[str, str] | None = None,
             body: object = None) -> core.Reply:  # fmt: skip
        access = self.access(who) if isinstance(who, str) else who
        return core.dispatch(core.Call(access, body=body, local=True), method, path, query)

    def refused(self, who: str, method: str, path: str, query: dict[str, str] | None = None,
                body: object = None) -> core.ApiError:  # fmt: skip
        with pytest.raises(core.ApiError) as e:
            self.call(who, method, path, query, body)
        return e.value

    def audit_rows(self, action: str) -> list[audit.AuditRow]:
        with self.store.reading() as con:
            return audit.rows(con, action=action)


@pytest.fixture
def world(tmp_path: Path) -> World:
    path = tmp_path / "w.duckdb"
    with Store(path) as store:
        console = console_access(store, "tester").actor
        accounts = Accounts(store)
        for name, role in (("admin", Role.ADMIN), ("clerk", Role.CLERK), ("clerk2", Role.CLERK),
                           ("viewer", Role.VIEWER)):  # fmt: skip
            accounts.add(name, role, by=console, password=PASSWORD, must_change=False)
        yield World(store, path)


def _make(world: World, who: str, name: str, account: str | None = None) -> str:
    body = {"name": name} if account is None else {"name": name, "account": account}
    reply = world.call(who, "POST", "/tokens", body=body)
    assert reply.status == 201
    jsonschema.validate(reply.data, tokens_api.CREATED_SCHEMA)
    return reply.data["token"]


def _list(world: World, who: str, **query: str) -> list[dict]:
    reply = world.call(who, "GET", "/tokens", query)
    jsonschema.validate(reply.data, core.page_schema(tokens_api.TOKEN_SCHEMA))
    return reply.data["items"]


# --- normal paths ----------------------------------------------------------------------------------------


def test_create_list_revoke(world: World) -> None:
    secret = _make(world, "clerk", "nightly-export")
    assert TOKEN_SHAPE.match(secret)
    tokens = ApiTokens(world.store)
    assert tokens.resolve(secret).name == "clerk"

    [listed] = _list(world, "clerk")
    assert (listed["name"], listed["account"], listed["created_by"]) == ("nightly-export", "clerk", "clerk")
    assert listed["revoked_at"] is None and listed["last_used_at"] is not None  # the resolve above used it
    assert "token" not in listed and secret not in json.dumps(listed)

    reply = world.call("clerk", "DELETE", "/tokens/nightly-export")
    assert reply.data == {"revoked": True}
    jsonschema.validate(reply.data, tokens_api.REVOKED_SCHEMA)
    assert tokens.resolve(secret) is None
    [listed] = _list(world, "clerk")  # still listed, with when it was revoked
    assert listed["revoked_at"] is not None

    # the name is free again; the new token is another secret; revoking twice is "no such token"
    again = _make(world, "clerk", "nightly-export")
    assert again != secret and tokens.resolve(again).name == "clerk"
    assert [t["revoked_at"] is None for t in _list(world, "clerk")] == [True, False]  # newest first
    world.call("clerk", "DELETE", "/tokens/nightly-export")
    e = world.refused("clerk", "DELETE", "/tokens/nightly-export")
    assert e.status == 404

    created = world.audit_rows(audit.TOKEN_CREATED)
    revoked = world.audit_rows(audit.TOKEN_REVOKED)
    assert [r.detail for r in created] == [{"name": "nightly-export", "account": "clerk"}] * 2
    assert [r.detail for r in revoked] == [{"name": "nightly-export", "account": "clerk"}] * 2
    assert {r.account for r in created + revoked} == {"clerk"}


def test_admin_makes_lists_and_revokes_anyones_token(world: World) -> None:
    secret = _make(world, "admin", "scanner", account="clerk2")
    assert ApiTokens(world.store).resolve(secret).name == "clerk2"  # it acts as clerk2, not as the admin
    _make(world, "clerk", "mine")
    assert _list(world, "admin") == []  # an admin's own list is their own
    [for_clerk2] = _list(world, "admin", account="clerk2")
    assert (for_clerk2["account"], for_clerk2["created_by"]) == ("clerk2", "admin")
    assert [(t["account"], t["name"]) for t in _list(world, "admin", all="true")] == [
        ("clerk", "mine"),
        ("clerk2", "scanner"),
    ]
    assert [t["name"] for t in _list(world, "clerk2")] == ["scanner"]  # the owner sees it as theirs

    world.call("admin", "DELETE", "/tokens/scanner", {"account": "clerk2"})
    assert ApiTokens(world.store).resolve(secret) is None
    [row] = world.audit_rows(audit.TOKEN_REVOKED)
    assert (row.account, row.detail) == ("admin", {"name": "scanner", "account": "clerk2"})
    [made] = [r for r in world.audit_rows(audit.TOKEN_CREATED) if r.account == "admin"]
    assert made.detail == {"name": "scanner", "account": "clerk2"}


def test_the_console_operator_names_the_account(world: World) -> None:
    """The CLI's operator (no server, no account) may make a token for an account, not for itself."""
    console = console_access(world.store, "tester")
    e = world.refused(console, "POST", "/tokens", body={"name": "x"})  # type: ignore[arg-type]
    assert e.status == 422 and "console" in e.detail
    reply = world.call(console, "POST", "/tokens", body={"name": "ci", "account": "viewer"})
    assert ApiTokens(world.store).resolve(reply.data["token"]).name == "viewer"
    world.call(console, "DELETE", "/tokens/ci", {"account": "viewer"})
    assert _list(world, "viewer")[0]["revoked_at"] is not None


# --- the secret --------------------------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_never_stored(world: World) -> None:
    secrets_made = [_make(world, "clerk", f"t{i}") for i in range(3)]
    secrets_made.append(_make(world, "admin", "for-viewer", account="viewer"))
    for s in secrets_made:
        ApiTokens(world.store).resolve(s)
    listed = json.dumps(_list(world, "admin", all="true"))
    audit_text = json.dumps([r.detail for r in world.audit_rows(audit.TOKEN_CREATED)])
    with world.store.writing() as con:
        hashes = {r[0] for r in con.execute("SELECT token_sha256 FROM api_tokens").fetchall()}
    world.store.close()  # everything in the main file (DuckDB checkpoints on close)
    files = [p for p in world.path.parent.iterdir() if p.name.startswith(world.path.name)]
    raw = b"".join(p.read_bytes() for p in files)
    assert hashes == {tokens_module.token_hash(s) for s in secrets_made}
    for s in secrets_made:
        assert s.encode() not in raw, "a token's secret is in the database file"
        assert s[4:].encode() not in raw and s[4:24].encode() not in raw  # nor its random part
        assert s not in listed and s not in audit_text
    assert tokens_module.token_hash(secrets_made[0]).encode() in raw  # the test reads the right bytes


def test_only_our_shape_is_looked_up(world: World) -> None:
    tokens = ApiTokens(world.store)
    secret = _make(world, "clerk", "t")
    for junk in (None, "", "wbt_", "Bearer " + secret, secret + "x", secret[:-1], "wbt_" + "A" * 500, 42):
        assert tokens.resolve(junk) is None  # type: ignore[arg-type]
    digest = tokens_module.token_hash(secret)
    assert tokens.resolve(digest) is None  # the stored hash is not a key


# --- the wrong person ----------------------------------------------------------------------------------------


def test_a_clerk_cannot_make_a_token_for_another_account(world: World) -> None:
    for target in ("clerk2", "admin", "nobody"):
        e = world.refused("clerk", "POST", "/tokens", body={"name": "x", "account": target})
        assert e.status == 403, target
    assert _list(world, "admin", all="true") == []
    assert world.audit_rows(audit.TOKEN_CREATED) == []
    # naming their own account is fine (names ignore case, as sign-in does)
    assert ApiTokens(world.store).resolve(_make(world, "clerk", "own", account="CLERK")).name == "clerk"


def test_a_clerk_cannot_revoke_or_list_another_accounts_tokens(world: World) -> None:
    secret = _make(world, "clerk2", "theirs")
    missing = world.refused("clerk", "DELETE", "/tokens/no-such-token")
    for query in ({"account": "clerk2"}, {"account": "nobody"}, {}):
        e = world.refused("clerk", "DELETE", "/tokens/theirs", query)
        assert (e.status, e.error) == (404, missing.error), query
        assert e.detail == missing.detail.replace("no-such-token", "theirs")  # the same words as a missing one
    assert ApiTokens(world.store).resolve(secret).name == "clerk2"  # still live
    assert world.audit_rows(audit.TOKEN_REVOKED) == []
    for query in ({"account": "clerk2"}, {"all": "true"}):
        assert world.refused("clerk", "GET", "/tokens", query).status == 403
    assert world.refused("viewer", "GET", "/tokens", {"all": "true"}).status == 403
    # a judge is no admin either
    Accounts(world.store).add("judge", Role.JUDGE, by=console_access(world.store).actor, password=PASSWORD)
    assert world.refused("judge", "POST", "/tokens", body={"name": "x", "account": "clerk2"}).status == 403
    assert world.refused("judge", "DELETE", "/tokens/theirs", {"account": "clerk2"}).status == 404


def test_a_disabled_accounts_token_resolves_none_at_once(world: World) -> None:
    tokens = ApiTokens(world.store)
    secret = _make(world, "clerk", "t")
    assert tokens.resolve(secret) is not None  # now in the cache
    admin = world.access("admin").actor
    Accounts(world.store).disable("clerk", by=admin)
    assert tokens.resolve(secret) is None  # not served from the cache
    Accounts(world.store).enable("clerk", by=admin)
    assert tokens.resolve(secret).name == "clerk"  # disabling did not revoke it
    Accounts(world.store).disable("clerk", by=admin)
    assert world.refused("admin", "POST", "/tokens", body={"name": "y", "account": "clerk"}).status == 422


def test_an_admins_password_reset_revokes_the_accounts_tokens(world: World) -> None:
    tokens = ApiTokens(world.store)
    secret = _make(world, "clerk", "t")
    assert tokens.resolve(secret) is not None  # now in the cache
    Accounts(world.store).set_password("clerk", "a-new-password-9", by=world.access("admin").actor)
    assert tokens.resolve(secret) is None  # whoever knew the old password made it: gone with the reset
    (listed,) = _list(world, "clerk")
    assert listed["revoked_at"] is not None
    own = _make(world, "clerk", "after")  # the owner's own change does not touch a token made since
    account = Accounts(world.store).get("clerk")
    Accounts(world.store).change_own_password(account, "a-new-password-9", "another-password-9", "test")
    assert tokens.resolve(own) is not None


def test_a_role_change_shows_at_once(world: World) -> None:
    tokens = ApiTokens(world.store)
    secret = _make(world, "clerk", "t")
    assert tokens.resolve(secret).role is Role.CLERK
    Accounts(world.store).set_role("clerk", Role.VIEWER, by=world.access("admin").actor)
    assert tokens.resolve(secret).role is Role.VIEWER


def test_a_revoked_token_is_refused_at_once_in_the_same_process(world: World) -> None:
    tokens = ApiTokens(world.store)
    secret = _make(world, "clerk", "t")
    for _ in range(3):
        assert tokens.resolve(secret) is not None  # cached
    tokens.revoke("t", actor=world.access("clerk").actor)
    assert tokens.resolve(secret) is None
    assert ApiTokens(Store(world.path)).resolve(secret) is None  # another Store object on the file too


def test_a_revoke_in_the_table_wins_over_a_stale_cache_entry(world: World) -> None:
    """A revoke written by another process (no cache to drop here) is seen within the cache's life (2 s)."""
    now = [datetime(2025, 1, 1, 9, 0)]
    tokens = ApiTokens(world.store, clock=lambda: now[0])
    secret = _make(world, "clerk", "t")
    assert tokens.resolve(secret) is not None
    with world.store.writing() as con:
        con.execute("UPDATE api_tokens SET revoked_at = ?", [now[0]])
    tokens_module._cache.clear()  # what another process's revoke leaves: this one's cache aged out
    assert tokens.resolve(secret) is None


# --- use, names -------------------------------------------------------------------------------------------------


def test_last_used_is_written_at_most_once_a_minute(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [datetime(2025, 1, 1, 9, 0, 0)]
    tokens = ApiTokens(world.store, clock=lambda: now[0])
    secret = _make(world, "clerk", "poller")
    writes = []
    real_writing = type(world.store).writing

    def counting(self):  # type: ignore[no-untyped-def]
        writes.append(1)
        return real_writing(self)

    monkeypatch.setattr(type(world.store), "writing", counting)
    monkeypatch.setattr(tokens_module, "CACHE_TTL_S", 0.0)  # every resolve reads the table: only the minute rule
    for second in range(0, 180):  # a job polled every second for three minutes
        now[0] = datetime(2025, 1, 1, 9, 0, 0) + timedelta(seconds=second)
        assert tokens.resolve(secret) is not None
    assert len(writes) == 3  # 9:00:00, 9:01:00, 9:02:00
    [listed] = tokens.list(world.access("clerk").account)
    assert listed.last_used_at == datetime(2025, 1, 1, 9, 2, 0)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 65, "at most 64"),
        ("a\x00b", "U+0000"),
        ("a\nb", "U+000A"),
        ("a\u202eb", "U+202E"),
        ("ci/nightly", "U+002F"),
        ("a?b", "U+003F"),
    ],
)
def test_bad_names_are_refused_naming_why(world: World, name: str, why: str) -> None:
    e = world.refused("clerk", "POST", "/tokens", body={"name": name})
    assert e.status == 422 and why in e.detail, e.detail


def test_names_any_script_unique_per_account(world: World) -> None:
    _make(world, "clerk", "夜间导出 (nightly)")
    _make(world, "clerk", "x" * 64)
    e = world.refused("clerk", "POST", "/tokens", body={"name": " 夜间导出 (nightly) "})
    assert e.status == 422 and "already has" in e.detail
    _make(world, "clerk2", "夜间导出 (nightly)")  # another account's names are its own
    assert world.refused("clerk", "POST", "/tokens", body={"name": 5}).status == 422
    assert world.refused("clerk", "POST", "/tokens", body={"title": "x"}).status == 422
    assert world.refused("clerk", "POST", "/tokens", body={"name": "x", "secret": "wbt_x"}).status == 422
    assert world.refused("clerk", "GET", "/tokens", {"all": "true", "account": "clerk"}).status == 422


def test_live_tokens_per_account_are_capped(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_module, "MAX_LIVE_PER_ACCOUNT", 3)
    for i in range(3):
        _make(world, "viewer", f"t{i}")
    assert world.refused("viewer", "POST", "/tokens", body={"name": "t3"}).status == 422
    world.call("viewer", "DELETE", "/tokens/t0")
    _make(world, "viewer", "t3")


# --- the CLI ------------------------------------------------------------------------------------------------------


def test_cli_create_prints_the_token_alone_then_list_and_revoke(world: World) -> None:
    db = str(world.path)
    world.store.close()
    runner = CliRunner()
    made = runner.invoke(main, ["tokens", "create", "ci", "--as", "clerk", "--db", db])
    assert made.exit_code == 0, made.output
    assert TOKEN_SHAPE.match(made.stdout.rstrip("\n")) and made.stdout.count("\n") == 1  # nothing else on stdout
    assert "shown this once" in made.stderr
    secret = made.stdout.strip()

    listed = runner.invoke(main, ["tokens", "list", "--as", "clerk", "--db", db, "--json"])
    assert listed.exit_code == 0, listed.output
    [item] = json.loads(listed.stdout)
    assert (item["name"], item["account"], item["revoked_at"]) == ("ci", "clerk", None)
    assert secret not in listed.output

    other = runner.invoke(main, ["tokens", "create", "x", "--for", "clerk2", "--as", "clerk", "--db", db])
    assert other.exit_code == 1 and other.stdout == "" and "only an admin" in other.stderr
    gone = runner.invoke(main, ["tokens", "revoke", "ci", "--for", "clerk", "--as", "clerk2", "--db", db])
    assert gone.exit_code == 1 and "no live token" in gone.stderr

    revoked = runner.invoke(main, ["tokens", "revoke", "ci", "--as", "clerk", "--db", db])
    assert revoked.exit_code == 0, revoked.output
    with Store(db) as store:
        assert ApiTokens(store).resolve(secret) is None
    table = runner.invoke(main, ["tokens", "list", "--all", "--as", "admin", "--db", db])
    assert table.exit_code == 0 and re.search(r"^ci\tclerk\t.*\trevoked \d{4}-", table.stdout, re.M), table.stdout

    # a name with a space and another script goes through the path and back
    spaced = runner.invoke(main, ["tokens", "create", "夜间 导出", "--for", "viewer", "--as", "admin", "--db", db])
    assert spaced.exit_code == 0, spaced.output
    out = runner.invoke(main, ["tokens", "revoke", "夜间 导出", "--for", "viewer", "--as", "admin", "--db", db])
    assert out.exit_code == 0, out.output
    with Store(db) as store:
        assert ApiTokens(store).resolve(spaced.stdout.strip()) is None


# --- schema version 7 ----------------------------------------------------------------------------------------------


def test_a_version_6_file_gets_api_tokens_in_place(tmp_path: Path) -> None:
    path = tmp_path / "data" / "wb.duckdb"
    path.parent.mkdir()
    con = duckdb.connect(str(path))
    assert migrations.migrate(con, target=6, audio_dir=path.parent / "audio") == [1, 2, 3, 4, 5, 6]
    # what a version-6 program left: an account, a session, a case and an audit row
    con.execute("INSERT INTO users (name, role, password_hash) VALUES ('clerk', 'clerk', 'x')")
    con.execute("INSERT INTO sessions (token_sha256, user_id) VALUES ('ab', 1)")
    con.execute("INSERT INTO cases (number) VALUES ('（2024）京0105民初1234号')")
    audit.append(con, audit.SYSTEM, audit.CASE_CHANGED, case_id=1, detail={"x": 1})
    assert migrations.current_version(con) == 6
    con.close()

    with Store(path) as store:
        assert store.schema_version() == migrations.LATEST >= 7
        with store.reading() as con:
            versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()]
            kept = con.execute(
                "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM sessions), "
                "(SELECT count(*) FROM cases), (SELECT count(*) FROM api_tokens)"
            ).fetchone()
        assert versions == list(range(1, migrations.LATEST + 1))  # 7 and every later one, in order
        assert kept == (1, 1, 1, 0)
        assert store.verify_audit().ok
        clerk: Account = Accounts(store).get("clerk")
        _, secret = ApiTokens(store).create(clerk, "after-upgrade", actor=clerk.actor("test"))
        assert ApiTokens(store).resolve(secret) == Accounts(store).get("clerk")
        assert store.verify_audit().ok


# --- over HTTP, against a real server ------------------------------------------------------------------------------


def test_over_http_a_token_reaches_health_and_a_revoked_one_is_401(tmp_path: Path) -> None:
    import requests
    from servers import free_port, make_account, start_server, stop_server

    data = tmp_path / "data"
    data.mkdir()
    with Store(data / "workbench.duckdb") as store:
        for name, role in (("ada", "admin"), ("cleo", "clerk"), ("carl", "clerk")):
            make_account(store, name, role)
        tokens = ApiTokens(store)
        cleo, carl = Accounts(store).get("cleo"), Accounts(store).get("carl")
        _, cleo_secret = tokens.create(cleo, "ci", actor=cleo.actor("test"))
        _, carl_secret = tokens.create(carl, "carls", actor=carl.actor("test"))
    port = free_port()
    proc = start_server(data, port)
    api = f"http://127.0.0.1:{port}/api/v1"

    def bearer(secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    try:
        r = requests.get(api + "/health", headers=bearer(cleo_secret), timeout=30)
        assert r.status_code == 200, r.text
        # a token made over HTTP works at once; a name in any script goes through the URL and back
        r = requests.post(api + "/tokens", json={"name": "夜间 导出"}, headers=bearer(cleo_secret), timeout=30)
        assert r.status_code == 201, r.text
        second = r.json()["token"]
        assert requests.get(api + "/health", headers=bearer(second), timeout=30).status_code == 200
        listed = requests.get(api + "/tokens", headers=bearer(second), timeout=30).json()
        assert sorted(t["name"] for t in listed["items"]) == ["ci", "夜间 导出"]
        assert all(t["last_used_at"] for t in listed["items"])
        # another clerk's token: like a missing one; a token for another account: 403
        r = requests.delete(api + "/tokens/carls", params={"account": "carl"}, headers=bearer(cleo_secret), timeout=30)
        assert r.status_code == 404, r.text
        r = requests.post(api + "/tokens", json={"name": "x", "account": "carl"}, headers=bearer(cleo_secret),
                          timeout=30)  # fmt: skip
        assert r.status_code == 403, r.text
        assert requests.get(api + "/health", headers=bearer(carl_secret), timeout=30).status_code == 200

        r = requests.delete(api + "/tokens/" + requests.utils.quote("夜间 导出", safe=""), headers=bearer(cleo_secret),
                            timeout=30)  # fmt: skip
        assert (r.status_code, r.json()) == (200, {"revoked": True}), r.text
        r = requests.get(api + "/health", headers=bearer(second), timeout=30)
        assert r.status_code == 401 and r.json()["error"], r.text  # at once, in the server's own process
        r = requests.delete(api + "/tokens/ci", headers=bearer(cleo_secret), timeout=30)  # it revokes itself
        assert r.status_code == 200, r.text
        assert requests.get(api + "/health", headers=bearer(cleo_secret), timeout=30).status_code == 401
        assert requests.get(api + "/health", headers=bearer(carl_secret), timeout=30).status_code == 200

        # the CLI through the server: with a token (--server, --token), and beside it (server.json's console key)
        runner = CliRunner()
        url = f"http://127.0.0.1:{port}"
        made = runner.invoke(main, ["tokens", "create", "remote 令牌", "--server", url, "--token", carl_secret])
        assert made.exit_code == 0, made.output
        remote_secret = made.stdout.strip()
        assert TOKEN_SHAPE.match(remote_secret) and made.stdout.count("\n") == 1
        assert requests.get(api + "/health", headers=bearer(remote_secret), timeout=30).status_code == 200
        db = ["--db", str(data / "workbench.duckdb")]
        listed = runner.invoke(main, ["tokens", "list", "--json", "--as", "carl", *db])
        assert listed.exit_code == 0, listed.output
        assert sorted(t["name"] for t in json.loads(listed.stdout)) == ["carls", "remote 令牌"]
        out = runner.invoke(main, ["tokens", "revoke", "remote 令牌", "--server", url, "--token", carl_secret])
        assert out.exit_code == 0, out.output
        assert requests.get(api + "/health", headers=bearer(remote_secret), timeout=30).status_code == 401
        out = runner.invoke(main, ["tokens", "revoke", "carls", "--for", "carl", "--as", "cleo", *db])
        assert out.exit_code == 1 and "no live token" in out.stderr, out.output
        out = runner.invoke(main, ["tokens", "revoke", "carls", "--server", url, "--token", cleo_secret])
        assert out.exit_code == 1 and "revoked token" in out.stderr, out.output  # cleo's token is revoked
    finally:
        stop_server(proc)
    log = (data / "server.log").read_text(errors="replace")
    for secret in (cleo_secret, carl_secret, second, remote_secret):
        assert secret not in log
