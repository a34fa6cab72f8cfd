"""The review desk's front-end in a real headless Chromium against a real server and a real store.

One `workbench serve --http` over a store made before it starts: a case with one hearing of 160 segments (two
speakers with roles and names; each character a word with a probability, every 7th segment's second word
below the threshold) and a real recording (a test clip repeated to 330 s, so playback crosses no edge). A clerk
of the case and a viewer of it sign in. The desk opens with only some rows built; typing saves within a second;
Enter splits, Delete at the end and Backspace at the start merge; a number key sets the speaker and Ctrl+Z undoes
it; the viewer gets no contenteditable and no write keys, yet plays and follows. A row the server refuses holds
back neither the others of its batch nor its own later saves; unsaved edits stay with their account; text whose
segment has gone is shown, not dropped; Ctrl+Z in the find box is the box's; switching views leaves no desk
behind. The edits rows are counted in the store after the server stops.
"""

from __future__ import annotations

import json
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from browser import ARGS, CHROMIUM, SHOTS, new_context, sign_in, sign_out
from conftest import clip, require_tool
from media import write_wav
from servers import free_port, make_account, setup_actor, start_server, stop_server

pytestmark = pytest.mark.e2e

CASE = "（2025）京0105民初616号"
CLERK, CLERK2, VIEWER = "clerk_deskb", "clerk2_deskb", "viewer_deskb"
SEGMENTS = 160
SEG_S = 2.0
RECORDING_S = 330.0
PHRASES = ["现在开庭审理本案", "请原告陈述诉讼请求", "被告对证据没有异议", "本庭休庭十分钟", "双方当事人确认"]
DESK = "[data-testid=wbDesk]"
ROW = "[data-testid=wbDeskRow]"


@dataclass
class World:
    url: str
    data: Path
    hearing_id: int
    segment_ids: list[int]
    proc: object


def _recording(path: Path) -> Path:
    """A real clip (16 kHz mono speech) repeated to RECORDING_S seconds."""
    with wave.open(str(clip("zh_aishell1_BAC009S0764W0121.wav")), "rb") as src:
        rate = src.getframerate()
        samples = np.frombuffer(src.readframes(src.getnframes()), dtype=np.int16).astype(np.float32) / 32768
    reps = int(RECORDING_S * rate / len(samples)) + 1
    return write_wav(np.tile(samples, reps)[: int(RECORDING_S * rate)], path, rate)


def _transcript():  # type: ignore[no-untyped-def]
    from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript, Word

    segments = []
    for i in range(SEGMENTS):
        text = PHRASES[i % len(PHRASES)]
        start = i * SEG_S
        step = (SEG_S - 0.2) / len(text)
        words = [
            Word(
                round(start + k * step, 3), round(start + (k + 1) * step, 3), ch, 0.3 if i % 7 == 0 and k == 1 else 0.9
            )
            for k, ch in enumerate(text)
        ]
        segments.append(Segment(start, start + SEG_S - 0.2, text, "S1" if i % 2 == 0 else "S2", words))
    return Transcript(
        file="desk.wav",
        sha256="0" * 64,
        duration=RECORDING_S,
        language="zh",
        engine=EngineInfo("funasr", "test"),
        segments=segments,
        speakers=[SpeakerSummary("S1", 100.0, 0.0), SpeakerSummary("S2", 100.0, SEG_S)],
    )


