"""Unload models gives the memory back: a real Whisper + diarization job in the server's runtime, then the
sidebar's button, and the gauge's total RSS is back at the floor it showed before any model loaded.

The fakes in test_pipeline_process.py prove the mechanism (the child ends); this proves the promise with
the real models (whisper-base, pyannote segmentation-3.0, CAM++) on a real clip, through the same
`Runtime` a server builds and the same button a clerk presses (Streamlit's AppTest, in this process).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import clip
from servers import make_account
from streamlit.testing.v1 import AppTest

from workbench import settings
from workbench.models import memory
from workbench.server.gauge import gauge
from workbench.server.runtime import Runtime
from workbench.speech.options import TranscribeOptions
from workbench.store import audit, jobs

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "workbench" / "web" / "app.py")
CLIP = clip("en_librispeech_1995-1837-0001.wav")  # 8.7 s, one speaker
MB = 2**20
MODELS_AT_LEAST = 150 * MB  # whisper-base, the segmentation model, CAM++ and torch: several hundred MB here
BACK_WITHIN = 50 * MB  # the README's promise: back to the floor, give or take allocator noise

pytestmark = pytest.mark.slow


@pytest.fixture
def server_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Iterator[Path]:
    """A data folder of its own, the pulled models, one worker: the settings `workbench serve` runs with."""
    for name, value in {
        "data_dir": str(tmp_path),
        "db": str(tmp_path / "wb.duckdb"),
        "models_dir": str(models_dir),
        "workers": "1",
        "device": "cpu",
    }.items():
        monkeypatch.setenv(settings.REGISTRY[name].env, value)
    memory.unload_all()  # another test's models in this process would sit under the floor and leave with it
    yield tmp_path


def _total(rt: Runtime) -> int:
    """The sidebar's "本服务 RSS": this process plus its job processes."""
    g = gauge(rt)
    return g.reading.rss + g.job_rss


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    """Polls `condition` until it holds or `seconds` pass (a deadline, not a sleep: the machine is shared)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_unload_gives_a_real_jobs_memory_back(server_env: Path) -> None:
    from workbench.accounts import Sessions
    from workbench.store import Store
    from workbench.web import cache

    store = Store(server_env / "wb.duckdb")  # the runtime's store shares this file's DuckDB instance
    admin = make_account(store, "admin1", "admin")
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["wb_session"] = Sessions(store).start(admin, "127.0.0.1")  # a real session: the sidebar
    at.run()  # the first page view builds the server's runtime
    assert not at.exception, [e.value for e in at.exception]
    rt = cache.runtime()
    try:
        assert rt.processes is not None, "the server runs its jobs in a child process"
        rt.warm_up().join()  # what a started server has loaded before its first job (pandas, jieba, …)
        assert rt.models() == () and rt.processes.pids() == []
        floor = _total(rt)

        options = TranscribeOptions.from_settings(engine="whisper", language="en", diarize=True, speakers="auto")
        [sub] = jobs.submit(rt.store, [CLIP], case_number="M-1", options=options, actor=audit.SYSTEM)
        rt.wake()
        job = lambda: jobs.job(rt.store, sub.job_id)  # noqa: E731
        assert _wait(lambda: not job().active, 300), f"the job did not end in 300 s: {job()}"
        assert job().state == jobs.JobState.DONE, job().error
        assert rt.store.speakers(sub.hearing_id), "diarization ran: the transcript has speakers"
        names = [name for name, _ in rt.models()]
        loaded = _total(rt)
        print(f"\nfloor {floor / MB:.0f} MB, models loaded {loaded / MB:.0f} MB ({', '.join(names)})")
        assert any(n.startswith("whisper") for n in names) and any("segmentation" in n for n in names), names
        assert any("campplus" in n for n in names), names
        assert loaded - floor >= MODELS_AT_LEAST, f"models took only {(loaded - floor) / MB:.0f} MB"
        assert rt.floor_rss is not None and rt.floor_rss <= floor + BACK_WITHIN  # the gauge's own floor agrees

        next(b for b in at.sidebar.button if b.label.startswith("卸载模型")).click()
        at = at.run()
        assert not at.exception, [e.value for e in at.exception]
        assert any("已卸载" in t.value for t in at.toast), [t.value for t in at.toast]
        # The child is ended at once; the server's own heap returns what the job's bookkeeping freed.
        _wait(lambda: _total(rt) <= floor + BACK_WITHIN, 60)
        after = _total(rt)
        print(f"after unload {after / MB:.0f} MB ({(after - floor) / MB:+.0f} MB from the floor)")
        assert after <= floor + BACK_WITHIN, f"RSS {after / MB:.0f} MB, floor {floor / MB:.0f} MB"
        assert rt.models() == () and rt.processes.pids() == []
    finally:
        rt.stop()
        rt.store.close()


_FAULTS_OF_TWO_BLOCKS = """
import resource, sys
import numpy as np
from workbench.models import memory

def faults_of_second_block():
    np.ones(16 << 20, dtype=np.float32)  # 64 MB, touched, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    np.ones(16 << 20, dtype=np.float32)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

outside = faults_of_second_block()
with memory.large_blocks_kept():
    inside = faults_of_second_block()
after = faults_of_second_block()
print(outside, inside, after)
"""


def test_large_blocks_are_reused_inside_and_mapped_fresh_outside() -> None:
    """Inside `large_blocks_kept` a freed 64 MB block is reused (few page faults for the next one); outside,
    before and after, glibc maps each afresh (a fault per page, 4 KB or a 2 MB huge page: at least 32).
    Its own process: mallopt is global."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _FAULTS_OF_TWO_BLOCKS], capture_output=True, text=True, check=True)
    outside, inside, after = map(int, done.stdout.split())
    assert outside >= 32 and after >= 32, done.stdout
    assert inside * 10 < min(outside, after), done.stdout
