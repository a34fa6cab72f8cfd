"""The review desk driven by keyboard only, in a real headless Chromium against a real server and store.

One `workbench serve --http` over a store made before it starts: a case with one hearing whose recording is
the pyannote sample (30 s of real speech) and whose transcript is laid on its RTTM turns (two speakers), each
character a word with a probability; one word of the third segment is below the `low_confidence` threshold.
A clerk of the case signs in (the one mouse-free step Playwright cannot skip is the sign-in form, typed too),
then only keys: play, slow down, jump to the low-confidence word, retype it, split the segment at the caret,
give the new half a speaker by number key, pause; reload: every change is kept and the desk is where it was;
the new word is found by search.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, SHOTS, idle, new_context, sign_in
from conftest import require_tool
from hearing_samples import SAMPLE_TEXT, transcript_from_rttm
from servers import free_port, make_account, setup_actor, start_server, stop_server

from workbench.speech.transcript import Segment, Word

pytestmark = pytest.mark.e2e

CASE = "（2025）京0105民初515号"
CLERK = "clerk_desk"
LOW_WORD = "原告"  # in SAMPLE_TEXT[2], "请原告陈述诉讼请求。": recognised with low probability
NEW_WORD = "上诉人"  # what the clerk types over it; nowhere else in the store
SPLIT_AFTER = "请" + NEW_WORD  # the caret is after the retyped word: Enter splits there


@dataclass(frozen=True)
class World:
    url: str
    data: Path
    hearing_id: int


def _with_words(segment: Segment, low: str | None) -> Segment:
    """Each character a word, spread over the segment; the characters of `low` get probability 0.2."""
    chars = list(segment.text)
    step = (segment.end - segment.start) / max(len(chars), 1)
    at = segment.text.find(low) if low else -1
    words = [
        Word(
            round(segment.start + i * step, 3),
            round(segment.start + (i + 1) * step, 3),
            ch,
            0.2 if at >= 0 and at <= i < at + len(low or "") else 0.95,
        )
        for i, ch in enumerate(chars)
    ]
    return Segment(segment.start, segment.end, segment.text, segment.speaker, words)


def _fill(data: Path) -> int:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store

    transcript = transcript_from_rttm("pyannote_sample", SAMPLE_TEXT)
    transcript.segments = [_with_words(s, LOW_WORD if i == 2 else None) for i, s in enumerate(transcript.segments)]
    with Store(data / "workbench.duckdb") as store:
        make_account(store, "admin_desk", "admin")
        make_account(store, CLERK, "clerk")
        case = store.add_case(CASE, actor=setup_actor())
        hearing_id = store.add_hearing(case.id, starts_at=datetime(2025, 5, 6, 9, 30), courtroom="第五法庭")
        sha, stored = store.store_audio(Path(transcript.file))
        with store.writing() as con:
            store.add_recording(
                hearing_id, file_name="sample.wav", stored_path=stored, sha256=sha, duration=30.0, format="wav", con=con
            )
        store.save_transcript(hearing_id, transcript)
        Access(store, Accounts(store).get("admin_desk"), "test").grant(CASE, CLERK)
    return hearing_id


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_tool(CHROMIUM, install="apt-get install chromium")
    data = tmp_path_factory.mktemp("e2e-desk")
    hearing_id = _fill(data)
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_WORKERS": "0"})
    try:
        yield World(f"http://127.0.0.1:{port}", data, hearing_id)
    finally:
        stop_server(proc)


@pytest.fixture
def page(world: World, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        autoplay = "--autoplay-policy=no-user-gesture-required"  # F9 is a key, not a click: let it start the audio
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*ARGS, autoplay])
        context = new_context(browser)
        page = context.new_page()
        try:
            yield page
        finally:
            SHOTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(SHOTS / f"desk-{request.node.name}.png"), full_page=True, timeout=5000)
            except Exception as e:  # a help for reading a failure, never a failure of its own
                print(f"no screenshot: {e}")
            browser.close()


DESK = "[data-testid=wbDesk]"
ROW = "[data-testid=wbDeskRow]"


def _desk(page, world: World) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The hearing as the server has it now (the desk resource, with this browser's own session)."""
    reply = page.request.get(f"{world.url}/api/v1/hearings/{world.hearing_id}/desk")
    assert reply.ok, reply.status
    return reply.json()  # type: ignore[no-any-return]


