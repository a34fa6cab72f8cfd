"""The job queue: run, fail, retry, cancel, resume after a crash (SIGKILL), the worker thread, the CLI."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import TESTDATA
from store_samples import CASE, LINES, TESTER, audio_file, transcript

from workbench.cli import main
from workbench.models import memory
from workbench.progress import ProgressHook
from workbench.server.job_process import PipelineProcesses
from workbench.server.worker import PROGRESS_EVERY_S, Worker, run_next
from workbench.speech.options import OptionsError, TranscribeOptions
from workbench.speech.text import Hotword
from workbench.speech.transcript import Transcript
from workbench.store import Store, StoreError, index, jobs, search
from workbench.store.jobs import JobState


class FakePipeline:
    """Stands in for workbench.speech.pipeline.transcribe: reports progress, returns a fixed transcript."""

    def __init__(self, result: Transcript | None = None, fail: Exception | None = None, steps: int = 3) -> None:
        self.result = result or transcript()
        self.fail = fail
        self.steps = steps
        self.calls: list[tuple[Path, Any]] = []

    def __call__(self, path: Path, options: Any, progress: ProgressHook) -> Transcript:
        self.calls.append((path, options))
        for i in range(self.steps):
            progress("recognition", i + 1, self.steps)
        if self.fail:
            raise self.fail
        return self.result


@pytest.fixture
def store(tmp_path: Path) -> Store:
    with Store(tmp_path / "wb.duckdb") as s:
        yield s


def queue(store: Store, tmp_path: Path, n: int = 1, **params: Any) -> list[jobs.Submission]:
    files = [audio_file(tmp_path, f"r{i}.wav", f"audio {i}".encode()) for i in range(n)]
    options = TranscribeOptions.from_settings(**params) if params else None
    return jobs.submit(store, files, case_number=CASE, options=options, actor=TESTER)


def test_a_job_runs_to_done_with_the_case_hotwords(store: Store, tmp_path: Path) -> None:
    sub = queue(store, tmp_path, language="zh", speakers="2", hotwords=[Hotword("借条", 2.0)])[0]
    case = store.case(CASE)
    store.set_hotwords([Hotword("张三丰"), Hotword("借条", 5.0)], case_id=case.id, actor=TESTER)
    store.set_hotwords([Hotword("审判长"), Hotword("张三丰", 1.0)], actor=TESTER)
    fake = FakePipeline()
    info = run_next(store, fake)
    assert info is not None and info.state == JobState.DONE and info.progress == 1.0 and info.attempts == 1
    path, options = fake.calls[0]
    assert path == store.recordings(sub.hearing_id)[0].stored_path and path.exists()
    assert (options.language, options.speakers) == ("zh", "2")
    # the job's own list first, then the case's, then the global one; first weight wins
    assert options.hotwords == (Hotword("借条", 2.0), Hotword("张三丰", None), Hotword("审判长", None))
    h = store.hearing(sub.hearing_id)
    assert (h.status, h.segments) == ("transcribed", len(LINES))
    assert search.search(store, "借条", include_sealed=True)[0].hearing_id == sub.hearing_id
    assert run_next(store, fake) is None


def test_failure_is_recorded_and_retry_runs_it_again(store: Store, tmp_path: Path) -> None:
    sub = queue(store, tmp_path)[0]
    info = run_next(store, FakePipeline(fail=RuntimeError("en_x.wav: cannot decode: truncated file")))
    assert info.state == JobState.FAILED and "truncated file" in info.error and info.finished_at is not None
    assert store.hearing(sub.hearing_id).status == "failed"  # not 排队中: nothing is queued for it
    with pytest.raises(StoreError, match="only queued or running"):
        jobs.cancel(store, info.id, actor=TESTER)
    assert jobs.retry(store, info.id, actor=TESTER).state == JobState.QUEUED
    assert store.hearing(sub.hearing_id).status == "queued"
    assert run_next(store, FakePipeline()).state == JobState.DONE
    assert store.hearing(sub.hearing_id).status == "transcribed"


def test_a_failed_save_fails_the_job_and_stores_nothing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = queue(store, tmp_path)[0]

    def full_disk(con: object, rows: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(index, "insert_postings", full_disk)
    info = run_next(store, FakePipeline())
    assert info.state == JobState.FAILED and "storing the transcript failed" in info.error
    assert store.hearing(sub.hearing_id).segments == 0 and store.hearing(sub.hearing_id).status == "failed"


def test_cancel_queued_and_running(store: Store, tmp_path: Path) -> None:
    first, second = queue(store, tmp_path, n=2)
    assert jobs.cancel(store, second.job_id, actor=TESTER).state == JobState.CANCELLED

    class CancelsItself(FakePipeline):
        def __call__(self, path: Path, options: Any, progress: ProgressHook) -> Transcript:
            progress("recognition", 0.1, 1.0)
            jobs.cancel(store, first.job_id, actor=TESTER)  # as the UI would, from another thread
            time.sleep(PROGRESS_EVERY_S)
            progress("recognition", 0.5, 1.0)
            raise AssertionError("the hook should have stopped the job")

    info = run_next(store, CancelsItself())
    assert info.id == first.job_id and info.state == JobState.CANCELLED
    assert store.hearing(first.hearing_id).segments == 0
    assert run_next(store, FakePipeline()) is None  # the cancelled one is not picked up
    assert jobs.retry(store, second.job_id, actor=TESTER).state == JobState.QUEUED


def test_a_job_left_running_by_a_dead_process_is_resumed(store: Store, tmp_path: Path) -> None:
    sub = queue(store, tmp_path)[0]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = f"{socket.gethostname()}:{dead.stdout.strip()}:12345.00"
    claimed = jobs.claim(store, worker=ghost)
    assert claimed.state == JobState.RUNNING and claimed.worker == ghost
    info = run_next(store, FakePipeline())
    assert info.id == sub.job_id and info.state == JobState.DONE and info.attempts == 2


def test_a_job_that_keeps_killing_its_worker_fails(store: Store, tmp_path: Path) -> None:
    queue(store, tmp_path)
    for _ in range(jobs.MAX_ATTEMPTS):
        jobs.claim(store, worker=f"{socket.gethostname()}:1:1.00")  # pid 1, started at another time
    assert run_next(store, FakePipeline()) is None
    (info,) = jobs.jobs(store)
    assert info.state == JobState.FAILED and "died 3 times" in info.error


def test_worker_thread_drains_the_queue(store: Store, tmp_path: Path) -> None:
    subs = queue(store, tmp_path, n=3)
    worker = Worker(store, concurrency=2, pipeline=FakePipeline(), poll_s=0.05).start()
    try:
        deadline = time.monotonic() + 30
        while any(j.active for j in jobs.jobs(store)) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop(timeout=10)
    assert [j.state for j in jobs.jobs(store)] == [JobState.DONE] * 3
    assert all(store.hearing(s.hearing_id).segments == len(LINES) for s in subs)
    assert not worker.alive and worker.last_error is None


# --- SIGKILL in the middle of `hearings add --wait` ---------------------------------------------------

_KILLED = """
import sys, time
from pathlib import Path
import workbench.speech.pipeline as pipeline
from workbench.store import index
sys.path.insert(0, {tests!r})
from store_samples import transcript

