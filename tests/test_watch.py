"""Watch folders (`workbench.server.watch`): a real DuckDB store, real recordings, the Watcher run by hand.

No job runs here (no model is loaded): what is checked is what reaches the store, the queue and the
audit trail, and what is left in the folders.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from conftest import clip

from workbench.accounts import Accounts
from workbench.accounts.access import console_access
from workbench.accounts.roles import Role
from workbench.server import watch
from workbench.server.runtime import Runtime
from workbench.server.watch import WatchConfig, Watcher, WatchFolder, parse_folders
from workbench.store import Store, audit, jobs
from workbench.store.audit import Actor
from workbench.store.records import NotFound

CASE = "（2024）京0105民初1234号"
NAME = f"{CASE}_第三法庭_20240305-0930"
SOURCE = clip("zh_aishell1_BAC009S0724W0121.wav")
OTHER = clip("zh_aishell1_BAC009S0764W0121.wav")
PASSWORD = "watch-folders-test-pw-1"


class Clock:
    """Monotonic time moved by the test: settling without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Crash(BaseException):
    """The server dying at this point: nothing after it runs (not an Exception: no handler catches it)."""


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "wb.duckdb") as s:
        yield s


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def make_watcher(store: Store, *folders: WatchFolder | Path, clock: Clock | None = None, **given) -> Watcher:
    config = WatchConfig.from_settings(
        folders=tuple(f if isinstance(f, WatchFolder) else WatchFolder(f) for f in folders),
        settle_s=given.pop("settle_s", 1.0),
        account=given.pop("account", ""),
        **given,
    )
    return Watcher(store, config, clock=clock or Clock(), on_taken=given.pop("on_taken", None))


def settle(watcher: Watcher) -> list[watch.Outcome]:
    """Two passes `settle_s` apart: what has not changed between them is taken or refused."""
    first = watcher.scan()
    watcher.clock.now += watcher.config.settle_s + 0.01
    return first + watcher.scan()


def drop(folder: Path, name: str, source: Path = SOURCE) -> Path:
    target = folder / name
    shutil.copyfile(source, target)
    return target


def counts(store: Store) -> tuple[int, int, int]:
    with store.reading() as con:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("hearings", "recordings", "jobs"))


def audit_rows(store: Store, action: str) -> list[audit.AuditRow]:
    return store.audit_rows(action=action)


# --- taking ------------------------------------------------------------------------------------------


