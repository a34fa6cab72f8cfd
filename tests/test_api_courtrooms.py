"""Courtroom profiles and case rosters through the API (real DuckDB, real accounts, issue 17): every route as the
right and the wrong person (a profile changed by anyone but an admin: 403; a roster changed by a viewer: 403; a
roster of another case, read or changed: 404 with the words of a missing case), bad input named (422), answers
checked against each endpoint's own schema, through `core.dispatch` (the handlers the server runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_calls import api, refused
from store_samples import CASE, OTHER_CASE, Court, court, court_copy

from workbench.accounts import CASE_NOT_YOURS
from workbench.store import Store, audit

ROOM = "第三法庭"


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Court:
    return court(tmp_path_factory.mktemp("api_courtrooms"), [("S1", "现在开庭。")], [("S1", "另案。")])


@pytest.fixture
def store(_template: Court, tmp_path: Path) -> Iterator[Store]:
    with Store(court_copy(_template, tmp_path).db) as s:
        yield s


def case_path(store: Store, number: str) -> str:
    return f"/cases/{store.case(number).id}/roster"


# --- profiles ----------------------------------------------------------------------------------------


def test_an_admin_sets_and_deletes_a_profile_anyone_reads_it(store: Store) -> None:
    assert api(store, "qian", "GET", "/courtrooms")["items"] == []
    made = api(store, "root", "PUT", f"/courtrooms/{ROOM}", {"channels": "审判长,原告,被告,-"})
    assert (made["name"], made["channels"], made["updated_by"]) == (
        ROOM, ["审判席:审判长", "原告席:原告", "被告席:被告", "-"], "root")  # fmt: skip
    again = api(store, "root", "PUT", f"/courtrooms/{ROOM}", {"channels": ["审判长", "原告席:原告+代理人"]})
    assert again["channels"] == ["审判席:审判长", "原告席:原告+代理人"]
    for who in ("qian", "wang", "zhao", "li"):  # every signed-in account reads them
        assert [c["name"] for c in api(store, who, "GET", "/courtrooms")["items"]] == [ROOM]
        assert api(store, who, "GET", f"/courtrooms/{ROOM}")["channels"] == again["channels"]
    assert api(store, "root", "DELETE", f"/courtrooms/{ROOM}") == {"deleted": ROOM}
    assert refused(store, "wang", "GET", f"/courtrooms/{ROOM}").status == 404
    assert refused(store, "root", "DELETE", f"/courtrooms/{ROOM}").status == 404
    assert [r.account for r in store.audit_rows(action=audit.COURTROOM_CHANGED)] == ["root"] * 3


def test_only_an_admin_changes_a_profile(store: Store) -> None:
    api(store, "root", "PUT", f"/courtrooms/{ROOM}", {"channels": "审判长,原告"})
    for who in ("wang", "zhao", "qian", "li"):
        e = refused(store, who, "PUT", f"/courtrooms/{ROOM}", {"channels": "审判长"})
        assert (e.status, e.error) == (403, "forbidden") and "只有管理员" in e.detail
        assert refused(store, who, "PUT", "/courtrooms/新法庭", {"channels": "审判长"}).status == 403
        assert refused(store, who, "DELETE", f"/courtrooms/{ROOM}").status == 403
    assert store.courtroom(ROOM).channels == ("审判席:审判长", "原告席:原告")
    assert [c.name for c in store.courtrooms()] == [ROOM]


def test_a_bad_profile_is_named(store: Store) -> None:
    cases = [
        ({"channels": "审判长,:原告"}, "缺少席位"),
        ({"channels": []}, "1 到"),
        ({"channels": [1, 2]}, "channels[0]"),
        ({"channels": "-,-"}, "没有席位"),
        ({}, "channels: 必填"),
        ({"channels": "审判长", "room": "x"}, "room: 不认识的字段"),
    ]
    for body, words in cases:
        e = refused(store, "root", "PUT", f"/courtrooms/{ROOM}", body)
        assert e.status == 422 and words in e.detail, (body, e.detail)
    blank = refused(store, "root", "PUT", "/courtrooms/ ", {"channels": "审判长"})
    assert blank.status == 422 and "法庭名称不能为空" in blank.detail
    assert store.courtrooms() == []


# --- rosters -----------------------------------------------------------------------------------------


def test_judges_and_clerks_change_a_roster_members_read_it(store: Store) -> None:
    path = case_path(store, CASE)
    added = api(store, "wang", "POST", path, {"role": "原告", "name": "李四", "seat": "原告席"})
    assert {k: added[k] for k in ("role", "name", "seat")} == {"role": "原告", "name": "李四", "seat": "原告席"}
    judge = api(store, "zhao", "POST", path, {"role": "审判长", "name": "张三"})
    admin = api(store, "root", "POST", path, {"role": "证人", "name": "孙七", "seat": "证人席"})
    for who in ("qian", "wang", "zhao", "root"):
        assert [p["name"] for p in api(store, who, "GET", path)["items"]] == ["李四", "张三", "孙七"]
    assert api(store, "qian", "GET", f"/cases/{CASE}/roster")["total"] == 3  # the case's number, as its id
    assert api(store, "zhao", "DELETE", f"{path}/{added['id']}") == {"removed": added["id"]}
    assert api(store, "root", "DELETE", f"{path}/{admin['id']}") == {"removed": admin["id"]}
    assert [p["id"] for p in api(store, "wang", "GET", path)["items"]] == [judge["id"]]
    rows = store.audit_rows(action=audit.ROSTER_CHANGED)
    assert sorted(r.account for r in rows) == ["root", "root", "wang", "zhao", "zhao"]


def test_a_viewer_may_not_change_a_roster(store: Store) -> None:
    path = case_path(store, CASE)
    entry = api(store, "wang", "POST", path, {"role": "原告", "name": "李四"})
    e = refused(store, "qian", "POST", path, {"role": "证人", "name": "孙七"})
    assert (e.status, e.error) == (403, "forbidden") and "不能修改案件名单" in e.detail
    assert refused(store, "qian", "DELETE", f"{path}/{entry['id']}").status == 403
    assert [p.name for p in store.participants(store.case(CASE).id)] == ["李四"]


def test_another_cases_roster_answers_like_a_missing_case(store: Store) -> None:
    own, other = case_path(store, CASE), case_path(store, OTHER_CASE)
    entry = api(store, "wang", "POST", own, {"role": "原告", "name": "李四"})
    theirs = api(store, "li", "POST", other, {"role": "被告", "name": "赵六"})
    for method, path, body in (("GET", own, None), ("POST", own, {"role": "证人", "name": "孙七"}),
                               ("DELETE", f"{own}/{entry['id']}", None)):  # fmt: skip
        e = refused(store, "li", method, path, body)
        assert (e.status, e.detail) == (404, CASE_NOT_YOURS), (method, path)
    missing = refused(store, "li", "GET", "/cases/99999/roster")
    assert (missing.status, missing.detail) == (404, CASE_NOT_YOURS)  # the same words as a case that is not there
    # another case's entry through one's own case: as a missing entry
    e = refused(store, "wang", "DELETE", f"{own}/{theirs['id']}")
    assert e.status == 404 and "名单中没有" in e.detail
    assert refused(store, "wang", "DELETE", f"{own}/99999999999").status == 404
    assert [p.name for p in store.participants(store.case(OTHER_CASE).id)] == ["赵六"]


def test_a_bad_roster_entry_is_named(store: Store) -> None:
    path = case_path(store, CASE)
    cases = [
        ({"role": "原告"}, 422, "name: 必填"),
        ({"role": "原告", "name": "  "}, 422, "name: 不能为空"),
        ({"role": "原告", "name": "李" * 65}, 422, "最多 64"),
        ({"role": "原告", "name": "李四", "seat": 3}, 422, "seat: 类型不对"),
        ({"role": "原告", "name": "李四", "party": "x"}, 422, "party: 不认识的字段"),
        ({"role": "原告", "name": "李\t四"}, 422, "控制字符"),
    ]
    for body, status, words in cases:
        e = refused(store, "wang", "POST", path, body)
        assert e.status == status and words in e.detail, (body, e.detail)
    api(store, "wang", "POST", path, {"role": "原告", "name": "李四"})
    e = refused(store, "wang", "POST", path, {"role": "原告", "name": " 李四 "})
    assert (e.status, e.error) == (409, "conflict") and "已有原告李四" in e.detail


# --- over HTTP: the CLI against a running server -------------------------------------------------------


def test_the_cli_over_http_with_a_courtroom_name_in_the_path(_template: Court, tmp_path: Path) -> None:
    """The real door: the name travels URL-encoded (第三法庭), the token says who asks, the same checks hold."""
    from click.testing import CliRunner
    from servers import free_port, make_token, start_server, stop_server

    from workbench import settings
    from workbench.cli import main

    data = tmp_path / "data"
    data.mkdir()
    db = data / "workbench.duckdb"
    db.write_bytes(_template.db.read_bytes())
    root, wang = make_token(db, "root"), make_token(db, "wang")
    port = free_port()
    proc = start_server(data, port, extra_env={settings.REGISTRY["workers"].env: "0"})
    try:
        url = f"http://127.0.0.1:{port}"

        def cli(token: str, *args: str) -> Any:
            return CliRunner().invoke(main, [*args, "--server", url, "--token", token])

        out = cli(root, "courtrooms", "set", ROOM, "--channels", "审判长,原告,被告,-")
        assert out.exit_code == 0 and "channel 2: 原告席:原告" in out.output, out.output
        out = cli(wang, "courtrooms", "show", ROOM)
        assert out.exit_code == 0 and "4 channels" in out.output, out.output
        out = cli(wang, "courtrooms", "delete", ROOM)
        assert out.exit_code == 1 and "只有管理员" in out.output, out.output
        out = cli(wang, "roster", "add", CASE, "--role", "原告", "--name", "李四", "--seat", "原告席")
        assert out.exit_code == 0 and "李四" in out.output, out.output
        out = cli(root, "roster", "list", CASE)
        assert out.exit_code == 0 and "原告  李四  原告席" in out.output, out.output
    finally:
        stop_server(proc)
    with Store(db) as store:
        assert list(store.courtroom(ROOM).channels) == ["审判席:审判长", "原告席:原告", "被告席:被告", "-"]
