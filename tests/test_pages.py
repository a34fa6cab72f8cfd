"""Every page under Streamlit's AppTest, on a temporary database with the real models folder, signed in.

AppTest cannot set cookies, so each test makes real accounts (`Accounts`) and real sessions
(`Sessions.start`) in the test's store and puts the token where `session.signed_in()` looks when there is
no cookie (`st.session_state["wb_session"]`).

The server's worker is off here (WORKBENCH_WORKERS=0) so a queued job stays queued for the test to
see; transcripts are stored through the real job path (`jobs.claim` + `run_job`) with a pipeline
that returns a prepared transcript, so no model runs. The browser test (test_e2e.py) runs the real one.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import MODELS, clip
from markdown_it import MarkdownIt
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest

from workbench import settings
from workbench.accounts import HEARING_NOT_YOURS, Accounts, Role, Sessions, console_access, sign_in
from workbench.models import memory
from workbench.record.evidence import read_evidence
from workbench.server.worker import run_job
from workbench.speech.options import TranscribeOptions
from workbench.speech.text import Hotword
from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript
from workbench.store import Store, audit, jobs, members
from workbench.store.audit import Actor
from workbench.web import nav
from workbench.web.session import ENDED, SESSION_KEY
from workbench.web.widgets import PAGE_REFUSED

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "workbench" / "web" / "app.py")
CLIP = clip("en_jfk.flac")
TIMEOUT = 60
PASSWORD = "a long enough test password 42"
CASE_A = "（2024）京0105民初1234号"
CASE_B = "（2024）京0105民初5678号"
ONLY_IN_B = "Zanzibar"

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
    monkeypatch.setenv(env_of("ingest_roots"), f"{CLIP.parent};{tmp_path}")  # server files only from these
    yield tmp_path
    Store(tmp_path / "wb.duckdb").close()


@dataclass(frozen=True)
class Person:
    name: str
    token: str  # a live session's cookie value
    actor: Actor
    user_id: int


@dataclass(frozen=True)
class People:
    admin: Person
    judge: Person
    clerk: Person  # a member of case A
    viewer: Person  # a member of case A, read-only
    other: Person  # a clerk of case B only


@pytest.fixture
def people(env: Path) -> People:
    """One account of each role, each with a live session."""
    store = Store(env / "wb.duckdb")
    accounts, sessions = Accounts(store), Sessions(store)
    by = console_access(store).actor

    def person(name: str, role: Role, display_name: str = "") -> Person:
        account, _ = accounts.add(name, role, by=by, display_name=display_name, password=PASSWORD, must_change=False)
        assert account.id is not None
        return Person(name, sessions.start(account, "127.0.0.1"), account.actor("127.0.0.1"), account.id)

    return People(
        admin=person("admin1", Role.ADMIN, "管理员甲"),
        judge=person("judge1", Role.JUDGE, "张法官"),
        clerk=person("clerk1", Role.CLERK, "王书记员"),
        viewer=person("viewer1", Role.VIEWER, "档案员"),
        other=person("clerk2", Role.CLERK, "李书记员"),
    )


def _transcript(path: Path, segments: list[tuple[float, float, str, str]] = SEGMENTS) -> Transcript:
    return Transcript(
        file=path.name,
        sha256="",
        duration=11.0,
        language="en",
        engine=EngineInfo("whisper", "whisper-base"),
        segments=[Segment(a, b, t, s) for a, b, t, s in segments],
        speakers=[SpeakerSummary("S1", 6.7, 0.0), SpeakerSummary("S2", 4.3, 3.2)],
    )


def _stored(
    env: Path,
    by: Person,
    case_number: str,
    file: Path = CLIP,
    segments: list[tuple[float, float, str, str]] = SEGMENTS,
    **fields: str,
) -> int:
    """A transcribed hearing, uploaded by `by` (who becomes a member of a new case) and run through the queue."""
    store = Store(env / "wb.duckdb")
    sub = jobs.submit(store, [file], case_number=case_number, actor=by.actor, **fields)
    info = jobs.claim(store)
    assert info is not None and info.id == sub[0].job_id
    done = run_job(store, info, pipeline=lambda p, o, h: _transcript(p, segments))
    assert done.state == jobs.JobState.DONE
    return sub[0].hearing_id


def _join(env: Path, case_number: str, *who: Person) -> None:
    store = Store(env / "wb.duckdb")
    case_id = store.case(case_number).id
    with store.writing() as con:
        for p in who:
            members.add(con, case_id, p.user_id, console_access(store).actor)


@pytest.fixture
def hearing(env: Path, people: People) -> int:
    """One transcribed hearing of the JFK clip in case A (clerk, viewer and judge are its members)."""
    hearing_id = _stored(env, people.clerk, CASE_A, courtroom="第三法庭", clerk="王书记员")
    _join(env, CASE_A, people.viewer, people.judge)
    return hearing_id


@pytest.fixture
def other_hearing(env: Path, people: People, hearing: int, tmp_path: Path) -> int:
    """A hearing of case B (only `other` is a member) with a word no hearing of case A has."""
    copy = tmp_path / "other.flac"
    copy.write_bytes(CLIP.read_bytes() + b"\0")  # other content: not a duplicate of case A's recording
    return _stored(env, people.other, CASE_B, copy, [(0.0, 4.0, f"The ship sailed to {ONLY_IN_B}.", "S1")])


def _app(page: str | None = None, *, who: Person | None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if who is not None:
        at.session_state[SESSION_KEY] = who.token
    for k, v in query.items():
        at.query_params[k] = v
    if page:
        at.run()  # the first run registers st.navigation's pages, so switch_page finds them by url_path
        _ok(at)
        at.switch_page(str(ROOT / page))
    return at


def _page(page: str, *, who: Person | None, **query: str) -> AppTest:
    """The page file run alone, without the router and its navigation: what a page must refuse by itself."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=TIMEOUT)
    if who is not None:
        at.session_state[SESSION_KEY] = who.token
    for k, v in query.items():
        at.query_params[k] = v
    return at


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _plain(text: str) -> str:
    """What a Markdown element shows: the stored text is escaped as character references."""
    return html.unescape(text)


