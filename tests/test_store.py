"""The hearing store: records, transcripts, edits, atomic writes, migrations, locking."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb
import pytest
from store_samples import CASE, LINES, TESTER, audio_file, hearing, transcript

import workbench.store
from workbench.server.worker import run_next
from workbench.speech.text import Hotword
from workbench.speech.transcript import Party
from workbench.store import NotFound, Store, StoreError, StoreLocked, index, jobs, migrations, search
from workbench.store.audit import Actor
from workbench.store.jobs import JobState


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "wb.duckdb") as s:
        yield s


def test_new_file_is_at_latest_schema(store: Store) -> None:
    assert store.schema_version() == migrations.LATEST
    with store.reading() as con:
        versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()]
    assert versions == list(range(1, migrations.LATEST + 1))


def test_cases_and_hearings(store: Store) -> None:
    case = store.add_case(
        CASE, cause="买卖合同纠纷", court="北京市朝阳区人民法院", parties=[Party("原告", "甲公司")], actor=TESTER
    )
    assert store.case(CASE) == case == store.case(case.id)
    assert case.parties == (Party("原告", "甲公司"),)
    with pytest.raises(StoreError, match="already exists"):
        store.add_case(CASE, actor=TESTER)
    with pytest.raises(NotFound, match="cases list"):
        store.case("（2099）京0105民初1号")
    hid = store.add_hearing(case.id, starts_at=datetime(2024, 3, 5, 9, 30), courtroom="第三法庭", clerk="王五")
    h = store.hearing(hid)
    assert (h.case_number, h.status, h.courtroom, h.segments) == (CASE, "queued", "第三法庭", 0)
    assert [x.id for x in store.hearings(case=CASE)] == [hid]
    assert store.hearings(date_from=datetime(2024, 3, 6).date()) == []


def test_transcript_round_trip_and_hearing_record(store: Store) -> None:
    store.add_case(CASE, cause="买卖合同纠纷", court="北京市朝阳区人民法院", actor=TESTER)
    hid = hearing(store, starts_at=datetime(2024, 3, 5, 9, 30), courtroom="第三法庭", presiding_judge="李四")
    tr = store.transcript(hid)
    src = transcript()
    assert [(s.start, s.end, s.text, s.speaker) for s in tr.segments] == [
        (s.start, s.end, s.text, s.speaker) for s in src.segments
    ]
    assert tr.segments[0].words == src.segments[0].words
    assert [s.id for s in tr.speakers or []] == ["S1", "S2", "S3"]
    assert tr.speakers[1].embedding == pytest.approx([0.1, 0.2, 0.3])
    assert (tr.engine.asr, tr.engine.model, tr.language) == ("whisper", "test-model", "zh")
    store.set_speaker(hid, "S1", role="审判长", name="李四", actor=Actor("书记员", "test"))
    rec = store.hearing_record(hid)
    assert rec.case_number == CASE and rec.cause == "买卖合同纠纷" and rec.place == "第三法庭"
    assert rec.start == "2024-03-05T09:30" and rec.panel == (("审判长", "李四"),)
    assert rec.speaker_display("S1") == "审判长李四" and rec.speaker_display("S2") == "S2"
    # naming a speaker is an edit of what the record prints (issue 16: it takes a checked mark away too)
    assert store.hearing(hid).status == "in review" and rec.state == "in review" and rec.hearing_id == hid


def test_speaker_roles_survive_a_new_transcript(store: Store) -> None:
    hid = hearing(store)
    store.set_speaker(hid, "S2", role="原告", name="甲公司", actor=TESTER)
    store.save_transcript(hid, transcript(LINES[:2]))
    assert {s.label: s.role for s in store.speakers(hid)}["S2"] == "原告"
    assert len(store.segments(hid)) == 2
    with pytest.raises(NotFound, match="has no speaker S9"):
        store.set_speaker(hid, "S9", role="证人", actor=TESTER)


def test_edits_are_logged_and_current_text_is_derivable(store: Store) -> None:
    hid = hearing(store)
    seg = store.segments(hid)[0]
    store.edit_segment(seg.id, text="现在开庭，请原告代理人陈述诉讼请求。", actor=Actor("书记员王五", "test"))
    store.edit_segment(
        seg.id, text="现在开庭。请原告代理人陈述诉讼请求。", speaker="S2", actor=Actor("审判员赵六", "test")
    )
    after = store.segment(seg.id)
    assert after.text_orig == seg.text and after.text.startswith("现在开庭。") and after.speaker == "S2"
    assert store.derived_text(seg.id) == after.text
    rows = [(e.field, e.user) for e in store.edits(segment_id=seg.id)]
    assert rows == [("text", "书记员王五"), ("text", "审判员赵六"), ("speaker", "审判员赵六")]
    assert store.edits(segment_id=seg.id)[-1].before == "S1"
    assert store.hearing(hid).status == "in review"
    assert store.hearing_record(hid).transcript.segments[0].text == after.text
    original = store.hearing_record(hid, original=True)
    assert original.original_text and original.transcript.segments[0].text == seg.text
    assert original.transcript.segments[0].speaker == "S1"


def test_same_upload_twice_is_recognised(store: Store, tmp_path: Path) -> None:
    a = audio_file(tmp_path, "a.wav")
    b = audio_file(tmp_path, "copy of a.wav")  # same bytes, other name
    first = jobs.submit(store, [a], case_number=CASE, actor=TESTER)
    second = jobs.submit(store, [b], case_number=CASE, actor=TESTER)
    assert not first[0].duplicate and second[0].duplicate
    assert second[0].hearing_id == first[0].hearing_id and second[0].job_id is None
    stored = [p for p in store.audio_dir.rglob("*") if p.is_file()]
    assert len(stored) == 1 and stored[0].name.startswith(store.recordings(first[0].hearing_id)[0].sha256)
    assert len(store.hearings()) == 1


def test_the_same_audio_in_another_case_says_nothing_of_the_first(store: Store, tmp_path: Path) -> None:
    """A duplicate is one within the case: "already stored as hearing N" of another case would tell the
    uploader that a case they may not see holds this recording. The file itself is stored once."""
    first = jobs.submit(store, [audio_file(tmp_path, "a.wav")], case_number="SECRET-1", actor=TESTER)
    other = jobs.submit(store, [audio_file(tmp_path, "b.wav")], case_number="MINE-9", actor=TESTER)
    assert not other[0].duplicate and other[0].job_id is not None
    assert other[0].hearing_id != first[0].hearing_id
    assert store.hearing(other[0].hearing_id).case_id == store.case("MINE-9").id
    assert len([p for p in store.audio_dir.rglob("*") if p.is_file()]) == 1


def test_a_failed_save_leaves_no_half_written_hearing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    hid = hearing(store, LINES[:1])

    def broken(con: duckdb.DuckDBPyConnection, rows: list) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(index, "insert_postings", broken)
    with pytest.raises(OSError, match="disk full"):
        store.save_transcript(hid, transcript())
    assert [s.text for s in store.segments(hid)] == [LINES[0][1]]  # the old transcript, whole


def test_readers_never_see_part_of_a_hearing(store: Store) -> None:
    hid = store.add_hearing(store.ensure_case(CASE, actor=TESTER).id)
    big = transcript(LINES * 200)  # 1,000 segments
    seen: set[int] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            with store.reading() as con:
                seen.add(con.execute("SELECT count(*) FROM segments WHERE hearing_id = ?", [hid]).fetchone()[0])

    t = threading.Thread(target=reader)
    t.start()
    try:
        for _ in range(3):
            store.save_transcript(hid, big)
    finally:
        stop.set()
        t.join()
    assert seen <= {0, 1000}


def _v1_file(path: Path) -> None:
    con = duckdb.connect(str(path))
    con.execute(migrations.V1_DDL)
    con.execute("INSERT INTO schema_version (version, description) VALUES (1, 'v1')")
    con.execute(f"INSERT INTO cases (number, cause) VALUES ('{CASE}', '民间借贷纠纷')")
    con.execute("INSERT INTO hearings (case_id, starts_at, status) VALUES (1, '2023-06-01 09:00', 'in review')")
    con.execute(
        "INSERT INTO recordings (hearing_id, file_name, stored_path, sha256) VALUES (1, 'old.wav', '/x/old.wav', 'ab')"
    )
    for i, (spk, text) in enumerate(LINES):
        con.execute(
            "INSERT INTO segments VALUES (nextval('segment_ids'), 1, ?, ?, ?, ?, ?, ?, ?, '[]', 'whisper', 'base')",
            [i, i * 5.0, i * 5.0 + 4, spk, spk, text, text],
        )
    con.execute("UPDATE segments SET text = '现在开庭，请原告代理人陈述诉讼请求。' WHERE idx = 0")
    con.execute(
        "INSERT INTO edits (segment_id, field, before, after, user_name) VALUES (1, 'text', ?, ?, '王五')",
        [LINES[0][1], "现在开庭，请原告代理人陈述诉讼请求。"],
    )
    con.execute("INSERT INTO speakers (hearing_id, label, role, name) VALUES (1, 'S1', '审判长', '李四')")
    con.execute("INSERT INTO jobs (hearing_id, recording_id, state, progress) VALUES (1, 1, 'done', 1)")
    con.execute("INSERT INTO hotwords VALUES (NULL, '张三丰', 2.0)")
    con.close()


def test_a_version_1_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    _v1_file(path)
    with Store(path) as store:
        assert store.schema_version() == migrations.LATEST
        with store.reading() as con:
            counts = {
                t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("cases", "hearings", "recordings", "segments", "edits", "speakers", "jobs", "hotwords")
            }
        assert counts == dict(cases=1, hearings=1, recordings=1, segments=5, edits=1, speakers=1, jobs=1, hotwords=1)
        assert store.hearing(1).status == "in review"
        assert store.edits()[0].hearing_id == 1 and store.edits()[0].user == "王五"
        assert store.derived_text(1) == store.segment(1).text
        hits = search.search(store, "代理人", include_sealed=True)  # indexed by the migration, current text
        assert [h.segment_id for h in hits] == [1]
        assert search.search(store, "代理人", original=True, include_sealed=True) == []
        assert store.hotwords()[0].term == "张三丰"
        assert store.hearing_record(1).labels["S1"].name == "李四"
        assert store.recording(1).stored_path == Path("/x/old.wav")  # not under the audio folder: kept as it was
        new = hearing(store, LINES[:1])  # new rows get ids after the old ones
        assert new == 2 and store.segments(new)[0].id == 6


_ENGINE_V3 = '{"asr": "whisper", "model": "base", "device": "cpu", "file": "old.wav", "duration": 25.0}'


def _file_at(path: Path, version: int) -> Path:
    """A database as a program at schema `version` (2 or 3) left it: that version's schema, built by the released
    migrations, holding a hearing written in that version's columns. Returns the audio folder beside it."""
    audio = path.parent / "audio"
    stored = audio / "ab" / f"{'ab' * 32}.wav"  # where the store keeps an upload: made relative by migration 5
    stored.parent.mkdir(parents=True)
    stored.write_bytes(b"audio")
    con = duckdb.connect(str(path))
    assert migrations.migrate(con, target=version, audio_dir=audio) == list(range(1, version + 1))
    con.execute(f"INSERT INTO cases (number, cause) VALUES ('{CASE}', '民间借贷纠纷')")
    con.execute("INSERT INTO hearings (case_id, starts_at, status) VALUES (1, '2023-06-01 09:00', 'in review')")
    con.execute(
        "INSERT INTO recordings (hearing_id, file_name, stored_path, sha256) VALUES (1, 'old.wav', ?, ?)",
        [str(stored), "ab" * 32],
    )
    for i, (spk, text) in enumerate(LINES):
        con.execute(
            "INSERT INTO segments (id, hearing_id, idx, start_s, end_s, speaker, speaker_orig, text, text_orig, words,"
            " engine, model) VALUES (nextval('segment_ids'), 1, ?, ?, ?, ?, ?, ?, ?, '[]', 'whisper', 'base')",
            [i, i * 5.0, i * 5.0 + 4, spk, spk, text, text],
        )
    con.execute("UPDATE segments SET text = '现在开庭，请原告代理人陈述诉讼请求。' WHERE idx = 0")
    con.execute(
        "INSERT INTO edits (segment_id, field, before, after, user_name) VALUES (1, 'text', ?, ?, '王五')",
        [LINES[0][1], "现在开庭，请原告代理人陈述诉讼请求。"],
    )
    con.execute("INSERT INTO speakers (hearing_id, label, role, name) VALUES (1, 'S1', '审判长', '李四')")
    con.execute("INSERT INTO jobs (hearing_id, recording_id, state, progress) VALUES (1, 1, 'done', 1)")
    con.execute("INSERT INTO hotwords VALUES (NULL, '张三丰', 2.0)")
    index.reindex_all(con)  # a program at version 2 or later kept the keyword index as it saved
    if version >= 3:  # what version 3 added: provenance, the worker's columns, an edit to a speaker label
        con.execute("UPDATE hearings SET language = 'zh', engine = ?", [_ENGINE_V3])
        con.execute("UPDATE jobs SET worker = 'court-pc:4242:1.00', heartbeat_at = '2023-06-01 10:00'")
        con.execute("UPDATE edits SET hearing_id = 1")  # written with each edit from version 3 on
        con.execute(
            "INSERT INTO edits (segment_id, hearing_id, field, before, after, user_name) "
            "VALUES (NULL, 1, 'name:S1', NULL, '李四', '王五')"
        )
    con.close()
    return audio


