"""The API's HTTP door (`workbench.api.http`) against a real `workbench serve`: who may call, bodies, errors, streams.

One server for the module, on its own data folder: an admin (ada, with an API token), a clerk (cleo, a
member of the sample hearing's case, with a browser session), an account that must change its password
(mona, with a session) and a disabled one (dora, with a token made before she was disabled).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
import requests
import store_samples
from servers import (
    free_port,
    make_account,
    make_session,
    make_token,
    server_info,
    setup_actor,
    start_server,
    stop_server,
)

from workbench.accounts import Access, Accounts
from workbench.api import core, system
from workbench.store import Store

UPLOAD_MAX_MB = 24


class World:
    def __init__(self, data: Path, port: int, proc: Any, info: dict[str, Any], secrets: dict[str, str]) -> None:
        self.data = data
        self.base = f"http://127.0.0.1:{port}"
        self.api = self.base + "/api/v1"
        self.proc = proc
        self.info = info
        self.secrets = secrets
        self.hearing_id = int(secrets["hearing_id"])

    def bearer(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    @property
    def ada(self) -> dict[str, str]:
        return self.bearer(self.secrets["ada_token"])

    @property
    def console(self) -> dict[str, str]:
        return self.bearer(self.info["console_key"])

    def log(self) -> str:
        return (self.data / "server.log").read_text(errors="replace")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    data = tmp_path_factory.mktemp("api-http")
    db = data / "workbench.duckdb"
    with Store(db) as store:
        ada = make_account(store, "ada", "admin")
        make_account(store, "cleo", "clerk")
        make_account(store, "mona", "clerk", must_change=True)
        make_account(store, "dora", "clerk")
        make_account(store, "vera", "viewer")
        hid = store_samples.hearing(store)
        Access(store, ada, "test").grant(store.hearing(hid).case_id, "cleo")
    secrets = {
        "ada_token": make_token(db, "ada", "ci"),
        "dora_token": make_token(db, "dora", "old"),
        "cleo_cookie": make_session(db, "cleo"),
        "mona_cookie": make_session(db, "mona"),
        "mona_token": make_token(db, "mona", "before-reset"),
        "vera_token": make_token(db, "vera", "archive"),
        "hearing_id": str(hid),
    }
    with Store(db) as store:
        Accounts(store).disable("dora", by=setup_actor())
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_UPLOAD_MAX_MB": str(UPLOAD_MAX_MB)})
    try:
        yield World(data, port, proc, server_info(data), secrets)
    finally:
        stop_server(proc)


def error_of(r: requests.Response) -> str:
    body = r.json()
    assert set(body) == {"error", "detail"}, body
    assert body["detail"]
    return str(body["error"])


# --- who may call --------------------------------------------------------------------------------------


def test_no_credentials_is_a_json_401_with_a_bearer_challenge(world: World) -> None:
    r = requests.get(world.api + "/health", allow_redirects=False)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.headers["content-type"].startswith("application/json")
    assert error_of(r) == "unauthorized"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer wbt_" + "A" * 43,  # well formed, never issued
        "Bearer wbc_" + "A" * 43,  # a console key, not this server's
        "Bearer ",
        "Basic YWRhOnBhc3N3b3Jk",
        "Bearer " + "x" * 5000,
    ],
)
def test_a_bad_token_is_401(world: World, authorization: str) -> None:
    r = requests.get(world.api + "/health", headers={"Authorization": authorization})
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_a_disabled_accounts_token_is_401(world: World) -> None:
    r = requests.get(world.api + "/health", headers=world.bearer(world.secrets["dora_token"]))
    assert r.status_code == 401


def test_a_token_reads_health_as_its_schema_says(world: World) -> None:
    r = requests.get(world.api + "/health", headers=world.ada)
    assert r.status_code == 200, r.text
    body = r.json()
    jsonschema.validate(body, system.HEALTH_SCHEMA)
    assert body["worker"]["state"] in ("idle", "running")  # the server runs a worker
    assert body["schema_version"] >= 7
    assert body["memory"]["rss_mb"] > 10


def test_models_lists_the_registry(world: World) -> None:
    r = requests.get(world.api + "/models", headers=world.ada)
    assert r.status_code == 200, r.text
    page = r.json()
    jsonschema.validate(page, core.page_schema(system.MODEL_SCHEMA))
    kinds = {m["kind"] for m in page["items"] if m["default"]}
    assert len(kinds) == sum(1 for m in page["items"] if m["default"])  # one default per kind at most


def test_the_session_cookie_reads_but_writes_only_with_the_browser_header(world: World) -> None:
    cookies = {"wb_session": world.secrets["cleo_cookie"]}
    assert requests.get(world.api + "/health", cookies=cookies).status_code == 200
    body = {"number": "（2025）京0105民初77号"}
    r = requests.post(world.api + "/cases", cookies=cookies, json=body)
    assert r.status_code == 403
    assert error_of(r) == "csrf"
    r = requests.post(world.api + "/cases", cookies=cookies, json=body, headers={"X-Workbench-Client": "other"})
    assert r.status_code == 403
    r = requests.post(world.api + "/cases", cookies=cookies, json=body, headers={"X-Workbench-Client": "browser"})
    assert r.status_code == 201, r.text  # a clerk may open a case


def test_a_stale_or_forged_cookie_is_401(world: World) -> None:
    r = requests.get(world.api + "/health", cookies={"wb_session": "not-a-session"})
    assert r.status_code == 401


def test_an_account_that_must_change_its_password_is_refused(world: World) -> None:
    r = requests.get(world.api + "/health", cookies={"wb_session": world.secrets["mona_cookie"]})
    assert r.status_code == 403
    assert error_of(r) == "must_change_password"


def test_a_token_of_an_account_that_must_change_its_password_is_refused(world: World) -> None:
    r = requests.get(world.api + "/health", headers=world.bearer(world.secrets["mona_token"]))
    assert r.status_code == 403
    assert error_of(r) == "must_change_password"


def test_the_console_key_is_refused_from_another_machine(world: World) -> None:
    from starlette.requests import Request

    from workbench.api import http

    def request_from(host: str) -> Request:
        headers = [(b"authorization", f"Bearer {world.info['console_key']}".encode())]
        return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (host, 5000)})

    http.set_console_key(world.info["console_key"])
    try:
        with Store(world.data / "copy.duckdb") as store:
            assert http._resolve(store, request_from("127.0.0.1")).account.role.value == "admin"
            with pytest.raises(core.ApiError) as refused:
                http._resolve(store, request_from("10.1.2.3"))
    finally:
        http.set_console_key(None)
    assert refused.value.status == 401


def test_another_sites_origin_is_refused_even_with_a_token(world: World) -> None:
    headers = {**world.ada, "Origin": "https://evil.example"}
    r = requests.get(world.api + "/health", headers=headers)
    assert r.status_code == 403
    r = requests.post(world.api + "/cases", headers=headers, json={"number": "（2025）京0105民初78号"})
    assert r.status_code == 403
    # and another Host (DNS rebinding)
    r = requests.get(world.api + "/health", headers={**world.ada, "Host": "evil.example"})
    assert r.status_code == 400


def test_the_console_key_runs_as_the_only_admin_or_as_named(world: World) -> None:
    r = requests.get(world.api + "/health", headers=world.console)
    assert r.status_code == 200, r.text
    r = requests.get(world.api + "/tokens", headers={**world.console, "X-Workbench-As": "cleo"})
    assert r.status_code in (200, 404), r.text  # the tokens resource may not be there yet
    time.sleep(0.2)
    assert "api ada GET /health 200" in world.log()
    if r.status_code == 200:
        assert "api cleo GET /tokens" in world.log()
    r = requests.get(world.api + "/health", headers={**world.console, "X-Workbench-As": "nobody"})
    assert r.status_code == 401
    assert error_of(r) == "no_account"
    r = requests.get(world.api + "/health", headers={**world.console, "X-Workbench-As": "dora"})
    assert r.status_code == 401  # disabled
    r = requests.get(world.api + "/health", headers={**world.console, "X-Workbench-Login": "../x y"})
    assert r.status_code == 422


def test_no_secret_reaches_the_log(world: World) -> None:
    requests.get(world.api + "/health", headers=world.ada)
    requests.get(world.api + "/health", headers=world.console)
    requests.get(world.api + "/health", cookies={"wb_session": world.secrets["cleo_cookie"]})
    time.sleep(0.2)
    log = world.log()
    for secret in (world.secrets["ada_token"], world.secrets["cleo_cookie"], world.info["console_key"]):
        assert secret not in log


# --- routes, methods, bodies ---------------------------------------------------------------------------


def test_unknown_route_is_404_and_wrong_method_405(world: World) -> None:
    r = requests.get(world.api + "/no/such/thing", headers=world.ada)
    assert r.status_code == 404
    assert error_of(r) == "no_such_route"
    r = requests.delete(world.api + "/health", headers=world.ada)
    assert r.status_code == 405
    assert error_of(r) == "method_not_allowed"


def test_unknown_query_parameter_is_422(world: World) -> None:
    r = requests.get(world.api + "/models", headers=world.ada, params={"colour": "red"})
    assert r.status_code == 422
    r = requests.get(world.api + "/models", headers=world.ada, params={"limit": "many"})
    assert r.status_code == 422


def test_a_body_that_is_not_json_is_415(world: World) -> None:
    headers = {**world.ada, "Content-Type": "text/plain"}
    r = requests.post(world.api + "/cases", headers=headers, data="number=1")
    assert r.status_code == 415
    assert error_of(r) == "unsupported_media_type"
    # multipart only where the endpoint takes files
    r = requests.post(world.api + "/cases", headers=world.ada, files={"meta": (None, "{}")})
    assert r.status_code == 415


def test_bad_json_is_422(world: World) -> None:
    headers = {**world.ada, "Content-Type": "application/json"}
    for raw in (b"{", b'{"number": }', b"\xff\xfe"):
        r = requests.post(world.api + "/cases", headers=headers, data=raw)
        assert r.status_code == 422, raw
        assert error_of(r) == "bad_json"


def test_a_json_body_over_1_mib_is_413(world: World) -> None:
    headers = {**world.ada, "Content-Type": "application/json"}
    big = json.dumps({"number": "x" * (1024 * 1024 + 10)})
    assert requests.post(world.api + "/cases", headers=headers, data=big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
        yield b'{"number": "'
        for _ in range(17):
            yield b"x" * 65536
        yield b'"}'

    assert requests.post(world.api + "/cases", headers=headers, data=chunks()).status_code == 413


# --- multipart uploads ---------------------------------------------------------------------------------


def _spooled(world: World) -> list[Path]:
    audio = world.data / "audio"
    return sorted(audio.glob(".upload-*")) if audio.is_dir() else []


def _multipart(boundary: str, meta: str, file_chunks: Iterator[bytes], name: str) -> Iterator[bytes]:
    yield (
        f'--{boundary}\r\nContent-Disposition: form-data; name="meta"\r\n'
        f"Content-Type: application/json\r\n\r\n{meta}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: audio/wav\r\n\r\n"
    ).encode()
    yield from file_chunks
    yield f"\r\n--{boundary}--\r\n".encode()


def test_an_upload_part_past_upload_max_mb_is_413_and_leaves_nothing(world: World) -> None:
    limit = UPLOAD_MAX_MB * 1024 * 1024
    boundary = "wbtestboundary"

    def body() -> Iterator[bytes]:
        sent = 0
        while sent < limit + 100:  # just past the limit, so the whole body is on its way when the server answers
            n = min(1024 * 1024, limit + 100 - sent)
            sent += n
            yield b"\0" * n

    r = requests.post(
        world.api + "/hearings",
        headers={**world.ada, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        data=_multipart(boundary, "{}", body(), "big.wav"),
    )
    assert r.status_code == 413, r.text
    assert error_of(r) == "too_large"
    assert _spooled(world) == []


def test_an_upload_is_streamed_to_disk_not_held_in_memory(world: World) -> None:
    """While the file part arrives, its bytes grow in `<audio>/.upload-*` and the server's RSS does not grow by
    the file's size; after the handler (here it refuses the meta) the spooled file is gone."""
    boundary = "wbtestboundary2"
    size = 20 * 1024 * 1024
    server = psutil.Process(world.proc.pid)

    def warm() -> None:  # the first multipart call imports what it needs; measure after it
        r = requests.post(world.api + "/hearings", headers=world.ada, files={"meta": (None, "{}"), "file": ("w", b"x")})
        assert r.status_code == 422, r.text

    # the server's own warm-up (pandas, jieba's dictionary, DuckDB's cache) grows RSS by tens of MB in the
    # background: on a busy machine it may still run when this test starts, so wait for it to end
    deadline = time.monotonic() + 120
    while "warmed up in" not in world.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    warm()
    before = server.memory_info().rss
    seen_on_disk: list[int] = []
    peak = [before]

    def body() -> Iterator[bytes]:
        for i in range(size // (1024 * 1024)):
            yield os.urandom(1024 * 1024)
            if i == 12:  # part-way: the server has written what came so far to its spool file
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    files = _spooled(world)
                    if files and files[0].stat().st_size >= 8 * 1024 * 1024:
                        seen_on_disk.append(files[0].stat().st_size)
                        break
                    time.sleep(0.05)
            peak[0] = max(peak[0], server.memory_info().rss)

    r = requests.post(
        world.api + "/hearings",
        headers={**world.ada, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        data=_multipart(boundary, "{}", body(), "庭审录音.wav"),
    )
    assert r.status_code == 422, r.text  # {} names no case: the handler refused it, after the file was spooled
    assert seen_on_disk, "the file part was not being written to <audio>/.upload-* as it arrived"
    peak[0] = max(peak[0], server.memory_info().rss)
    assert peak[0] - before < size // 2, f"RSS grew by {(peak[0] - before) >> 20} MB for a {size >> 20} MB upload"
    assert _spooled(world) == []


def test_a_viewers_multipart_is_refused_before_its_files_are_spooled(world: World) -> None:
    boundary = "wbtestboundary"
    sent = []

    def body() -> Iterator[bytes]:
        for _ in range(4):
            sent.append(1)
            yield b"\0" * (1024 * 1024)

    r = requests.post(
        world.api + "/hearings",
        headers={
            **world.bearer(world.secrets["vera_token"]),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
        data=_multipart(boundary, '{"case": "x"}', body(), "a.wav"),
    )
    assert r.status_code == 403, r.text
    assert _spooled(world) == []


def test_deeply_nested_json_and_a_huge_id_are_422_not_500(world: World) -> None:
    nested = "[" * 100_000 + "]" * 100_000
    r = requests.post(
        world.api + "/cases", headers={**world.ada, "Content-Type": "application/json"}, data=nested.encode()
    )
    assert r.status_code in (413, 422), r.text
    r = requests.get(world.api + "/jobs", headers=world.ada, params={"hearing": str(2**130)})
    assert r.status_code == 422, r.text
    assert error_of(r) == "bad_param"


def test_head_of_an_export_is_refused(world: World) -> None:
    r = requests.head(world.api + f"/hearings/{world.hearing_id}/export", headers=world.ada, params={"format": "docx"})
    assert r.status_code == 405  # the handler, which renders the file and audits the export, never ran


def test_bad_multipart_is_422(world: World) -> None:
    headers = {**world.ada, "Content-Type": "multipart/form-data; boundary=zz"}
    r = requests.post(world.api + "/hearings", headers=headers, data=b"--zz\r\nContent-Disposition: form-data\r\n\r\n")
    assert r.status_code == 422
    headers = {**world.ada, "Content-Type": "multipart/form-data"}  # no boundary
    r = requests.post(world.api + "/hearings", headers=headers, data=b"x")
    assert r.status_code == 422
    r = requests.post(world.api + "/hearings", headers=world.ada, files={"other": ("x", b"1")})
    assert r.status_code == 422
    r = requests.post(world.api + "/hearings", headers=world.ada, files={"meta": (None, "{bad")})
    assert r.status_code == 422
    assert error_of(r) == "bad_json"
    assert _spooled(world) == []


# --- streamed replies ----------------------------------------------------------------------------------


def test_an_export_streams_with_an_rfc5987_file_name(world: World) -> None:
    r = requests.get(
        world.api + f"/hearings/{world.hearing_id}/export",
        headers=world.ada,
        params={"format": "srt"},
        stream=True,
    )
    if r.status_code == 404 and error_of(r) == "no_such_route":
        pytest.skip("the exports resource is not there yet")
    assert r.status_code == 200, r.text
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''" in disposition
    assert "%E4%BA%AC" in disposition  # 京, percent-encoded UTF-8
    assert "content-length" not in r.headers  # sent as a stream
    body = b"".join(r.iter_content(65536))
    assert "现在开庭".encode() in body


def test_a_missing_hearing_is_404_json(world: World) -> None:
    r = requests.get(world.api + "/hearings/999999/export", headers=world.ada, params={"format": "srt"})
    assert r.status_code == 404, r.text
    assert error_of(r) in ("not_found", "no_such_route")


def test_head_answers_like_get_without_a_body(world: World) -> None:
    r = requests.head(world.api + "/health", headers=world.ada)
    assert r.status_code == 200
    assert r.content == b""


# --- server.json ---------------------------------------------------------------------------------------


def test_server_json_is_private_and_names_this_server(world: World) -> None:
    path = world.data / "server.json"
    assert path.stat().st_mode & 0o777 == 0o600
    info = world.info
    assert set(info) == {"url", "pid", "started_at", "console_key", "cert_fingerprint"}
    assert info["url"] == world.base
    assert info["pid"] == world.proc.pid
    assert info["console_key"].startswith("wbc_") and len(info["console_key"]) >= 40
    assert info["cert_fingerprint"] is None  # plain HTTP


def test_server_json_is_removed_on_shutdown_and_the_key_is_fresh_each_start(tmp_path: Path) -> None:
    with Store(tmp_path / "workbench.duckdb"):
        pass
    keys = []
    for _ in range(2):
        port = free_port()
        proc = start_server(tmp_path, port)
        try:
            info = server_info(tmp_path)
            keys.append(info["console_key"])
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"Authorization": "Bearer " + keys[-1]})
            assert r.status_code == 200
        finally:
            stop_server(proc)
        assert not (tmp_path / "server.json").exists()
    assert keys[0] != keys[1]


# --- the CLI's client (workbench.api.client, cli.common.with_api) ---------------------------------------


@pytest.fixture()
def beside(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    """This process as a CLI beside the module's server: its data folder, no token, no --server."""
    monkeypatch.setenv("WORKBENCH_DATA", str(world.data))
    monkeypatch.delenv("WORKBENCH_SERVER", raising=False)
    monkeypatch.delenv("WORKBENCH_TOKEN", raising=False)
    monkeypatch.delenv("WORKBENCH_DB", raising=False)
    return world


def test_connect_finds_the_running_server_by_its_server_json(beside: World) -> None:
    from workbench.api import client

    api = client.connect()
    assert api is not None and api.remote
    with api:
        assert api.server.url == beside.base and api.server.console
        assert api.call("GET", "/health")["worker"]["state"] in ("idle", "running")
        with pytest.raises(core.ApiError) as e:
            api.call("GET", "/hearings/999999")
        assert e.value.status == 404 and e.value.detail
        page = api.call("GET", "/models", params={"limit": 1, "offset": 0})
        assert page["limit"] == 1


def test_connect_as_names_the_account_and_a_token_acts_as_its_own(beside: World) -> None:
    from workbench.api import client

    with client.connect(as_name="cleo") as api:  # type: ignore[union-attr]
        api.call("GET", "/health")
    with client.connect(token=beside.secrets["ada_token"], as_name="cleo") as api:  # type: ignore[union-attr]
        assert not api.server.console and "X-Workbench-As" not in api.headers()
        api.call("GET", "/health")
    time.sleep(0.2)
    log = beside.log()
    assert "api cleo GET /health 200" in log
    with client.connect(as_name="nobody") as api, pytest.raises(core.ApiError) as e:  # type: ignore[union-attr]
        api.call("GET", "/health")
    assert e.value.status == 401 and "nobody" in e.value.detail


def test_a_stale_server_json_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.api import client

    monkeypatch.delenv("WORKBENCH_SERVER", raising=False)
    dead = psutil.Popen(["true"])
    dead.wait()
    info = {"url": f"http://127.0.0.1:{free_port()}", "pid": dead.pid, "started_at": "", "console_key": "wbc_x"}
    (tmp_path / "server.json").write_text(json.dumps(info))
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    assert client.connect() is None  # pid gone
    info["pid"] = os.getpid()  # alive, but nothing answers at the URL
    (tmp_path / "server.json").write_text(json.dumps(info))
    assert client.connect() is None
    (tmp_path / "server.json").write_text("{not json")
    assert client.connect() is None


def test_server_url_without_a_token_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.api import client

    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    with pytest.raises(core.ApiError) as e:
        client.connect(server_url="https://court.example:8501")
    assert e.value.status == 401 and "--token" in e.value.detail


def test_download_gives_the_servers_file_name(beside: World) -> None:
    import io

    from workbench.api import client

    with client.connect() as api:  # type: ignore[union-attr]
        out = io.BytesIO()
        try:
            name = api.download(f"/hearings/{beside.hearing_id}/export", {"format": "srt"}, out)
        except core.ApiError as e:
            if e.error == "no_such_route":
                pytest.skip("exports not there yet")
            raise
    assert name.endswith(".srt") and "京" in name and "/" not in name
    assert "现在开庭".encode() in out.getvalue()


def test_filename_of_never_gives_a_path() -> None:
    from workbench.api.client import filename_of

    assert filename_of("attachment; filename=\"a.srt\"; filename*=UTF-8''%E4%BA%AC.srt") == "京.srt"
    assert filename_of('attachment; filename="../../etc/passwd"') == "passwd"
    assert filename_of("attachment; filename*=UTF-8''..%2F..%2Fx.docx") == "x.docx"
    assert filename_of("inline") is None


def test_remote_add_files_uploads_in_resumable_pieces(beside: World, tmp_path: Path) -> None:
    from workbench.api import client

    data = os.urandom(client.CHUNK + 12345)  # two pieces
    f = tmp_path / "庭审.wav"
    f.write_bytes(data)
    with client.connect() as api:  # type: ignore[union-attr]
        try:
            added = api.add_files([f])
        except core.ApiError as e:
            if e.error == "no_such_route":
                pytest.skip("uploads not there yet")
            raise
        assert list(added) == ["uploads"] and len(added["uploads"]) == 1
        state = api.call("GET", f"/uploads/{added['uploads'][0]}")
        assert state["offset"] == state["size"] == len(data)


def _verb() -> Any:
    import click

    from workbench.cli.common import echo_json, with_api

    @click.command()
    @click.argument("path")
    @with_api
    def verb(api: Any, path: str) -> None:
        data = api.call("GET", path)
        echo_json({"remote": api.remote, "data": data})

    return verb


def test_with_api_calls_the_server_or_runs_in_process_with_the_same_answer(
    beside: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    runner = CliRunner()
    remote = runner.invoke(_verb(), ["/models"])
    assert remote.exit_code == 0, remote.output
    remote_out = json.loads(remote.output)
    assert remote_out["remote"] is True
    missing = runner.invoke(_verb(), ["/hearings/999999"])
    assert missing.exit_code == 1 and "not found" in missing.output.lower()

    # no server for this data folder: the same endpoint runs in this process
    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_MODELS_DIR", str(beside.data.parent / "none"))
    local = runner.invoke(_verb(), ["/health"])
    assert local.exit_code == 0, local.output
    local_out = json.loads(local.output)
    assert local_out["remote"] is False and local_out["data"]["worker"]["state"] == "stopped"
    missing_local = runner.invoke(_verb(), ["/hearings/999999"])
    assert missing_local.exit_code == 1
    assert missing_local.output.splitlines()[-1] == missing.output.splitlines()[-1]  # the same words either way


def test_https_pins_the_certificate_server_json_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ssl

    from workbench.api import client

    with Store(tmp_path / "workbench.duckdb") as store:
        make_account(store, "ada", "admin")
    secret = make_token(tmp_path / "workbench.duckdb", "ada", "tls")
    port = free_port()
    proc = start_server(tmp_path, port, https=True)
    try:
        info = server_info(tmp_path)
        assert info["url"] == f"https://127.0.0.1:{port}"
        assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", info["cert_fingerprint"])
        monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
        monkeypatch.delenv("WORKBENCH_SERVER", raising=False)
        with client.connect() as api:  # type: ignore[union-attr]
            assert api.server.fingerprint == info["cert_fingerprint"]
            assert api.call("GET", "/health")["version"]
        # another certificate than the pinned one: refused before the request (and its key) is sent
        wrong = client.Server(info["url"], info["console_key"], "AB:" * 31 + "CD", console=True)
        with pytest.raises(ssl.SSLError, match=r"server\.json"), client.RemoteApi(wrong) as api:
            api.call("GET", "/health")
        tampered = {**info, "cert_fingerprint": "AB:" * 31 + "CD"}
        (tmp_path / "server.json").write_text(json.dumps(tampered))
        assert client.connect() is None  # its /health does not answer through the pin: not this server
        # --server URL checks the certificate with the system's CAs: a self-signed one is refused
        with pytest.raises(ssl.SSLError), client.connect(server_url=info["url"], token=secret) as api:  # type: ignore[union-attr]
            api.call("GET", "/health")
    finally:
        stop_server(proc)


# --- the adapter in-process (an ASGI call, no server): handlers the resources do not have ----------------


class Asgi:
    """Calls the API's routes as an ASGI app on a real store, with the console key (no accounts: the operator)."""

    def __init__(self, store: Store) -> None:
        from starlette.applications import Starlette

        from workbench.api import http

        self.app = Starlette(routes=http.routes())
        self.store = store

    def __call__(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        import anyio

        sent: list[dict[str, Any]] = []
        hdrs = {"authorization": "Bearer wbc_unit-test-key", "host": "127.0.0.1", **(headers or {})}
        if body:
            hdrs["content-length"] = str(len(body))
        scope = {
            "type": "http",
            "method": method,
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [(k.lower().encode(), v.encode()) for k, v in hdrs.items()],
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 80),
            "scheme": "http",
            "http_version": "1.1",
            "root_path": "",
        }
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]

        async def receive() -> dict[str, Any]:
            if pieces:
                piece = pieces.pop(0)
                return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
            await anyio.sleep_forever()  # the client stays connected: a stream's disconnect watcher waits here
            raise AssertionError("unreachable")

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        anyio.run(self.app, scope, receive, send)
        start = sent[0]
        out = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, out


@pytest.fixture()
def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Asgi, list[Any]]]:
    from workbench.api import http

    woken: list[Any] = []
    store = Store(tmp_path / "unit.duckdb")
    monkeypatch.setattr(system, "runtime_of", system.runtime_of)  # http.routes() points it at the server's
    monkeypatch.setattr(http, "_store", lambda: store)
    monkeypatch.setattr(http, "_wake", lambda: woken.append(True))
    monkeypatch.setattr(http, "_console_key", "wbc_unit-test-key")
    monkeypatch.setenv("WORKBENCH_UPLOAD_MAX_MB", "1")
    before = list(core.ENDPOINTS)
    try:
        with store:
            yield Asgi(store), woken
    finally:
        core.ENDPOINTS[:] = before


