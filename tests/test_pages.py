"""Every page under Streamlit's AppTest, on a temporary database with the real models folder.

The server's worker is off here (WORKBENCH_WORKERS=0) so a queued job stays queued for the test to
see; transcripts are stored through the real job path (`jobs.claim` + `run_job`) with a pipeline
that returns a prepared transcript, so no model runs. The browser test (test_e2e.py) runs the real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import MODELS, clip
from streamlit.runtime.media_file_manager import MediaFileManager
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
CLIP = clip("en_jfk.flac")
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


def test_undo_verified_puts_the_hearing_back_in_review(hearing: int, env: Path) -> None:
    at = _ok(_app("pages/review.py", hearing=str(hearing)).run())
    next(b for b in at.button if b.label == "标记已核对").click()
    at = _ok(at.run())
    assert Store(env / "wb.duckdb").hearing(hearing).status == "verified"
    assert not [b for b in at.button if b.label == "标记已核对"], "a verified hearing offers only the undo"
    next(b for b in at.button if b.label == "撤销核对").click()
    at = _ok(at.run())
    assert Store(env / "wb.duckdb").hearing(hearing).status == "in review"
    assert [b for b in at.button if b.label == "标记已核对"] and not [b for b in at.button if b.label == "撤销核对"]


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[MediaFileManager]:
    """The media file manager of each AppTest run, kept: a download made on click is made through it."""
    import streamlit.testing.v1.app_test as app_test

    made: list[MediaFileManager] = []

    class Kept(MediaFileManager):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(app_test, "MediaFileManager", Kept)
    return made


def _download(at: AppTest, media: list[MediaFileManager], key: str) -> tuple[str, bytes]:
    """(file name, bytes) a click on the download button `key` of the last run gives the browser.

    The review page builds its files on click (`data=` a function): Streamlit's server then calls the
    function through its media file manager (`execute_deferred`) and serves the stored bytes, as here.
    """
    proto = at.download_button(key=key).proto
    manager = media[-1]
    url = manager.execute_deferred(proto.deferred_file_id) if proto.deferred_file_id else proto.url
    stored = manager.read_file(url.rsplit("/", 1)[-1].split(".", 1)[0])
    assert stored is not None, url
    return stored.filename or "", stored.content


def test_review_downloads_a_real_docx_of_the_transcript(hearing: int, env: Path, media: list[MediaFileManager]) -> None:
    import io

    import docx

    at = _ok(_app("pages/review.py", hearing=str(hearing)).run())
    name, data = _download(at, media, "docx")
    assert name == f"（2024）京0105民初1234号-{hearing}.docx"
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    assert "ask not what your country can do for you," in text, text
    assert "（2024）京0105民初1234号" in text
    srt_name, srt = _download(at, media, "dl_srt")
    assert srt_name.endswith(".srt") and "ask what you can do for your country." in srt.decode("utf-8")


def test_system_forms_save_the_settings(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cpu_threads", "batch_size", "engine", "language", "speakers", "diarize", "itn"):
        monkeypatch.delenv(settings.REGISTRY[name].env, raising=False)  # the environment would win over the form
    at = _ok(_app("pages/system.py").run())
    next(n for n in at.number_input if n.label == "模型 CPU 线程数").set_value(3)
    next(n for n in at.number_input if n.label == "Whisper 批大小").set_value(8)
    at.button(key="FormSubmitter:queue_settings-保存队列设置").click()
    at = _ok(at.run())
    assert (settings.get("cpu_threads"), settings.get("batch_size")) == (3, 8)
    assert any(s.value.startswith("已保存") for s in at.success)

    next(sb for sb in at.selectbox if sb.label == "识别引擎").set_value("funasr")
    next(sb for sb in at.selectbox if sb.label == "语言").set_value("zh")
    next(t for t in at.text_input if t.label == "说话人数").set_value("2-4")
    next(t for t in at.toggle if t.label.startswith("区分说话人")).set_value(False)
    next(t for t in at.toggle if t.label.startswith("数字、日期")).set_value(False)
    next(t for t in at.text_area if t.label.startswith("全局热词")).set_value("不当得利\n借款合同 2")
    at.button(key="FormSubmitter:defaults-保存默认设置").click()
    at = _ok(at.run())
    assert [settings.get(n) for n in ("engine", "language", "speakers", "diarize", "itn")] == [
        "funasr", "zh", "2-4", False, False
    ]  # fmt: skip
    assert store_hotwords(env) == [("不当得利", None), ("借款合同", 2.0)]
    assert any(s.value == "已保存默认设置" for s in at.success)
    at = _ok(_app("pages/system.py").run())  # a fresh visit shows what was saved
    assert next(sb for sb in at.selectbox if sb.label == "识别引擎").value == "funasr"
    assert next(n for n in at.number_input if n.label == "Whisper 批大小").value == 8


def store_hotwords(env: Path) -> list[tuple[str, float | None]]:
    return sorted((h.term, h.weight) for h in Store(env / "wb.duckdb").hotwords())


def test_system_import_form_names_a_missing_folder(env: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    at = _ok(_app("pages/system.py").run())
    next(t for t in at.text_input if t.label == "服务器上的模型目录或压缩包路径").set_value(str(missing))
    at.button(key="FormSubmitter:import_model-导入").click()
    at = _ok(at.run())
    assert at.error and str(missing) in at.error[0].value


def _queued(env: Path, name: str = "U-9") -> int:
    store = Store(env / "wb.duckdb")
    [sub] = jobs.submit(store, [CLIP], case_number=name, options=TranscribeOptions.from_settings(diarize=False))
    return sub.job_id


def test_upload_queue_cancels_and_retries_a_job(env: Path) -> None:
    job_id = _queued(env)
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/upload.py").run())
    at.button(key=f"cancel_{job_id}").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.CANCELLED
    assert not [b for b in at.button if b.key == f"cancel_{job_id}"]
    at.button(key=f"retry_{job_id}").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.QUEUED
    assert [b for b in at.button if b.key == f"cancel_{job_id}"], "queued again, it can be cancelled again"


def test_system_queue_cancels_and_retries_a_job_by_number(env: Path) -> None:
    job_id = _queued(env)
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/system.py").run())
    at.number_input(key="job_id").set_value(job_id)
    at = _ok(at.run())
    next(b for b in at.button if b.label == "取消任务").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.CANCELLED
    assert any(t.value == "已取消" for t in at.toast), [t.value for t in at.toast]
    next(b for b in at.button if b.label == "重试任务").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.QUEUED
    at = _ok(at.run())  # the queue's table was drawn before the button acted; its next refresh shows it
    table = at.dataframe[1].value  # the queue's table, after the models' (every tab is drawn)
    assert table.loc[table["任务"] == job_id, "状态"].tolist() == ["排队中"]


def test_a_corrupt_upload_fails_and_every_page_says_so(env: Path, tmp_path: Path) -> None:
    """Random bytes named .wav, through the upload form and the real job path (the real `transcribe`,
    which fails at decoding before any model loads): the clerk sees which file failed and why."""
    bad = tmp_path / "第三法庭-0930.wav"
    bad.write_bytes(bytes(range(256)) * 125)
    at = _ok(_app("pages/upload.py").run())
    at.text_input(key="case_number").set_value("（2024）京0105民初99号")
    at.text_area(key="server_paths").set_value(str(bad))
    at = _ok(at.run())
    at.button(key="submit").click()
    _ok(at.run())
    store = Store(env / "wb.duckdb")
    info = jobs.claim(store)
    assert info is not None
    failed = run_job(store, info)  # the default pipeline: workbench.speech.pipeline.transcribe
    assert failed.state == jobs.JobState.FAILED, failed
    reason = "not a recording in a format FFmpeg can read"

    at = _ok(_app("pages/upload.py").run())
    assert any(bad.name in m.value for m in at.markdown), "the queue names the file"
    shown = [e.value for e in at.error]
    assert any(v.startswith("失败：AudioError: ") and bad.name in v and reason in v for v in shown), shown
    assert [b for b in at.button if b.key == f"retry_{info.id}"], "a failed job offers a retry"

    at = _ok(_app("pages/hearings.py").run())
    table = at.dataframe[0].value
    assert table.loc[table["ID"] == info.hearing_id, "状态"].tolist() == ["转写失败"]

    at = _ok(_app("pages/review.py", hearing=str(info.hearing_id)).run())
    shown = [e.value for e in at.error]
    assert any(bad.name in v and reason in v for v in shown), shown

    at = _ok(_app("pages/system.py").run())
    table = at.dataframe[1].value
    row = table.loc[table["任务"] == info.id]
    assert row["文件"].tolist() == [bad.name] and reason in row["错误"].tolist()[0]


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
    import time

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
        deadline = time.monotonic() + 120  # generous: the worker polls once a second on a shared machine
        while time.monotonic() < deadline:
            if not memory.loaded() and jobs.jobs(rt.store)[0].state == jobs.JobState.DONE:
                break
            time.sleep(0.1)
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
