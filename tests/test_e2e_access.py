"""Who sees what, in a real headless Chromium: sign-in required, per-case access, search, lockout, viewers.

One `workbench serve --http` for the module, on 127.0.0.1, over a store made before it starts through the
store API: two cases with one transcribed hearing each (`Store.save_transcript`, no models) and a recording
row pointing at a real short clip from ../shared/testdata, and real accounts (argon2): an admin, clerk A
(member of case A), clerk B (member of case B), a viewer of case A, an account that must change its
password, and one to lock. One browser; each user signs in in a fresh context (its own cookies).

The lockout test runs last on purpose: 5 failures from one address also lock that address (127.0.0.1,
every test's) for 15 minutes, and no other test here may fail a sign-in before it, or the address would
lock before the account does. It stops the server and checks both locks in the store afterwards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest
from browser import (
    ARGS,
    CHROMIUM,
    PASSWORD_PATH,
    SHOTS,
    SIGNIN_PATH,
    idle,
    new_context,
    sign_in,
    sign_out,
    submit_sign_in,
)
from conftest import clip, require_tool
from servers import PASSWORD, free_port, make_account, setup_actor, start_server, stop_server

from workbench.accounts import HEARING_NOT_YOURS

pytestmark = pytest.mark.e2e

CASE_A = "（2025）京0105民初101号"
CASE_B = "（2025）京0105民初202号"
WORD_A = "aardvark"  # occurs only in case A's transcript
WORD_B = "zanzibar"  # occurs only in case B's transcript
TEXT_A = ["现在开庭，请原告陈述诉讼请求。", f"原告提交证据一 {WORD_A} 合同原件。", "被告对证据的真实性没有异议。"]
TEXT_B = ["请被告进行答辩。", f"被告提交的 {WORD_B} 发票金额有误。", "本庭休庭十分钟。"]
CLIP_A = clip("zh_aishell1_BAC009S0764W0121.wav")
CLIP_B = clip("zh_aishell1_BAC009S0724W0121.wav")
NEW_PASSWORD = "brand-new-Pass-77"

ADMIN, CLERK_A, CLERK_B, VIEWER, NEWBIE, LOCKED = "admin1", "clerk_a", "clerk_b", "viewer_a", "newbie", "locked_c"
PAGES = ["/", "/hearings", "/upload", "/review?hearing=1", "/search", "/system", "/users", "/audit", "/members"]
REFUSED = (401, 403, 404)
# Opens the app's websocket from the page; says "open", or "closed <code>" when the server refuses it.
WEBSOCKET_JS = """() => new Promise(done => {
    const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/_stcore/stream");
    ws.onopen = () => { done("open"); ws.close(); };
    ws.onclose = e => done("closed " + e.code);
    setTimeout(() => done("no answer in 10 s"), 10000);
})"""


@dataclass(frozen=True)
class World:
    url: str
    data: Path
    proc: object  # the server's Popen
    hearing_a: int
    hearing_b: int
    recording_b: int


def _transcript(texts: list[str], duration: float):  # type: ignore[no-untyped-def]
    """A Transcript as the worker stores one, without models (like bench/search.py's `transcript()`)."""
    from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript

    step = duration / len(texts)
    segments = [Segment(round(i * step, 2), round((i + 1) * step, 2), t, "S1") for i, t in enumerate(texts)]
    return Transcript(
        file="e2e.wav",
        sha256="0" * 64,
        duration=duration,
        language="zh",
        engine=EngineInfo("whisper", "e2e"),
        segments=segments,
        speakers=[SpeakerSummary("S1", duration, 0.0)],
    )


def _hearing(store, case_number: str, recording: Path, texts: list[str]) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    """A case with one transcribed hearing and its recording; returns (hearing id, recording id)."""
    case = store.add_case(case_number, actor=setup_actor())
    hearing_id = store.add_hearing(case.id, starts_at=datetime(2025, 3, 4, 9, 30), courtroom="第一法庭")
    sha, stored = store.store_audio(recording)
    with store.writing() as con:
        recording_id = store.add_recording(
            hearing_id, file_name=recording.name, stored_path=stored, sha256=sha, duration=4.2, format="wav", con=con
        )
    store.save_transcript(hearing_id, _transcript(texts, 4.2))
    return hearing_id, recording_id


def _fill(data: Path) -> tuple[int, int, int]:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store

    with Store(data / "workbench.duckdb") as store:
        for name, role in {
            ADMIN: "admin",
            CLERK_A: "clerk",
            CLERK_B: "clerk",
            VIEWER: "viewer",
            LOCKED: "clerk",
        }.items():
            make_account(store, name, role)
        make_account(store, NEWBIE, "clerk", must_change=True)
        hearing_a, _ = _hearing(store, CASE_A, CLIP_A, TEXT_A)
        hearing_b, recording_b = _hearing(store, CASE_B, CLIP_B, TEXT_B)
        admin = Access(store, Accounts(store).get(ADMIN), "test")
        for case, name in ((CASE_A, CLERK_A), (CASE_A, VIEWER), (CASE_A, NEWBIE), (CASE_B, CLERK_B)):
            admin.grant(case, name)
    return hearing_a, hearing_b, recording_b


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_tool(CHROMIUM, install="apt-get install chromium")
    data = tmp_path_factory.mktemp("e2e-access")
    hearing_a, hearing_b, recording_b = _fill(data)
    port = free_port()
    proc = start_server(data, port)
    try:
        yield World(f"http://127.0.0.1:{port}", data, proc, hearing_a, hearing_b, recording_b)
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """A fresh browser context per test; its pages' last state is saved under test-artifacts/screenshots."""
    ctx = new_context(browser)
    yield ctx
    SHOTS.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(ctx.pages):
        try:
            page.screenshot(path=str(SHOTS / f"access-{request.node.name}-{i}.png"), full_page=True, timeout=5000)
        except Exception as e:  # a screenshot is a help for reading a failure, never a failure of its own
            print(f"no screenshot of {page.url}: {e}")
    ctx.close()


def main_text(page) -> str:  # type: ignore[no-untyped-def]
    """The text of the whole page: text boxes' values included, and the review desk's (in its shadow root, which
    the body's own text leaves out; Playwright's locators reach into it)."""
    values = page.locator("textarea, input").evaluate_all("els => els.map(e => e.value || '').join('\\n')")
    desk = "\n".join(page.locator("[data-testid=wbDesk]").all_inner_texts())
    return page.locator("body").inner_text() + "\n" + values + "\n" + desk


def signin_form_shown(page) -> bool:  # type: ignore[no-untyped-def]
    return urlparse(page.url).path == SIGNIN_PATH and page.locator("input[name='password']").count() == 1


# --- (a) not signed in ------------------------------------------------------------------------------------------


def test_every_page_is_the_sign_in_form_without_a_session(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    for path in PAGES:
        page.goto(f"{world.url}{path}")
        page.wait_for_load_state()
        assert signin_form_shown(page), f"{path} → {page.url}"
        text = main_text(page)
        for secret in (CASE_A, CASE_B, WORD_A, WORD_B, "第一法庭"):
            assert secret not in text, f"{path} shows {secret!r} before sign-in"
        assert page.locator("[data-testid='stApp']").count() == 0, f"{path} drew the app before sign-in"
    # Without following the redirect: a page answers 303 to /signin, anything else 401.
    for path in PAGES:
        r = context.request.get(f"{world.url}{path}", headers={"Accept": "text/html"}, max_redirects=0)
        assert r.status == 303 and urlparse(r.headers["location"]).path == SIGNIN_PATH, (path, r.status)
    for path in (f"/audio/{world.recording_b}?start=0&dur=2", "/media/0123456789abcdef.wav", "/_stcore/host-config"):
        r = context.request.get(f"{world.url}{path}", max_redirects=0)
        assert r.status in REFUSED, (path, r.status)
    # The app's websocket does not open without a session (the signed-in tests show it opens with one).
    opened = page.evaluate(WEBSOCKET_JS)
    assert opened.startswith("closed"), opened


def test_audio_and_download_urls_refuse_after_sign_out(world: World, browser, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    sign_in(page, world.url, CLERK_A, next_path=f"/review?hearing={world.hearing_a}")
    page.get_by_role("heading", name=CASE_A).first.wait_for()
    audio = page.locator("[data-testid=wbDeskAudio][src]")  # the desk's player, its window of the recording set
    audio.wait_for(state="attached")
    audio_url = urljoin(world.url, audio.get_attribute("src") or "")
    assert urlparse(audio_url).path.startswith("/audio/"), audio_url  # never a /media/ URL for audio
    page.get_by_role("button", name="导出 Export").click()
    with page.expect_download() as download:
        page.get_by_role("button", name="Word 笔录").click()
    media_url = download.value.url
    assert urlparse(media_url).path.startswith("/media/"), media_url
    # While signed in both answer: the URLs are real.
    played = context.request.get(audio_url, max_redirects=0)
    assert played.status == 200 and played.body()[:4] == b"RIFF", played.status
    assert context.request.get(media_url, max_redirects=0).status == 200

    # A fresh browser (no cookie) and the same browser after signing out are refused.
    stranger = new_context(browser)
    try:
        for url in (audio_url, media_url):
            assert stranger.request.get(url, max_redirects=0).status in REFUSED, url
    finally:
        stranger.close()
    # Another signed-in account (a member of case A too: the viewer) gets neither the clerk's file nor,
    # through it, the record: an exported file's URL answers the session it was made for alone.
    other = new_context(browser)
    try:
        sign_in(other.new_page(), world.url, VIEWER)
        assert other.request.get(media_url, max_redirects=0).status == 404, media_url
        assert other.request.get(audio_url, max_redirects=0).status == 200  # a member's audio: theirs too
    finally:
        other.close()
    sign_out(page, world.url)
    for url in (audio_url, media_url):
        assert context.request.get(url, max_redirects=0).status in REFUSED, url
    page.goto(f"{world.url}/review?hearing={world.hearing_a}")
    assert signin_form_shown(page), page.url


# --- (b) (c) (d) a clerk sees only their case ----------------------------------------------------------------


def test_clerk_sees_only_their_case(world: World, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, world.url, CLERK_A, next_path="/hearings")
    table = page.locator("[data-testid='stDataFrame']").first
    expect(table).to_contain_text(CASE_A)
    assert CASE_B not in main_text(page)
    assert CASE_B not in table.inner_text()

    page.goto(f"{world.url}/review")
    idle(page)
    page.get_by_role("combobox", name="选择庭审 Hearing").click()
    options = page.get_by_role("option")
    expect(options.first).to_be_visible()
    names = options.all_inner_texts()
    assert any(f"#{world.hearing_a} · " in n for n in names), names
    assert not any(f"#{world.hearing_b} " in n or CASE_B in n for n in names), names


def test_admin_sees_both_cases(world: World, context) -> None:  # type: ignore[no-untyped-def]
    """The control for the clerk's tests: case B is there to be seen, and its word is found."""
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, world.url, ADMIN, next_path="/hearings")
    table = page.locator("[data-testid='stDataFrame']").first
    expect(table).to_contain_text(CASE_A)
    expect(table).to_contain_text(CASE_B)
    search(page, world.url, WORD_B)
    expect(page.locator("mark").first).to_have_text(WORD_B)


def test_another_cases_hearing_url_says_not_found_or_not_yours(world: World, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, world.url, CLERK_A, next_path=f"/review?hearing={world.hearing_b}")
    expect(page.get_by_text(HEARING_NOT_YOURS).first).to_be_visible()
    text = main_text(page)
    for secret in (CASE_B, WORD_B, *TEXT_B):
        assert secret not in text, f"another case's hearing shows {secret!r}"
    assert page.locator("textarea").count() == 0 and page.locator("audio").count() == 0
    # A hearing that does not exist answers the same, word for word; garbage gets a message, not a traceback.
    page.goto(f"{world.url}/review?hearing=999999")
    idle(page)
    expect(page.get_by_text(HEARING_NOT_YOURS).first).to_be_visible()
    page.goto(f"{world.url}/review?hearing=nan")
    idle(page)
    assert "Traceback" not in main_text(page) and page.locator("[data-testid='stException']").count() == 0
    # Its audio is refused to clerk A's session, as a missing one is.
    assert context.request.get(f"{world.url}/audio/{world.recording_b}?start=0&dur=2").status == 404
    assert context.request.get(f"{world.url}/audio/999999?start=0&dur=2").status == 404


def search(page, url: str, query: str) -> None:  # type: ignore[no-untyped-def]
    page.goto(f"{url}/search")
    idle(page)
    page.get_by_role("textbox", name="关键词 Query", exact=True).fill(query)
    page.get_by_role("button", name="检索").click()
    idle(page)
    page.get_by_text(re.compile(r"\d+\+? 条结果")).first.wait_for()


def test_a_word_only_in_another_case_finds_nothing(world: World, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, world.url, CLERK_A, next_path="/search")
    search(page, world.url, WORD_A)  # the control: clerk A's own word is found
    expect(page.locator("mark").first).to_have_text(WORD_A)

    search(page, world.url, WORD_B)
    assert page.locator("mark").count() == 0
    text = main_text(page)
    counts = re.findall(r"(\d+)\+? 条结果", text)
    assert counts == ["0"], f"clerk A's search for case B's word reports {counts}"
    for secret in (CASE_B, f"庭审 #{world.hearing_b}", TEXT_B[1]):
        assert secret not in text, f"the search shows {secret!r}"
    assert page.locator("a[href*='hearing=']").count() == 0


# --- (f) a viewer reads but does not edit -------------------------------------------------------------------


def test_viewer_sees_the_transcript_but_no_edit_widget(world: World, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = context.new_page()
    sign_in(page, world.url, VIEWER, next_path=f"/review?hearing={world.hearing_a}")
    expect(page.get_by_role("heading", name=CASE_A).first).to_be_visible()
    page.wait_for_selector("[data-testid=wbDesk][data-ready='1']")
    text = main_text(page)
    for line in TEXT_A:
        assert line in text, f"the viewer does not see {line!r}"
    assert page.locator("[data-testid=wbDesk] [contenteditable]").count() == 0, "the desk is read-only for a viewer"
    editable = page.locator(
        "[data-testid='stMain'] textarea:not([disabled]), [data-testid='stMain'] input:not([disabled])"
        ":not([data-testid=wbDeskFindText]):not([data-testid=wbDeskMatchCase])"  # finding is reading
    )
    assert editable.count() == 0, editable.evaluate_all("els => els.map(e => e.outerHTML.slice(0, 200))")
    for label in ("标记已核对", "撤销核对", "保存说话人"):
        assert page.get_by_role("button", name=label).count() == 0, label
    expect(page.locator("audio").first).to_be_attached()  # a viewer may play
    expect(page.locator("[data-testid='stSidebarNav']").get_by_text("上传录音")).to_have_count(0)


# --- first sign-in with a password an admin set ----------------------------------------------------------------


def test_first_sign_in_forces_a_password_change(world: World, browser, context) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = context.new_page()
    submit_sign_in(page, world.url, NEWBIE, PASSWORD)
    assert urlparse(page.url).path == PASSWORD_PATH, page.url
    # No page before the change: the app sends every page back to the form.
    page.goto(f"{world.url}/hearings")
    assert urlparse(page.url).path == PASSWORD_PATH, page.url
    change_password(page, PASSWORD, NEW_PASSWORD)
    page.wait_for_url(lambda u: urlparse(u).path not in (SIGNIN_PATH, PASSWORD_PATH), timeout=15_000)
    idle(page)
    page.goto(f"{world.url}/hearings")
    idle(page)
    expect(page.locator("[data-testid='stDataFrame']").first).to_contain_text(CASE_A)
    # A fresh browser signs in with the new password, straight to the pages. (The old one is not tried here:
    # a failed sign-in would count against 127.0.0.1 before the lockout test.)
    other = new_context(browser)
    try:
        fresh = other.new_page()
        sign_in(fresh, world.url, NEWBIE, NEW_PASSWORD, next_path="/hearings")  # the default page: shown at /
        expect(fresh.locator("[data-testid='stDataFrame']").first).to_contain_text(CASE_A)
    finally:
        other.close()


def change_password(page, old: str, new: str) -> None:  # type: ignore[no-untyped-def]
    """Fills the `/password` form (current password when it asks, new one twice) and submits it."""
    fields = page.locator("form input[type='password']")
    count = fields.count()
    assert count in (2, 3), f"the password form has {count} password fields"
    values = [old, new, new] if count == 3 else [new, new]
    for i, value in enumerate(values):
        fields.nth(i).fill(value)
    with page.expect_response(lambda r: urlparse(r.url).path == PASSWORD_PATH and r.request.method == "POST"):
        fields.nth(count - 1).press("Enter")
    page.wait_for_load_state()


# --- (e) lockout: LAST in this module (it locks 127.0.0.1 too) -----------------------------------------------


def test_six_wrong_passwords_lock_the_account(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    said = []
    for attempt in range(1, 7):
        submit_sign_in(page, world.url, LOCKED, f"wrong-password-{attempt}")
        assert signin_form_shown(page), (attempt, page.url)
        said.append(page.locator("body").inner_text())
    assert all("锁定" not in s for s in said[:4]), said[:4]
    assert "锁定" in said[4], said[4]  # the 5th failure locks, and says so
    locked = f"账户 {LOCKED} 登录失败次数过多，已锁定"  # the account's lock, named (not only the address's)
    assert locked in said[5], said[5]
    submit_sign_in(page, world.url, LOCKED, PASSWORD)  # the right password, too late
    assert signin_form_shown(page), page.url
    assert locked in page.locator("body").inner_text()
    assert not [c for c in context.cookies() if c["name"] == "wb_session"], "a locked sign-in got a session"

    # The store says why: the account is locked wherever one signs in from, and this address for anyone.
    stop_server(world.proc)  # type: ignore[arg-type]
    from workbench.accounts import SignInRefused, signin
    from workbench.accounts import sign_in as store_sign_in
    from workbench.store import Store

    with Store(world.data / "workbench.duckdb") as store:
        with pytest.raises(SignInRefused) as refused:
            store_sign_in(store, LOCKED, PASSWORD, "10.9.8.7")
        assert refused.value.reason == signin.LOCKED_ACCOUNT
        with pytest.raises(SignInRefused) as refused:
            store_sign_in(store, CLERK_B, PASSWORD, "127.0.0.1")
        assert refused.value.reason == signin.LOCKED_ADDRESS
        assert store_sign_in(store, CLERK_B, PASSWORD, "10.9.8.7").name == CLERK_B