_TABLES = ("cases", "hearings", "recordings", "segments", "edits", "speakers", "jobs", "hotwords", "postings")


def _counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in _TABLES}


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    rows = con.execute("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])
    return {r[0] for r in rows.fetchall()}


@pytest.mark.parametrize("version", [2, 3])
def test_a_version_2_or_3_file_is_upgraded_in_place(tmp_path: Path, version: int) -> None:
    path = tmp_path / "data" / "wb.duckdb"
    path.parent.mkdir()
    audio = _file_at(path, version)
    with duckdb.connect(str(path)) as con:
        before = _counts(con)
    assert before["postings"] > 0 and before["segments"] == len(LINES)
    with Store(path) as store:
        assert store.schema_version() == migrations.LATEST
        with store.reading() as con:
            assert _counts(con) == {**before, "edits": 1 + (version >= 3)}  # nothing lost, nothing added
            versions = [r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()]
        assert versions == list(range(1, migrations.LATEST + 1))
        assert store.hearing(1).status == "in review"
        assert store.derived_text(1) == store.segment(1).text
        assert [h.segment_id for h in search.search(store, "代理人", include_sealed=True)] == [
            1
        ]  # the postings written at `version`
        assert search.search(store, "代理人", original=True, include_sealed=True) == []
        text_edit = store.edits(segment_id=1)[0]
        assert (text_edit.hearing_id, text_edit.user) == (1, "王五")  # filled in by migration 3
        record = store.hearing_record(1)
        assert record.public is True and record.panel == ()  # migration 4's defaults for an existing hearing
        assert record.labels["S1"].name == "李四" and store.hotwords()[0].term == "张三丰"
        assert store.recording(1).stored_path == audio / "ab" / f"{'ab' * 32}.wav"
        assert _stored_paths(store) == {1: f"ab/{'ab' * 32}.wav"}  # migration 5: relative to the audio folder
        (job,) = jobs.jobs(store)
        assert job.state == JobState.DONE and job.cancel_requested is False
        if version == 3:  # what only a version-3 file held is kept as it was
            assert (store.hearing(1).language, store.transcript(1).engine.device) == ("zh", "cpu")
            assert job.worker == "court-pc:4242:1.00"
            label_edit = [e for e in store.edits(hearing_id=1) if e.segment_id is None]
            assert [(e.field, e.after, e.user) for e in label_edit] == [("name:S1", "李四", "王五")]
        else:
            assert (store.hearing(1).language, store.transcript(1).engine.model) == ("", "base")
            assert job.worker is None
        new = hearing(store, LINES[:1])  # new rows get ids after the old ones
        assert new == 2 and store.segments(new)[0].id == len(LINES) + 1


def test_a_failing_migration_leaves_the_file_at_its_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 3's SQL all runs, then its step fails: none of it may stay (each migration is one transaction)."""
    path = tmp_path / "data" / "wb.duckdb"
    path.parent.mkdir()
    _file_at(path, 2)
    with duckdb.connect(str(path)) as con:
        before = (_counts(con), {t: _columns(con, t) for t in ("jobs", "hearings", "edits")})

    def disk_full(con: duckdb.DuckDBPyConnection, audio_dir: Path) -> None:
        raise OSError("No space left on device")

    broken = tuple(dataclasses.replace(m, after=disk_full) if m.version == 3 else m for m in migrations.MIGRATIONS)
    monkeypatch.setattr(migrations, "MIGRATIONS", broken)
    with pytest.raises(RuntimeError, match=r"migration to version 3 .* failed: No space left on device"):
        Store(path).schema_version()
    with duckdb.connect(str(path)) as con:
        assert migrations.current_version(con) == 2
        assert (_counts(con), {t: _columns(con, t) for t in ("jobs", "hearings", "edits")}) == before
        assert "worker" not in _columns(con, "jobs")  # migration 3's first statement, rolled back
    monkeypatch.undo()
    with Store(path) as store:  # the next open, with the migration mended, upgrades it whole
        assert store.schema_version() == migrations.LATEST
        assert len(store.segments(1)) == len(LINES) and jobs.jobs(store)[0].worker is None


def _stored_paths(store: Store) -> dict[int, str]:
    with store.reading() as con:
        return dict(con.execute("SELECT id, stored_path FROM recordings ORDER BY id").fetchall())


def test_a_data_folder_moved_whole_keeps_its_recordings(tmp_path: Path) -> None:
    old = tmp_path.resolve() / "old" / "data"
    with Store(old / "wb.duckdb") as store:
        sub = jobs.submit(store, [audio_file(tmp_path, "a.wav")], case_number=CASE, actor=TESTER)[0]
        rec = store.recordings(sub.hearing_id)[0]
        assert rec.stored_path.is_file() and rec.stored_path.is_relative_to(old / "audio")
        assert _stored_paths(store) == {rec.id: rec.stored_path.relative_to(old / "audio").as_posix()}
    new = tmp_path.resolve() / "elsewhere" / "data"
    new.parent.mkdir()
    old.rename(new)
    with Store(new / "wb.duckdb") as store:
        moved = store.recordings(sub.hearing_id)[0]
        assert moved.stored_path == new / "audio" / rec.stored_path.relative_to(old / "audio")
        assert moved.stored_path.is_file() and store.recording_by_sha(rec.sha256) == moved
        seen: list[Path] = []

        def pipeline(path: Path, options: object, progress: object) -> object:
            seen.append(path)
            return transcript()

        info = run_next(store, pipeline)  # the worker checks the file exists before it runs
        assert info is not None and info.id == sub.job_id and info.state == JobState.DONE, info
        assert seen == [moved.stored_path]
        assert store.transcript(sub.hearing_id).sha256 == rec.sha256


def test_a_version_4_file_gets_its_recordings_relative_to_the_audio_folder(tmp_path: Path) -> None:
    data = tmp_path.resolve() / "data"
    audio = data / "audio"
    inside_sha, moved_sha = "ab" + "0" * 62, "cd" + "1" * 62
    inside = audio / "ab" / f"{inside_sha}.wav"
    moved = audio / "cd" / f"{moved_sha}.mp3"  # its row still names the folder it was in before a move
    for p in (inside, moved):
        p.parent.mkdir(parents=True)
        p.write_bytes(b"audio")
    elsewhere = audio_file(tmp_path.resolve(), "kept elsewhere.wav")
    con = duckdb.connect(str(data / "wb.duckdb"))
    assert migrations.migrate(con, target=4, audio_dir=audio) == [1, 2, 3, 4]
    con.execute(f"INSERT INTO cases (number) VALUES ('{CASE}')")
    con.execute("INSERT INTO hearings (case_id) VALUES (1)")
    before_move = tmp_path.resolve() / "before the move" / "audio" / "cd" / moved.name
    for path, sha in ((inside, inside_sha), (before_move, moved_sha), (elsewhere, "ef" * 32)):
        con.execute(
            "INSERT INTO recordings (hearing_id, file_name, stored_path, sha256) VALUES (1, ?, ?, ?)",
            [path.name, str(path), sha],
        )
    con.close()
    with Store(data / "wb.duckdb") as store:
        assert store.schema_version() == migrations.LATEST
        assert _stored_paths(store) == {1: f"ab/{inside_sha}.wav", 2: f"cd/{moved_sha}.mp3", 3: str(elsewhere)}
        assert [r.stored_path for r in store.recordings(1)] == [inside, moved, elsewhere]


def test_the_keyword_index_imports_nothing_of_ours() -> None:
    code = (
        "import sys, workbench; before = set(sys.modules); import workbench.store.index; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('workbench')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['workbench.store', 'workbench.store.index']"


def test_the_package_names_resolve() -> None:
    for name in workbench.store.__all__:
        assert getattr(workbench.store, name) is not None
    assert workbench.store.Store.__module__ == "workbench.store.store"
    with pytest.raises(AttributeError):
        workbench.store.NoSuchThing  # noqa: B018


def test_a_file_from_a_newer_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with Store(path) as s, s.writing() as con:
        con.execute("INSERT INTO schema_version (version, description) VALUES (99, 'future')")
    with pytest.raises(RuntimeError, match="newer than this program"):
        Store(path).schema_version()


_HOLDER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_locked_file_waits_then_names_the_problem(tmp_path: Path) -> None:
    path = tmp_path / "wb.duckdb"
    Store(path).close()
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path), "30"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        with pytest.raises(StoreLocked, match="in use by another process"):
            Store(path, lock_timeout=0.5).schema_version()
        assert time.monotonic() - started >= 0.5
    finally:
        holder.kill()
        holder.wait()
    assert Store(path, lock_timeout=5).schema_version() == migrations.LATEST  # released when the holder died


_OPENER = """
import sys, time, duckdb
deadline = time.monotonic() + float(sys.argv[2])
while True:
    try:
        con = duckdb.connect(sys.argv[1])
        break
    except duckdb.IOException:  # still held by the other process
        if time.monotonic() > deadline:
            raise
        time.sleep(0.05)
print(con.execute("SELECT count(*) FROM segments").fetchone()[0])
"""


def test_idle_close_lets_another_process_in(tmp_path: Path) -> None:
    """The other process retries until a generous deadline: on a loaded machine the idle timer may fire late,
    but it must fire (without it the file stays held and the deadline passes)."""
    path = tmp_path / "wb.duckdb"
    store = Store(path, idle_close_s=0.2)
    hearing(store)
    out = subprocess.run([sys.executable, "-c", _OPENER, str(path), "60"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == str(len(LINES)), out.stderr
    assert len(store.segments(1)) == len(LINES)  # and it reopens on the next use
    store.close()


def test_reopening_after_release_never_deadlocks_readers_and_writers(tmp_path: Path) -> None:
    """ "Unload models" closes the idle file. A writer holding the write lock and a reader reopening the file
    must not wait for each other (a reader once opened it under the state lock, then waited for the write
    lock, while the writer held the write lock and waited for the state lock)."""
    store = Store(tmp_path / "wb.duckdb")
    store.add_case("R-0", actor=TESTER)
    for _ in range(10):
        assert store.release()
        with store._state:  # both arrive while the file is closed: the reader first, then the writer
            reader = threading.Thread(target=store.cases, daemon=True)
            reader.start()
            time.sleep(0.01)
            writer = threading.Thread(
                target=lambda: store.add_case(f"W-{time.monotonic_ns()}", actor=TESTER), daemon=True
            )
            writer.start()
            while store._write.acquire(blocking=False):  # until the writer holds the write lock
                store._write.release()
                time.sleep(0.001)
            time.sleep(0.01)
        writer.join(10)
        reader.join(10)
        assert not writer.is_alive() and not reader.is_alive(), "reader and writer deadlocked on a reopened file"
    store.close()


def test_changes_to_cases_hearings_and_hotwords_are_audited(store: Store) -> None:
    clerk = Actor("wang", "10.0.0.7", user_id=None, role="clerk")
    hid = hearing(store)
    case = store.case(CASE)
    store.update_case(CASE, cause="民间借贷纠纷", actor=clerk)
    store.update_hearing(hid, courtroom="第三法庭", public=False, actor=clerk)
    store.update_hearing(hid, courtroom="第三法庭", actor=clerk)  # no change: no row
    store.check(hid, actor=clerk)
    store.set_hotwords([Hotword("张三丰")], case_id=case.id, actor=clerk)
    rows = store.audit_rows(account="wang")
    assert [r.action for r in rows] == ["hotwords_changed", "checked", "hearing_changed", "case_changed"]
    assert all(r.case_id == case.id and r.client == "10.0.0.7" for r in rows)
    assert rows[2].detail == {
        "courtroom": {"before": "", "after": "第三法庭"},
        "public": {"before": True, "after": False},
    }
    assert rows[3].detail == {"cause": {"before": "", "after": "民间借贷纠纷"}}
    assert rows[0].detail["after"] == ["张三丰"] and rows[1].hearing_id == hid
    assert store.hearing_record(hid).public is False and store.case(CASE).cause == "民间借贷纠纷"
    assert store.record(clerk, "hearing_opened", hearing_id=hid) == rows[0].id + 1  # the case filled in
    assert store.audit_rows(action="hearing_opened")[0].case_id == case.id
    report = store.verify_audit()
    assert report.ok and report.rows == rows[0].id + 1 and store.audit_row_with_hash(report.head) == report.rows
    queued = store.add_hearing(case.id)
    with pytest.raises(StoreError, match=f"庭审 {queued}.*the hearing is queued: it cannot check"):
        store.check(queued, actor=clerk)  # nothing transcribed yet: refused, and nothing audited
    assert store.verify_audit().rows == report.rows