def _desk(at: AppTest) -> dict | None:  # type: ignore[type-arg]
    """The data the review desk component was drawn with (its script reads the transcript from the API)."""
    drawn = [e.proto for e in at.get("bidi_component") if e.proto.component_name == "workbench.desk"]
    return json.loads(drawn[0].json) if drawn else None


def _shown(at: AppTest) -> str:
    """Every text element's source of the last run, unescaped: to look for what must not be there."""
    parts = [e.value for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning",
                                  "error", "success", "text", "code") for e in getattr(at, kind)]  # fmt: skip
    return _plain("\n".join(str(p) for p in parts))


@pytest.mark.parametrize("page", [f"pages/{p.file}" for pages in nav.SECTIONS.values() for p in pages])
def test_every_page_runs_on_an_empty_store(people: People, page: str) -> None:
    at = _ok(_app(page, who=people.admin).run())
    assert at.title, f"{page} has no title"


def test_sidebar_has_the_gauge_and_unload(people: People) -> None:
    # AppTest drops the sidebar from its tree on reruns of an st.navigation app, so it is checked on
    # the first run (the browser test sees it on every page).
    at = _ok(_app(who=people.clerk).run())
    assert [b for b in at.sidebar.button if b.label.startswith("卸载模型")]
    assert not at.sidebar.text_input, "the free 操作人 box is gone: the account is who works"
    assert any(m.label == "本服务 RSS" for m in at.sidebar.metric)


def test_every_page_runs_with_a_hearing(people: People, hearing: int, env: Path) -> None:
    for page in nav.SECTIONS.values():
        for p in page:
            if p is not nav.REVIEW:
                _ok(_app(f"pages/{p.file}", who=people.admin).run())
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    assert at.title[0].value == CASE_A
    desk = _desk(at)
    recording = Store(env / "wb.duckdb").recordings(hearing)[0]
    assert desk is not None and (desk["hearing_id"], desk["recording_id"], desk["may_edit"]) == (
        hearing,
        recording.id,
        True,
    )
    assert desk["api"] == "/api/v1" and desk["start_at"] is None and desk["keys"], "the key sheet comes with it"


def test_upload_queues_a_job(env: Path, people: People) -> None:
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
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
    assert any(CLIP.name in _plain(m.value) for m in at.markdown), "the queue panel lists the file"


def test_upload_refuses_a_non_audio_server_path(env: Path, people: People, tmp_path: Path) -> None:
    secret = tmp_path / "notes.txt"
    secret.write_text("not audio")
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    at.text_input(key="case_number").set_value("X-1")
    at.text_area(key="server_paths").set_value(str(secret))
    at = _ok(at.run())
    at.button(key="submit").click()
    at = _ok(at.run())
    assert at.error and "不是支持的录音格式" in at.error[0].value
    assert jobs.jobs(Store(env / "wb.duckdb")) == []


def test_the_edit_history_shows_each_edit_once_opened(hearing: int, env: Path, people: People) -> None:
    store = Store(env / "wb.duckdb")
    seg = store.segments(hearing)[1]
    store.edit_segment(seg.id, text="ask not what your country can do for you —", actor=people.clerk.actor)
    store.edit_segment(seg.id, speaker="S1", actor=people.clerk.actor)
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    assert not at.dataframe, "the edits are read only once their box is opened"
    at.session_state[f"edits_open_{hearing}"] = True
    at = _ok(at.run())
    (table,) = at.dataframe
    assert list(table.value["修改后"]) == ["S1", "ask not what your country can do for you —"]
    assert list(table.value["操作人"]) == ["clerk1", "clerk1"]


def test_speaker_role_and_name_are_saved(hearing: int, env: Path, people: People) -> None:
    at = _app("pages/review.py", who=people.clerk, hearing=str(hearing))
    at.session_state[f"view_{hearing}"] = "speakers"
    at = _ok(at.run())
    assert not [sb for sb in at.selectbox if (sb.key or "").startswith("spk_")], "one view at a time"
    at.selectbox(key="role_S1").set_value("审判长")
    at.text_input(key="name_S1").set_value("张法官")
    at.button(key=f"FormSubmitter:speakers_{hearing}-保存说话人").click()
    at = _ok(at.run())
    s1 = next(s for s in Store(env / "wb.duckdb").speakers(hearing) if s.label == "S1")
    assert (s1.role, s1.name) == ("审判长", "张法官")


def test_timeline_click_plays_from_that_moment(hearing: int, env: Path, people: People) -> None:
    seg = Store(env / "wb.duckdb").segments(hearing)[1]
    at = _app("pages/review.py", who=people.viewer, hearing=str(hearing))
    at.session_state[f"view_{hearing}"] = "timeline"
    at.session_state[f"timeline_{hearing}"] = {"selection": {"seg": [{"t": seg.start}]}}
    at = _ok(at.run())
    assert at.session_state[f"play_at_{hearing}"] == pytest.approx(seg.start)


def test_a_link_with_a_time_opens_the_desk_there(hearing: int, env: Path, people: People) -> None:
    seg = Store(env / "wb.duckdb").segments(hearing)[2]
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing), t=f"{seg.start:.2f}").run())
    assert _desk(at)["start_at"] == pytest.approx(seg.start)  # type: ignore[index]


def _buttons(at: AppTest) -> set[str]:
    return {b.label for b in at.button}


