"""The audit chain through the store and the CLI, the CLI's accounts (`--as`), and a schema-v4 file upgraded.

Real parts only: a DuckDB file, real accounts (argon2 hashes), the `workbench` CLI through CliRunner, and
tampering done the way an attacker with the file would do it: plain SQL through `duckdb.connect`.
"""

from __future__ import annotations

import getpass
import json
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from store_samples import CASE, LINES, TESTER, audio_file, hearing

from workbench.accounts import Access, Accounts, Role
from workbench.cli import main
from workbench.store import Store, audit, jobs, migrations
from workbench.store.audit import Actor

OTHER_CASE = "（2024）京0105民初9999号"
PASSWORD = "correct horse battery 9"
CONSOLE = Actor("cli:test", "test", role="admin")  # makes the first admin, as `workbench users add` would
OTHER_LINES = [("S1", "现在开庭。"), ("S2", "秘密证人赵飞燕出庭作证。"), ("S3", "被告对鉴定意见有异议。")]
MISSING = "not found or not yours"


@dataclass
class World:
    db: Path
    own: int  # a hearing of CASE: wang (clerk), zhao (judge) and qian (viewer) are members
    other: int  # a hearing of OTHER_CASE: only li (clerk) is a member

    def cli(self, *args: str, as_name: str | None = None, env: dict[str, str] | None = None) -> Result:
        who = ["--as", as_name] if as_name else []
        return CliRunner().invoke(main, [*args, "--db", str(self.db), *who], env=env)


def _accounts(store: Store, *people: tuple[str, Role]) -> dict[str, Access]:
    accounts = Accounts(store)
    out = {}
    for name, role in people:
        account, _ = accounts.add(name, role, by=CONSOLE, password=PASSWORD, must_change=False)
        out[name] = Access(store, account, "test")
    return out


@pytest.fixture(scope="module")
def _world_template(tmp_path_factory: pytest.TempPathFactory) -> World:
    """Built once (five argon2 hashes take a while on two busy cores); each test gets its own copy."""
    db = tmp_path_factory.mktemp("world") / "wb.duckdb"
    with Store(db) as store:
        own = hearing(store, LINES)
        other = hearing(store, OTHER_LINES, case=OTHER_CASE)
        store.set_speaker(other, "S2", role="证人", name="赵飞燕", actor=TESTER)
        people = _accounts(
            store,
            ("root", Role.ADMIN),
            ("wang", Role.CLERK),
            ("zhao", Role.JUDGE),
            ("qian", Role.VIEWER),
            ("li", Role.CLERK),
        )
        root = people["root"]
        for name in ("wang", "zhao", "qian"):
            root.grant(CASE, name)
        root.grant(OTHER_CASE, "li")
    return World(db, own, other)


@pytest.fixture
def world(_world_template: World, tmp_path: Path) -> World:
    db = tmp_path / "wb.duckdb"
    shutil.copyfile(_world_template.db, db)  # closed, so the file is whole (no WAL left beside it)
    assert not _world_template.db.with_name("wb.duckdb.wal").exists()
    return World(db, _world_template.own, _world_template.other)


def _segment_of(db: Path, hearing_id: int, index: int = 0) -> int:
    with Store(db) as store:
        return store.segments(hearing_id)[index].id


# --- the chain ------------------------------------------------------------------------------------------


def test_verify_passes_then_names_the_row_altered_with_plain_sql(world: World) -> None:
    seg = _segment_of(world.db, world.own, 1)
    out = world.cli("segments", "edit", str(seg), "--text", "原告提交证据A-3。", as_name="wang")
    assert out.exit_code == 0, out.output
    assert world.cli("speakers", "set", str(world.own), "S3", "--role", "被告", as_name="wang").exit_code == 0
    assert world.cli("cases", "grant", CASE, "li", as_name="zhao").exit_code == 0
    assert world.cli("cases", "revoke", CASE, "li", as_name="zhao").exit_code == 0
    with Store(world.db) as store:
        store.check(world.own, actor=Access(store, Accounts(store).get("wang"), "test").actor)
        edit_row = store.audit_rows(action=audit.EDITED)[0]
        rows = store.verify_audit().rows

    ok = world.cli("audit", "verify", as_name="root")
    assert ok.exit_code == 0, ok.output
    assert f"audit chain ok): {rows} row(s), head " in ok.output
    head = ok.output.split("head ")[-1].strip()
    assert len(head) == 64

    with duckdb.connect(str(world.db)) as con:  # the store is closed: the file as an attacker would open it
        con.execute("UPDATE audit SET account = 'li' WHERE id = ?", [edit_row.id])
    broken = world.cli("audit", "verify", as_name="root")
    assert broken.exit_code == 1, broken.output
    assert f"row {edit_row.id} was altered" in broken.output and f"first bad row: {edit_row.id}" in broken.output
    assert world.cli("audit", "verify", "--head", head, as_name="root").exit_code == 1


