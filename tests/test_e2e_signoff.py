"""The sign-off in a real browser against a real server: the clerk checks, the judge approves, the clerk locks;
then the desk is read-only and a save through the API with the browser's own session is refused (409 locked);
the Word record the page hands out verifies against the store.

One module-scoped server and store (`tests/servers.py`), Chromium through Playwright (`tests/browser.py`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from browser import ARGS, CHROMIUM, new_context, shots_on_failure, sign_in
from conftest import clip, require_tool
from servers import free_port, make_account, setup_actor, start_server, stop_server

pytestmark = pytest.mark.e2e

CASE = "（2025）京0105民初316号"
TEXT = ["现在开庭，请原告陈述诉讼请求。", "原告请求判令被告支付货款。", "被告对证据的真实性没有异议。"]
CLERK, JUDGE = "clerk_s", "judge_s"
# A save from the desk's own script, made here with the page's cookie: what the desk would send.
SAVE_JS = """async ([hid, sid]) => {
    const r = await fetch(`/api/v1/hearings/${hid}/edits`, {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-Workbench-Client": "browser"},
        body: JSON.stringify({edits: [{segment_id: sid, text: "改写", version: 0}]})});
    return [r.status, await r.text()];
}"""


def _fill(data: Path) -> tuple[int, int]:
    from workbench.accounts import Access, Accounts
    from workbench.speech.transcript import EngineInfo, Segment, SpeakerSummary, Transcript
    from workbench.store import Store

    with Store(data / "workbench.duckdb") as store:
        for name, role in {"admin_s": "admin", CLERK: "clerk", JUDGE: "judge"}.items():
            make_account(store, name, role)
        case = store.add_case(CASE, actor=setup_actor())
        hearing_id = store.add_hearing(case.id, starts_at=datetime(2025, 3, 4, 9, 30), courtroom="第一法庭")
        sha, stored = store.store_audio(clip("zh_aishell1_BAC009S0764W0121.wav"))
        with store.writing() as con:
            store.add_recording(
                hearing_id, file_name="a.wav", stored_path=stored, sha256=sha, duration=4.2, format="wav", con=con
            )
        segments = [Segment(i * 1.4, (i + 1) * 1.4, t, "S1") for i, t in enumerate(TEXT)]
        store.save_transcript(
            hearing_id,
            Transcript("a.wav", sha, 4.2, "zh", EngineInfo("whisper", "e2e"), segments, [SpeakerSummary("S1", 4.2, 0)]),
        )
        admin = Access(store, Accounts(store).get("admin_s"), "test")
        for name in (CLERK, JUDGE):
            admin.grant(CASE, name)
        return hearing_id, store.segments(hearing_id)[0].id


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, int, int]]:
    require_tool(CHROMIUM, install="apt-get install chromium")
    data = tmp_path_factory.mktemp("e2e-signoff")
    hearing_id, segment_id = _fill(data)
    port = free_port()
    proc = start_server(data, port)
    try:
        yield f"http://127.0.0.1:{port}", data, hearing_id, segment_id
    finally:
        stop_server(proc)


def _step(page, label: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("button", name=label).click()
    expect(page.get_by_role("button", name=label)).to_have_count(0, timeout=20_000)


def test_check_approve_lock_in_the_browser_then_the_record_is_read_only_and_its_export_verifies(
    server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect, sync_playwright

    url, data, hearing_id, segment_id = server
    review = f"/review?hearing={hearing_id}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        with shots_on_failure(browser, "signoff"):
            clerk = new_context(browser).new_page()
            sign_in(clerk, url, CLERK, next_path=review)
            clerk.wait_for_selector("[data-testid=wbDesk][data-ready='1']")
            expect(clerk.get_by_role("button", name="审批通过")).to_have_count(0)  # a clerk never approves
            _step(clerk, "标记已核对")
            expect(clerk.get_by_text("已核对").first).to_be_visible()

            judge = new_context(browser).new_page()
            sign_in(judge, url, JUDGE, next_path=review)
            _step(judge, "审批通过")
            expect(judge.get_by_text("已审批").first).to_be_visible()

            clerk.reload()
            _step(clerk, "锁定笔录")
            expect(clerk.get_by_text("笔录已锁定").first).to_be_visible()
            clerk.wait_for_selector("[data-testid=wbDesk][data-ready='1']")
            assert clerk.locator("[data-testid=wbDesk] [contenteditable]").count() == 0, "a locked desk is read-only"
            status, body = clerk.evaluate(SAVE_JS, [hearing_id, segment_id])
            assert status == 409 and "locked" in body, (status, body)

            # the Word record from the export popover: its code verifies against the store
            clerk.get_by_role("button", name="导出 Export").click()
            with clerk.expect_download() as download:
                clerk.get_by_role("button", name="Word 笔录").click()
            saved = tmp_path / "record.docx"
            download.value.save_as(saved)  # the browser's own copy goes with the browser
            browser.close()

    # `workbench verify` beside the running server: the file goes to POST /records/verify over HTTP
    env = {**os.environ, "WORKBENCH_DATA": str(data)}
    for name in ("WORKBENCH_SERVER", "WORKBENCH_TOKEN", "WORKBENCH_DB"):
        env.pop(name, None)
    workbench = str(Path(sys.executable).with_name("workbench"))
    done = subprocess.run([workbench, "verify", str(saved), "--as", CLERK], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "已锁定 (locked)" in done.stdout, done.stdout + done.stderr
