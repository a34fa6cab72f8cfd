"""`workbench hearings check|uncheck|approve|lock|reopen|signoff|seal|unseal|sealed` and `workbench corrections`
end to end in-process (CliRunner, real DuckDB, real accounts, `--as`): the workflow, the lock holding for
`segments edit`, sealing with the three time forms and bad ones refused, correction requests filed and decided,
and one wrong person per group.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from store_samples import CASE, OTHER_CASE, TESTER, court_accounts, transcript

from workbench.cli import main
from workbench.store import Store

MISSING = "庭审不存在或无权查看 (not found or not yours)"
LINES = [
    ("S1", "现在开庭，请原告陈述诉讼请求。"),
    ("S2", "原告请求判令被告支付货款人民币十二万元。"),
    ("S3", "未成年证人的住址是幸福路八号。"),
    ("S1", "下面进行法庭辩论。"),
]


@dataclass
class World:
    db: Path
    own: int  # CASE: wang, zhou (clerks), zhao (judge), qian (viewer)
    other: int  # OTHER_CASE: li (clerk)


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> World:
    db = tmp_path_factory.mktemp("cli_signoff") / "wb.duckdb"
    with Store(db) as store:
        ids = []
        for case, lines in ((CASE, LINES), (OTHER_CASE, [("S1", "另一案件。"), ("S1", "第二段。")])):
            c = store.ensure_case(case, actor=TESTER)
            hid = store.add_hearing(c.id)
            store.save_transcript(hid, transcript(lines))
            ids.append(hid)
        court_accounts(store)
    return World(db, *ids)


@pytest.fixture
def world(_template: World, tmp_path: Path) -> World:
    db = tmp_path / "wb.duckdb"
    shutil.copyfile(_template.db, db)
    return World(db, _template.own, _template.other)


def cli(world: World, *args: str, as_name: str) -> Any:
    return CliRunner().invoke(main, [*args, "--db", str(world.db), "--as", as_name])


def ok(world: World, *args: str, as_name: str) -> str:
    out = cli(world, *args, as_name=as_name)
    assert out.exit_code == 0, out.output
    return str(out.output)


def seg_ids(world: World, hid: int) -> list[int]:
    with Store(world.db) as store:
        return [s.id for s in store.segments(hid)]


def status(world: World, hid: int) -> str:
    with Store(world.db) as store:
        return store.hearing(hid).status.value


def test_the_workflow_and_the_lock_holding_for_segments_edit(world: World) -> None:
    hid = str(world.own)
    sid = seg_ids(world, world.own)[1]
    out = ok(world, "hearings", "check", hid, as_name="wang")
    assert out.startswith(f"hearing {hid}: 已核对 (checked); next: ") and "approve" not in out, out
    assert "approve" in ok(world, "hearings", "signoff", hid, as_name="zhao")
    assert ok(world, "hearings", "approve", hid, as_name="zhao").startswith(f"hearing {hid}: 已审批 (approved)")
    out = ok(world, "hearings", "lock", hid, "--note", "纸质笔录已归档", as_name="wang")
    assert out.startswith(f"hearing {hid}: 已锁定 (locked)"), out

    edit = cli(world, "segments", "edit", str(sid), "--text", "改了。", as_name="wang")
    assert edit.exit_code == 1 and "已锁定" in edit.output and "correction request" in edit.output, edit.output
    split = cli(world, "segments", "split", str(sid), "--at", "2", as_name="zhao")
    assert split.exit_code == 1 and "已锁定" in split.output, split.output
    with Store(world.db) as store:
        assert store.segment(sid).text == LINES[1][1] and store.edits(hearing_id=world.own) == []

    history = ok(world, "hearings", "signoff", hid, as_name="qian").splitlines()
    assert history[0].startswith(f"hearing {hid}: 已锁定 (locked); next: none")  # a viewer takes no step
    assert [line.split()[2:4] for line in history[1:]] == [["checked", "wang"], ["approved", "zhao"],
                                                           ["locked", "wang"]]  # fmt: skip
    assert history[3].endswith("纸质笔录已归档")

    no_reason = cli(world, "hearings", "reopen", hid, as_name="zhao")
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    blank = cli(world, "hearings", "reopen", hid, "--reason", " ", as_name="zhao")
    assert blank.exit_code == 2 and "reason" in blank.output
    out = ok(world, "hearings", "reopen", hid, "--reason", "当事人有异议", as_name="zhao")
    assert out.startswith(f"hearing {hid}: 审阅中 (in review)"), out
    assert ok(world, "segments", "edit", str(sid), "--text", "改了。", as_name="wang").endswith("改了。\n")


def test_hearings_steps_refuse_the_wrong_person(world: World) -> None:
    hid = str(world.own)
    ok(world, "hearings", "check", hid, as_name="wang")
    clerk = cli(world, "hearings", "approve", hid, as_name="wang")
    assert clerk.exit_code == 1 and ("judge" in clerk.output or "法官" in clerk.output), clerk.output
    viewer = cli(world, "hearings", "uncheck", hid, as_name="qian")
    assert viewer.exit_code == 1, viewer.output
    stranger = cli(world, "hearings", "approve", hid, as_name="li")
    assert stranger.exit_code == 1 and MISSING in stranger.output, stranger.output
    stranger = cli(world, "hearings", "seal", hid, "--from", "0", "--to", "1", "--reason", "r", as_name="li")
    assert stranger.exit_code == 1 and MISSING in stranger.output, stranger.output
    assert status(world, world.own) == "checked"
    wrong_state = cli(world, "hearings", "lock", hid, as_name="wang")
    assert wrong_state.exit_code == 1 and "checked" in wrong_state.output, wrong_state.output


def test_seal_takes_three_time_forms_and_refuses_bad_ones(world: World) -> None:
    hid = str(world.own)
    out = ok(world, "hearings", "seal", hid, "--from", "00:00:10", "--to", "0:14", "--reason", "涉及未成年人",
             as_name="zhou")  # fmt: skip
    assert "0:00:10—0:00:14: 涉及未成年人" in out, out
    ok(world, "hearings", "seal", hid, "--from", "15.5", "--to", "16", "--reason", "商业秘密", as_name="wang")
    listed = ok(world, "hearings", "sealed", hid, as_name="qian").splitlines()
    assert len(listed) == 2 and "涉及未成年人" in listed[0] and "(by zhou)" in listed[0] and "商业秘密" in listed[1]
    for start, end, word in (
        ("1:75", "2:00", "1:75"),
        ("abc", "5", "abc"),
        ("-3", "5", "-3"),
        ("0:20", "0:10", "--to"),
    ):
        bad = cli(world, "hearings", "seal", hid, "--from", start, "--to", end, "--reason", "r", as_name="wang")
        assert bad.exit_code == 2 and word in bad.output, (start, end, bad.output)
    with Store(world.db) as store:
        parts = store.sealed_parts(world.own)
        assert [(p.start, p.end) for p in parts] == [(10.0, 14.0), (15.5, 16.0)]
    viewer = cli(world, "hearings", "unseal", hid, str(parts[0].id), as_name="qian")
    assert viewer.exit_code == 1, viewer.output
    assert ok(world, "hearings", "unseal", hid, str(parts[0].id), as_name="wang") == (
        f"hearing {hid}: part {parts[0].id} unsealed\n"
    )
    assert len(ok(world, "hearings", "sealed", hid, as_name="wang").splitlines()) == 1


def test_corrections_request_list_accept_reject(world: World) -> None:
    hid = str(world.own)
    ids = seg_ids(world, world.own)
    for verb, who in (("check", "wang"), ("approve", "zhao"), ("lock", "wang")):
        ok(world, "hearings", verb, hid, as_name=who)
    two_one = ("--segment", str(ids[0]), "--segment", str(ids[1]), "--text", "一。")
    mismatch = cli(world, "corrections", "request", hid, *two_one, "--requester", "张某某", "--kind", "party",
                   "--reason", "r", as_name="wang")  # fmt: skip
    assert mismatch.exit_code == 2 and "--text" in mismatch.output, mismatch.output
    viewer = cli(world, "corrections", "request", hid, "--segment", str(ids[1]), "--text", "改。", "--requester",
                 "张某某", "--kind", "party", "--reason", "r", as_name="qian")  # fmt: skip
    assert viewer.exit_code == 1, viewer.output

    out = ok(world, "corrections", "request", hid, "--segment", str(ids[1]), "--text", "原告请求支付十三万元。",
             "--segment", str(ids[3]), "--text", "下面进行法庭调查。", "--requester", "李律师", "--kind", "lawyer",
             "--reason", "数额记错", as_name="wang")  # fmt: skip
    first = int(out.split()[2])
    assert "pending" in out and "代理律师 李律师" in out, out
    assert f"segment {ids[1]} (version 0): 原告请求支付十三万元。" in out, out
    out = ok(world, "corrections", "request", hid, "--segment", str(ids[0]), "--text", "胡说。", "--requester",
             "王某", "--kind", "party", "--reason", "不服", as_name="zhou")  # fmt: skip
    second = int(out.split()[2])

    clerk = cli(world, "corrections", "accept", str(first), "--reason", "属实", as_name="wang")
    assert clerk.exit_code == 1, clerk.output
    stranger = cli(world, "corrections", "accept", str(first), "--reason", "属实", as_name="li")
    assert stranger.exit_code == 1 and "not found or not yours" in stranger.output, stranger.output

    out = ok(world, "corrections", "accept", str(first), "--reason", "与录音核对属实", as_name="zhao")
    assert "accepted" in out and "accepted by zhao" in out and "与录音核对属实" in out, out
    out = ok(world, "corrections", "reject", str(second), "--reason", "与录音不符", as_name="zhao")
    assert "rejected by zhao" in out, out
    with Store(world.db) as store:
        assert store.segment(ids[1]).text == "原告请求支付十三万元。"
        assert store.segment(ids[3]).text == "下面进行法庭调查。"
        assert store.segment(ids[0]).text == LINES[0][1]
        assert store.hearing(world.own).status.value == "locked"
    listed = ok(world, "corrections", "list", hid, as_name="qian")
    assert listed.count("correction request") == 2 and "accepted by zhao" in listed and "rejected by zhao" in listed
    assert "no correction requests" in ok(world, "corrections", "list", str(world.other), as_name="li")