def test_a_row_altered_in_its_detail_is_named_too(world: World) -> None:
    seg = _segment_of(world.db, world.own)
    assert world.cli("segments", "edit", str(seg), "--text", "现在开庭。", as_name="wang").exit_code == 0
    with Store(world.db) as store:
        row = store.audit_rows(action=audit.EDITED)[0]
    forged = json.dumps({**row.detail, "after": "休庭。"}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    with duckdb.connect(str(world.db)) as con:
        con.execute("UPDATE audit SET detail = ? WHERE id = ?", [forged, row.id])
    out = world.cli("audit", "verify", as_name="root")
    assert out.exit_code == 1 and f"row {row.id} was altered" in out.output, out.output


def test_a_deleted_row_is_named_as_missing(world: World) -> None:
    with Store(world.db) as store:
        grant = store.audit_rows(action=audit.MEMBER_ADDED)[-1]  # the oldest grant, in the middle of the chain
        total = store.verify_audit().rows
    assert grant.id < total
    with duckdb.connect(str(world.db)) as con:
        con.execute("DELETE FROM audit WHERE id = ?", [grant.id])
    out = world.cli("audit", "verify", as_name="root")
    assert out.exit_code == 1 and f"row {grant.id} is missing" in out.output, out.output


def test_rows_cut_off_the_end_fail_the_noted_head(world: World) -> None:
    ok = world.cli("audit", "verify", as_name="root")
    head = ok.output.split("head ")[-1].strip()
    assert world.cli("audit", "verify", "--head", head, as_name="root").exit_code == 0
    with duckdb.connect(str(world.db)) as con:
        last = con.execute("SELECT max(id) FROM audit").fetchone()[0]
        con.execute("DELETE FROM audit WHERE id >= ?", [last - 1])  # the newest two: the chain itself still fits
    assert world.cli("audit", "verify", as_name="root").exit_code == 0
    out = world.cli("audit", "verify", "--head", head, as_name="root")
    assert out.exit_code == 1 and "head not in the chain" in out.output, out.output


def test_every_edit_links_to_its_audit_row_under_the_same_account(world: World) -> None:
    segs = [_segment_of(world.db, world.own, i) for i in range(2)]
    assert (
        world.cli("segments", "edit", str(segs[0]), "--text", "开庭。", "--speaker", "S2", as_name="wang").exit_code
        == 0
    )
    assert world.cli("segments", "edit", str(segs[1]), "--text", "证据A-3。", as_name="zhao").exit_code == 0
    assert world.cli("speakers", "set", str(world.own), "S1", "--name", "李四", as_name="zhao").exit_code == 0
    with Store(world.db) as store:
        edits = store.edits(hearing_id=world.own)
        with store.reading() as con:
            linked = con.execute(
                "SELECT e.id, e.user_name, a.account, a.action, a.hearing_id, a.case_id, a.detail FROM edits e "
                "JOIN audit a ON a.id = e.audit_id WHERE e.hearing_id = ? ORDER BY e.id",
                [world.own],
            ).fetchall()
        case_id = store.case(CASE).id
    assert len(edits) == 4 and all(e.audit_id is not None for e in edits)
    assert [(r[1], r[2]) for r in linked] == [("wang", "wang"), ("wang", "wang"), ("zhao", "zhao"), ("zhao", "zhao")]
    assert [r[3] for r in linked] == [audit.EDITED, audit.EDITED, audit.EDITED, audit.SPEAKER_CHANGED]
    assert all(r[4] == world.own and r[5] == case_id for r in linked)
    for edit, row in zip(edits, linked, strict=True):
        detail = json.loads(row[6])
        assert (detail["field"], detail["before"], detail["after"]) == (edit.field, edit.before, edit.after)


def test_audit_list_filters_and_fills_the_case_of_a_hearing(world: World) -> None:
    assert world.cli("hearings", "show", str(world.own), as_name="qian").exit_code == 0
    with Store(world.db) as store:
        case_id = store.case(CASE).id
    out = world.cli("audit", "list", "--case", CASE, "--action", "hearing_opened", "--json", as_name="root")
    assert out.exit_code == 0, out.output
    (row,) = json.loads(out.output)
    assert (row["account"], row["hearing_id"], row["case_id"]) == ("qian", world.own, case_id)
    assert row["client"] == f"cli:{getpass.getuser()}@{socket.gethostname()}"
    out = world.cli("audit", "list", "--user", "root", "--action", "member_added", "--json", as_name="root")
    assert len(json.loads(out.output)) == 4
    out = world.cli("audit", "list", "--since", "2999-01-01", as_name="root")
    assert out.exit_code == 0 and "no audit rows match" in out.output
    text = world.cli("audit", "list", "--limit", "3", as_name="root")
    assert text.exit_code == 0 and len(text.stdout.splitlines()) == 3
    assert world.cli("audit", "list", "--since", "yesterday", as_name="root").exit_code == 2


@pytest.mark.parametrize("verb", [["audit", "verify"], ["audit", "list"]])
@pytest.mark.parametrize("who", ["wang", "zhao", "qian"])
def test_only_an_admin_reads_the_audit(world: World, verb: list[str], who: str) -> None:
    out = world.cli(*verb, as_name=who)
    assert out.exit_code == 1 and "only an admin" in out.output, out.output


# --- who the CLI runs as --------------------------------------------------------------------------------


def test_a_clerk_lists_only_their_cases(world: World) -> None:
    out = world.cli("hearings", "list", "--json", as_name="wang")
    assert out.exit_code == 0, out.output
    assert [h["id"] for h in json.loads(out.output)] == [world.own]
    out = world.cli("hearings", "list", "--case", OTHER_CASE, "--json", as_name="wang")
    assert json.loads(out.output) == []
    out = world.cli("cases", "list", "--json", as_name="wang")
    assert [c["number"] for c in json.loads(out.output)] == [CASE]
    everything = world.cli("hearings", "list", "--json", as_name="root")
    assert sorted(h["id"] for h in json.loads(everything.output)) == sorted([world.own, world.other])
    env = world.cli("hearings", "list", "--json", env={"WORKBENCH_AS": "li"})  # the env var, like --as
    assert [h["id"] for h in json.loads(env.output)] == [world.other]


def test_a_clerk_cannot_see_or_edit_another_cases_segment(world: World) -> None:
    theirs = _segment_of(world.db, world.other, 1)
    out = world.cli("segments", "edit", str(theirs), "--text", "改掉。", as_name="wang")
    assert out.exit_code == 1 and MISSING in out.output, out.output
    missing = world.cli("segments", "edit", "987654", "--text", "改掉。", as_name="wang")
    assert missing.output == out.output  # a missing segment and another case's answer alike
    with Store(world.db) as store:
        assert store.segment(theirs).text == OTHER_LINES[1][1]
        assert store.edits(segment_id=theirs) == []
    for args in (
        ["hearings", "show", str(world.other)],
        ["speakers", "set", str(world.other), "S2", "--name", "x"],
        ["export", str(world.other), "--out", str(world.db.parent / "leak.docx")],
        ["hotwords", "show", "--case", OTHER_CASE],
        ["cases", "members", OTHER_CASE],
    ):
        refused = world.cli(*args, as_name="wang")
        assert refused.exit_code == 1 and "not yours" in refused.output, (args, refused.output)
        assert "赵飞燕" not in refused.output
    assert not (world.db.parent / "leak.docx").exists()


def test_a_viewer_reads_but_does_not_change(world: World) -> None:
    seg = _segment_of(world.db, world.own)
    out = world.cli("segments", "edit", str(seg), "--text", "改掉。", as_name="qian")
    assert out.exit_code == 1 and "may not edit" in out.output, out.output
    for args in (
        ["speakers", "set", str(world.own), "S1", "--name", "x"],
        ["hearings", "add", str(audio_file(world.db.parent, "v.wav", b"viewer")), "--case", CASE],
        ["cases", "add", "V-1"],
    ):
        refused = world.cli(*args, as_name="qian")
        assert refused.exit_code == 1 and "may not" in refused.output, (args, refused.output)
    assert world.cli("hearings", "show", str(world.own), as_name="qian").exit_code == 0
    exported = world.cli(
        "export", str(world.own), "--format", "txt", "--out", str(world.db.parent / "r.txt"), as_name="qian"
    )
    assert exported.exit_code == 0, exported.output
    with Store(world.db) as store:
        assert store.segment(seg).text == LINES[0][1]
        (row,) = store.audit_rows(action=audit.EXPORTED)
    assert (row.account, row.detail["format"]) == ("qian", "txt")


def test_a_clerk_searching_for_a_word_of_another_case_finds_nothing(world: World) -> None:
    for query, extra in (
        ("赵飞燕", []),
        ('"秘密证人"', []),
        ("燕", []),  # a single character: the scan
        ("证人", ["--role", "证人"]),
        ("作证", ["--speaker", "赵飞燕"]),
    ):
        out = world.cli("search", query, *extra, "--json", as_name="wang")
        assert out.exit_code == 0 and json.loads(out.output) == [], (query, out.output)
        theirs = world.cli("search", query, *extra, "--json", as_name="li")
        assert [h["hearing_id"] for h in json.loads(theirs.output)] == [world.other], (query, theirs.output)


def test_members_are_managed_by_admins_and_the_cases_judges(world: World) -> None:
    out = world.cli("cases", "grant", CASE, "li", as_name="wang")
    assert out.exit_code == 1 and "only an admin or the case's judge" in out.output, out.output
    out = world.cli("cases", "grant", OTHER_CASE, "wang", as_name="zhao")  # a judge, of another case
    assert out.exit_code == 1 and "not yours" in out.output, out.output
    assert world.cli("cases", "grant", CASE, "li", as_name="zhao").exit_code == 0
    listed = json.loads(world.cli("cases", "members", CASE, "--json", as_name="wang").output)
    assert [m["name"] for m in listed] == ["wang", "zhao", "qian", "li"]
    assert [h["id"] for h in json.loads(world.cli("hearings", "list", "--json", as_name="li").output)] == sorted(
        [world.own, world.other], reverse=True
    )
    assert "no longer a member" in world.cli("cases", "revoke", CASE, "li", as_name="root").output
    assert world.cli("cases", "grant", CASE, "nobody", as_name="root").exit_code == 1


def test_jobs_and_hotwords_are_checked(world: World, tmp_path: Path) -> None:
    out = world.cli(
        "hearings", "add", str(audio_file(tmp_path, "x.wav", b"theirs")), "--case", OTHER_CASE, as_name="li"
    )
    assert out.exit_code == 0, out.output
    assert world.cli("jobs", "list", "--json", as_name="wang").output.strip() == "[]"
    out = world.cli("jobs", "cancel", "1", as_name="wang")
    assert out.exit_code == 1 and "not yours" in out.output, out.output
    out = world.cli(
        "hearings", "add", str(audio_file(tmp_path, "y.wav", b"mine")), "--case", OTHER_CASE, as_name="wang"
    )
    assert out.exit_code == 1 and "not a member" in out.output, out.output  # an existing case of others
    assert world.cli("jobs", "cancel", "1", as_name="li").exit_code == 0
    hot = tmp_path / "hot.txt"
    hot.write_text("张三丰\n", encoding="utf-8")
    out = world.cli("hotwords", "set", str(hot), as_name="wang")  # the global list
    assert out.exit_code == 1 and "only an admin" in out.output
    assert world.cli("hotwords", "set", str(hot), "--case", CASE, as_name="wang").exit_code == 0
    assert world.cli("jobs", "work", as_name="wang").exit_code == 1
    with Store(world.db) as store:
        (job,) = jobs.jobs(store)
        assert job.state == "cancelled"
        changed = store.audit_rows(action=audit.JOB_CHANGED)
        uploaded = store.audit_rows(action=audit.UPLOADED)
        assert store.hearing(job.hearing_id).created_by == "li"
    assert [(r.account, r.detail["change"]) for r in changed] == [("li", "cancelled")]
    assert [(r.account, r.detail["file"], r.detail["size"]) for r in uploaded] == [("li", "x.wav", 6)]


def test_a_new_case_makes_its_uploader_a_member(world: World, tmp_path: Path) -> None:
    out = world.cli("hearings", "add", str(audio_file(tmp_path, "n.wav", b"new")), "--case", "N-1", as_name="wang")
    assert out.exit_code == 0, out.output
    assert [m["name"] for m in json.loads(world.cli("cases", "members", "N-1", "--json", as_name="root").output)] == [
        "wang"
    ]
    assert json.loads(world.cli("hearings", "list", "--case", "N-1", "--json", as_name="zhao").output) == []


def test_several_admins_make_the_cli_ask_which(world: World) -> None:
    with Store(world.db) as store:
        _accounts(store, ("root2", Role.ADMIN))
    out = world.cli("hearings", "list")
    assert out.exit_code == 1 and "ambiguous: pass --as NAME (admins: root, root2)" in out.output, out.output
    assert world.cli("hearings", "list", as_name="root2").exit_code == 0
    out = world.cli("hearings", "list", as_name="ghost")
    assert out.exit_code == 1 and "--as ghost" in out.output


def test_one_admin_is_the_default(world: World) -> None:
    seg = _segment_of(world.db, world.own)
    assert world.cli("segments", "edit", str(seg), "--text", "开庭。").exit_code == 0
    with Store(world.db) as store:
        assert store.edits(segment_id=seg)[-1].user == "root"


def test_the_console_operator_runs_a_store_without_accounts(tmp_path: Path) -> None:
    db = tmp_path / "wb.duckdb"
    with Store(db) as store:
        hid = hearing(store)
    seg = _segment_of(db, hid)
    runner = CliRunner()
    out = runner.invoke(main, ["segments", "edit", str(seg), "--text", "开庭。", "--db", str(db)])
    assert out.exit_code == 0, out.output
    login = getpass.getuser()
    out = runner.invoke(main, ["audit", "list", "--action", "edited", "--json", "--db", str(db)])
    (row,) = json.loads(out.output)
    assert (row["account"], row["client"]) == (f"cli:{login}", f"cli:{login}@{socket.gethostname()}")
    with Store(db) as store:
        assert Accounts(store).count() == 0  # the console operator is never stored


# --- an old file ----------------------------------------------------------------------------------------


def _v4_file(path: Path) -> None:
    """A database as a program at schema 4 left it: edits made under names typed into the sidebar."""
    audio = path.parent / "audio"
    con = duckdb.connect(str(path))
    assert migrations.migrate(con, target=4, audio_dir=audio) == [1, 2, 3, 4]
    con.execute(f"INSERT INTO cases (number, cause) VALUES ('{CASE}', '民间借贷纠纷')")
    con.execute("INSERT INTO hearings (case_id, starts_at, status) VALUES (1, '2023-06-01 09:00', 'in review')")
    for i, (spk, text) in enumerate(LINES):
        con.execute(
            "INSERT INTO segments (id, hearing_id, idx, start_s, end_s, speaker, speaker_orig, text, text_orig, words,"
            " engine, model) VALUES (nextval('segment_ids'), 1, ?, ?, ?, ?, ?, ?, ?, '[]', 'whisper', 'base')",
            [i, i * 5.0, i * 5.0 + 4, spk, spk, text, text],
        )
    con.execute("UPDATE segments SET text = '现在开庭，请原告代理人陈述诉讼请求。' WHERE idx = 0")
    con.execute(
        "INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name) VALUES (1, 1, 'text', ?, ?, ?)",
        [LINES[0][1], "现在开庭，请原告代理人陈述诉讼请求。", "王书记员"],
    )
    con.execute(
        "INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name) "
        "VALUES (NULL, 1, 'name:S1', NULL, '李四', '赵法官')"
    )
    con.close()


def test_a_version_4_file_keeps_its_edit_names_and_asks_for_an_admin(tmp_path: Path) -> None:
    path = tmp_path / "data" / "wb.duckdb"
    path.parent.mkdir()
    _v4_file(path)
    with Store(path) as store:
        assert store.schema_version() == migrations.LATEST
        edits = store.edits()
        assert [(e.field, e.user, e.audit_id) for e in edits] == [
            ("text", "王书记员", None),
            ("name:S1", "赵法官", None),
        ]
        assert store.derived_text(1) == store.segment(1).text
        accounts = Accounts(store)
        assert accounts.count() == 0 and not accounts.has_admin()  # so the first start asks for an admin
        assert store.hearing(1).created_by == ""
        report = store.verify_audit()
        assert (report.ok, report.rows) == (True, 0)
    # the console operator works on it until an admin exists, and its edits enter the chain
    out = CliRunner().invoke(main, ["segments", "edit", "2", "--text", "原告提交证据。", "--db", str(path)])
    assert out.exit_code == 0, out.output
    with Store(path) as store:
        new = store.edits()[-1]
        assert new.user.startswith("cli:") and new.audit_id == 1
        assert [e.user for e in store.edits()[:2]] == ["王书记员", "赵法官"]