def _register(method: str, path: str, handler: Any, **kw: Any) -> None:
    core.endpoint(method, path, summary="test", tag="test", **kw)(handler)


def test_a_bug_is_a_logged_500_without_details_of_the_call(
    adapter: tuple[Asgi, list[Any]], caplog: pytest.LogCaptureFixture
) -> None:
    call, _ = adapter

    def broken(c: core.Call) -> core.Reply:
        raise RuntimeError("boom at line 3")

    _register("GET", "/test/broken", broken)
    status, _, body = call("GET", "/api/v1/test/broken")
    assert status == 500
    answer = json.loads(body)
    assert answer["error"] == "internal" and "RuntimeError" in answer["detail"]
    assert "boom" not in answer["detail"]  # the message stays in the log
    failed = [r for r in caplog.records if r.name == "workbench.api.http" and r.exc_info]
    assert failed and "boom at line 3" in str(failed[0].exc_info[1])


def test_store_errors_map_to_their_status(adapter: tuple[Asgi, list[Any]]) -> None:
    from workbench.accounts import Forbidden
    from workbench.store.records import NotFound, StaleEdit

    call, _ = adapter
    for path, error, status in (
        ("/test/nf", NotFound("庭审不存在 (not found)"), 404),
        ("/test/fb", Forbidden("不允许 (not allowed)"), 403),
        ("/test/st", StaleEdit("已被修改 (changed)"), 409),
        ("/test/ve", ValueError("bad (bad)"), 422),
    ):

        def raising(c: core.Call, e: Exception = error) -> core.Reply:
            raise e

        _register("GET", path, raising)
        got, _, body = call("GET", "/api/v1" + path)
        assert got == status, (path, body)
        assert json.loads(body)["detail"] == str(error)