def test_the_sign_off_buttons_are_the_steps_each_account_may_take_and_a_locked_record_is_read_only(
    hearing: int, env: Path, people: People
) -> None:
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    assert "标记已核对" in _buttons(at) and "审批通过" not in _buttons(at)  # a clerk checks, never approves
    next(b for b in at.button if b.label == "标记已核对").click()
    at = _ok(at.run())
    assert store.hearing(hearing).status == "checked"
    assert _buttons(at) & {"标记已核对", "审批通过", "锁定笔录"} == set() and "撤销核对" in _buttons(at)
    [row] = store.audit_rows(hearing_id=hearing, action=audit.CHECKED)
    assert row.account == "clerk1"

    at = _ok(_app("pages/review.py", who=people.admin, hearing=str(hearing)).run())
    assert _buttons(at) & {"标记已核对", "撤销核对", "审批通过", "锁定笔录"} == set()  # IT, not a court officer

    at = _ok(_app("pages/review.py", who=people.judge, hearing=str(hearing)).run())
    next(b for b in at.button if b.label == "审批通过").click()
    at = _ok(at.run())
    assert store.hearing(hearing).status == "approved"

    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    next(b for b in at.button if b.label == "锁定笔录").click()
    at = _ok(at.run())
    assert store.hearing(hearing).status == "locked"
    assert _desk(at)["may_edit"] is False  # type: ignore[index]  # read-only for the clerk too
    assert any("已锁定" in i.value for i in at.info)
    steps = [s.step for s in store.signoff_steps(hearing)]
    assert steps == ["checked", "approved", "locked"]
    assert any("核对 clerk1" in c.value and "审批 judge1" in c.value for c in at.caption)

    # the judge reopens with a reason: the button stays disabled until one is typed
    at = _ok(_app("pages/review.py", who=people.judge, hearing=str(hearing)).run())
    confirm = next(b for b in at.button if b.label == "确认退回")
    assert confirm.disabled
    at.text_input(key="reopen_reason").set_value("补充证人证言")
    at = _ok(at.run())
    next(b for b in at.button if b.label == "确认退回").click()
    _ok(at.run())
    assert store.hearing(hearing).status == "in review"
    assert store.signoff_steps(hearing)[-1].reason == "补充证人证言"


def test_a_correction_request_is_filed_on_the_locked_record_and_the_judge_accepts_it(
    hearing: int, env: Path, people: People
) -> None:
    store = Store(env / "wb.duckdb")
    store.check(hearing, actor=people.clerk.actor)
    store.approve(hearing, actor=people.judge.actor)
    store.lock(hearing, actor=people.clerk.actor)
    at = _ok(_app("pages/review.py", who=people.viewer, hearing=str(hearing)).run())
    assert f"FormSubmitter:correction_{hearing}-提交补正申请" not in [b.key for b in at.button]  # a viewer cannot
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    seg = store.segments(hearing)[1]
    inputs = {t.label: t for t in at.text_input}
    inputs["段落时间 Time"].set_value(f"{seg.start + 0.1:.1f}")
    at.text_area[0].set_value("更正后的文字。")
    inputs["申请人 Requester"].set_value("李华")
    inputs["理由 Reason"].set_value("记录有误")
    at.button(key=f"FormSubmitter:correction_{hearing}-提交补正申请").click()
    at = _ok(at.run())
    [request] = store.corrections(hearing)
    assert (request.changes[0][:2], request.requester, request.state) == ((seg.id, "更正后的文字。"), "李华", "pending")
    assert not [b for b in at.button if b.label == "准许补正"], "a clerk does not decide"

    at = _ok(_app("pages/review.py", who=people.judge, hearing=str(hearing)).run())
    at.text_input(key=f"decide_reason_{request.id}").set_value("与录音一致")
    at = _ok(at.run())
    at.button(key=f"decide_{request.id}_True").click()
    _ok(at.run())
    assert store.correction(request.id).state == "accepted"
    assert store.segments(hearing)[1].text == "更正后的文字。" and store.hearing(hearing).status == "locked"


def test_undo_check_puts_the_hearing_back_in_review(hearing: int, env: Path, people: People) -> None:
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    next(b for b in at.button if b.label == "标记已核对").click()
    at = _ok(at.run())
    next(b for b in at.button if b.label == "撤销核对").click()
    at = _ok(at.run())
    assert Store(env / "wb.duckdb").hearing(hearing).status == "in review"
    assert "标记已核对" in _buttons(at) and "撤销核对" not in _buttons(at)


def test_a_part_sealed_on_the_page_leaves_the_export_and_a_viewer_gets_no_form(
    hearing: int, env: Path, people: People
) -> None:
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing)).run())
    form = f"seal_{hearing}"
    inputs = {t.label: t for t in at.text_input}
    inputs["从 From"].set_value("00:00:00")
    inputs["至 To"].set_value("00:00:02")
    inputs["理由 Reason"].set_value("涉及个人隐私")
    at.button(key=f"FormSubmitter:{form}-标记为不公开").click()
    at = _ok(at.run())
    [part] = Store(env / "wb.duckdb").sealed_parts(hearing)
    assert (part.start, part.end, part.reason, part.created_by) == (0.0, 2.0, "涉及个人隐私", "clerk1")
    assert "解除" in _buttons(at)
    inputs = {t.label: t for t in at.text_input}
    inputs["从 From"].set_value("1:99")
    at.button(key=f"FormSubmitter:{form}-标记为不公开").click()
    at = _ok(at.run())
    assert any("时间无效" in e.value for e in at.error)  # a clear message, nothing stored
    assert len(Store(env / "wb.duckdb").sealed_parts(hearing)) == 1
    at = _ok(_app("pages/review.py", who=people.viewer, hearing=str(hearing)).run())
    assert "解除" not in _buttons(at) and not at.text_input


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


