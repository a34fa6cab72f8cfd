"""Every page under Streamlit's AppTest, on a temporary database with the real models folder.

The server's worker is off here (WORKBENCH_WORKERS=0) so a queued job stays queued for the test to
see; transcripts are stored through the real job path (`jobs.claim` + `run_job`) with a pipeline
that returns a prepared transcript, so no model runs. The browser test (test_e2e.py) runs the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from workbench import settings
from workbench.models import memory
from workbench.server.worker import run_job
from workbench.speech.options import TranscribeOptions
from workbench.speech.text import Hotword
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript
from workbench.store import Store, jobs

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "workbench" / "web" / "app.py")
CLIP = Path("/work/shared/testdata/asr/en_jfk.flac")
MODELS = ROOT / "data" / "models"
TIMEOUT = 60

SEGMENTS = [
    (0.0, 3.2, "And so, my fellow Americans,", "S1"),
    (3.2, 7.5, "ask not what your country can do for you,", "S2"),
    (7.5, 11.0, "ask what you can do for your country.", "S1"),
]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    def env_of(name: str) -> str:
        return settings.REGISTRY[name].env

    monkeypatch.setenv(env_of("data_dir"), str(tmp_path))
    monkeypatch.setenv(env_of("db"), str(tmp_path / "wb.duckdb"))
    monkeypatch.setenv(env_of("models_dir"), str(MODELS if MODELS.is_dir() else tmp_path / "models"))
    monkeypatch.setenv(env_of("workers"), "0")
    monkeypatch.setenv(env_of("user"), "")
    yield tmp_path
    Store(tmp_path / "wb.duckdb").close()


def _transcript(path: Path) -> Transcript:
    return Transcript(
        file=path.name,
        sha256="",
        duration=11.0,
        language="en",
        engine=EngineInfo("whisper", "whisper-base"),
        segments=[Segment(a, b, t, s) for a, b, t, s in SEGMENTS],
        speakers=[SpeakerSummary("S1", 6.7, 0.0), SpeakerSummary("S2", 4.3, 3.2)],
    )


@pytest.fixture
def hearing(env: Path) -> int:
    """One transcribed hearing of the JFK clip, stored through the real queue."""
    store = Store(env / "wb.duckdb")
    sub = jobs.submit(store, [CLIP], case_number="（2024）京0105民初1234号", courtroom="第三法庭", clerk="王书记员")
    info = jobs.claim(store)
    assert info is not None and info.id == sub[0].job_id
    done = run_job(store, info, pipeline=lambda p, o, h: _transcript(p))
    assert done.state == jobs.JobState.DONE
    return sub[0].hearing_id


def _app(page: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for k, v in query.items():
        at.query_params[k] = v
    if page:
        at.run()  # the first run registers st.navigation's pages, so switch_page finds them by url_path
        _ok(at)
        at.switch_page(str(ROOT / page))
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize(
    "page", ["pages/hearings.py", "pages/upload.py", "pages/review.py", "pages/search.py", "pages/system.py"]
)
def test_every_page_runs_on_an_empty_store(env: Path, page: str) -> None:
    at = _ok(_app(page).run())
    assert at.title, f"{page} has no title"


def test_sidebar_has_the_gauge_and_unload(env: Path) -> None:
    # AppTest drops the sidebar from its tree on reruns of an st.navigation app, so it is checked on
    # the first run (the browser test sees it on every page).
    at = _ok(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    assert at.sidebar.button[0].label.startswith("卸载模型")
    assert at.sidebar.text_input(key="user_name_input").value
    assert any(m.label == "本服务 RSS" for m in at.sidebar.metric)


def test_every_page_runs_with_a_hearing(hearing: int) -> None:
    for page in ("pages/hearings.py", "pages/upload.py", "pages/search.py", "pages/system.py"):
        _ok(_app(page).run())
    at = _ok(_app("pages/review.py", hearing=str(hearing)).run())
    assert at.title[0].value == "（2024）京0105民初1234号"
    assert [ta.value for ta in at.text_area][: len(SEGMENTS)] == [s[2] for s in SEGMENTS]


def test_upload_queues_a_job(env: Path) -> None:
    at = _ok(_app("pages/upload.py").run())
    at.text_input(key="case_number").set_value("（2024）京0105民初77号")
    at.text_input(key="courtroom").set_value("第一法庭")
    at.text_area(key="parties").set_value("原告：张三；代理人：李四\n被告：某某有限公司")
    at.text_area(key="hotwords").set_value("不当得利\n张某某 2")
    at.selectbox(key="speakers").set_value("off")
    at.text_area(key="server_paths").set_value(str(CLIP))
    at = _ok(at.run())
    at.button(key="submit").click()
    at = _ok(at.run())
    store = Store(env / "wb.duckdb")
    queued = jobs.jobs(store)
    assert len(queued) == 1 and queued[0].state == jobs.JobState.QUEUED
    assert queued[0].options.diarize is False
    assert queued[0].options.hotwords == (Hotword("不当得利", None), Hotword("张某某", 2.0))
    case = store.case("（2024）京0105民初77号")
    assert [(p.role, p.name, p.representatives) for p in case.parties] == [
        ("原告", "张三", ("李四",)),
        ("被告", "某某有限公司", ()),
    ]
    assert {h.term for h in store.hotwords(case_id=case.id)} == {"不当得利", "张某某"}
    assert store.hearing(queued[0].hearing_id).courtroom == "第一法庭"
    assert any(CLIP.name in m.value for m in at.markdown), "the queue panel lists the file"


def test_upload_refuses_a_non_audio_server_path(env: Path, tmp_path: Path) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_text("not audio")
    at = _ok(_app("pages/upload.py").run())
    at.text_input(key="case_number").set_value("X-1")
    at.text_area(key="server_paths").set_value(str(secret))
    at = _ok(at.run())
    at.button(key="submit").click()
    at = _ok(at.run())
    assert at.error and "不是支持的录音格式" in at.error[0].value
    assert jobs.jobs(Store(env / "wb.duckdb")) == []


def test_edit_writes_an_edits_row(hearing: int, env: Path) -> None:
    store = Store(env / "wb.duckdb")
    seg = store.segments(hearing)[1]
    at = _app("pages/review.py", hearing=str(hearing))
    at.session_state["user_name"] = "李书记员"
    at = _ok(at.run())
    at.text_area(key=f"text_{seg.id}").set_value("ask not what your country can do for you —")
    at = _ok(at.run())
    next(sb for sb in at.selectbox if sb.key.startswith(f"spk_{seg.id}_")).set_value("S1")
    at = _ok(at.run())
    edits = store.edits(segment_id=seg.id)
    assert [(e.field, e.before, e.after, e.user) for e in edits] == [
        ("text", seg.text, "ask not what your country can do for you —", "李书记员"),
        ("speaker", "S2", "S1", "李书记员"),
    ]
    assert store.segment(seg.id).text_orig == seg.text
    assert store.derived_text(seg.id) == "ask not what your country can do for you —"


def test_speaker_role_and_name_are_saved(hearing: int, env: Path) -> None:
    at = _app("pages/review.py", hearing=str(hearing))
    at.session_state[f"view_{hearing}"] = "speakers"
    at = _ok(at.run())
    assert not [sb for sb in at.selectbox if sb.key.startswith("spk_")], "one view at a time"
    at.selectbox(key="role_S1").set_value("审判长")
    at.text_input(key="name_S1").set_value("张法官")
    at.button(key=f"FormSubmitter:speakers_{hearing}-保存说话人").click()
    at = _ok(at.run())
    s1 = next(s for s in Store(env / "wb.duckdb").speakers(hearing) if s.label == "S1")
    assert (s1.role, s1.name) == ("审判长", "张法官")
    at.session_state[f"view_{hearing}"] = "transcript"
    at = _ok(at.run())
    assert any("审判长张法官" in str(o) for sb in at.selectbox for o in sb.options if sb.key.startswith("spk_"))


def test_timeline_click_plays_from_that_moment(hearing: int, env: Path) -> None:
    seg = Store(env / "wb.duckdb").segments(hearing)[1]
    at = _app("pages/review.py", hearing=str(hearing))
    at.session_state[f"view_{hearing}"] = "timeline"
    at.session_state[f"timeline_{hearing}"] = {"selection": {"seg": [{"t": seg.start}]}}
    at = _ok(at.run())
    assert at.session_state[f"play_at_{hearing}"] == pytest.approx(seg.start)


def test_play_button_sets_the_start(hearing: int, env: Path) -> None:
    seg = Store(env / "wb.duckdb").segments(hearing)[2]
    at = _ok(_app("pages/review.py", hearing=str(hearing)).run())
    at.button(key=f"play_{seg.id}").click()
    at = _ok(at.run())
    assert at.session_state[f"play_at_{hearing}"] == pytest.approx(seg.start)
    assert at.query_params["t"] in (f"{seg.start:.2f}", [f"{seg.start:.2f}"])


def test_mark_verified(hearing: int, env: Path) -> None:
    at = _ok(_app("pages/review.py", hearing=str(hearing)).run())
    next(b for b in at.button if b.label == "标记已核对").click()
    _ok(at.run())
    assert Store(env / "wb.duckdb").hearing(hearing).status == "verified"


def test_search_shows_results(hearing: int) -> None:
    at = _ok(_app("pages/search.py").run())
    at.text_input(key="q").set_value("country")
    next(b for b in at.button if b.label == "检索").click()
    at = _ok(at.run())
    html = " ".join(m.value for m in at.markdown)
    assert "<mark>country</mark>" in html
    assert "2 条结果" in " ".join(c.value for c in at.caption)


def test_search_shows_twenty_hits_then_more(env: Path) -> None:
    store = Store(env / "wb.duckdb")
    many = Transcript(
        file="many.wav",
        sha256="",
        duration=300.0,
        language="en",
        engine=EngineInfo("whisper", "whisper-base"),
        segments=[Segment(i * 5.0, i * 5.0 + 4.0, f"Exhibit number {i} was admitted.", "S1") for i in range(45)],
    )
    sub = jobs.submit(store, [CLIP], case_number="M-1")
    info = jobs.claim(store)
    assert info is not None and info.id == sub[0].job_id
    assert run_job(store, info, pipeline=lambda p, o, h: many).state == jobs.JobState.DONE
    at = _ok(_app("pages/search.py").run())
    at.text_input(key="q").set_value("exhibit")
    next(b for b in at.button if b.label == "检索").click()
    at = _ok(at.run())
    assert "20+ 条结果" in " ".join(c.value for c in at.caption)
    next(b for b in at.button if b.label.startswith("显示更多")).click()
    at = _ok(at.run())
    assert "40+ 条结果" in " ".join(c.value for c in at.caption)
    next(b for b in at.button if b.label.startswith("显示更多")).click()
    at = _ok(at.run())
    assert "45 条结果" in " ".join(c.value for c in at.caption)
    assert not [b for b in at.button if b.label.startswith("显示更多")]


def test_hearings_list_filters(hearing: int) -> None:
    at = _ok(_app("pages/hearings.py").run())
    assert at.dataframe[0].value["案号"].tolist() == ["（2024）京0105民初1234号"]
    at.pills(key="f_status").set_value(["verified"])
    at = _ok(at.run())
    assert not at.dataframe and at.info


def test_unload_empties_the_cache(env: Path) -> None:
    memory.unload_all()  # another test's leftovers
    memory.load(("test-model",), "test-model", env, lambda: bytearray(64 << 20))
    assert memory.loaded()
    at = _ok(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    next(b for b in at.sidebar.button if b.label.startswith("卸载模型")).click()
    at = _ok(at.run())
    assert memory.loaded() == []
    assert any("已卸载" in t.value for t in at.toast)


def test_unload_waits_for_a_running_job(env: Path) -> None:
    """A job holding models is never unloaded under; the unload happens when it ends."""
    import threading

    from workbench.server.runtime import Runtime

    started, release = threading.Event(), threading.Event()

    def slow(path: Path, options: object, hook: object) -> Transcript:
        memory.load(("job-model",), "job-model", env, lambda: bytearray(8 << 20))
        started.set()
        release.wait(30)
        assert memory.loaded(), "the model was unloaded under the running job"
        return _transcript(path)

    memory.unload_all()
    rt = Runtime.create(env / "wb.duckdb", workers=1, pipeline=slow)
    try:
        jobs.submit(rt.store, [CLIP], case_number="U-1", options=TranscribeOptions.from_settings(diarize=False))
        rt.wake()
        assert started.wait(30)
        assert rt.request_unload().done is False
        assert [m.name for m in memory.loaded()] == ["job-model"]
        release.set()
        for _ in range(100):
            if not memory.loaded() and jobs.jobs(rt.store)[0].state == jobs.JobState.DONE:
                break
            threading.Event().wait(0.1)
        assert memory.loaded() == [] and rt.last_unload is not None and rt.last_unload.names == ("job-model",)
        assert jobs.jobs(rt.store)[0].state == jobs.JobState.DONE
    finally:
        release.set()
        rt.stop()
        memory.unload_all()


def test_gauge_shows_the_floor_to_the_megabyte(env: Path) -> None:
    from workbench.web import cache

    at = _ok(AppTest.from_file(APP, default_timeout=TIMEOUT).run())
    rt = cache.runtime()  # the server's one runtime, shared with the script runs (st.cache_resource)
    rt.floor_rss = 1234 * 2**20
    try:
        at = _ok(at.run())
        floor = [c.value for c in at.sidebar.caption if "模型加载前 RSS" in c.value]
        assert floor and floor[0].startswith("模型加载前 RSS 1,234 MB · 现高出 ")
    finally:
        rt.floor_rss = None


def test_gauge_and_unload_never_import_torch() -> None:
    """Before any job, reading the gauge or unloading must not pull in torch (2 s and ~300 MB)."""
    import subprocess
    import sys

    code = (
        "import sys; import workbench.server.gauge; from workbench.models import memory; "
        "r = memory.reading(); memory.unload_all(); "
        "assert r.rss > 0 and r.gpu_total is None; print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_unload_clears_the_caches_models_filled() -> None:
    from faster_whisper.vad import get_vad_model

    from workbench.store import search

    search.term_id("借款合同")
    get_vad_model()  # faster-whisper's Silero VAD, an onnxruntime session kept in an lru_cache
    assert search.term_id.cache_info().currsize and get_vad_model.cache_info().currsize
    memory.unload_all()
    assert search.term_id.cache_info().currsize == 0
    assert get_vad_model.cache_info().currsize == 0


def test_unload_closes_the_idle_database_and_pages_reopen_it(env: Path) -> None:
    from workbench.server.runtime import Runtime

    rt = Runtime.create(env / "wb.duckdb", workers=0)
    try:
        rt.store.add_case("R-1")
        with rt.store.reading():
            assert rt.store.release() is False  # never under a reader
        assert rt.request_unload().done
        assert rt.store.release() is False  # the unload already closed it
        assert [c.number for c in rt.store.cases()] == ["R-1"]  # the next operation reopens the file
    finally:
        rt.stop()
        rt.store.close()


def test_page_timer_logs_each_run_even_when_the_page_stops(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from workbench.web.timing import page_timer

    with caplog.at_level(logging.DEBUG, logger="workbench.web.timing"):
        with page_timer("hearings"):
            pass
        with pytest.raises(RuntimeError), page_timer("review"):
            raise RuntimeError("st.stop")
    runs = [r for r in caplog.records if r.getMessage().startswith("page ")]
    assert [r.getMessage().split()[1] for r in runs] == ["hearings", "review"]
    assert all(r.levelno == logging.DEBUG for r in runs)  # fast runs stay out of the INFO log


def test_the_server_layer_never_imports_the_web_layer() -> None:
    """Imports go one way: pages → workbench.web → workbench.server → store, speech, models; never back."""
    from test_layout import import_graph

    graph = import_graph()

    def reach(name: str) -> set[str]:
        seen, todo = set(), [name]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    for name in graph:
        if name.startswith("workbench.server"):
            assert not {m for m in reach(name) if m.startswith("workbench.web")}, name
    assert reach("workbench.display") == set()  # the display helpers import nothing of ours