def _fill(data: Path) -> tuple[int, list[int]]:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store

    recording = _recording(data / "desk.wav")
    with Store(data / "workbench.duckdb") as store:
        make_account(store, "admin_deskb", "admin")
        make_account(store, CLERK, "clerk")
        make_account(store, CLERK2, "clerk")
        make_account(store, VIEWER, "viewer")
        case = store.add_case(CASE, actor=setup_actor())
        hearing_id = store.add_hearing(case.id, starts_at=datetime(2025, 6, 7, 9, 30), courtroom="第六法庭")
        sha, stored = store.store_audio(recording)
        with store.writing() as con:
            store.add_recording(
                hearing_id,
                file_name="desk.wav",
                stored_path=stored,
                sha256=sha,
                duration=RECORDING_S,
                format="wav",
                con=con,
            )
        store.save_transcript(hearing_id, _transcript())
        store.set_speaker(hearing_id, "S1", role="审判长", name="张三", actor=setup_actor())
        store.set_speaker(hearing_id, "S2", role="原告", name="李四", actor=setup_actor())
        admin = Access(store, Accounts(store).get("admin_deskb"), "test")
        admin.grant(CASE, CLERK)
        admin.grant(CASE, CLERK2)
        admin.grant(CASE, VIEWER)
        ids = [s.id for s in store.segments(hearing_id)]
    return hearing_id, ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_tool(CHROMIUM, install="apt-get install chromium")
    data = tmp_path_factory.mktemp("desk-browser")
    hearing_id, ids = _fill(data)
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_WORKERS": "0"})
    world = World(f"http://127.0.0.1:{port}", data, hearing_id, ids, proc)
    try:
        yield world
    finally:
        stop_server(proc)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM, args=[*ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    ctx = new_context(browser)
    yield ctx
    SHOTS.mkdir(parents=True, exist_ok=True)
    for i, page in enumerate(ctx.pages):
        try:
            page.screenshot(path=str(SHOTS / f"deskb-{request.node.name}-{i}.png"), timeout=5000)
        except Exception as e:  # a help for reading a failure, never a failure of its own
            print(f"no screenshot of {page.url}: {e}")
    ctx.close()


def open_desk(page, world: World, name: str) -> float:  # type: ignore[no-untyped-def]
    """Signs in, opens the hearing's desk; returns seconds from navigation to data-ready."""
    sign_in(page, world.url, name)
    started = time.monotonic()
    page.goto(f"{world.url}/review?hearing={world.hearing_id}")
    page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
    return time.monotonic() - started


def segment(page, world: World, segment_id: int) -> dict:  # type: ignore[type-arg]
    """The segment as the server has it now (the desk resource, this page's own session)."""
    reply = page.request.get(f"{world.url}/api/v1/hearings/{world.hearing_id}/desk")
    assert reply.ok, reply.status
    for seg in reply.json()["segments"]:
        if seg["id"] == segment_id:
            return seg  # type: ignore[no-any-return]
    raise AssertionError(f"segment {segment_id} is not in the hearing")


def wait_stored(page, world: World, segment_id: int, check, within_s: float) -> dict:  # type: ignore[no-untyped-def, type-arg]
    deadline = time.monotonic() + within_s
    while True:
        seg = segment(page, world, segment_id)
        if check(seg):
            return seg
        if time.monotonic() > deadline:
            raise AssertionError(f"not stored within {within_s} s: {json.dumps(seg, ensure_ascii=False)[:300]}")
        time.sleep(0.05)


def poll(check, within_s: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so within {within_s} s")
        time.sleep(0.05)


def row(page, segment_id: int):  # type: ignore[no-untyped-def]  # type: ignore[no-untyped-def]
    return page.locator(f"{ROW}[data-segment-id='{segment_id}']")


def text_of(page, segment_id: int):  # type: ignore[no-untyped-def]
    return row(page, segment_id).locator("[data-testid=wbDeskText]")


def type_at_end(page, segment_id: int, text: str) -> None:  # type: ignore[no-untyped-def]
    """Puts the caret at the end of the row's text by the keys (a click on a word would start the audio)."""
    text_of(page, segment_id).evaluate(
        """el => { el.focus(); const r = document.createRange(); r.selectNodeContents(el); r.collapse(false);
                   const s = document.getSelection(); s.removeAllRanges(); s.addRange(r); }"""
    )
    page.keyboard.type(text, delay=20)


def pending_key(name: str, world: World) -> str:
    return f"wb-desk-pending-{name}-{world.hearing_id}"


def test_clerk_types_splits_merges_sets_speaker_and_undoes(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    desk = page.locator(DESK)
    assert desk.get_attribute("data-segments") == str(SEGMENTS)
    built = page.locator(ROW).count()
    assert 0 < built < SEGMENTS, f"{built} rows built at once for {SEGMENTS} segments: not lazy"
    assert page.locator(f"{ROW} .wb-speaker").first.inner_text() == "审判长张三"
    low = (SEGMENTS + 6) // 7
    assert page.locator("[data-testid=wbDeskLowCount]").get_attribute("data-count") == str(low)
    assert page.locator(f"{ROW}[data-segment-id='{world.segment_ids[0]}'] .wb-w.wb-low").count() == 1
    assert page.locator("[data-testid=wbDeskText][contenteditable='plaintext-only']").count() == built

    # Typing at the end of row 1 saves it: an edits row (the version) within 1 s of the last key.
    first, second, third = world.segment_ids[1], world.segment_ids[2], world.segment_ids[3]
    page.locator(DESK).focus()
    page.keyboard.press("ArrowDown")  # the keys only: a click on a word would also start the audio
    page.keyboard.press("Enter")  # type in the row, the caret at its end
    page.keyboard.type("甲乙", delay=30)
    typed = time.monotonic()
    stored = wait_stored(page, world, first, lambda s: s["text"] == PHRASES[1] + "甲乙", 1.0)
    assert stored["version"] > 0 and time.monotonic() - typed < 1.5
    page.wait_for_selector(f"{ROW}[data-segment-id='{first}'][data-state='saved']")
    assert desk.get_attribute("data-saving") == "0"

    # Esc to navigation mode; "1" picks speakers[0] for the selected row (S2's: S1 now); Ctrl+Z undoes it.
    page.keyboard.press("Escape")
    assert desk.get_attribute("data-mode") == "nav"
    page.keyboard.press("1")
    wait_stored(page, world, first, lambda s: s["speaker"] == "S1", 2.0)
    assert row(page, first).locator(".wb-speaker").inner_text() == "审判长张三"
    page.keyboard.press("Control+z")
    wait_stored(page, world, first, lambda s: s["speaker"] == "S2", 2.0)
    poll(lambda: row(page, first).locator(".wb-speaker").inner_text() == "原告李四", 2.0)

    # Enter at the caret splits the row: the server has two segments, the desk one row more.
    page.keyboard.press("Enter")  # type in the selected row again, the caret at its end
    assert desk.get_attribute("data-mode") == "edit"
    page.keyboard.press("Home")
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{DESK}[data-segments='{SEGMENTS + 1}']", state="attached", timeout=5000)
    assert segment(page, world, first)["text"] == (PHRASES[1] + "甲乙")[:3]
    new_row = page.locator(ROW).nth(2)
    new_id = int(new_row.get_attribute("data-segment-id"))
    assert new_id not in world.segment_ids
    assert new_row.locator("[data-testid=wbDeskText]").inner_text() == (PHRASES[1] + "甲乙")[3:]
    assert desk.get_attribute("data-mode") == "edit"

    # Backspace at the start of the new half merges it back into the first.
    page.keyboard.press("Backspace")
    page.wait_for_selector(f"{DESK}[data-segments='{SEGMENTS}']", state="attached")
    assert segment(page, world, first)["text"] == PHRASES[1] + "甲乙"
    assert row(page, new_id).count() == 0

    # Delete at the end of row 2 merges row 3 into it.
    page.keyboard.press("Escape")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.keyboard.press("Delete")
    page.wait_for_selector(f"{DESK}[data-segments='{SEGMENTS - 1}']", state="attached")
    assert segment(page, world, second)["text"] == PHRASES[2] + PHRASES[3]
    assert row(page, third).count() == 0

    # Ctrl+Z undoes the merge: row 3 is back (a new id; the merged-away row stays in removed_segments).
    page.keyboard.press("Control+z")
    page.wait_for_selector(f"{DESK}[data-segments='{SEGMENTS}']", state="attached")
    assert segment(page, world, second)["text"] == PHRASES[2]
    restored = page.request.get(f"{world.url}/api/v1/hearings/{world.hearing_id}/desk").json()["segments"][3]
    assert (restored["text"], restored["speaker"]) == (PHRASES[3], "S2")  # its own speaker back, not row 2's

    # The edits survive a reload; the desk reopens at once.
    page.reload()
    page.wait_for_selector(f"{DESK}[data-ready='1']")
    assert row(page, first).locator("[data-testid=wbDeskText]").inner_text() == PHRASES[1] + "甲乙"


def test_conflict_retry_checked_mark_find_replace_and_sheet(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    desk = page.locator(DESK)
    state = page.locator("[data-testid=wbDeskSaveState]")

    # Someone else changes row 20 after the desk loaded it: typing there is refused as stale and shows their
    # text; "keep mine" resends against their version.
    target = world.segment_ids[20]
    theirs = page.request.post(
        f"{world.url}/api/v1/hearings/{world.hearing_id}/edits",
        data={"edits": [{"segment_id": target, "text": "别人的改动", "version": 0}]},
        headers={"X-Workbench-Client": "browser"},
    )
    assert theirs.ok and theirs.json()["results"][0]["ok"]
    row(page, target).locator("[data-testid=wbDeskText]").click()
    page.keyboard.press("End")
    page.keyboard.type("丙")
    page.wait_for_selector(f"{ROW}[data-segment-id='{target}'][data-state='stale']")
    assert "别人的改动" in row(page, target).locator("[data-testid=wbDeskStale]").inner_text()
    row(page, target).locator("[data-testid=wbDeskKeepMine]").click()
    wait_stored(page, world, target, lambda s: s["text"] == PHRASES[0] + "丙", 2.0)

    # A failed request is shown and retried (the network refuses the first POST /edits), nothing lost.
    refused = {"n": 0}

    def refuse_once(route) -> None:  # type: ignore[no-untyped-def]
        if refused["n"] == 0:
            refused["n"] += 1
            route.abort()
        else:
            route.continue_()

    page.route("**/api/v1/hearings/*/edits", refuse_once)
    other = world.segment_ids[22]
    row(page, other).locator("[data-testid=wbDeskText]").click()
    page.keyboard.press("End")
    page.keyboard.type("丁")
    page.wait_for_selector(f"{ROW}[data-segment-id='{other}'][data-state='error']")
    assert "重试" in state.inner_text()
    page.wait_for_selector(f"{ROW}[data-segment-id='{other}'][data-state='saved']", timeout=5000)
    page.unroute("**/api/v1/hearings/*/edits")
    assert segment(page, world, other)["text"] == PHRASES[2] + "丁"

    # "c" in navigation mode marks the row; the mark survives a reload.
    page.keyboard.press("Escape")
    page.keyboard.press("c")
    page.wait_for_selector(f"[data-testid=wbDeskChecked][data-segment-id='{other}']")

    # "/" opens find and replace: preview, apply (each an edit), undo.
    page.keyboard.press("/")
    page.locator("[data-testid=wbDeskFindText]").fill("当事人")
    page.locator("[data-testid=wbDeskReplaceText]").fill("各方")
    page.locator("[data-testid=wbDeskFindPreview]").click()
    expected = sum(1 for i in range(SEGMENTS) if i % len(PHRASES) == 4)
    poll(lambda: page.locator("[data-testid=wbDeskFindNote]").get_attribute("data-total") == str(expected), 3.0)
    assert page.locator("[data-testid=wbDeskFindMatch]").count() == expected
    page.locator("[data-testid=wbDeskFindApply]").click()
    sample = world.segment_ids[24]
    wait_stored(page, world, sample, lambda s: s["text"] == "双方各方确认", 3.0)
    poll(lambda: row(page, sample).locator("[data-testid=wbDeskText]").inner_text() == "双方各方确认", 2.0)
    page.locator("[data-testid=wbDeskFindUndo]").click()
    wait_stored(page, world, sample, lambda s: s["text"] == PHRASES[4], 3.0)
    page.keyboard.press("Escape")
    assert not page.locator("[data-testid=wbDeskFind]").is_visible()

    # "?" shows the shortcut sheet, Esc hides it.
    page.keyboard.press("?")
    assert page.locator("[data-testid=wbDeskSheet]").is_visible()
    assert "F9" in page.locator("[data-testid=wbDeskSheet]").inner_text()
    page.keyboard.press("Escape")
    assert not page.locator("[data-testid=wbDeskSheet]").is_visible()

    page.reload()
    page.wait_for_selector(f"{DESK}[data-ready='1']")
    assert page.locator(f"[data-testid=wbDeskChecked][data-segment-id='{other}']").count() == 1
    assert desk.get_attribute("data-saving") == "0"


def test_viewer_reads_and_plays_but_cannot_write(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, VIEWER)
    assert page.locator(f"{DESK}").get_attribute("data-readonly") == "1"
    assert page.locator("[data-testid=wbDeskText]").count() > 0
    assert page.locator("[contenteditable]").count() == 0
    before = segment(page, world, world.segment_ids[4])
    page.locator(DESK).focus()
    for key in ("m", "2", "c", "Enter", "Delete", "Control+z"):
        page.keyboard.press(key)
    page.wait_for_timeout(400)
    assert segment(page, world, world.segment_ids[4]) == before
    assert page.locator(DESK).get_attribute("data-saving") == "0"

    # It still plays (Space) and follows: the time moves and a row is the current one.
    page.keyboard.press("]")
    assert page.locator("[data-testid=wbDeskSpeed]").inner_text() == "1.1×"
    page.keyboard.press("Space")
    audio = page.locator("[data-testid=wbDeskAudio]")
    poll(lambda: audio.evaluate("a => !a.paused && a.currentTime > 0.5"), 15.0)
    assert page.locator(f"{ROW}.wb-current").count() == 1
    page.keyboard.press("F9")
    poll(lambda: audio.evaluate("a => a.paused"), 5.0)


def test_a_refused_row_holds_back_neither_the_batch_nor_its_own_later_saves(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    bad, good = world.segment_ids[40], world.segment_ids[41]
    bad_text, good_text = PHRASES[40 % 5] + "甲", PHRASES[41 % 5] + "乙"

    # The one batch carrying both rows gets one text made too long on its way: the real server refuses the
    # request (422, naming edits[n]); only that row is refused, the other is sent again and stored.
    lengthened: list[int] = []

    def lengthen(route) -> None:  # type: ignore[no-untyped-def]
        body = json.loads(route.request.post_data or "{}")
        ids = [e["segment_id"] for e in body.get("edits", [])]
        if not lengthened and bad in ids and good in ids:
            for e in body["edits"]:
                if e["segment_id"] == bad:
                    e["text"] = "长" * 2100
            lengthened.append(len(ids))
            route.continue_(post_data=json.dumps(body))
        else:
            route.continue_()

    page.route("**/api/v1/hearings/*/edits", lengthen)
    page.locator(DESK).evaluate(
        """(root, edits) => { for (const [id, text] of edits) {
             const el = root.querySelector(`[data-testid=wbDeskRow][data-segment-id="${id}"] [data-testid=wbDeskText]`);
             el.textContent = text;
             el.dispatchEvent(new InputEvent("input", { bubbles: true, composed: true })); } }""",
        [[bad, bad_text], [good, good_text]],
    )
    wait_stored(page, world, good, lambda s: s["text"] == good_text, 3.0)
    assert lengthened == [2], lengthened
    page.wait_for_selector(f"{ROW}[data-segment-id='{bad}'][data-state='error']")
    assert "2000" in row(page, bad).locator("[data-testid=wbDeskRowError]").inner_text()
    assert segment(page, world, bad)["text"] == PHRASES[40 % 5]
    assert "保存中" not in page.locator("[data-testid=wbDeskSaveState]").inner_text()
    page.unroute("**/api/v1/hearings/*/edits")

    # More typing in the refused row is sent (it was frozen for good before).
    type_at_end(page, bad, "丙")
    wait_stored(page, world, bad, lambda s: s["text"] == bad_text + "丙", 3.0)
    page.wait_for_selector(f"{ROW}[data-segment-id='{bad}'][data-state='saved']")

    # A paste past the cap is cut at it (and said on the row), so the server never refuses it.
    long_row = world.segment_ids[42]
    type_at_end(page, long_row, "")
    text_of(page, long_row).evaluate(
        """el => { const data = new DataTransfer(); data.setData("text/plain", "字".repeat(2100));
                   el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true,
                                                                  cancelable: true, composed: true })); }"""
    )
    stored = wait_stored(page, world, long_row, lambda s: s["text"].startswith(PHRASES[42 % 5] + "字"), 3.0)
    assert len(stored["text"]) == 2000, len(stored["text"])
    assert "2000" in row(page, long_row).locator("[data-testid=wbDeskRowNote]").inner_text()
    page.keyboard.type("多")  # at the cap: the key does nothing
    page.wait_for_timeout(400)
    assert len(text_of(page, long_row).inner_text()) == 2000
    assert segment(page, world, long_row)["text"] == stored["text"]


def test_unsaved_edits_stay_with_their_account(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    target = world.segment_ids[30]
    original = PHRASES[30 % 5]
    phase = {"refuse": True}
    sent: list[str] = []

    def watch(route) -> None:  # type: ignore[no-untyped-def]
        sent.append(route.request.post_data or "")
        if phase["refuse"]:
            route.abort()  # the network is down: the edit stays unsaved, in localStorage
        else:
            route.continue_()

    page.route("**/api/v1/hearings/*/edits", watch)
    type_at_end(page, target, "戊")
    page.wait_for_selector(f"{ROW}[data-segment-id='{target}'][data-state='error']")
    keys = page.evaluate("() => Object.keys(localStorage)")
    assert pending_key(CLERK, world) in keys, keys
    assert f"wb-desk-pending-{world.hearing_id}" not in keys, keys

    # Another clerk signs in on the same browser: the first one's edit is neither shown nor sent.
    sign_out(page, world.url)
    phase["refuse"] = False
    sent.clear()
    open_desk(page, world, CLERK2)
    page.wait_for_timeout(600)
    assert text_of(page, target).inner_text() == original
    assert page.locator(DESK).get_attribute("data-saving") == "0"
    assert not any("戊" in body for body in sent), sent
    assert segment(page, world, target)["text"] == original

    # The first clerk again: the edit is resent and stored.
    sign_out(page, world.url)
    open_desk(page, world, CLERK)
    wait_stored(page, world, target, lambda s: s["text"] == original + "戊", 5.0)
    page.unroute("**/api/v1/hearings/*/edits")
    poll(lambda: pending_key(CLERK, world) not in page.evaluate("() => Object.keys(localStorage)"), 3.0)


def test_text_whose_segment_has_gone_is_shown_not_dropped(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    same = world.segment_ids[44]
    stored = segment(page, world, same)
    # As a reload finds them: one for a segment merged away since, one already stored (its answer was lost).
    page.evaluate(
        "([key, kept]) => localStorage.setItem(key, JSON.stringify(kept))",
        [pending_key(CLERK, world), {"999999": {"base": 0, "text": "孤儿的文字"}, str(same): stored | {"base": 0}}],
    )
    page.reload()
    page.wait_for_selector(f"{DESK}[data-ready='1']")
    orphans = page.locator("[data-testid=wbDeskOrphans]")
    assert orphans.is_visible()
    assert "孤儿的文字" in orphans.inner_text()
    assert page.locator("[data-testid=wbDeskOrphanCopy]").count() == 1
    assert page.locator(DESK).get_attribute("data-saving") == "0"  # the stored one is not resent
    keys = page.evaluate("() => Object.keys(localStorage)")
    assert pending_key(CLERK, world) not in keys, keys
    assert f"wb-desk-orphans-{CLERK}-{world.hearing_id}" in keys, keys

    # Still there after another reload; gone once dismissed.
    page.reload()
    page.wait_for_selector(f"{DESK}[data-ready='1']")
    assert "孤儿的文字" in page.locator("[data-testid=wbDeskOrphans]").inner_text()
    page.locator("[data-testid=wbDeskOrphanDismiss]").click()
    assert not page.locator("[data-testid=wbDeskOrphans]").is_visible()
    keys = page.evaluate("() => Object.keys(localStorage)")
    assert f"wb-desk-orphans-{CLERK}-{world.hearing_id}" not in keys, keys


def test_ctrl_z_in_the_find_box_is_the_boxs_own(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    target = world.segment_ids[33]
    typed = PHRASES[33 % 5] + "己"
    type_at_end(page, target, "己")
    wait_stored(page, world, target, lambda s: s["text"] == typed, 2.0)
    page.keyboard.press("Escape")
    page.keyboard.press("/")
    page.keyboard.type("本庭")
    page.keyboard.press("Control+z")
    page.wait_for_timeout(500)
    assert segment(page, world, target)["text"] == typed  # the transcript's last change stays
    page.keyboard.press("Escape")
    page.keyboard.press("Control+z")  # out of the box: the desk's undo
    wait_stored(page, world, target, lambda s: s["text"] == PHRASES[33 % 5], 2.0)


def test_switching_views_leaves_no_desk_behind(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    live = "() => ({...window.wbDeskStats.live})"
    first = page.evaluate(live)
    assert first["desks"] == 1, first
    page.evaluate("() => (window.firstLive = window.wbDeskStats.live)")
    for _ in range(5):
        page.get_by_text("说话人 Speakers", exact=True).click()
        page.wait_for_selector(DESK, state="detached", timeout=15_000)
        page.wait_for_timeout(1300)  # the desk stops 1 s after it has left the page
        page.get_by_text("笔录 Transcript", exact=True).click()
        page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=15_000)
    page.wait_for_timeout(300)
    now = page.evaluate(live)
    # one module's census (the desks of every mount counted in it), and one desk live in it
    assert page.evaluate("() => window.wbDeskStats.live === window.firstLive")
    assert now["desks"] == 1, now
    assert now["window_listeners"] == first["window_listeners"], (first, now)
    assert now["timers"] <= first["timers"] + 1, (first, now)  # its position timer, maybe a message's


def test_take_theirs_shows_their_words_and_a_reshaped_row_only_theirs(world: World, context) -> None:  # type: ignore[no-untyped-def]
    page = context.new_page()
    open_desk(page, world, CLERK)
    edits = f"{world.url}/api/v1/hearings/{world.hearing_id}/edits"
    browser_header = {"X-Workbench-Client": "browser"}

    # Someone else puts words before row 47's after the desk loaded it; my typing there is stale; "take theirs" shows
    # their text with its words (placed on it by the server), not plain text.
    changed = world.segment_ids[47]
    theirs = "嗯，" + PHRASES[47 % 5]  # the recognised words now start two characters later
    reply = page.request.post(
        edits, data={"edits": [{"segment_id": changed, "text": theirs, "version": 0}]}, headers=browser_header
    )
    assert reply.ok and reply.json()["results"][0]["ok"]
    type_at_end(page, changed, "庚")
    page.wait_for_selector(f"{ROW}[data-segment-id='{changed}'][data-state='stale']")
    assert row(page, changed).locator("[data-testid=wbDeskKeepMine]").count() == 1
    row(page, changed).locator("[data-testid=wbDeskTakeTheirs]").click()
    page.wait_for_selector(f"{ROW}[data-segment-id='{changed}'][data-state='saved']")
    assert text_of(page, changed).inner_text() == theirs
    words = row(page, changed).locator(".wb-w")
    assert words.count() == len(PHRASES[47 % 5])
    assert words.first.inner_text() == PHRASES[47 % 5][0]  # not "嗯": the old positions would put it there

    # Someone else splits row 48: resending mine there would duplicate text, so only "take theirs", which
    # draws the rows again (one more) and keeps my text aside to copy.
    split = world.segment_ids[48]
    reply = page.request.post(
        f"{world.url}/api/v1/segments/{split}/split", data={"at": 3, "version": 0}, headers=browser_header
    )
    assert reply.ok, reply.text()
    type_at_end(page, split, "辛")
    page.wait_for_selector(f"{ROW}[data-segment-id='{split}'][data-state='stale']")
    assert row(page, split).locator("[data-testid=wbDeskKeepMine]").count() == 0
    row(page, split).locator("[data-testid=wbDeskTakeTheirs]").click()
    page.wait_for_selector(f"{DESK}[data-segments='{SEGMENTS + 1}']", state="attached", timeout=5000)
    assert text_of(page, split).inner_text() == PHRASES[48 % 5][:3]
    assert PHRASES[48 % 5] + "辛" in page.locator("[data-testid=wbDeskOrphans]").inner_text()
    assert page.locator(DESK).get_attribute("data-saving") == "0"
    assert segment(page, world, split)["text"] == PHRASES[48 % 5][:3]


def test_edits_rows_in_the_store(world: World) -> None:
    """After the server stops: the typed text, the split, the merges and both speaker changes are edits rows."""
    from workbench.store import Store

    stop_server(world.proc)  # type: ignore[arg-type]
    with Store(world.data / "workbench.duckdb") as store:
        edits = store.edits(hearing_id=world.hearing_id)
    fields = sorted(
        e.field for e in edits if e.segment_id in world.segment_ids[1:4] or e.segment_id not in world.segment_ids
    )
    assert fields.count("split") >= 3, fields  # the split, and the undo of the merge
    assert fields.count("merge") == 2, fields
    assert "speaker" in fields and "text" in fields, fields


def test_desk_data_carries_the_hearing_and_the_key_sheet() -> None:
    from workbench.web.desk_component import desk_data

    data = desk_data(hearing_id=7, recording_id=None, may_edit=False, start_at=12, account="clerk1")
    assert json.loads(json.dumps(data)) == data  # what the component gets must be plain JSON
    assert (data["hearing_id"], data["recording_id"], data["may_edit"], data["start_at"]) == (7, None, False, 12.0)
    assert (data["account"], data["text_max"]) == ("clerk1", 2000)  # the browser's keys are per account
    assert data["api"] == "/api/v1"
    keys = " ".join(k for _, rows in data["keys"] for k, _ in rows)
    for key in ("F9", "F7", "F8", "Alt+N", "Ctrl+Z", "Enter", "Delete", "Backspace", "Esc", "1 – 9", "?", "/"):
        assert key in keys, key