def test_review_downloads_a_real_docx_of_the_transcript(
    hearing: int, env: Path, people: People, media: list[MediaFileManager]
) -> None:
    import io

    import docx

    at = _ok(_app("pages/review.py", who=people.viewer, hearing=str(hearing)).run())
    name, data = _download(at, media, "dl_docx")
    assert name == f"{CASE_A}-{hearing}.docx"
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
    assert "ask not what your country can do for you," in text, text
    assert CASE_A in text
    srt_name, srt = _download(at, media, "dl_srt")
    assert srt_name.endswith(".srt") and "ask what you can do for your country." in srt.decode("utf-8")
    # each download is audited with its format and the hash of the very bytes handed out
    exported = Store(env / "wb.duckdb").audit_rows(hearing_id=hearing, action=audit.EXPORTED)
    assert [(r.account, r.detail["format"], r.detail["sha256"]) for r in reversed(exported)] == [
        ("viewer1", "docx", hashlib.sha256(data).hexdigest()),
        ("viewer1", "srt", hashlib.sha256(srt).hexdigest()),
    ]
    # the record carries its manifest, whose code the export's audit row holds (what `verify` looks for)
    manifest = read_evidence(data).manifest
    assert manifest is not None and (manifest.exporter, manifest.hearing_id) == ("viewer1", hearing)
    assert exported[-1].detail["code"] == manifest.code()


def test_the_redaction_preview_lists_each_find_and_an_unticked_one_stays_in_the_export(
    env: Path, people: People, media: list[MediaFileManager], tmp_path: Path
) -> None:
    copy = tmp_path / "phone.flac"
    copy.write_bytes(CLIP.read_bytes() + b"\0")  # a recording of its own, not a duplicate of another hearing's
    said = [(0.0, 4.0, "我的手机号是13812345678，邮箱a.b@court.cn", "S1")]
    hearing_id = _stored(env, people.clerk, CASE_A, copy, said)
    _join(env, CASE_A, people.viewer, people.judge)
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing_id)).run())
    at.radio(key="redact_profile").set_value("publication")
    at = _ok(at.run())
    assert at.dataframe[0].value["原文"].tolist() == ["13812345678", "a.b@court.cn"]
    assert "共 2 处" in " ".join(c.value for c in at.caption)
    at.session_state["redactions_publication"] = {"edited_rows": {1: {"脱敏": False}}, "added_rows": [],
                                                   "deleted_rows": []}  # fmt: skip
    at = _ok(at.run())
    name, data = _download(at, media, "dl_txt")
    text = data.decode("utf-8")
    assert name.endswith("-publication.txt") and "13812345678" not in text and "a.b@court.cn" in text, text
    [row] = Store(env / "wb.duckdb").audit_rows(hearing_id=hearing_id, action=audit.EXPORTED)
    assert row.detail["redact"] == "publication" and len(row.detail["kept"]) == 1
    assert "13812345678" in Store(env / "wb.duckdb").segments(hearing_id)[0].text  # the stored text is unchanged


def test_system_forms_save_the_settings(env: Path, people: People, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("cpu_threads", "batch_size", "engine", "language", "speakers", "diarize", "itn"):
        monkeypatch.delenv(settings.REGISTRY[name].env, raising=False)  # the environment would win over the form
    at = _ok(_app("pages/system.py", who=people.admin).run())
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
    changed = Store(env / "wb.duckdb").audit_rows(action=audit.SETTING_CHANGED)
    assert all(r.account == "admin1" for r in changed) and len(changed) == 2, changed
    assert changed[0].detail["changed"]["engine"] == [settings.REGISTRY["engine"].default, "funasr"]
    [words] = Store(env / "wb.duckdb").audit_rows(action=audit.HOTWORDS_CHANGED)
    assert words.account == "admin1"
    at = _ok(_app("pages/system.py", who=people.admin).run())  # a fresh visit shows what was saved
    assert next(sb for sb in at.selectbox if sb.label == "识别引擎").value == "funasr"
    assert next(n for n in at.number_input if n.label == "Whisper 批大小").value == 8


def store_hotwords(env: Path) -> list[tuple[str, float | None]]:
    return sorted((h.term, h.weight) for h in Store(env / "wb.duckdb").hotwords())


def test_system_imports_models_only_from_the_import_folder(env: Path, people: People, tmp_path: Path) -> None:
    folder = tmp_path / "import"  # the default import folder: <data_dir>/import
    folder.mkdir()
    (folder / "not-a-model").mkdir()
    (tmp_path / "outside").mkdir()
    (folder / "link-out").symlink_to(tmp_path / "outside")
    at = _ok(_app("pages/system.py", who=people.admin).run())
    assert not [t for t in at.text_input if "路径" in t.label], "no typed path"
    entry = next(sb for sb in at.selectbox if sb.label.startswith("导入目录中的条目"))
    assert entry.options == ["not-a-model"], "a link out of the import folder is not offered"
    entry.set_value("not-a-model")
    at.button(key="FormSubmitter:import_model-导入").click()
    at = _ok(at.run())
    assert at.error and "not-a-model" in _plain(at.error[0].value)
    assert not Store(env / "wb.duckdb").audit_rows(action=audit.MODEL_CHANGED)


def _queued(env: Path, by: Person, name: str = "U-9", file: Path = CLIP) -> int:
    store = Store(env / "wb.duckdb")
    [sub] = jobs.submit(
        store, [file], case_number=name, options=TranscribeOptions.from_settings(diarize=False), actor=by.actor
    )
    return sub.job_id


def test_upload_queue_cancels_and_retries_a_job(env: Path, people: People) -> None:
    job_id = _queued(env, people.clerk)
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    at.button(key=f"cancel_{job_id}").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.CANCELLED
    assert not [b for b in at.button if b.key == f"cancel_{job_id}"]
    at.button(key=f"retry_{job_id}").click()
    at = _ok(at.run())
    assert jobs.job(store, job_id).state == jobs.JobState.QUEUED
    assert [b for b in at.button if b.key == f"cancel_{job_id}"], "queued again, it can be cancelled again"
    changes = Store(env / "wb.duckdb").audit_rows(action=audit.JOB_CHANGED)
    assert [r.account for r in changes][:2] == ["clerk1", "clerk1"]


def test_system_queue_cancels_and_retries_a_job_by_number(env: Path, people: People) -> None:
    job_id = _queued(env, people.clerk)
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/system.py", who=people.admin).run())
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


def test_a_corrupt_upload_fails_and_every_page_says_so(env: Path, people: People, tmp_path: Path) -> None:
    """Random bytes named .wav, through the upload form and the real job path (the real `transcribe`,
    which fails at decoding before any model loads): the clerk sees which file failed and why."""
    bad = tmp_path / "第三法庭-0930.wav"
    bad.write_bytes(bytes(range(256)) * 125)
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
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

    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    assert any(bad.name in _plain(m.value) for m in at.markdown), "the queue names the file"
    shown = [_plain(e.value) for e in at.error]
    assert any(v.startswith("失败：AudioError: ") and bad.name in v and reason in v for v in shown), shown
    assert [b for b in at.button if b.key == f"retry_{info.id}"], "a failed job offers a retry"

    at = _ok(_app("pages/hearings.py", who=people.clerk).run())
    table = at.dataframe[0].value
    assert table.loc[table["ID"] == info.hearing_id, "状态"].tolist() == ["转写失败"]

    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(info.hearing_id)).run())
    shown = [_plain(e.value) for e in at.error]
    assert any(bad.name in v and reason in v for v in shown), shown

    at = _ok(_app("pages/system.py", who=people.admin).run())
    table = at.dataframe[1].value
    row = table.loc[table["任务"] == info.id]
    assert row["文件"].tolist() == [bad.name] and reason in row["错误"].tolist()[0]


