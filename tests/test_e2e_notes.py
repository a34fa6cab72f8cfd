"""Stage marks and log notes in the review desk, by keyboard, in a real headless Chromium against a real server.

One `workbench serve --http` over a store made before it starts: a hearing whose recording is the pyannote
sample (30 s of real speech), its transcript laid on the RTTM turns, and one stage mark already stored
(宣布开庭 at 0:00). A clerk of the case opens the review page at 0:08 (a search hit's link): the stored mark is
drawn above the first row; `s` opens the stage box at the audio's time with the next stage (法庭调查) offered,
Enter stores it and its mark appears between the rows at 0:08; typing in a row, Alt+L opens the note box, the
note typed and Enter stores it, and typing goes on in the row; the key sheet lists the keys. The note is then
found on the search page, with a link to the review page at its time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from browser import ARGS, CHROMIUM, SHOTS, idle, new_context, sign_in
from conftest import require_tool
from hearing_samples import SAMPLE_TEXT, transcript_from_rttm
from servers import free_port, make_account, setup_actor, start_server, stop_server

pytestmark = pytest.mark.e2e

CASE = "（2025）京0105民初717号"
CLERK = "clerk_notes"
OPEN_AT = 8.0  # seconds: where the page opens, as a link with ?t= opens it
NOTE = "原告出示证据一：借条原件"
DESK = "[data-testid=wbDesk]"
ROW = "[data-testid=wbDeskRow]"
MARK = "[data-testid=wbDeskNote]"


@dataclass(frozen=True)
class World:
    url: str
    hearing_id: int
    starts: list[float]  # each segment's start, in order


def _fill(data: Path) -> tuple[int, list[float]]:
    from workbench.accounts import Access, Accounts
    from workbench.store import Store

    transcript = transcript_from_rttm("pyannote_sample", SAMPLE_TEXT)
    with Store(data / "workbench.duckdb") as store:
        make_account(store, "admin_notes", "admin")
        make_account(store, CLERK, "clerk")
        case = store.add_case(CASE, actor=setup_actor())
        hearing_id = store.add_hearing(case.id, starts_at=datetime(2025, 7, 1, 9, 0), courtroom="第七法庭")
        sha, stored = store.store_audio(Path(transcript.file))
        with store.writing() as con:
            store.add_recording(
                hearing_id, file_name="sample.wav", stored_path=stored, sha256=sha, duration=30.0, format="wav", con=con
            )
        store.save_transcript(hearing_id, transcript)
        Access(store, Accounts(store).get("admin_notes"), "test").grant(CASE, CLERK)
        store.add_note(hearing_id, "stage", 0.0, "宣布开庭", actor=setup_actor())
        starts = [s.start for s in store.segments(hearing_id)]
    return hearing_id, starts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    require_tool(CHROMIUM, install="apt-get install chromium")
    data = tmp_path_factory.mktemp("e2e-notes")
    hearing_id, starts = _fill(data)
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_WORKERS": "0"})
    try:
        yield World(f"http://127.0.0.1:{port}", hearing_id, starts)
    finally:
        stop_server(proc)


@pytest.fixture
def page(world: World, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = new_context(browser).new_page()
        try:
            yield page
        finally:
            SHOTS.mkdir(parents=True, exist_ok=True)
            try:
                page.screenshot(path=str(SHOTS / f"notes-{request.node.name}.png"), full_page=True, timeout=5000)
            except Exception as e:  # a help for reading a failure, never a failure of its own
                print(f"no screenshot: {e}")
            browser.close()


def _notes(page, world: World) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    """The hearing's notes as the server has them now (this browser's own session)."""
    reply = page.request.get(f"{world.url}/api/v1/hearings/{world.hearing_id}/notes")
    assert reply.ok, reply.status
    return reply.json()["items"]  # type: ignore[no-any-return]


def _until(check, within_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within_s
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not so within {within_s} s")
        time.sleep(0.1)


def _row_before(page, mark_id: int) -> str | None:  # type: ignore[no-untyped-def]
    """The segment id of the nearest row above the mark (None when the mark is above every row)."""
    return page.locator(f"{MARK}[data-note-id='{mark_id}']").evaluate(
        """m => { for (let n = m.previousElementSibling; n; n = n.previousElementSibling)
                    if (n.dataset.testid === 'wbDeskRow') return n.dataset.segmentId;
                  return null; }"""
    )


def test_a_clerk_marks_a_stage_and_a_note_by_keys(world: World, page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    sign_in(page, world.url, CLERK, next_path=f"/review?hearing={world.hearing_id}&t={OPEN_AT}")
    page.wait_for_selector(f"{DESK}[data-ready='1'][data-notes='1']", timeout=30_000)
    desk = page.locator(DESK)
    first = _notes(page, world)[0]
    assert _row_before(page, first["id"]) is None  # 宣布开庭 at 0:00: above the first row
    expect(page.locator(f"{MARK}[data-note-id='{first['id']}']")).to_contain_text("宣布开庭")

    # s: the stage box at the audio's time, the next stage offered and selected; Enter stores it.
    desk.focus()
    page.keyboard.press("s")
    box = page.get_by_test_id("wbDeskMarkText")
    expect(box).to_be_focused()
    expect(box).to_have_value("法庭调查")
    expect(page.get_by_test_id("wbDeskMarkTime")).to_have_text("00:00:08")
    page.keyboard.press("Enter")
    stage = _until(lambda: next((n for n in _notes(page, world) if n["text"] == "法庭调查"), None), 5, "stage stored")
    assert (stage["kind"], stage["at"], stage["created_by"]) == ("stage", OPEN_AT, CLERK)
    expect(page.get_by_test_id("wbDeskMark")).to_be_hidden()
    # drawn in place: after the last row that starts at or before 0:08
    index = max(i for i, start in enumerate(world.starts) if start <= OPEN_AT)
    row_id = page.locator(ROW).nth(index).get_attribute("data-segment-id")
    _until(lambda: page.locator(f"{MARK}[data-note-id='{stage['id']}']").count() == 1, 5, "the stage's mark drawn")
    assert _row_before(page, stage["id"]) == row_id
    assert desk.get_attribute("data-notes") == "2"

    # While typing in a row: Alt+L opens the note box; Enter stores the note and the caret goes back to the row.
    page.keyboard.press("Enter")  # type in the selected row
    _until(lambda: desk.get_attribute("data-mode") == "edit", 5, "typing mode")
    page.keyboard.press("Alt+l")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    page.keyboard.type(NOTE)
    page.keyboard.press("Enter")
    note = _until(lambda: next((n for n in _notes(page, world) if n["kind"] == "note"), None), 5, "note stored")
    assert (note["text"], note["at"]) == (NOTE, OPEN_AT)
    _until(lambda: desk.get_attribute("data-mode") == "edit", 5, "typing again")
    expect(page.locator(f"{ROW}[data-segment-id='{row_id}'] [data-testid=wbDeskText]")).to_be_focused()
    expect(page.locator(f"{MARK}[data-note-id='{note['id']}']")).to_contain_text(NOTE)
    page.keyboard.press("Escape")
    SHOTS.mkdir(parents=True, exist_ok=True)
    desk.screenshot(path=str(SHOTS / "notes-desk-marks.png"))  # the marks between the rows, for a reader's eye
    page.keyboard.press("?")
    sheet = page.get_by_test_id("wbDeskSheet")
    expect(sheet).to_contain_text("Alt+S")
    expect(sheet).to_contain_text("Alt+L")

    # Found by search, with a link to the review page at its time.
    page.goto(f"{world.url}/search")
    idle(page)
    page.get_by_label("关键词 Query").fill("借条原件")
    page.get_by_label("关键词 Query").press("Enter")
    hit = page.get_by_test_id("wbNoteHit").first
    hit.wait_for(timeout=15_000)
    expect(hit.locator("mark").first).to_have_text("借条原件")
    link = page.locator(f"a[href*='hearing={world.hearing_id}'][href*='t={OPEN_AT:.2f}']").first
    expect(link).to_be_visible()