def test_handlers_run_in_a_worker_thread_with_the_runtimes_wake(adapter: tuple[Asgi, list[Any]]) -> None:
    import threading

    call, woken = adapter
    seen: dict[str, Any] = {}

    def handler(c: core.Call) -> core.Reply:
        seen["thread"] = threading.current_thread()
        seen["actor"] = c.access.actor
        c.wake()
        return core.Reply({"ok": True}, status=201)

    _register("POST", "/test/wake", handler)
    status, _, body = call("POST", "/api/v1/test/wake", b"{}", {"content-type": "application/json"})
    assert status == 201 and json.loads(body) == {"ok": True}
    assert seen["thread"] is not threading.main_thread()
    assert woken == [True]
    assert seen["actor"].client.startswith("cli:")  # the console key: the operator, from cli:<login>@<host>


def test_multipart_files_reach_the_handler_on_disk_and_are_removed_after(adapter: tuple[Asgi, list[Any]]) -> None:
    call, _ = adapter
    seen: dict[str, Any] = {}

    def handler(c: core.Call) -> core.Reply:
        seen["body"] = c.body
        seen["files"] = [(name, path, path.read_bytes()) for name, path in c.files]
        return core.Reply({"n": len(c.files)})

    _register("POST", "/test/files", handler, media_types=("application/json", "multipart/form-data"))
    _register("POST", "/test/json-only", handler)
    b = "XyZ"
    parts = (
        f'--{b}\r\nContent-Disposition: form-data; name="meta"\r\n\r\n{{"case": "A"}}\r\n'
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="C:\\\\rec\\\\one.wav"\r\n\r\nONE\r\n'
        f"--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%E5%BA%AD%E5%AE%A1.mp3\r\n\r\n"
        f"TWO\r\n--{b}--\r\n"
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={b}"}
    status, _, body = call("POST", "/api/v1/test/files", parts, headers)
    assert status == 200, body
    assert seen["body"] == {"case": "A"}
    assert [(n, data) for n, _, data in seen["files"]] == [("one.wav", b"ONE"), ("庭审.mp3", b"TWO")]
    for _, path, _ in seen["files"]:
        assert path.parent == adapter[0].store.audio_dir and path.name.startswith(".upload-")
        assert not path.exists()
    status, _, _ = call("POST", "/api/v1/test/json-only", parts, headers)
    assert status == 415
    # past upload_max_mb (1 MB here): 413, and the part written so far is gone
    big = (
        f'--{b}\r\nContent-Disposition: form-data; name="file"; filename="big.wav"\r\n\r\n'.encode()
        + b"\0" * (1024 * 1024 + 1)
        + f"\r\n--{b}--\r\n".encode()
    )
    status, _, body = call("POST", "/api/v1/test/files", big, headers)
    assert status == 413, body
    assert list(adapter[0].store.audio_dir.glob(".upload-*")) == []


def test_a_stream_reply_is_sent_as_a_download(adapter: tuple[Asgi, list[Any]]) -> None:
    call, _ = adapter

    def handler(c: core.Call) -> core.Reply:
        return core.Reply(stream=iter([b"a", b"b"]), media_type="text/plain", filename='庭审 "1".txt')

    _register("GET", "/test/stream", handler)
    status, headers, body = call("GET", "/api/v1/test/stream")
    assert status == 200 and body == b"ab"
    disposition = headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E5%BA%AD%E5%AE%A1%20%221%22.txt" in disposition
    assert disposition.count('"') == 2  # the quote in the name does not end the ASCII fallback early