def test_search_shows_results(hearing: int, people: People) -> None:
    at = _ok(_app("pages/search.py", who=people.viewer).run())
    at.text_input(key="q").set_value("country")
    next(b for b in at.button if b.label == "检索").click()
    at = _ok(at.run())
    html = " ".join(m.value for m in at.markdown)
    assert "<mark>country</mark>" in html
    assert "2 条结果" in " ".join(c.value for c in at.caption)


def test_search_shows_twenty_hits_then_more(env: Path, people: People) -> None:
    store = Store(env / "wb.duckdb")
    many = Transcript(
        file="many.wav",
        sha256="",
        duration=300.0,
        language="en",
        engine=EngineInfo("whisper", "whisper-base"),
        segments=[Segment(i * 5.0, i * 5.0 + 4.0, f"Exhibit number {i} was admitted.", "S1") for i in range(45)],
    )
    sub = jobs.submit(store, [CLIP], case_number="M-1", actor=people.clerk.actor)
    info = jobs.claim(store)
    assert info is not None and info.id == sub[0].job_id
    assert run_job(store, info, pipeline=lambda p, o, h: many).state == jobs.JobState.DONE
    at = _ok(_app("pages/search.py", who=people.clerk).run())
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


def test_hearings_list_filters(hearing: int, people: People) -> None:
    at = _ok(_app("pages/hearings.py", who=people.clerk).run())
    assert at.dataframe[0].value["案号"].tolist() == [CASE_A]
    at.pills(key="f_status").set_value(["checked"])
    at = _ok(at.run())
    assert not at.dataframe and at.info


def test_unload_empties_the_cache(env: Path, people: People) -> None:
    memory.unload_all()  # another test's leftovers
    memory.load(("test-model",), "test-model", env, lambda: bytearray(64 << 20))
    assert memory.loaded()
    at = _ok(_app(who=people.clerk).run())
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
        jobs.submit(
            rt.store,
            [CLIP],
            case_number="U-1",
            options=TranscribeOptions.from_settings(diarize=False),
            actor=console_access(rt.store).actor,
        )
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


def test_gauge_shows_the_floor_to_the_megabyte(env: Path, people: People) -> None:
    from workbench.web import cache

    at = _ok(_app(who=people.clerk).run())
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
        rt.store.add_case("R-1", actor=console_access(rt.store).actor)
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


# -- who may see and do what ------------------------------------------------------------------------------------

ALL_PAGES = [f"pages/{p.file}" for pages in nav.SECTIONS.values() for p in pages]
LINK = "[重新登录](http://x)"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_without_a_session_every_page_refuses(page: str, env: Path, people: People, hearing: int) -> None:
    # the page file alone (no router), no token: a message and a sign-in link, nothing of the store
    at = _ok(_page(page, who=None, hearing=str(hearing)).run())
    assert [w.value for w in at.warning] == [ENDED]
    assert not at.title and not at.dataframe and not at.text_area and not at.text_input and not at.selectbox
    assert CASE_A not in _shown(at)
    # an ended session is no session
    Sessions(Store(env / "wb.duckdb")).end(people.admin.token, people.admin.actor)
    at = _ok(_page(page, who=people.admin, hearing=str(hearing)).run())
    assert [w.value for w in at.warning] == [ENDED] and CASE_A not in _shown(at)


def test_without_a_session_the_router_draws_nothing(env: Path, hearing: int) -> None:
    at = _ok(_app(who=None).run())
    assert [w.value for w in at.warning] == [ENDED]
    assert not at.dataframe and not at.sidebar.button and CASE_A not in _shown(at)


def test_a_clerk_sees_only_their_cases_hearings(people: People, hearing: int, other_hearing: int) -> None:
    at = _ok(_app("pages/hearings.py", who=people.clerk).run())
    assert at.dataframe[0].value["ID"].tolist() == [hearing]
    assert at.selectbox(key="f_case").options == [CASE_A]
    at = _ok(_app("pages/hearings.py", who=people.other).run())
    assert at.dataframe[0].value["ID"].tolist() == [other_hearing]
    at = _ok(_app("pages/hearings.py", who=people.admin).run())
    assert sorted(at.dataframe[0].value["ID"].tolist()) == sorted([hearing, other_hearing])

    at = _ok(_app("pages/review.py", who=people.clerk).run())  # the picker
    [picker] = at.selectbox
    assert len(picker.options) == 1 and picker.options[0].startswith(f"#{hearing} · {CASE_A}")


