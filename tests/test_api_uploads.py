"""Resumable uploads (`/api/v1/uploads`) over HTTP against a real `workbench serve`, and through the upload page
in a real Chromium.

The server runs with `upload_max_mb` = 64, real accounts and API tokens made before it starts. A dropped
connection is a real one: a socket that sends half a PATCH body and closes. `take` and the 24-hour sweep are
checked in-process against a real store of their own.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from servers import free_port, make_accounts, make_session, make_token, start_server, stop_server

from workbench.api.core import ApiError

MAX_MB = 64
CASE = "（2024）京0105民初5555号"


@dataclass
class Server:
    port: int
    data: Path
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]
    cookie: str  # clerk1's browser session

    def request(
        self,
        method: str,
        path: str,
        *,
        who: str | None = "clerk1",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        con = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if who is not None:
            sent["Authorization"] = f"Bearer {self.tokens[who]}"
        con.request(method, "/api/v1" + path, body=body, headers=sent)
        r = con.getresponse()
        raw = r.read()
        con.close()
        got = {k.lower(): v for k, v in r.getheaders()}
        data = json.loads(raw) if raw and got.get("content-type", "").startswith("application/json") else raw
        return r.status, got, data

    def create(self, name: str = "第三法庭-0930.wav", size: int = 100, who: str = "clerk1") -> str:
        status, _, data = self.request(
            "POST", "/uploads", who=who, body=json.dumps({"name": name, "size": size}).encode(),
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        assert status == 201, data
        return str(data["id"])

    def patch(self, upload_id: str, offset: int, chunk: bytes, who: str = "clerk1") -> tuple[int, Any]:
        status, _, data = self.request(
            "PATCH", f"/uploads/{upload_id}", who=who, body=chunk,
            headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
        )  # fmt: skip
        return status, data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("uploads-server")
    db = data / "workbench.duckdb"
    make_accounts(db, {"admin1": "admin", "clerk1": "clerk", "clerk2": "clerk", "viewer1": "viewer"})
    tokens = {name: make_token(db, name) for name in ("admin1", "clerk1", "clerk2", "viewer1")}
    cookie = make_session(db, "clerk1")
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_UPLOAD_MAX_MB": str(MAX_MB), "WORKBENCH_WORKERS": "0"})
    try:
        yield Server(port, data, proc, tokens, cookie)
    finally:
        stop_server(proc)


def part_file(server: Server, upload_id: str) -> Path:
    return server.data / "uploads" / f"{upload_id}.part"


def test_create_chunks_and_state(server: Server) -> None:
    body = os.urandom(300_000)
    upload_id = server.create(size=len(body))
    status, headers, state = server.request("GET", f"/uploads/{upload_id}")
    assert status == 200 and state["offset"] == 0 and state["size"] == len(body) and not state["complete"]
    assert state["name"] == "第三法庭-0930.wav" and headers["upload-offset"] == "0"
    for start in range(0, len(body), 100_000):
        status, got = server.patch(upload_id, start, body[start : start + 100_000])
        assert status == 200, got
        assert got == {"offset": start + 100_000, "size": len(body)}
    status, headers, raw = server.request("HEAD", f"/uploads/{upload_id}")
    assert status == 200 and headers["upload-offset"] == str(len(body)) and headers["upload-length"] == str(len(body))
    assert raw == b""
    assert server.request("GET", f"/uploads/{upload_id}")[2]["complete"] is True
    assert part_file(server, upload_id).read_bytes() == body
    meta = json.loads((server.data / "uploads" / f"{upload_id}.json").read_text(encoding="utf-8"))
    assert meta["owner"] == "clerk1" and meta["size"] == len(body)
    assert (part_file(server, upload_id).stat().st_mode & 0o777) == 0o600


def test_a_patch_cut_off_mid_body_resumes_from_what_arrived(server: Server) -> None:
    body = os.urandom(2_000_000)
    upload_id = server.create(size=len(body))
    # A real dropped connection: the request declares 2 MB, sends half, and the socket closes.
    half = 1_000_000
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        head = (
            f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.tokens['clerk1']}\r\n"
            "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body[:half])
        time.sleep(0.5)
    deadline = time.monotonic() + 10
    while True:  # the server notices the drop, keeps what came, syncs it and lets go of the upload
        status, headers, _ = server.request("HEAD", f"/uploads/{upload_id}")
        offset = int(headers["upload-offset"])
        if offset == half or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and offset == half
    status, got = server.patch(upload_id, offset, body[offset:])
    assert status == 200 and got["offset"] == len(body), got
    assert part_file(server, upload_id).read_bytes() == body


def test_one_patch_at_a_time_per_upload(server: Server) -> None:
    """A second PATCH while one is still sending waits for it, then answers 409 busy: two writers never
    interleave their bytes in one file."""
    body = os.urandom(200_000)
    upload_id = server.create(size=len(body))
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as s:
        head = (
            f"PATCH /api/v1/uploads/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.tokens['clerk1']}\r\n"
            "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        s.sendall(head.encode() + body[:50_000])  # and holds the connection open
        time.sleep(0.5)
        started = time.monotonic()
        status, got = server.patch(upload_id, 0, b"z" * 1000)
        assert status == 409 and got["error"] == "busy", got
        assert time.monotonic() - started >= 5, "it waited for the first"
        s.sendall(body[50_000:])
        reply = s.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
    assert part_file(server, upload_id).read_bytes() == body


def test_a_wrong_offset_is_409_with_the_current_one(server: Server) -> None:
    upload_id = server.create(size=1000)
    assert server.patch(upload_id, 0, b"a" * 400)[0] == 200
    for wrong in (0, 399, 401, 1000):
        status, got = server.patch(upload_id, wrong, b"b" * 10)
        assert status == 409 and got["error"] == "offset_mismatch" and got["offset"] == 400, got
    assert part_file(server, upload_id).read_bytes() == b"a" * 400
    status, _, got = server.request(
        "PATCH", f"/uploads/{upload_id}", body=b"x",
        headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": "-1"},
    )  # fmt: skip
    assert status == 422 and "Upload-Offset" in got["detail"]
    status, _, got = server.request(
        "PATCH", f"/uploads/{upload_id}", body=b"x", headers={"Content-Type": "application/offset+octet-stream"}
    )
    assert status == 422 and got["error"] == "missing_header"


def test_past_the_declared_size_or_the_setting_is_413(server: Server) -> None:
    upload_id = server.create(size=1000)
    assert server.patch(upload_id, 0, b"a" * 600)[0] == 200
    status, got = server.patch(upload_id, 600, b"b" * 401)  # Content-Length says it at once
    assert status == 413 and got["error"] == "too_large", got

    # Without a Content-Length (chunked): refused once the bytes pass the size, and nothing of it is kept.
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"c" * 100

    con = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    con.request("PATCH", f"/api/v1/uploads/{upload_id}", body=chunks(), encode_chunked=True, headers={
        "Authorization": f"Bearer {server.tokens['clerk1']}", "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "600", "Transfer-Encoding": "chunked"})  # fmt: skip
    r = con.getresponse()
    assert r.status == 413, r.read()
    con.close()
    assert part_file(server, upload_id).read_bytes() == b"a" * 600
    assert server.request("GET", f"/uploads/{upload_id}")[2]["offset"] == 600

    status, _, got = server.request(
        "POST", "/uploads", body=json.dumps({"name": "big.wav", "size": (MAX_MB << 20) + 1}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 413 and f"{MAX_MB} MB" in got["detail"]
    status, _, _ = server.request(
        "POST", "/uploads", body=json.dumps({"name": "ok.wav", "size": MAX_MB << 20}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 201


def test_bad_requests_name_what_is_wrong(server: Server) -> None:
    def post(body: Any, content_type: str = "application/json") -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, _, got = server.request("POST", "/uploads", body=raw, headers={"Content-Type": content_type})
        return status, got

    status, got = post({"name": "notes.txt", "size": 10})
    assert status == 422 and "name" in got["detail"] and "录音格式" in got["detail"]
    for size in (0, -5, "10", True, 1.5, None):
        status, got = post({"name": "a.wav", "size": size})
        assert status == 422 and got["detail"].startswith("size"), (size, got)
    status, got = post({"name": "", "size": 10})
    assert status == 422 and got["detail"].startswith("name")
    assert post(b"{not json")[0] == 422
    assert post([1, 2])[0] == 422
    assert post({"name": "a.wav", "size": 10}, "text/plain")[0] == 415
    upload_id = server.create(size=10)
    status, _, got = server.request(
        "PATCH", f"/uploads/{upload_id}", body=b"x", headers={"Content-Type": "text/plain", "Upload-Offset": "0"}
    )
    assert status == 415 and "octet-stream" in got["detail"]


def test_another_accounts_upload_answers_like_a_missing_one(server: Server) -> None:
    upload_id = server.create(size=100, who="clerk1")
    missing = "A" * 32
    for method, body, headers in (
        ("GET", None, {}),
        ("PATCH", b"x" * 10, {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}),
        ("DELETE", None, {}),
    ):
        theirs = server.request(method, f"/uploads/{upload_id}", who="clerk2", body=body, headers=headers)
        nothing = server.request(method, f"/uploads/{missing}", who="clerk2", body=body, headers=headers)
        assert theirs[0] == nothing[0] == 404 and theirs[2] == nothing[2], (method, theirs, nothing)
    assert server.request("HEAD", f"/uploads/{upload_id}", who="clerk2")[0] == 404
    # A path for an id: refused before any file name is made of it (Streamlit's path check or our id check).
    assert server.request("GET", "/uploads/..%2F..%2Fworkbench.duckdb", who="clerk2")[0] in (400, 404)
    assert server.request("GET", "/uploads/" + "." * 32, who="clerk2")[0] in (400, 404)
    # Not even an admin reads another account's upload: it is only its sender's to finish.
    assert server.request("GET", f"/uploads/{upload_id}", who="admin1")[0] == 404
    # Still there, untouched, for its owner.
    assert server.request("GET", f"/uploads/{upload_id}")[2]["offset"] == 0
    assert part_file(server, upload_id).read_bytes() == b""


def test_no_auth_is_401_and_a_viewer_may_not_upload(server: Server) -> None:
    upload_id = server.create(size=10)
    for method, path in (("POST", "/uploads"), ("GET", f"/uploads/{upload_id}"),
                         ("PATCH", f"/uploads/{upload_id}"), ("DELETE", f"/uploads/{upload_id}")):  # fmt: skip
        status, headers, got = server.request(method, path, who=None, body=b"{}")
        assert status == 401 and got["error"] == "unauthorized" and "bearer" in headers["www-authenticate"].lower()
    status, _, got = server.request(
        "GET", f"/uploads/{upload_id}", who=None, headers={"Authorization": "Bearer wbt_" + "x" * 43}
    )
    assert status == 401
    status, _, got = server.request(
        "POST", "/uploads", who="viewer1", body=json.dumps({"name": "a.wav", "size": 10}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 403, got


def test_the_browser_session_needs_its_header_on_writes(server: Server) -> None:
    cookie = {"Cookie": f"wb_session={server.cookie}"}
    body = json.dumps({"name": "a.wav", "size": 4}).encode()
    status, _, got = server.request(
        "POST", "/uploads", who=None, body=body, headers={**cookie, "Content-Type": "application/json"}
    )
    assert status == 403 and got["error"] == "csrf"
    status, _, got = server.request(
        "POST", "/uploads", who=None, body=body,
        headers={**cookie, "Content-Type": "application/json", "X-Workbench-Client": "browser"},
    )  # fmt: skip
    assert status == 201
    upload_id = got["id"]
    patch = {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    assert (
        server.request("PATCH", f"/uploads/{upload_id}", who=None, body=b"abcd", headers={**cookie, **patch})[0] == 403
    )
    status, _, got = server.request(
        "PATCH", f"/uploads/{upload_id}", who=None, body=b"abcd",
        headers={**cookie, **patch, "X-Workbench-Client": "browser"},
    )  # fmt: skip
    assert status == 200 and got["offset"] == 4
    # The same upload through the account's token: one owner, whichever way it signs in.
    assert server.request("GET", f"/uploads/{upload_id}")[2]["complete"] is True
    # A foreign page's script is refused before any auth (Origin).
    status, _, _ = server.request(
        "GET", f"/uploads/{upload_id}", who=None, headers={**cookie, "Origin": "https://evil.example"}
    )
    assert status == 403


def test_delete_removes_the_bytes(server: Server) -> None:
    upload_id = server.create(size=10)
    assert server.patch(upload_id, 0, b"12345")[0] == 200
    status, _, got = server.request("DELETE", f"/uploads/{upload_id}")
    assert status == 200 and got == {"deleted": True}
    assert not part_file(server, upload_id).exists()
    assert server.request("GET", f"/uploads/{upload_id}")[0] == 404
    assert server.patch(upload_id, 5, b"67890")[0] == 404


def test_a_finished_upload_becomes_a_hearing_once(server: Server) -> None:
    from conftest import clip

    audio = clip("pyannote_sample.wav").read_bytes()
    upload_id = server.create(name="庭审录音.wav", size=len(audio))
    half = len(audio) // 2
    assert server.patch(upload_id, 0, audio[:half])[0] == 200
    hearing = {"case": CASE, "courtroom": "第三法庭", "uploads": [upload_id]}

    def add(who: str = "clerk1") -> tuple[int, Any]:
        status, _, got = server.request(
            "POST",
            "/hearings",
            who=who,
            body=json.dumps(hearing).encode(),
            headers={"Content-Type": "application/json"},
        )
        return status, got

    status, got = add()
    assert status == 409 and got["error"] == "incomplete", got
    assert server.patch(upload_id, half, audio[half:])[0] == 200
    assert add("clerk2")[0] == 404  # another's upload id: as if missing, and nothing is made
    status, got = add()
    assert status == 201, got
    [sub] = got["submissions"]
    assert sub["file"] == "庭审录音.wav" and sub["job_id"] and not sub["duplicate"]
    assert server.request("GET", f"/uploads/{upload_id}")[0] == 404, "consumed"
    assert add()[0] == 404
    status, _, shown = server.request("GET", f"/hearings/{sub['hearing_id']}")
    assert status == 200 and shown["case"] == CASE and shown["recordings"][0]["file_name"] == "庭审录音.wav"


# --- in-process: take and the sweep, on a real store --------------------------------------------------


@pytest.fixture
def local(tmp_path: Path):  # type: ignore[no-untyped-def]
    from servers import make_account

    from workbench.accounts import Access
    from workbench.api.uploads import Uploads
    from workbench.store import Store

    store = Store(tmp_path / "wb.duckdb")
    clerk = Access(store, make_account(store, "clerk1", "clerk"), "test")
    other = Access(store, make_account(store, "clerk2", "clerk"), "test")
    yield Uploads(tmp_path / "uploads"), clerk, other
    store.close()


def test_take_gives_a_complete_upload_to_its_owner_only(local) -> None:  # type: ignore[no-untyped-def]
    uploads, clerk, other = local
    upload = uploads.create(clerk, "../../第三法庭.mp3", 3)
    with pytest.raises(ApiError) as e:
        uploads.take(clerk, upload.id)
    assert e.value.status == 409 and e.value.error == "incomplete"
    uploads.part_path(upload.id).write_bytes(b"abc")
    with pytest.raises(ApiError) as e:
        uploads.take(other, upload.id)
    assert e.value.status == 404
    with pytest.raises(ApiError) as e:
        uploads.take(clerk, "nope")
    assert e.value.status == 404
    name, path = uploads.take(clerk, upload.id)
    assert name == "../../第三法庭.mp3" and path.name == "第三法庭.mp3" and path.read_bytes() == b"abc"
    assert path.parent.parent == uploads.root, "the name's folders are dropped"
    assert uploads.take(clerk, upload.id) == (name, path), "again, until the caller consumes it"
    assert not uploads.part_path(upload.id).exists(), "no PATCH can write to it any more"
    path.unlink()
    with pytest.raises(ApiError) as e:
        uploads.take(clerk, upload.id)
    assert e.value.status == 404


def test_uploads_untouched_for_a_day_are_swept(local) -> None:  # type: ignore[no-untyped-def]
    uploads, clerk, _ = local
    old, fresh = uploads.create(clerk, "old.wav", 10), uploads.create(clerk, "fresh.wav", 10)
    day_ago = time.time() - 24 * 3600 - 60
    for p in (uploads.part_path(old.id), uploads.meta_path(old.id)):
        os.utime(p, (day_ago, day_ago))
    uploads.create(clerk, "new.wav", 10)  # each POST sweeps
    assert not uploads.part_path(old.id).exists() and not uploads.meta_path(old.id).exists()
    assert uploads.part_path(fresh.id).exists()


def test_one_account_holds_a_bounded_number_of_unfinished_uploads(local) -> None:  # type: ignore[no-untyped-def]
    from workbench.api import uploads as module

    uploads, clerk, other = local
    for _ in range(module.OPEN_PER_ACCOUNT):
        uploads.create(clerk, "a.wav", 10)
    with pytest.raises(ApiError) as e:
        uploads.create(clerk, "a.wav", 10)
    assert e.value.status == 409 and e.value.error == "too_many"
    uploads.create(other, "a.wav", 10)  # another account is not held up


# --- the upload page, in a real Chromium ---------------------------------------------------------------


@pytest.mark.e2e
def test_the_upload_page_sends_a_recording_through_the_api_and_resumes(server: Server) -> None:
    """Signs in as the clerk, picks a real recording; its first PATCH is cut off (the request never arrives),
    the page's script asks HEAD and sends it again; then the page submits the upload and the hearing is queued."""
    from browser import ARGS, CHROMIUM, idle, new_context, shot, shots_on_failure, sign_in
    from conftest import clip, require_tool
    from playwright.sync_api import expect, sync_playwright

    require_tool(CHROMIUM, install="apt-get install chromium")
    recording = clip("pyannote_sample.wav")
    case = "（2024）京0105民初6666号"
    url = f"http://127.0.0.1:{server.port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        with shots_on_failure(browser, "failed-upload-page"):
            page = new_context(browser).new_page()
            sign_in(page, url, "clerk1", next_path="/upload")
            calls: list[str] = []
            page.on("request", lambda r: calls.append(r.method) if "/api/v1/uploads" in r.url else None)
            dropped: list[str] = []

            def cut_first_patch(route) -> None:  # type: ignore[no-untyped-def]
                if route.request.method == "PATCH" and not dropped:
                    dropped.append(route.request.headers.get("upload-offset", ""))
                    route.abort("connectionreset")
                else:
                    route.continue_()

            page.route("**/api/v1/uploads/**", cut_first_patch)
            page.get_by_role("textbox", name="案号 Case number", exact=True).fill(case)
            page.get_by_role("textbox", name="法庭 Courtroom", exact=True).fill("第三法庭")
            page.get_by_role("textbox", name="法庭 Courtroom", exact=True).press("Tab")
            idle(page)
            page.locator("[data-testid='wbUploadInput']").set_input_files(str(recording))
            done = page.locator("[data-testid='wbUploadItem'][data-state='done']")
            expect(done).to_be_visible(timeout=60_000)
            expect(done).to_contain_text(recording.name)
            shot(page, "upload-component")
            assert dropped == ["0"], dropped
            assert calls[0] == "POST" and "HEAD" in calls[calls.index("PATCH") :], calls
            submit = page.get_by_role("button", name="提交转写（1 个文件）")
            expect(submit).to_be_enabled(timeout=30_000)
            submit.click()
            idle(page)
            expect(page.get_by_text("已加入处理队列：1 个文件")).to_be_visible()
            expect(page.get_by_text(recording.name).first).to_be_visible()
            browser.close()
    status, _, listed = server.request("GET", f"/hearings?case={quote(case)}")
    assert status == 200 and listed["total"] == 1, listed
    [hearing] = listed["items"]
    assert hearing["status"] == "queued" and hearing["courtroom"] == "第三法庭"
    status, _, jobs = server.request("GET", f"/jobs?hearing={hearing['id']}")
    assert status == 200 and [j["state"] for j in jobs["items"]] == ["queued"]