marker = Path({marker!r})

def slow_transcribe(path, options, progress):
    progress("recognition", 0.5, 1.0)
    return transcript()

real_insert = index.insert_postings

def insert_then_hang(con, rows):
    real_insert(con, rows)
    if rows:  # the hearing's save (not the empty reindex of a new file's migration)
        marker.write_text("inside")  # segments and postings are written, the transaction still open
        time.sleep(120)

pipeline.transcribe = slow_transcribe
index.insert_postings = insert_then_hang
from workbench.cli import main
main(["hearings", "add", {audio!r}, "--case", {case!r}, "--db", {db!r}, "--wait"])
"""


def test_sigkill_mid_job_leaves_no_half_hearing_and_the_job_resumes(tmp_path: Path) -> None:
    db, marker = tmp_path / "wb.duckdb", tmp_path / "inside"
    audio = audio_file(tmp_path, "hearing.wav", b"some audio bytes")
    code = _KILLED.format(tests=str(Path(__file__).parent), marker=str(marker), audio=str(audio), case=CASE, db=str(db))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "the subprocess never reached the save"
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(db) as store:
        (h,) = store.hearings()
        assert h.segments == 0 and h.status == "processing"
        with store.reading() as con:
            assert con.execute("SELECT count(*) FROM postings").fetchone()[0] == 0
        (job,) = jobs.jobs(store)
        assert job.state == JobState.RUNNING and str(proc.pid) in job.worker
    runner = CliRunner()
    import workbench.speech.pipeline as pipeline

    fake = FakePipeline()
    original = pipeline.transcribe
    pipeline.transcribe = fake
    try:
        out = runner.invoke(main, ["jobs", "work", "--db", str(db)])
    finally:
        pipeline.transcribe = original
    assert out.exit_code == 0, out.output
    with Store(db) as store:
        (job,) = jobs.jobs(store)
        assert job.state == JobState.DONE and job.attempts == 2
        assert store.hearing(h.id).segments == len(LINES) and store.hearing(h.id).status == "transcribed"


def test_cli_queue_verbs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = str(tmp_path / "wb.duckdb")
    audio = audio_file(tmp_path)
    runner = CliRunner()
    out = runner.invoke(main, ["cases", "add", CASE, "--cause", "买卖合同纠纷", "--db", db])
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["hearings", "add", str(audio), "--case", CASE, "--date", "2024-03-05T09:30", "--db", db])
    assert "job 1 queued" in out.output
    out = runner.invoke(main, ["hearings", "add", str(audio), "--case", CASE, "--db", db])
    assert "already stored as hearing 1" in out.output
    assert json.loads(runner.invoke(main, ["jobs", "list", "--json", "--db", db]).output)[0]["state"] == "queued"
    assert "cancelled" in runner.invoke(main, ["jobs", "cancel", "1", "--db", db]).output
    assert "queued" in runner.invoke(main, ["jobs", "retry", "1", "--db", db]).output
    import workbench.speech.pipeline as pipeline

    monkeypatch.setattr(pipeline, "transcribe", FakePipeline())
    out = runner.invoke(main, ["jobs", "work", "--db", db])
    assert "done" in out.output, out.output
    out = runner.invoke(main, ["speakers", "set", "1", "S3", "--role", "被告", "--name", "张三丰", "--db", db])
    assert "被告张三丰" in out.output
    out = runner.invoke(main, ["hearings", "show", "1", "--db", db])
    assert "被告张三丰: 被告张三丰对证据三" in out.output
    hot = tmp_path / "hot.txt"
    hot.write_text("张三丰 2\n借条\n", encoding="utf-8")
    assert "2 hotwords" in runner.invoke(main, ["hotwords", "set", str(hot), "--case", CASE, "--db", db]).output
    assert runner.invoke(main, ["hotwords", "show", "--case", CASE, "--db", db]).output == "张三丰 2\n借条\n"
    out = runner.invoke(main, ["hearings", "list", "--db", db])
    # naming a speaker corrects the record: the hearing is in review
    assert "2024-03-05 09:30" in out.output and "in review" in out.output
    out = runner.invoke(main, ["search", "张三丰", "--role", "被告", "--db", db])
    assert "hearing 1 0:00:10" in out.output


@pytest.mark.slow
def test_keyword_found_after_hearings_add_wait_on_testdata(tmp_path: Path) -> None:
    """The real pipeline on two real clips; each keyword is found in its own hearing, at its time."""
    db = str(tmp_path / "wb.duckdb")
    jfk = TESTDATA / "asr" / "en_jfk.flac"  # "... ask not what your country can do for you ..."
    libri = TESTDATA / "asr" / "en_librispeech_1995-1837-0001.wav"  # "... the loss of the cotton itself ..."
    runner = CliRunner()
    add = ["hearings", "add", str(jfk), str(libri), "--case", CASE, "--language", "en", "--no-diarize", "--wait"]
    out = runner.invoke(main, [*add, "--db", db])
    assert out.exit_code == 0, out.output
    with Store(db) as store:
        hearing_of = {store.recordings(h.id)[0].file_name: h.id for h in store.hearings()}
    for word, clip, duration in (("country", jfk, 11.0), ("cotton", libri, 8.73)):
        hits = json.loads(runner.invoke(main, ["search", word, "--json", "--db", db]).output)
        assert hits, f"{word!r} not found"
        assert {h["hearing_id"] for h in hits} == {hearing_of[clip.name]}
        assert 0.0 <= hits[0]["start"] < duration and word in hits[0]["text"].lower()


def test_worker_is_a_daemon_thread_per_concurrency(store: Store) -> None:
    worker = Worker(store, concurrency=2, pipeline=FakePipeline(), poll_s=0.05).start()
    try:
        names = sorted(t.name for t in threading.enumerate() if t.name.startswith("workbench-worker"))
        assert names == ["workbench-worker-0", "workbench-worker-1"]
    finally:
        worker.stop(timeout=10)


def test_bad_options_are_refused_before_anything_is_stored(tmp_path: Path) -> None:
    """`hearings add --language xx` used to be accepted and fail inside the job."""
    db = str(tmp_path / "wb.duckdb")
    audio = audio_file(tmp_path, "r.wav", b"audio")
    runner = CliRunner()
    for flag, value, says in (("--language", "xx", "language 'xx'"), ("--speakers", "many", "speaker count")):
        out = runner.invoke(main, ["hearings", "add", str(audio), "--case", CASE, flag, value, "--db", db])
        assert out.exit_code == 2 and says in out.output, out.output
    with Store(db) as store:
        assert store.hearings() == [] and jobs.jobs(store) == []
    with pytest.raises(OptionsError, match="engine 'kaldi': expected one of whisper, funasr"):
        TranscribeOptions(engine="kaldi")


def test_options_survive_the_jobs_table_whole() -> None:
    options = TranscribeOptions.from_settings(
        engine="whisper", language="zh", speakers="2-4", diarize=True, hotwords=(Hotword("不当得利", 2.0),)
    )
    assert TranscribeOptions.from_json(options.to_json()) == options
    assert TranscribeOptions.from_json('{"language": "en"}').language == "en"  # an older row: the rest from settings


# --- a corrupt recording through the real pipeline ------------------------------------------------------
# Random bytes named .wav: the real `transcribe` fails at decoding, before any model is loaded. The job's
# error must name the file as the clerk uploaded it (it is stored as <sha256>.wav) and say why.

UNREADABLE = "not a recording in a format FFmpeg can read"


def _corrupt(folder: Path, name: str, seed: int = 20) -> Path:
    return audio_file(folder, name, random.Random(seed).randbytes(32_000))


@pytest.mark.parametrize("where", ["in-process", "server child"])
def test_a_corrupt_file_fails_its_job_and_its_hearing_naming_the_file(store: Store, tmp_path: Path, where: str) -> None:
    bad = _corrupt(tmp_path, "庭审录音 第1次.wav")
    (sub,) = jobs.submit(store, [bad], case_number=CASE, actor=TESTER)
    models_before = [m.name for m in memory.loaded()]
    child = PipelineProcesses() if where == "server child" else None  # the server's way: a child process
    try:
        info = run_next(store, child)
    finally:
        if child is not None:
            child.end_all()
    assert info is not None and info.id == sub.job_id
    assert info.state == JobState.FAILED, info
    assert info.error == f"AudioError: 庭审录音 第1次.wav: {UNREADABLE} (Invalid data found when processing input)"
    assert store.hearing(sub.hearing_id).status == "failed"
    assert store.hearing(sub.hearing_id).segments == 0
    assert [m.name for m in memory.loaded()] == models_before  # it failed at decoding: no model was loaded for it


def test_hearings_add_wait_exits_1_when_the_job_fails(tmp_path: Path) -> None:
    db = str(tmp_path / "wb.duckdb")
    bad = _corrupt(tmp_path, "corrupt.wav")
    out = CliRunner().invoke(main, ["hearings", "add", str(bad), "--case", CASE, "--wait", "--db", db])
    assert out.exit_code == 1, out.output
    assert out.stdout == "corrupt.wav: hearing 1, job 1 queued\n"
    assert out.stderr.startswith("hearing 1: job 1 failed: AudioError: corrupt.wav: " + UNREADABLE), out.stderr
    with Store(db) as store:
        assert store.hearing(1).status == "failed"
        assert jobs.job(store, 1).state == JobState.FAILED


def test_jobs_work_drains_a_queue_of_failing_jobs_and_exits_0(tmp_path: Path) -> None:
    """`jobs work` is a worker: a failed job is that job's result, recorded in the queue and printed, not the
    command's failure (`hearings add --wait`, which waits for its own hearings, exits 1 instead)."""
    db = str(tmp_path / "wb.duckdb")
    runner = CliRunner()
    names = ["a.wav", "b.wav"]
    for i, name in enumerate(names):
        out = runner.invoke(
            main, ["hearings", "add", str(_corrupt(tmp_path, name, seed=i)), "--case", CASE, "--db", db]
        )
        assert out.exit_code == 0 and "queued" in out.output, out.output
    out = runner.invoke(main, ["jobs", "work", "--db", db])
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) == 3, out.output
    for job_id, (name, line) in enumerate(zip(names, lines, strict=False), start=1):
        prefix = f"job {job_id} (hearing {job_id}, {name}): failed: AudioError: {name}: {UNREADABLE}"
        assert line.startswith(prefix), line
    assert lines[2] == "2 job(s) run; queue empty"
    listed = json.loads(runner.invoke(main, ["jobs", "list", "--json", "--db", db]).output)
    assert sorted((j["file"], j["state"]) for j in listed) == [("a.wav", "failed"), ("b.wav", "failed")]
    assert all(UNREADABLE in j["error"] for j in listed)
    out = runner.invoke(main, ["jobs", "work", "--db", db])  # failed jobs are not picked up again
    assert out.exit_code == 0 and out.stdout == "0 job(s) run; queue empty\n", out.output


def test_an_upload_never_lands_in_a_case_the_uploader_cannot_see(tmp_path: Path) -> None:
    """The pages check membership before copying the audio; `submit` checks again, after `ensure_case`, so a
    case made by someone else in between (or a caller that forgot) cannot take the upload."""
    from workbench.accounts import Accounts
    from workbench.store import audit

    store = Store(tmp_path / "w.duckdb")
    admin_actor = audit.Actor("root", "test", role="admin")
    accounts = Accounts(store)
    clerk, _ = accounts.add("clerk1", "clerk", by=admin_actor, password="a long enough pass", must_change=False)
    store.add_case("（2024）京0105民初9号", actor=admin_actor)  # someone else's case
    with pytest.raises(StoreError, match="not a member"):
        jobs.submit(store, [audio_file(tmp_path)], case_number="（2024）京0105民初9号", actor=clerk.actor("10.0.0.5"))
    assert store.hearings() == []
    [sub] = jobs.submit(
        store, [audio_file(tmp_path)], case_number="（2024）京0105民初10号", actor=clerk.actor("10.0.0.5")
    )
    assert store.hearing(sub.hearing_id).case_id == store.case("（2024）京0105民初10号").id
    store.close()