def test_another_cases_hearing_answers_like_a_missing_one(
    env: Path, people: People, hearing: int, other_hearing: int
) -> None:
    refused = []
    for hearing_id in (other_hearing, 999_999):
        at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing_id)).run())
        refused.append([e.value for e in at.error])
        assert CASE_B not in _shown(at) and ONLY_IN_B not in _shown(at)
        assert not at.text_area and not at.download_button and _desk(at) is None
    assert refused == [[HEARING_NOT_YOURS], [HEARING_NOT_YOURS]], "the same words for missing and not yours"
    opened = Store(env / "wb.duckdb").audit_rows(action=audit.HEARING_OPENED)
    assert not [r for r in opened if r.account == "clerk1"]
    at = _ok(_app("pages/review.py", who=people.other, hearing=str(other_hearing)).run())
    assert at.title[0].value == CASE_B


def test_a_word_only_in_another_case_finds_nothing(people: People, hearing: int, other_hearing: int) -> None:
    def search(who: Person) -> AppTest:
        at = _ok(_app("pages/search.py", who=who).run())
        at.text_input(key="q").set_value(ONLY_IN_B)
        next(b for b in at.button if b.label == "检索").click()
        return _ok(at.run())

    at = search(people.clerk)
    assert next(c.value for c in at.caption if "条结果" in c.value).startswith("0 条结果")
    assert ONLY_IN_B not in _shown(at) and CASE_B not in _shown(at)
    assert at.selectbox(key="s_case").options == [CASE_A]
    at = search(people.other)
    assert next(c.value for c in at.caption if "条结果" in c.value).startswith("1 条结果")


def test_a_viewer_reads_plays_and_exports_but_gets_no_edit_widgets(env: Path, people: People, hearing: int) -> None:
    at = _ok(_app("pages/review.py", who=people.viewer, hearing=str(hearing)).run())
    assert at.title[0].value == CASE_A
    assert not at.text_area and not at.text_input
    assert not [sb for sb in at.selectbox if sb.key and sb.key.startswith("spk_")]
    assert not [b for b in at.button if b.label in ("标记已核对", "撤销核对")]
    assert _desk(at)["may_edit"] is False  # type: ignore[index]  # the desk reads and plays; the API refuses writes
    assert at.download_button(key="dl_docx"), "a viewer may export"
    at.session_state[f"view_{hearing}"] = "speakers"
    at = _ok(at.run())
    assert not at.text_input and not [b for b in at.button if "保存说话人" in b.label]
    at = _ok(_page("pages/upload.py", who=people.viewer).run())
    assert [e.value for e in at.error] == [PAGE_REFUSED] and not at.text_input and not at.button
    assert Store(env / "wb.duckdb").edits(hearing_id=hearing) == []


@pytest.mark.parametrize("page", ["pages/system.py", "pages/users.py", "pages/audit.py", "pages/members.py"])
def test_admin_pages_refuse_others_run_directly(page: str, people: People, hearing: int) -> None:
    for who in (people.clerk, people.viewer, people.judge):
        if page == "pages/members.py" and who is people.judge:
            continue  # a judge manages the members of their cases
        at = _ok(_page(page, who=who).run())
        assert [e.value for e in at.error] == [PAGE_REFUSED], (page, who.name)
        assert not at.text_input and not at.text_area and not at.button and not at.dataframe and not at.selectbox
    at = _ok(_page(page, who=people.admin).run())
    assert not at.error


def test_the_navigation_lists_only_the_pages_a_role_may_open() -> None:
    def urls(role: Role) -> set[str]:
        return {p.url_path for pages in nav.pages_for(role).values() for p in pages}

    admin_only = {"system", "users", "audit"}
    assert admin_only <= urls(Role.ADMIN) and "members" in urls(Role.ADMIN)
    assert not admin_only & urls(Role.JUDGE) and "members" in urls(Role.JUDGE)
    assert not (admin_only | {"members"}) & urls(Role.CLERK) and "upload" in urls(Role.CLERK)
    assert urls(Role.VIEWER) == {"hearings", "review", "search"}
    assert all(p.admin_only for p in (nav.SYSTEM, nav.USERS, nav.AUDIT))


def test_a_non_admin_switching_to_an_admin_page_gets_none(people: People) -> None:
    for page in ("pages/system.py", "pages/users.py", "pages/audit.py", "pages/members.py"):
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            _app(page, who=people.clerk)  # the router never registered it for a clerk
    _ok(_app("pages/members.py", who=people.judge).run())


def test_stored_markdown_and_html_show_as_text(env: Path, people: People) -> None:
    hearing_id = _stored(env, people.clerk, LINK, courtroom="<b>第三法庭</b>", clerk="*王* `x`")
    md = MarkdownIt("commonmark", {"html": True})
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=str(hearing_id)).run())
    title = at.title[0].value
    assert _plain(title) == LINK
    assert "<a" not in md.render(title) and "http://" not in title  # nor a GFM autolink
    caption = at.caption[0].value
    assert "<b>" not in md.render(caption) and "<em>" not in md.render(caption) and "<code>" not in md.render(caption)
    assert "&lt;b&gt;第三法庭" in md.render(caption)

    at = _ok(_app("pages/search.py", who=people.clerk).run())
    at.text_input(key="q").set_value("country")
    next(b for b in at.button if b.label == "检索").click()
    at = _ok(at.run())
    cards = [m.value for m in at.markdown if "<mark>" in m.value]
    assert cards and all("<a" not in md.render(c) and "http://" not in c for c in cards)
    assert LINK in _plain(cards[0])