def _until(check, within_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {within_s} s")
        time.sleep(0.1)


def _audio(page, prop: str) -> float:  # type: ignore[no-untyped-def]
    return float(page.locator("[data-testid=wbDeskAudio]").evaluate(f"a => a.{prop}"))


def test_a_clerk_works_the_desk_by_keyboard_alone(world: World, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    sign_in(page, world.url, CLERK, next_path=f"/review?hearing={world.hearing_id}")
    page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
    before = _desk(page, world)
    target = before["segments"][2]
    assert target["text"] == SAMPLE_TEXT[2] and LOW_WORD in target["text"]
    assert before["low_confidence"] == len(LOW_WORD), "the low word's characters are counted"
    speakers = [s["label"] for s in before["speakers"]]
    other = next(label for label in speakers if label != target["speaker"])  # the key that changes the speaker
    key = str(speakers.index(other) + 1)
    page.locator(DESK).focus()  # the desk holds the keyboard (as a Tab to it would)

    # Play, then slow down to half speed: the player's own state says so.
    page.keyboard.press("F9")
    _until(lambda: _audio(page, "currentTime") > 0.3 and not page.locator("[data-testid=wbDeskAudio]").evaluate(
        "a => a.paused"), 20, "playing")  # fmt: skip
    for _ in range(5):
        page.keyboard.press("Shift+F7")
    assert page.get_by_test_id("wbDeskSpeed").inner_text().startswith("0.5")
    assert _audio(page, "playbackRate") == pytest.approx(0.5)

    # The next low-confidence word: the caret goes there with the word selected; typing retypes it.
    page.keyboard.press("Alt+n")
    _until(lambda: page.locator(DESK).get_attribute("data-mode") == "edit", 5, "typing mode")
    page.keyboard.type(NEW_WORD)
    stored = _until(
        lambda: next((s for s in _desk(page, world)["segments"] if s["id"] == target["id"] and NEW_WORD in s["text"]),
                     None), 5, "the retyped word stored")  # fmt: skip
    assert stored["text"] == SAMPLE_TEXT[2].replace(LOW_WORD, NEW_WORD)

    # Split at the caret (after the retyped word), then give the new half the other speaker by number key.
    page.keyboard.press("Enter")
    halves = _until(lambda: _split(_desk(page, world), target["id"]), 5, "the split stored")
    first, second = halves
    assert first["text"] == SPLIT_AFTER and second["text"] == SAMPLE_TEXT[2][len("请" + LOW_WORD) :]
    page.keyboard.press("Escape")
    _until(lambda: page.locator(DESK).get_attribute("data-mode") == "nav", 5, "navigation mode")
    page.keyboard.press(key)
    _until(
        lambda: next(s for s in _desk(page, world)["segments"] if s["id"] == second["id"])["speaker"] == other,
        5, "the speaker stored")  # fmt: skip
    _until(lambda: page.get_by_test_id("wbDeskSaveState").get_attribute("data-state") == "saved", 10, "all saved")
    page.keyboard.press("F9")  # pause: the place to come back to
    _until(lambda: page.get_by_test_id("wbDeskAudio").evaluate("a => a.paused"), 5, "paused")
    at = _shown_time(page)
    assert at > 0

    # A reload shows every change kept, and comes back to the same hearing and time.
    page.reload()
    page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
    assert abs(_shown_time(page) - at) <= 1, (at, page.get_by_test_id("wbDeskTime").inner_text())
    first_row = page.locator(f"{ROW}[data-segment-id='{first['id']}'] [data-testid=wbDeskText]")
    second_row = page.locator(f"{ROW}[data-segment-id='{second['id']}']")
    assert first_row.inner_text() == SPLIT_AFTER
    assert second_row.locator("[data-testid=wbDeskText]").inner_text() == second["text"]
    display = next(s["display"] for s in before["speakers"] if s["label"] == other)
    assert second_row.locator(".wb-speaker").inner_text() == display
    assert int(page.locator(DESK).get_attribute("data-segments") or 0) == len(before["segments"]) + 1

    # Search finds the new word at once, typed into the search page's box.
    page.goto(f"{world.url}/search")
    idle(page)
    box = page.get_by_label("关键词 Query")
    box.focus()
    page.keyboard.type(NEW_WORD)
    page.keyboard.press("Enter")
    page.get_by_text("1 条结果").first.wait_for(timeout=15_000)
    expect(page.locator("mark").first).to_have_text(NEW_WORD)  # the hit, the new word marked in it


def _shown_time(page) -> int:  # type: ignore[no-untyped-def]
    """The player's position as the desk shows it ("00:00:12 / 00:00:30"), in whole seconds."""
    h, m, sec = (int(x) for x in page.get_by_test_id("wbDeskTime").inner_text().split("/")[0].strip().split(":"))
    return h * 3600 + m * 60 + sec


def _split(desk: dict, segment_id: int) -> tuple[dict, dict] | None:  # type: ignore[type-arg]
    """The segment and the one after it, once the segment has been split (the hearing has one more)."""
    segments = desk["segments"]
    if len(segments) != len(SAMPLE_TEXT):
        ids = [s["id"] for s in segments]
        i = ids.index(segment_id)
        return segments[i], segments[i + 1]
    return None
