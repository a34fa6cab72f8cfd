"""The workbench in a real headless Chromium: sign in → upload → transcript → speaker role → edit → search → hearing.

Starts `workbench serve --http` on 127.0.0.1 and a free port with a temporary data folder (the real models
folder) holding real accounts made through `workbench.accounts` before the server starts, signs in on the
`/signin` form, drives the pages with Playwright, and saves a screenshot of each page under
test-artifacts/screenshots (printed). Diarization runs when `workbench.speech.align` is installed; without it
the job runs with diarization off and the test gives the first segment to a new speaker S1 itself. Chromium
missing fails the test (`require_tool`).

The server and browser helpers are in tests/servers.py and tests/browser.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from browser import ARGS, CHROMIUM, SHOTS, SIGNIN_PATH, choose, idle, new_context, shot, shots_on_failure, sign_in
from conftest import clip, require_tool
from servers import free_port, make_accounts, start_server, stop_server

ROOT = Path(__file__).resolve().parents[1]
CLIP = clip("pyannote_sample.wav")
CASE = "（2024）京0105民初1234号"
DESK = "[data-testid=wbDesk]"
ROW = "[data-testid=wbDeskRow]"
MODELS = ("whisper-base", "pyannote-segmentation-3.0", "campplus-zh-en", "fsmn-vad")  # what `models pull` lays out

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    # A missing browser fails the run (a skip would turn a broken set-up green), unless WORKBENCH_TESTS_ALLOW_SKIPS=1.
    require_tool(CHROMIUM, install="apt-get install chromium")
    make_accounts(tmp_path / "workbench.duckdb", {"admin1": "admin", "clerk1": "clerk"})
    port = free_port()
    proc = start_server(tmp_path, port)
    try:
        yield f"http://127.0.0.1:{port}", tmp_path, proc
    finally:
        stop_server(proc)


def hearing_of(url: str) -> str:
    from urllib.parse import parse_qs

    return parse_qs(urlparse(url).query)["hearing"][0]


def test_upload_review_search_in_a_browser(server: tuple[str, Path, subprocess.Popen[bytes]]) -> None:
    from playwright.sync_api import expect, sync_playwright

    url, data, proc = server
    diarize = importlib.util.find_spec("workbench.speech.align") is not None
    print(
        f"\nscreenshots: {SHOTS}  (diarization {'on' if diarize else 'off: workbench.speech.align is not there yet'})"
    )
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        with shots_on_failure(browser, "failed-upload-review-search"):
            clerk = new_context(browser)
            page = clerk.new_page()

            # Not signed in: the upload page is the sign-in form. The clerk signs in and lands on it.
            page.goto(f"{url}/upload")
            assert urlparse(page.url).path == SIGNIN_PATH, page.url
            sign_in(page, url, "clerk1", next_path="/upload")
            assert urlparse(page.url).path == "/upload", page.url
            expect(page.locator("[data-testid='stSidebar']").get_by_text("clerk1").first).to_be_visible()

            # Upload: hearing details, one recording, straight into the queue.
            page.get_by_role("textbox", name="案号 Case number", exact=True).fill(CASE)
            page.get_by_role("textbox", name="法庭 Courtroom", exact=True).fill("第三法庭")
            page.get_by_role("textbox", name="审判长 Presiding judge", exact=True).fill("张法官")
            page.get_by_role("textbox", name="当事人 Parties", exact=True).fill("原告：甲公司\n被告：乙公司")
            page.get_by_role("textbox", name="热词 Hotwords", exact=True).fill("exhibit")
            page.get_by_role("textbox", name="审判长 Presiding judge", exact=True).click()
            idle(page)
            if not diarize:
                choose(page, page, "说话人数 Speakers", "不区分说话人 (diarization off)")
            page.locator("[data-testid='wbUploadInput']").set_input_files(str(CLIP))
            # The picker streams the file to the server in pieces; submit once it says the file is there.
            page.locator("[data-testid='wbUploadItem'][data-state='done']").first.wait_for(timeout=600_000)
            submit = page.get_by_role("button", name="提交转写（1 个文件）")
            expect(submit).to_be_enabled(timeout=30_000)
            submit.click()
            idle(page)
            expect(page.get_by_text("已加入处理队列：1 个文件")).to_be_visible()
            shot(page, "1-upload-queued")

            # A second tab of the same signed-in browser sees the same queue.
            other = clerk.new_page()
            other.goto(f"{url}/upload")
            idle(other)
            expect(other.get_by_text(CLIP.name).first).to_be_visible()
            other.close()

            # The transcript: wait for the job, open the hearing.
            # 2-3 minutes on this 2-core machine with other work running beside it
            page.get_by_role("link", name="打开审阅").first.wait_for(timeout=300_000)
            shot(page, "2-upload-done")
            page.get_by_role("link", name="打开审阅").first.click()
            idle(page)
            expect(page.get_by_role("heading", name=CASE)).to_be_visible()
            page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
            first = page.locator(ROW).first
            seg_id = int(first.get_attribute("data-segment-id") or 0)
            original = first.get_by_test_id("wbDeskText").inner_text()
            assert original.strip(), "the first segment has text"
            shot(page, "3-review")

            # Edit the first segment's text in the desk: typed at its end, saved as typing pauses (no page run);
            # then, out of typing (Esc), key 1 gives it the first speaker (without diarization: a new one, S1).
            edited = original + " zebra exhibit"
            first.get_by_test_id("wbDeskText").click()
            page.keyboard.press("End")
            page.keyboard.type(" zebra exhibit")
            page.keyboard.press("Escape")
            page.keyboard.press("1")
            expect(page.get_by_test_id("wbDeskSaveState")).to_have_attribute("data-state", "saved", timeout=15_000)
            expect(first.get_by_test_id("wbDeskText")).to_have_text(edited)
            # The player plays from `/audio/<recording>` (checked and audited per request), never a `/media/` URL.
            audio_src = page.get_by_test_id("wbDeskAudio").get_attribute("src") or ""
            assert urlparse(audio_src).path.startswith("/audio/"), audio_src
            shot(page, "4-review-edited")

            page.get_by_text("说话人 Speakers", exact=True).click()  # the speaker panel's view
            idle(page)
            panel = page.locator("[data-testid='stForm']").filter(has=page.get_by_text("保存说话人")).first
            choose(page, panel, "角色 Role", "审判长")
            panel.get_by_role("textbox", name="姓名 Name", exact=True).first.fill("张三")
            shot(page, "3-review-speakers")
            panel.get_by_role("button", name="保存说话人").click()
            idle(page)
            page.get_by_text("时间轴 Timeline", exact=True).click()
            idle(page)
            expect(page.locator("[data-testid='stVegaLiteChart']").first).to_be_attached()
            shot(page, "3-review-timeline")
            page.get_by_text("笔录 Transcript", exact=True).click()
            idle(page)
            page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
            expect(page.locator(f"{ROW}[data-segment-id='{seg_id}'] .wb-speaker")).to_have_text("审判长张三")

            # Hearings list: the uploaded hearing is in the table (the grid's cells are in the page for screen readers).
            page.goto(f"{url}/hearings")
            idle(page)
            expect(page.get_by_text("庭审列表").first).to_be_visible()
            table = page.locator("[data-testid='stDataFrame']").first
            expect(table).to_contain_text(CASE)
            expect(table).to_contain_text("审阅中")  # edited above: transcribed → in review
            shot(page, "5-hearings")

            # System page (an admin's, in a browser of its own): the pulled models by name, the job's models marked
            # loaded; then 卸载模型 empties the list. The clerk's navigation has no such page.
            expect(page.locator("[data-testid='stSidebarNav']").get_by_text("系统设置")).to_have_count(0)
            admin = new_context(browser)
            clerk_page, page = page, admin.new_page()
            sign_in(page, url, "admin1", next_path="/system")
            models_table = page.locator("[data-testid='stDataFrame']").first
            for name in MODELS:
                expect(models_table).to_contain_text(name)
            sidebar = page.locator("[data-testid='stSidebar']")
            expect(sidebar.get_by_text("已加载模型 Loaded models")).to_be_visible()
            expect(sidebar.get_by_text("whisper-base", exact=False).first).to_be_visible()
            shot(page, "6-system")
            sidebar.get_by_role("button", name="卸载模型 Unload models").click()
            # The answer is a toast, gone after a few seconds: looked for at once, before waiting for the page to
            # settle (on a busy machine settling took longer than the toast stays).
            expect(page.get_by_text("已卸载：").first).to_be_visible(timeout=30_000)
            idle(page)
            expect(sidebar.get_by_text("已加载模型：无 (none loaded)")).to_be_visible()
            expect(sidebar.get_by_text("whisper-base", exact=False)).to_have_count(0)
            shot(page, "6-system-unloaded")
            admin.close()
            page = clerk_page

            # Search for the edited word and land on the hearing at that moment.
            page.goto(f"{url}/search")
            idle(page)
            page.get_by_role("textbox", name="关键词 Query", exact=True).fill("zebra")
            page.get_by_role("button", name="检索").click()
            idle(page)
            expect(page.locator("mark").first).to_have_text("zebra")
            shot(page, "7-search")
            page.locator("[data-testid='stPageLink'] a").first.click()
            idle(page)
            assert "hearing=" in page.url and "t=" in page.url, page.url
            expect(page.get_by_role("heading", name=CASE)).to_be_visible()
            page.wait_for_selector(f"{DESK}[data-ready='1']", timeout=30_000)
            expect(page.locator(f"{ROW}[data-segment-id='{seg_id}'] [data-testid=wbDeskText]")).to_have_text(edited)
            shot(page, "8-search-opened-hearing")

            # The Word record, downloaded as a clerk does (from the export popover): a real .docx holding the edit.
            page.get_by_role("button", name="导出 Export").click()
            with page.expect_download() as download:
                page.get_by_role("button", name="Word 笔录").click()
            docx_path = data / "downloaded.docx"
            download.value.save_as(docx_path)
            assert download.value.suggested_filename == f"{CASE}-{hearing_of(page.url)}.docx"
        browser.close()
    import docx

    lines = [p.text for p in docx.Document(str(docx_path)).paragraphs]
    assert any("zebra exhibit" in line for line in lines), lines
    print(f"browser part took {time.monotonic() - started:.0f} s")

    # What the browser did is in the database: the edit with its user, the role.
    stop_server(proc)
    from workbench.store import Store, audit

    with Store(data / "workbench.duckdb") as store:
        edits = store.edits(segment_id=seg_id)
        text_edits = [e for e in edits if e.field == "text"]  # one, or more if the typing paused on the way
        assert text_edits and text_edits[-1].after.strip() == edited.strip(), [e.after for e in text_edits]
        assert store.segment(seg_id).text_orig.strip() == original.strip()
        hearing_id = store.segment(seg_id).hearing_id
        roles = {s.label: (s.role, s.name) for s in store.speakers(hearing_id)}
        assert ("审判长", "张三") in roles.values()
        assert store.case(CASE).parties[0].name == "甲公司"
        # The edit carries the signed-in account, and its audit row says the same; the uploader is a member.
        text_edit = next(e for e in edits if e.field == "text")
        assert text_edit.user == "clerk1" and text_edit.audit_id is not None
        row = next(r for r in store.audit_rows(account="clerk1", action=audit.EDITED) if r.id == text_edit.audit_id)
        assert row.hearing_id == hearing_id and row.client == "browser@127.0.0.1"  # the desk saves through the API
        signed = {r.account for r in store.audit_rows(action=audit.SIGN_IN)}
        assert {"clerk1", "admin1"} <= signed, signed
        # The download is audited with the hash of the very bytes the browser saved.
        docx_sha = hashlib.sha256(docx_path.read_bytes()).hexdigest()
        exports = store.audit_rows(account="clerk1", action=audit.EXPORTED, hearing_id=hearing_id)
        assert any(docx_sha in r.detail.values() for r in exports), [r.detail for r in exports]
        from workbench.accounts import Access, Accounts

        clerk_access = Access(store, Accounts(store).get("clerk1"))
        assert clerk_access.can_see_case(store.case(CASE).id)