@pytest.mark.parametrize("raw", ["nan", "-1", "0", "1e3", "abc", "99999999999999999999999", "１"])
def test_a_garbled_hearing_id_gets_a_clear_message(raw: str, people: People, hearing: int) -> None:
    at = _ok(_app("pages/review.py", who=people.clerk, hearing=raw).run())
    assert at.error and _plain(at.error[0].value).startswith("庭审编号无效"), [e.value for e in at.error]
    assert not at.text_area


def test_a_garbled_time_is_named_and_the_hearing_still_opens(people: People, hearing: int) -> None:
    app = _app("pages/review.py", who=people.clerk, hearing=str(hearing))
    app.query_params["t"] = "abc"
    at = _ok(app.run())
    assert at.warning and _plain(at.warning[0].value).startswith("播放位置无效")
    assert at.title[0].value == CASE_A and _desk(at)["start_at"] is None  # type: ignore[index]


def test_opening_a_hearing_is_audited_once_per_session(env: Path, people: People, hearing: int) -> None:
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/review.py", who=people.viewer, hearing=str(hearing)).run())
    at = _ok(at.run())
    at.session_state[f"view_{hearing}"] = "timeline"  # another run of the page: a view chosen
    _ok(at.run())
    opened = store.audit_rows(action=audit.HEARING_OPENED, hearing_id=hearing)
    assert [(r.account, r.case_id) for r in opened] == [("viewer1", store.case(CASE_A).id)]


def test_audio_is_served_only_through_the_checked_route(env: Path, people: People, hearing: int) -> None:
    store = Store(env / "wb.duckdb")
    recording = store.recordings(hearing)[0]
    at = _app("pages/review.py", who=people.viewer, hearing=str(hearing))
    at.session_state[f"view_{hearing}"] = "timeline"
    at = _ok(at.run())
    urls = [a.proto.url for a in at.get("audio")]
    assert urls and all(f"/audio/{recording.id}?" in u and "/media/" not in u for u in urls), urls
    at.session_state[f"view_{hearing}"] = "speakers"
    at = _ok(at.run())
    urls = [a.proto.url for a in at.get("audio")]
    assert len(urls) >= 2 and all(f"/audio/{recording.id}?" in u for u in urls), "the player and the samples"


@pytest.mark.parametrize("page", ALL_PAGES)
def test_every_text_box_has_a_cap(page: str, people: People, hearing: int) -> None:
    at = _ok(_app(page, who=people.admin, **({"hearing": str(hearing)} if page == "pages/review.py" else {})).run())
    boxes = [*at.text_input, *at.text_area]
    assert all(box.max_chars for box in boxes), [(b.label, b.max_chars) for b in boxes if not b.max_chars]


def test_upload_into_another_clerks_case_is_refused(env: Path, people: People, other_hearing: int) -> None:
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    assert CASE_B not in at.selectbox(key="case_choice").options
    at.text_input(key="case_number").set_value(CASE_B)
    at.text_area(key="server_paths").set_value(str(CLIP))
    at = _ok(at.run())
    before = len(jobs.jobs(Store(env / "wb.duckdb")))
    at.button(key="submit").click()
    at = _ok(at.run())
    assert at.error and "不是其成员" in _plain(at.error[0].value)
    assert len(jobs.jobs(Store(env / "wb.duckdb"))) == before


def test_the_clerk_box_defaults_to_the_accounts_name(people: People) -> None:
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    assert at.text_input(key="clerk").value == "王书记员"


def test_the_queue_lists_only_the_accounts_cases_jobs(env: Path, people: People, tmp_path: Path) -> None:
    job_id = _queued(env, people.clerk, "U-1")
    at = _ok(_app("pages/upload.py", who=people.other).run())
    assert not [b for b in at.button if b.key in (f"cancel_{job_id}", f"retry_{job_id}")]
    assert "U-1" not in _shown(at)
    at = _ok(_app("pages/upload.py", who=people.clerk).run())
    assert at.button(key=f"cancel_{job_id}")


def test_users_page_adds_a_user_with_a_one_time_password(env: Path, people: People) -> None:
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/users.py", who=people.admin).run())
    at.text_input(key="new_name").set_value("zhao")
    at.text_input(key="new_display").set_value("<img src=x onerror=alert(1)> 赵")
    at.selectbox(key="new_role").set_value(Role.VIEWER)
    at.button(key="FormSubmitter:add_user-添加").click()
    at = _ok(at.run())
    [code] = at.code
    password = code.value
    account = sign_in(store, "zhao", password, "127.0.0.1")
    assert account.role is Role.VIEWER and account.must_change
    table = at.dataframe[0].value
    assert table.loc[table["用户名"] == "zhao", "显示名"].tolist() == ["<img src=x onerror=alert(1)> 赵"]
    at = _ok(at.run())
    assert not at.code, "shown once"
    assert password not in str({k: at.session_state[k] for k in at.session_state}), "never kept in the session"

    at.selectbox(key="target_user").set_value("zhao")
    at.selectbox(key="target_role").set_value(Role.CLERK)
    at.button(key="FormSubmitter:change_user-改为此角色").click()
    at = _ok(at.run())
    assert Accounts(store).get("zhao").role is Role.CLERK
    at.selectbox(key="target_user").set_value("zhao")
    at.button(key="FormSubmitter:change_user-重置密码").click()
    at = _ok(at.run())
    [code] = at.code
    assert code.value != password and sign_in(store, "zhao", code.value, "127.0.0.1").must_change
    at.selectbox(key="target_user").set_value("zhao")
    at.button(key="FormSubmitter:change_user-停用").click()
    at = _ok(at.run())
    assert Accounts(store).get("zhao").disabled
    actions = [r.action for r in store.audit_rows(account="admin1")]
    assert audit.USER_ADDED in actions and audit.USER_CHANGED in actions and audit.PASSWORD_CHANGED in actions

    at.text_input(key="new_name").set_value("bad name<script>")
    at.button(key="FormSubmitter:add_user-添加").click()
    at = _ok(at.run())
    assert at.error and not at.code


