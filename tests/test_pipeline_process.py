"""Jobs in a child process: results, failures and progress cross the pipe; cancel and unload end it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import clip

from workbench.server.job_process import JOB_NICENESS, PipelineFailed, PipelineProcesses, WorkerProcessDied
from workbench.server.worker import JobCancelled
from workbench.speech.audio import AudioError

TESTS = Path(__file__).resolve().parent
CLIP = clip("en_jfk.flac")


@pytest.fixture
def pythonpath(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))  # the child imports child_targets from here
    yield


def _runs(target: str) -> PipelineProcesses:
    return PipelineProcesses(f"child_targets:{target}")


def test_a_job_runs_in_a_niced_child_that_keeps_its_models(pythonpath: None) -> None:
    processes = _runs("echo")
    calls: list[tuple[str, float, float | None]] = []
    try:
        first = processes(CLIP, "opts", lambda *a: calls.append(a))
        pid = int(first.segments[0].text.split()[1])
        assert pid != psutil.Process().pid and first.engine.model == "opts"
        assert first.segments[0].text.endswith(f"nice {min(os.nice(0) + JOB_NICENESS, 19)}")
        assert calls[-1] == ("recognition", 3, 3)
        assert [name for name, _ in processes.models()] == ["fake-model"]
        assert processes.rss() > 0 and processes.pids() == [pid]
        second = processes(CLIP, "opts", lambda *a: None)
        assert second.segments[0].text.split()[1] == str(pid)  # the same child, models still loaded
        assert processes.end_all() == ["fake-model"]
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert processes.models() == () and processes.rss() == 0
    finally:
        processes.end_all()


def test_failures_cross_the_pipe_and_the_child_lives_on(pythonpath: None) -> None:
    processes = _runs("fail")
    try:
        with pytest.raises(AudioError, match=r"en_jfk.flac: cannot decode: truncated file") as caught:
            processes(CLIP, None, lambda *a: None)
        assert caught.value.reason == "cannot decode: truncated file"
        assert len(processes.pids()) == 1  # a reported failure keeps the child for the next job
        odd = _runs("fail_oddly")
        with pytest.raises(PipelineFailed, match="one and two") as caught_odd:
            odd(CLIP, None, lambda *a: None)
        assert caught_odd.value.kind == "Unpicklable"
        odd.end_all()
    finally:
        processes.end_all()


def test_a_child_that_dies_fails_the_job_and_the_next_job_gets_a_new_one(pythonpath: None) -> None:
    processes = _runs("die")
    with pytest.raises(WorkerProcessDied, match="exit code 3"):
        processes(CLIP, None, lambda *a: None)
    assert processes.pids() == []
    processes.target = "child_targets:echo"
    try:
        assert processes(CLIP, None, lambda *a: None).segments
    finally:
        processes.end_all()


def test_a_cancel_raised_by_the_hook_ends_the_child(pythonpath: None) -> None:
    processes = _runs("slow")
    seen: list[int] = []

    def hook(step: str, completed: float, total: float | None = None) -> None:
        seen.extend(processes.pids())
        if completed >= 5:
            raise JobCancelled("cancelled")

    with pytest.raises(JobCancelled):
        processes(CLIP, None, hook)
    assert seen and processes.pids() == []
    assert not psutil.pid_exists(seen[0]) or psutil.Process(seen[0]).status() == psutil.STATUS_ZOMBIE


def test_the_server_runs_jobs_in_a_child_and_unload_ends_it(
    pythonpath: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from workbench.models import memory
    from workbench.server.gauge import gauge
    from workbench.server.runtime import Runtime
    from workbench.speech.options import TranscribeOptions
    from workbench.store import audit, jobs

    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    rt = Runtime.create(tmp_path / "wb.duckdb", workers=1)
    assert rt.processes is not None
    rt.processes.target = "child_targets:echo"
    try:
        jobs.submit(
            rt.store,
            [CLIP],
            case_number="C-1",
            options=TranscribeOptions.from_settings(diarize=False),
            actor=audit.SYSTEM,
        )
        rt.wake()
        deadline = time.monotonic() + 120  # generous: a child process starts, on a shared 2-core machine
        while time.monotonic() < deadline and jobs.jobs(rt.store)[0].state != jobs.JobState.DONE:
            time.sleep(0.1)
        assert jobs.jobs(rt.store)[0].state == jobs.JobState.DONE
        assert "fake-model" not in [m.name for m in memory.loaded()]  # loaded in the child, not here
        g = gauge(rt)
        assert "fake-model" in [name for name, _ in g.models] and g.job_rss > 0
        assert rt.floor_rss is not None
        result = rt.request_unload()
        assert result.done and "fake-model" in result.names
        assert rt.processes.pids() == [] and gauge(rt).job_rss == 0
        assert result.rss_after < result.rss_before  # the real models' figure is in test_unload.py
    finally:
        rt.stop()
        rt.store.close()


def test_a_stop_signal_to_the_process_group_leaves_the_job_to_the_server(pythonpath: None) -> None:
    """Ctrl-C or `systemctl stop` signal the whole group; the child must not fail the job before the
    server exits (the job is then resumed on restart)."""
    import signal

    processes = _runs("slow")
    signalled: list[int] = []

    def hook(step: str, completed: float, total: float | None = None) -> None:
        if not signalled and completed >= 2:
            pid = processes.pids()[0]
            os.kill(pid, signal.SIGTERM)
            os.kill(pid, signal.SIGINT)
            signalled.append(pid)
        if completed >= 30:  # 1.5 s after the signals
            raise JobCancelled("enough")

    with pytest.raises(JobCancelled):
        processes(CLIP, None, hook)
    assert signalled  # the child outlived both signals and kept reporting progress