def test_a_file_written_in_pieces_is_taken_once_and_whole(store: Store, inbox: Path, tmp_path: Path) -> None:
    """A recorder appending for 5 s with pauses shorter than settle_s: taken once, after the last piece."""
    data = SOURCE.read_bytes()
    pieces = [data[i : i + len(data) // 10 + 1] for i in range(0, len(data), len(data) // 10 + 1)]
    target = inbox / f"{NAME}.wav"
    finished: list[float] = []
    woken: list[float] = []

    def write() -> None:
        with target.open("wb") as out:
            for piece in pieces:
                out.write(piece)
                out.flush()
                time.sleep(5.0 / len(pieces))
        finished.append(time.monotonic())

    config = WatchConfig.from_settings(folders=(WatchFolder(inbox),), settle_s=1.0, account="", poll_s=0.1)
    watcher = Watcher(store, config, on_taken=lambda: woken.append(time.monotonic()))
    writer = threading.Thread(target=write)
    writer.start()
    watcher.start()
    try:
        deadline = time.monotonic() + 20
        while (target.exists() or not woken) and time.monotonic() < deadline:
            time.sleep(0.05)
        writer.join()
    finally:
        watcher.stop()
    assert not watcher.alive
    assert not target.exists(), "the settled file should have been taken and removed"
    assert woken and woken[0] >= finished[0], "taken before the writer had finished"
    assert counts(store) == (1, 1, 1)
    [hearing] = store.hearings()
    [recording] = store.recordings(hearing.id)
    assert recording.sha256 == watch_sha(SOURCE)
    assert recording.stored_path.read_bytes() == data
    assert recording.file_name == target.name
    assert (hearing.case_number, hearing.courtroom, hearing.starts_at) == (
        CASE,
        "第三法庭",
        datetime(2024, 3, 5, 9, 30),
    )
    [row] = audit_rows(store, audit.WATCH_TAKEN)
    assert row.account == "system" and row.client.startswith(f"watch:{inbox}")
    assert row.detail["folder"] == str(inbox) and row.detail["file"] == target.name
    assert row.detail["duplicate"] is False and row.hearing_id == hearing.id
    [uploaded] = audit_rows(store, audit.UPLOADED)
    assert uploaded.account == "system" and uploaded.hearing_id == hearing.id


def watch_sha(path: Path) -> str:
    from workbench.files import sha256_file

    return sha256_file(path)


def test_a_file_is_not_taken_before_it_settles(store: Store, inbox: Path) -> None:
    clock = Clock()
    watcher = make_watcher(store, inbox, clock=clock, settle_s=5.0)
    target = drop(inbox, f"{NAME}.wav")
    assert watcher.scan() == []
    clock.now += 4.9
    assert watcher.scan() == []
    with target.open("ab") as out:  # still being written: the wait starts over
        out.write(b"\0" * 320)
    clock.now += 0.2
    assert watcher.scan() == []
    clock.now += 4.9
    assert watcher.scan() == [] and target.exists() and counts(store) == (0, 0, 0)
    clock.now += 0.2
    [outcome] = watcher.scan()
    assert outcome.taken and not target.exists() and counts(store) == (1, 1, 1)


def test_ignored_names_are_neither_taken_nor_refused(store: Store, inbox: Path) -> None:
    for name in (f".{NAME}.wav", f"{NAME}.wav.part", f"{NAME}.wav.tmp", "notes.json", "x.wav.failed.txt"):
        drop(inbox, name)
    (inbox / "sub").mkdir()
    drop(inbox / "sub", f"{NAME}.wav")  # not recursive
    watcher = make_watcher(store, inbox)
    assert settle(watcher) == []
    assert counts(store) == (0, 0, 0)
    assert not list(inbox.glob("*.failed.txt.failed.txt")) and not (inbox / f".{NAME}.wav.failed.txt").exists()
    assert len(list(inbox.iterdir())) == 6


def test_a_sidecar_overrides_the_name(store: Store, inbox: Path) -> None:
    target = drop(inbox, f"{NAME}.wav")
    sidecar = inbox / f"{NAME}.wav.json"
    sidecar.write_text(
        json.dumps(
            {
                "case": "（2024）京0105民初77号",
                "starts_at": "2024-06-01T14:05:00",
                "courtroom": "第七法庭",
                "judge": "王法官",
                "clerk": "李书记员",
                "cause": "合同纠纷",
                "options": {"language": "zh", "speakers": 2, "diarize": False, "hotwords": ["不当得利", ["定金", 2]]},
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    [outcome] = settle(make_watcher(store, WatchFolder(inbox, "第一法庭")))
    assert outcome.taken, outcome.reason
    hearing = store.hearing(outcome.hearing_id)
    assert hearing.case_number == "（2024）京0105民初77号"
    assert (hearing.starts_at, hearing.courtroom) == (datetime(2024, 6, 1, 14, 5), "第七法庭")
    assert (hearing.presiding_judge, hearing.clerk) == ("王法官", "李书记员")
    assert store.case("（2024）京0105民初77号").cause == "合同纠纷"
    options = jobs.job(store, outcome.job_id).options
    assert (options.language, options.speakers, options.diarize) == ("zh", "2", False)
    assert [(h.term, h.weight) for h in options.hotwords] == [("不当得利", None), ("定金", 2.0)]
    assert not target.exists() and not sidecar.exists()
    with pytest.raises(NotFound):  # the name's case was not made
        store.case(CASE)


def test_a_sidecar_lets_any_name_in(store: Store, inbox: Path) -> None:
    target = drop(inbox, "REC0001.wav")
    (inbox / "REC0001.json").write_text(json.dumps({"case": CASE}), encoding="utf-8")
    [outcome] = settle(make_watcher(store, inbox))
    assert outcome.taken, outcome.reason
    hearing = store.hearing(outcome.hearing_id)
    assert (hearing.case_number, hearing.starts_at, hearing.courtroom) == (CASE, None, "")
    assert list(inbox.iterdir()) == [] and not target.exists()


def test_two_folders_each_with_its_courtroom(store: Store, tmp_path: Path) -> None:
    one, two = tmp_path / "room1", tmp_path / "room2"
    one.mkdir()
    two.mkdir()
    folders = parse_folders(f" {one}=第一法庭 ; {two}=第二法庭;")
    assert folders == (WatchFolder(one, "第一法庭"), WatchFolder(two, "第二法庭"))
    drop(one, f"{CASE}_第三法庭_20240305-0930.wav")
    drop(two, f"{CASE}_第三法庭_20240305-1400.wav", OTHER)
    outcomes = settle(make_watcher(store, *folders))
    assert [o.taken for o in outcomes] == [True, True], [o.reason for o in outcomes]
    rooms = {store.hearing(o.hearing_id).starts_at.hour: store.hearing(o.hearing_id).courtroom for o in outcomes}
    assert rooms == {9: "第一法庭", 14: "第二法庭"}  # the admin's mapping wins over the name
    assert not any(one.iterdir()) and not any(two.iterdir())
    # A folder without a courtroom keeps the name's; a pattern without one leaves it empty.
    assert parse_folders(str(one)) == (WatchFolder(one, ""),)
    drop(one, f"{CASE}_第三法庭_20240306-0930.wav", clip("en_librivox_ss01_0880.wav"))
    [outcome] = settle(make_watcher(store, one))
    assert store.hearing(outcome.hearing_id).courtroom == "第三法庭"


# --- refusing ----------------------------------------------------------------------------------------


def test_corrupt_audio_gets_a_failed_note_and_stays(store: Store, inbox: Path) -> None:
    bad = inbox / f"{NAME}.mp3"
    bad.write_bytes(os.urandom(50_000))  # an mp3 probe passes random bytes: only decoding tells
    good = drop(inbox, f"{CASE}_第三法庭_20240305-1000.wav")
    watcher = make_watcher(store, inbox)
    outcomes = {o.file.name: o for o in settle(watcher)}
    assert outcomes[good.name].taken and not good.exists()  # the rest goes on
    refused = outcomes[bad.name]
    assert not refused.taken and "无法解码" in refused.reason
    note = inbox / f"{bad.name}.failed.txt"
    assert bad.exists() and note.exists()
    assert "录音无法解码" in note.read_text(encoding="utf-8")
    assert counts(store) == (1, 1, 1)
    [row] = audit_rows(store, audit.WATCH_REFUSED)
    assert row.detail["file"] == bad.name and row.detail["folder"] == str(inbox) and "无法解码" in row.detail["reason"]
    # Not tried again, in this process or the next, until the note goes or the file changes.
    assert settle(watcher) == [] and settle(make_watcher(store, inbox)) == []
    assert len(audit_rows(store, audit.WATCH_REFUSED)) == 1
    note.unlink()
    [again] = settle(watcher)
    assert not again.taken and note.exists()
    time.sleep(0.02)
    shutil.copy2(OTHER, bad)  # replaced by a good recording, keeping that one's (older) modification time
    assert bad.stat().st_mtime_ns < note.stat().st_mtime_ns
    [fixed] = settle(make_watcher(store, inbox))
    assert fixed.taken, fixed.reason
    assert not bad.exists() and not note.exists(), "the stale note goes with the taken file"


def test_a_name_that_does_not_match_without_a_sidecar_is_refused(store: Store, inbox: Path) -> None:
    target = drop(inbox, "REC0001.wav")
    watcher = make_watcher(store, inbox)
    [outcome] = settle(watcher)
    assert not outcome.taken and "命名规则" in outcome.reason and "watch_pattern" in outcome.reason
    assert target.exists() and (inbox / "REC0001.wav.failed.txt").exists() and counts(store) == (0, 0, 0)
    time.sleep(0.02)
    (inbox / "REC0001.wav.json").write_text(json.dumps({"case": CASE}), encoding="utf-8")  # the fix
    [taken] = settle(watcher)
    assert taken.taken, taken.reason
    assert list(inbox.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "sidecar", "says"),
    [
        ("notes.txt", b"hello", None, "不是支持的录音格式"),
        (f"{NAME}.wav", None, "{not json", "不是有效的 JSON"),
        (f"{NAME}.wav", None, '["a list"]', "JSON 对象"),
        (f"{NAME}.wav", None, '{"case": 5}', "case 应为文本"),
        (f"{NAME}.wav", None, '{"courtroom": "x", "extra": 1}', "未知字段 extra"),
        (f"{NAME}.wav", None, '{"starts_at": "yesterday"}', "开庭时间"),
        (f"{NAME}.wav", None, '{"options": {"engine": "nope"}}', "转写选项无效"),
        (f"{NAME}.wav", None, '{"options": {"device": "cuda"}}', "未知"),
        (f"{NAME}.wav", None, '{"clerk": "' + "x" * 200 + '"}', "书记员最多"),
        ("REC1.wav", None, '{"courtroom": "第一法庭"}', "没有案号"),
        (f"{CASE}_第三法庭_20241399-0930.wav", None, None, "日期或时间"),
        (f"{NAME}.wav", b"", None, "无法解码"),
    ],
)
def test_what_is_refused_says_why(
    store: Store, inbox: Path, name: str, content: bytes | None, sidecar: str | None, says: str
) -> None:
    target = inbox / name
    if content is None:
        shutil.copyfile(SOURCE, target)
    else:
        target.write_bytes(content)
    if sidecar is not None:
        (inbox / f"{name}.json").write_text(sidecar, encoding="utf-8")
    [outcome] = settle(make_watcher(store, inbox))
    assert not outcome.taken and says in outcome.reason
    assert target.exists() and says in (inbox / f"{name}.failed.txt").read_text(encoding="utf-8")
    assert counts(store) == (0, 0, 0)


def test_a_link_is_refused_and_its_target_left_alone(store: Store, inbox: Path, tmp_path: Path) -> None:
    """Someone who may write to the watch folder must not make the server take a file from elsewhere."""
    outside = tmp_path / "elsewhere" / "secret.wav"
    outside.parent.mkdir()
    shutil.copyfile(SOURCE, outside)
    link = inbox / f"{NAME}.wav"
    link.symlink_to(outside)
    [outcome] = settle(make_watcher(store, inbox))
    assert not outcome.taken and "不是普通文件" in outcome.reason
    assert link.is_symlink() and outside.exists() and counts(store) == (0, 0, 0)


# --- as whom ------------------------------------------------------------------------------------------


@pytest.fixture
def clerk(store: Store) -> str:
    console = console_access(store, "tester")
    Accounts(store).add("clerk1", Role.CLERK, by=console.actor, password=PASSWORD)
    Accounts(store).add("viewer1", Role.VIEWER, by=console.actor, password=PASSWORD)
    store.add_case(CASE, actor=console.actor)  # clerk1 is not a member
    return "clerk1"


def test_watch_as_a_person_only_adds_to_their_cases(store: Store, inbox: Path, clerk: str) -> None:
    theirs = "（2024）京0105民初5号_第三法庭_20240305-0930.wav"
    drop(inbox, f"{NAME}.wav")  # an existing case the clerk is not a member of
    drop(inbox, theirs, OTHER)  # a new case: made, and the clerk made its member
    outcomes = {o.file.name: o for o in settle(make_watcher(store, inbox, account=clerk))}
    refused = outcomes[f"{NAME}.wav"]
    assert not refused.taken and "不是其成员" in refused.reason
    assert (inbox / f"{NAME}.wav").exists() and (inbox / f"{NAME}.wav.failed.txt").exists()
    taken = outcomes[theirs]
    assert taken.taken and store.hearing(taken.hearing_id).created_by == clerk
    [row] = audit_rows(store, audit.WATCH_TAKEN)
    assert row.account == clerk
    [refusal] = audit_rows(store, audit.WATCH_REFUSED)
    assert refusal.account == clerk
    assert [h.case_number for h in store.hearings()] == ["（2024）京0105民初5号"]


def test_watch_as_an_account_that_cannot_upload_leaves_the_files_waiting(
    store: Store, inbox: Path, clerk: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = drop(inbox, f"{NAME}.wav")
    for name in ("nobody", "viewer1"):
        watcher = make_watcher(store, inbox, account=name)
        with caplog.at_level(logging.ERROR, logger="workbench.server.watch"):
            assert settle(watcher) == [] and settle(watcher) == []
        assert sum(name in r.getMessage() for r in caplog.records) == 1, "logged once, not on every pass"
        assert target.exists() and not (inbox / f"{NAME}.wav.failed.txt").exists()
        caplog.clear()
    assert counts(store) == (0, 0, 0)
    Accounts(store).add("nobody", Role.ADMIN, by=console_access(store, "tester").actor, password=PASSWORD)
    [outcome] = settle(make_watcher(store, inbox, account="nobody"))
    assert outcome.taken


# --- crashes and folders ------------------------------------------------------------------------------


def test_a_crash_between_commit_and_removal_takes_nothing_twice(
    store: Store, inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = drop(inbox, f"{NAME}.wav")
    sidecar = inbox / f"{NAME}.wav.json"
    sidecar.write_text(json.dumps({"judge": "王法官"}, ensure_ascii=False), encoding="utf-8")

    def die(path: Path) -> None:
        raise Crash(path)

    monkeypatch.setattr(watch, "_remove", die)
    with pytest.raises(Crash):
        settle(make_watcher(store, inbox))
    assert target.exists() and sidecar.exists()
    assert counts(store) == (1, 1, 1)  # committed
    [first] = store.hearings()
    monkeypatch.undo()
    store.close()  # the server is restarted: a new store, a watcher that remembers nothing
    with Store(tmp_path / "wb.duckdb") as again:
        [outcome] = settle(make_watcher(again, inbox))
        assert outcome.taken and outcome.duplicate and outcome.hearing_id == first.id and outcome.job_id is None
        assert counts(again) == (1, 1, 1)
        assert not target.exists() and not sidecar.exists()
        rows = audit_rows(again, audit.WATCH_TAKEN)
        assert [r.detail["duplicate"] for r in rows] == [True, False]
        assert len(audit_rows(again, audit.UPLOADED)) == 1


def test_a_crash_mid_copy_loses_nothing(store: Store, inbox: Path, tmp_path: Path) -> None:
    target = drop(inbox, f"{NAME}.wav")
    real_store_audio = store.store_audio

    def copy_half_and_die(source: Path) -> tuple[str, Path]:
        store.audio_dir.mkdir(parents=True, exist_ok=True)
        data = Path(source).read_bytes()
        (store.audio_dir / ".incoming-crashed.wav").write_bytes(data[: len(data) // 2])
        raise Crash(source)

    store.store_audio = copy_half_and_die  # type: ignore[method-assign]
    with pytest.raises(Crash):
        settle(make_watcher(store, inbox))
    assert target.read_bytes() == SOURCE.read_bytes() and counts(store) == (0, 0, 0)
    store.store_audio = real_store_audio  # type: ignore[method-assign]
    store.close()
    with Store(tmp_path / "wb.duckdb") as again:
        [outcome] = settle(make_watcher(again, inbox))
        assert outcome.taken and not outcome.duplicate
        [recording] = again.recordings(outcome.hearing_id)
        assert recording.stored_path.read_bytes() == SOURCE.read_bytes()
        assert counts(again) == (1, 1, 1) and not target.exists()


def test_a_missing_folder_is_logged_once_and_looked_at_again(
    store: Store, tmp_path: Path, inbox: Path, caplog: pytest.LogCaptureFixture
) -> None:
    later = tmp_path / "not-yet"
    drop(inbox, f"{NAME}.wav")
    watcher = make_watcher(store, later, inbox)
    with caplog.at_level(logging.WARNING, logger="workbench.server.watch"):
        outcomes = settle(watcher) + settle(watcher)
    assert [o.taken for o in outcomes] == [True]  # the other folder goes on
    assert sum(str(later) in r.getMessage() for r in caplog.records) == 1
    later.mkdir()
    drop(later, f"{CASE}_第三法庭_20240305-1100.wav", OTHER)
    [outcome] = settle(watcher)
    assert outcome.taken and outcome.file.parent == later


def test_an_unreadable_folder_does_not_stop_the_thread(store: Store, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    config = WatchConfig.from_settings(folders=parse_folders(str(not_a_folder)), settle_s=0.0, account="", poll_s=0.05)
    watcher = Watcher(store, config).start()
    try:
        time.sleep(0.3)
        assert watcher.alive
    finally:
        watcher.stop()


def test_the_stores_own_audio_is_never_watched(store: Store) -> None:
    store.audio_dir.mkdir(parents=True, exist_ok=True)
    target = drop(store.audio_dir, f"{NAME}.wav")
    assert settle(make_watcher(store, store.audio_dir)) == []
    assert target.exists() and counts(store) == (0, 0, 0)


def test_bad_settings_are_named() -> None:
    with pytest.raises(ValueError, match="watch_pattern"):
        WatchConfig.from_settings(folders=(), pattern="(unclosed")
    with pytest.raises(ValueError, match="unknown named group"):
        WatchConfig.from_settings(folders=(), pattern=r"(?P<room>\w+)")
    assert parse_folders("/srv/a=b=第一法庭") == (WatchFolder(Path("/srv/a=b"), "第一法庭"),)


# --- the runtime -------------------------------------------------------------------------------------


def test_the_runtime_starts_and_stops_the_watcher(tmp_path: Path, inbox: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_WATCH_FOLDERS", f"{inbox}=第九法庭")
    monkeypatch.setenv("WORKBENCH_WATCH_SETTLE_S", "0")
    target = drop(inbox, f"{NAME}.wav")
    rt = Runtime.create(tmp_path / "rt.duckdb", workers=0)
    try:
        assert rt.watcher is not None and rt.watcher.alive
        deadline = time.monotonic() + 10
        while target.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not target.exists()
        [hearing] = rt.store.hearings()
        assert hearing.courtroom == "第九法庭"
        watcher = rt.watcher
    finally:
        rt.stop()
    assert rt.watcher is None and not watcher.alive
    monkeypatch.setenv("WORKBENCH_WATCH_PATTERN", "(bad")
    rt = Runtime.create(tmp_path / "rt2.duckdb", workers=0)  # a bad setting: logged, the server runs on
    try:
        assert rt.watcher is None
    finally:
        rt.stop()
    monkeypatch.delenv("WORKBENCH_WATCH_FOLDERS")
    rt = Runtime.create(tmp_path / "rt3.duckdb", workers=0)
    try:
        assert rt.watcher is None
    finally:
        rt.stop()


def test_system_actor_is_not_a_person() -> None:
    access = watch.system_access(None, "watch:/x")  # type: ignore[arg-type]
    actor = access.actor
    assert actor == Actor("system", "watch:/x", None, "admin") and access.is_admin