def test_audit_page_verifies_the_chain_and_names_an_altered_row(env: Path, people: People, hearing: int) -> None:
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/audit.py", who=people.admin).run())
    at.button(key="verify").click()
    at = _ok(at.run())
    assert at.success and at.success[0].value.startswith("校验通过 (OK)")
    at.selectbox(key="a_user").set_value("clerk1")
    at = _ok(at.run())
    assert set(at.dataframe[0].value["用户"]) == {"clerk1"}
    at.selectbox(key="a_user").set_value(None)
    at.selectbox(key="a_action").set_value(audit.UPLOADED)
    at = _ok(at.run())
    assert set(at.dataframe[0].value["操作"]) == {audit.UPLOADED}

    with store.writing() as con:  # plain SQL on the file, as an intruder would
        con.execute("UPDATE audit SET account = 'nobody' WHERE id = 2")
    at.button(key="verify").click()
    at = _ok(at.run())
    assert at.error and _plain(at.error[0].value).startswith("校验失败 (chain broken)：第 2 行")


def test_members_page_a_judge_grants_and_revokes_on_their_case(
    env: Path, people: People, hearing: int, other_hearing: int
) -> None:
    store = Store(env / "wb.duckdb")
    at = _ok(_app("pages/members.py", who=people.judge).run())
    assert at.selectbox(key="m_case").options == [CASE_A], "only the judge's own cases"
    assert set(at.dataframe[0].value["用户名"]) == {"clerk1", "viewer1", "judge1"}
    at.text_input(key="m_grant_name").set_value("clerk2")
    at.button(key="FormSubmitter:grant-添加成员").click()
    at = _ok(at.run())
    assert "clerk2" in set(at.dataframe[0].value["用户名"])
    at2 = _ok(_app("pages/hearings.py", who=people.other).run())
    assert sorted(at2.dataframe[0].value["ID"].tolist()) == sorted([hearing, other_hearing])

    at.selectbox(key="m_revoke_name").set_value("clerk2")
    at.button(key="FormSubmitter:revoke-移除成员").click()
    at = _ok(at.run())
    assert "clerk2" not in set(at.dataframe[0].value["用户名"])
    at2 = _ok(_app("pages/hearings.py", who=people.other).run())
    assert at2.dataframe[0].value["ID"].tolist() == [other_hearing]
    rows = store.audit_rows(account="judge1")
    assert [r.action for r in rows][:2] == [audit.MEMBER_REMOVED, audit.MEMBER_ADDED]

    at.text_input(key="m_grant_name").set_value("nobody-here")
    at.button(key="FormSubmitter:grant-添加成员").click()
    at = _ok(at.run())
    assert at.error


@pytest.mark.parametrize(
    "stored",
    [LINK, "<b>粗体</b>", "# 标题", "1. 列表", "- x", "> 引用", "*斜* _体_ `代码`", "$x^2$", ":red[红] :material/home:",
     "www.example.com a@b.co http://x", "a | b", "~~删~~", "![img](http://x/i.png)", "&amp; &#91;",
     "第一行\n\n# 第二行", "\u202eRTL\u202c", "x\x00y"],
)  # fmt: skip
def test_md_escape_shows_stored_text_as_itself(stored: str) -> None:
    from workbench.display import highlight, md_escape

    escaped = md_escape(stored)
    rendered = MarkdownIt("commonmark", {"html": True}).render(escaped)
    for tag in ("<a", "<b>", "<em>", "<code>", "<h1", "<ol", "<ul", "<blockquote", "<img", "<del", "<p>\n<p>"):
        assert tag not in rendered, (stored, rendered)
    assert "\n" not in escaped and "\x00" not in escaped
    expected = "".join(" " if ord(c) < 0x20 or 0x202A <= ord(c) <= 0x202E else c for c in stored)
    assert html.unescape(escaped) == expected
    assert rendered.count("<p>") == 1, "one paragraph: no line of it starts a block"
    marked = highlight(stored + " country", [(len(stored) + 1, len(stored) + 8)])
    assert marked.endswith("<mark>country</mark>") and marked.count("<") == 2


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("", None), ("7", 7), (" 12 ", 12), ("nan", ValueError), ("-1", ValueError), ("0", ValueError),
     ("1.5", ValueError), ("1e3", ValueError), ("９", ValueError), (str(2**63), ValueError),
     ("[x](http://y)", ValueError)],
)  # fmt: skip
def test_hearing_param(raw: str | None, expected: int | type[Exception] | None) -> None:
    from workbench.web.pagedata import hearing_param

    if expected is ValueError:
        with pytest.raises(ValueError, match="庭审编号无效"):
            hearing_param(raw)
    else:
        assert hearing_param(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("12.5", 12.5), ("0", 0.0), ("abc", ValueError), ("nan", ValueError), ("inf", ValueError),
     ("-3", ValueError)],
)  # fmt: skip
def test_seconds_param(raw: str | None, expected: float | type[Exception] | None) -> None:
    from workbench.web.pagedata import seconds_param

    if expected is ValueError:
        with pytest.raises(ValueError, match="播放位置无效"):
            seconds_param(raw)
    else:
        assert seconds_param(raw) == expected


def test_the_readme_key_table_is_the_desks_own() -> None:
    from workbench.web import desk_component

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = desk_component.README_MARKERS
    assert readme.split(start, 1)[1].split(end, 1)[0].strip() == desk_component.keys_markdown().strip(), (
        "run `python -m workbench.web.desk_component`"
    )
