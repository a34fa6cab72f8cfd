"""Sign-in in front of everything: a real `workbench serve --http` on loopback, real HTTP, real accounts.

One server for the module (no models: WORKBENCH_WORKERS=0). Accounts and two cases are made before it
starts: clerk1 is a member of case A, clerk2 of case B. Wrong passwords are tried from their own loopback
addresses (127.0.0.2, 127.0.0.3), since a lockout is per account and per client address.
"""

from __future__ import annotations

import base64
import http.client
import os
import re
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from conftest import clip
from servers import free_port, start_server, stop_server

from workbench.accounts import HEARING_NOT_YOURS, Accounts, Sessions, console_access
from workbench.speech.options import TranscribeOptions
from workbench.store import Store, audit, jobs

PASSWORDS = {
    "admin": "admin-password-1",
    "clerk1": "clerk1-password-1",
    "clerk2": "clerk2-password-1",
    "lockme": "lockme-password-1",
    "newbie": "newbie-password-1",
    "leaver": "leaver-password-1",
}


@dataclass
class Server:
    port: int
    data: Path
    proc: subprocess.Popen[bytes]
    rec_a: int  # clerk1's case
    rec_b: int  # clerk2's case


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def cookies(self) -> dict[str, str]:
        """Set-Cookie lines by cookie name (the whole line, to check its attributes)."""
        out = {}
        for line in self.headers.get_all("set-cookie") or []:
            out[line.split("=", 1)[0].strip()] = line
        return out


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data = tmp_path_factory.mktemp("signin")
    with Store(data / "workbench.duckdb") as store:
        by = console_access(store).actor
        accounts = Accounts(store)
        made = {}
        for name, password in PASSWORDS.items():
            role = "admin" if name == "admin" else "clerk"
            made[name], _ = accounts.add(name, role, by=by, password=password, must_change=name == "newbie")
        options = TranscribeOptions.from_settings(diarize=False)
        [a] = jobs.submit(
            store, [clip("en_jfk.flac")], case_number="A-1", options=options, actor=made["clerk1"].actor("t")
        )
        [b] = jobs.submit(
            store, [clip("zh_aishell1_BAC009S0724W0121.wav")], case_number="B-2", options=options,
            actor=made["clerk2"].actor("t"),
        )  # fmt: skip
        rec_a = store.recordings(a.hearing_id)[0].id
        rec_b = store.recordings(b.hearing_id)[0].id
    port = free_port()
    proc = start_server(data, port, extra_env={"WORKBENCH_WORKERS": "0"})
    try:
        yield Server(port, data, proc, rec_a, rec_b)
    finally:
        stop_server(proc)


def call(
    server: Server,
    method: str,
    path: str,
    *,
    cookies: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    source: str = "127.0.0.1",
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30, source_address=(source, 0))
    try:
        h = dict(headers or {})
        if cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


def form(
    server: Server, path: str, fields: dict[str, str], cookies: dict[str, str], source: str = "127.0.0.1"
) -> Reply:
    body = urlencode(fields).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return call(server, "POST", path, cookies=cookies, headers=headers, body=body, source=source)


def csrf(server: Server, source: str = "127.0.0.1") -> str:
    r = call(server, "GET", "/signin", source=source)
    assert r.status == 200, r.text
    line = r.cookies()["wb_csrf"]
    return SimpleCookie(line)["wb_csrf"].value


def sign_in(
    server: Server, name: str, password: str | None = None, *, next_path: str = "/", source: str = "127.0.0.1"
) -> Reply:
    token = csrf(server, source)
    fields = {
        "csrf": token,
        "next": next_path,
        "name": name,
        "password": PASSWORDS[name] if password is None else password,
    }
    return form(server, "/signin", fields, {"wb_csrf": token}, source)


def session_of(reply: Reply) -> str:
    assert reply.status == 303, reply.text
    return SimpleCookie(reply.cookies()["wb_session"])["wb_session"].value


def upgrade(server: Server, cookies: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> int:
    """The status a websocket upgrade of Streamlit's stream gets (101: opened)."""
    h = {
        "Connection": "Upgrade",
        "Upgrade": "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Protocol": "streamlit",
        **(headers or {}),
    }
    return call(server, "GET", "/_stcore/stream", cookies=cookies, headers=h).status


# -- without a session --


@pytest.mark.parametrize("path", ["/", "/review", "/hearings?x=1"])
def test_pages_without_a_session_go_to_the_sign_in_page(server: Server, path: str) -> None:
    r = call(server, "GET", path)
    assert r.status == 303
    assert r.headers["location"].startswith("/signin?next=/"), r.headers["location"]
    assert r.body == b""


@pytest.mark.parametrize(
    "path", ["/media/anything", "/media/0123abcd.wav", "/audio/1", "/_stcore/host-config", "/component/x/index.html"]
)
def test_media_audio_and_streamlit_routes_without_a_session_are_401(server: Server, path: str) -> None:
    r = call(server, "GET", path)
    assert r.status == 401, (path, r.status, r.text)
    assert "sign in" in r.text


def test_websocket_without_a_session_is_refused(server: Server) -> None:
    assert upgrade(server) != 101


def test_a_forged_or_ended_cookie_is_refused(server: Server) -> None:
    forged = {"wb_session": secrets.token_urlsafe(32)}
    assert call(server, "GET", "/", cookies=forged).status == 303
    assert call(server, "GET", f"/audio/{server.rec_a}", cookies=forged).status == 401
    assert upgrade(server, forged) != 101
    # a real one, then signed out: refused the same way
    token = session_of(sign_in(server, "leaver"))
    assert call(server, "GET", "/", cookies={"wb_session": token}).status == 200
    out = call(server, "GET", "/signout", cookies={"wb_session": token})
    assert out.status == 303 and out.headers["location"] == "/signin"
    cleared = out.cookies()["wb_session"]
    assert "Max-Age=0" in cleared or "expires=" in cleared.lower(), cleared
    assert call(server, "GET", "/", cookies={"wb_session": token}).status == 303
    assert upgrade(server, {"wb_session": token}) != 101


# -- signing in --


def test_sign_in_sets_an_http_only_strict_cookie_and_opens_everything(server: Server) -> None:
    r = sign_in(server, "clerk1", next_path="/review?hearing=3")
    assert r.headers["location"] == "/review?hearing=3"
    line = r.cookies()["wb_session"]
    attrs = [a.strip().lower() for a in line.split(";")]
    assert "httponly" in attrs and "samesite=strict" in attrs and "path=/" in attrs, line
    assert "secure" not in attrs, line  # plain HTTP here; test_tls checks Secure over HTTPS
    cookies = {"wb_session": session_of(r)}
    page = call(server, "GET", "/review", cookies=cookies)
    assert (page.status == 200 and b'<div id="root">' in page.body) or b"streamlit" in page.body.lower()
    assert call(server, "GET", "/_stcore/host-config", cookies=cookies).status == 200
    assert upgrade(server, cookies) == 101  # the same upgrade that is refused without a session


@pytest.mark.parametrize(
    "evil", ["https://evil.example", "//evil.example", "/\\evil.example", "http:/evil.example", "javascript:alert(1)"]
)
def test_next_never_leads_to_another_site(server: Server, evil: str) -> None:
    r = sign_in(server, "clerk1", next_path=evil)
    assert r.status == 303
    assert r.headers["location"] == "/", r.headers["location"]
    # nor does the form carry it along
    page = call(server, "GET", "/signin?" + urlencode({"next": evil}))
    assert "evil.example" not in page.text


def test_sign_in_needs_the_csrf_token(server: Server) -> None:
    token = csrf(server)
    fields = {"next": "/", "name": "clerk1", "password": PASSWORDS["clerk1"]}
    missing = form(server, "/signin", fields, {"wb_csrf": token})
    assert missing.status == 403 and "wb_session" not in missing.cookies()
    wrong = form(server, "/signin", {**fields, "csrf": secrets.token_urlsafe(32)}, {"wb_csrf": token})
    assert wrong.status == 403 and "wb_session" not in wrong.cookies()
    no_cookie = form(server, "/signin", {**fields, "csrf": token}, {})
    assert no_cookie.status == 403 and "wb_session" not in no_cookie.cookies()


def test_wrong_password_shows_the_form_again_escaped(server: Server) -> None:
    r = sign_in(server, "clerk1", "not-the-password", source="127.0.0.4")
    assert r.status == 401 and "用户名或密码错误" in r.text and "wb_session" not in r.cookies()
    token = csrf(server, "127.0.0.4")
    html_name = '<script>alert("x")</script>'
    r = form(server, "/signin", {"csrf": token, "name": html_name, "password": "x"}, {"wb_csrf": token}, "127.0.0.4")
    assert r.status == 401
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text


def test_overlong_fields_and_bodies_are_refused(server: Server) -> None:
    token = csrf(server, "127.0.0.5")
    cookies = {"wb_csrf": token}
    long_name = form(server, "/signin", {"csrf": token, "name": "a" * 65, "password": "x"}, cookies, "127.0.0.5")
    assert long_name.status == 400 and "64" in long_name.text
    long_password = form(
        server, "/signin", {"csrf": token, "name": "clerk1", "password": "p" * 257}, cookies, "127.0.0.5"
    )
    assert long_password.status == 400 and "256" in long_password.text
    huge = form(server, "/signin", {"csrf": token, "name": "clerk1", "password": "p" * 9000}, cookies, "127.0.0.5")
    assert huge.status == 413


def test_six_wrong_passwords_lock_the_account_and_the_page_says_so(server: Server) -> None:
    for _ in range(5):
        r = sign_in(server, "lockme", "wrong-password", source="127.0.0.2")
        assert r.status == 401
    sixth = sign_in(server, "lockme", "wrong-password", source="127.0.0.2")
    assert sixth.status == 401 and "锁定" in sixth.text and "locked until" in sixth.text, sixth.text
    # the right password from another address: still locked (the account is)
    right = sign_in(server, "lockme", source="127.0.0.6")
    assert right.status == 401 and "locked until" in right.text and "wb_session" not in right.cookies()


def test_five_failures_from_one_address_lock_the_address(server: Server) -> None:
    for i in range(5):
        assert sign_in(server, f"nobody{i}", "wrong-password", source="127.0.0.3").status == 401
    r = sign_in(server, "clerk2", source="127.0.0.3")  # a right password, from the locked address
    assert r.status == 401 and "address" in r.text and "locked until" in r.text, r.text


def test_an_account_that_must_change_its_password_reaches_only_the_password_page(server: Server) -> None:
    r = sign_in(server, "newbie", next_path="/search")
    assert r.headers["location"] == "/password?next=/search"
    cookies = {"wb_session": session_of(r)}
    assert call(server, "GET", "/", cookies=cookies).headers["location"].startswith("/password")
    assert call(server, "GET", f"/audio/{server.rec_a}", cookies=cookies).status == 403
    assert upgrade(server, cookies) != 101
    page = call(server, "GET", "/password", cookies=cookies)
    assert page.status == 200 and 'name="again"' in page.text
    token = SimpleCookie(page.cookies()["wb_csrf"])["wb_csrf"].value
    cookies["wb_csrf"] = token
    old = PASSWORDS["newbie"]
    differ = form(server, "/password", {"csrf": token, "old": old, "new": "brand-new-pass-1", "again": "x"}, cookies)
    assert differ.status == 400 and "不一致" in differ.text
    no_csrf = form(server, "/password", {"old": old, "new": "brand-new-pass-1", "again": "brand-new-pass-1"}, cookies)
    assert no_csrf.status == 403
    done = form(
        server, "/password",
        {"csrf": token, "next": "/search", "old": old, "new": "brand-new-pass-1", "again": "brand-new-pass-1"}, cookies,
    )  # fmt: skip
    assert done.status == 303 and done.headers["location"] == "/search", done.text
    # The new password ends the session it was changed in (and any other): this browser goes on in a new one.
    assert call(server, "GET", "/", cookies=cookies).status == 303
    assert call(server, "GET", "/", cookies={"wb_session": session_of(done)}).status == 200


# -- hosts and origins --


def test_another_host_name_is_refused(server: Server) -> None:
    """DNS rebinding: a page of evil.example whose name now points at this server gets nothing."""
    assert call(server, "GET", "/signin", headers={"Host": "evil.example"}).status == 400
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    assert call(server, "GET", "/", cookies=cookies, headers={"Host": f"evil.example:{server.port}"}).status == 400
    assert upgrade(server, cookies, {"Host": "evil.example"}) != 101
    assert call(server, "GET", "/", cookies=cookies, headers={"Host": f"localhost:{server.port}"}).status == 200


def test_another_origin_is_refused(server: Server) -> None:
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    evil = {"Origin": "https://evil.example"}
    assert call(server, "GET", "/_stcore/host-config", cookies=cookies, headers=evil).status == 403
    assert upgrade(server, cookies, evil) != 101
    own = {"Origin": f"http://127.0.0.1:{server.port}"}
    assert upgrade(server, cookies, own) == 101


def test_streamlit_uploads_need_the_xsrf_token(server: Server) -> None:
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    r = call(server, "PUT", "/_stcore/upload_file/session/file", cookies=cookies, body=b"x")
    assert r.status == 403, (r.status, r.text)


# -- audio --


def test_audio_of_another_case_answers_like_a_missing_one(server: Server) -> None:
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    other = call(server, "GET", f"/audio/{server.rec_b}?start=0&dur=2", cookies=cookies)
    missing = call(server, "GET", "/audio/999999?start=0&dur=2", cookies=cookies)
    huge = call(server, "GET", "/audio/99999999999999999999", cookies=cookies)
    assert other.status == missing.status == huge.status == 404
    assert other.body == missing.body == huge.body == HEARING_NOT_YOURS.encode()
    # clerk2 hears their own; the admin hears both
    clerk2 = {"wb_session": session_of(sign_in(server, "clerk2"))}
    assert call(server, "GET", f"/audio/{server.rec_b}?start=0&dur=2", cookies=clerk2).status == 200
    admin = {"wb_session": session_of(sign_in(server, "admin"))}
    assert call(server, "GET", f"/audio/{server.rec_a}?start=0&dur=2", cookies=admin).status == 200


def test_audio_is_a_wav_with_ranges_and_checked_parameters(server: Server) -> None:
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    whole = call(server, "GET", f"/audio/{server.rec_a}?start=1&dur=3", cookies=cookies)
    assert whole.status == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.body[:4] == b"RIFF" and whole.headers["accept-ranges"] == "bytes"
    assert len(whole.body) == 44 + 3 * 16000 * 2  # 3 s of 16 kHz 16-bit mono
    part = call(
        server, "GET", f"/audio/{server.rec_a}?start=1&dur=3", cookies=cookies, headers={"Range": "bytes=100-199"}
    )
    assert part.status == 206 and part.body == whole.body[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.body)}"
    beyond = call(
        server, "GET", f"/audio/{server.rec_a}?start=1&dur=3", cookies=cookies, headers={"Range": "bytes=999999999-"}
    )
    assert beyond.status == 416
    for query in ("dur=301", "start=nan", "start=-1", "dur=abc", "start=inf", "dur=0"):
        bad = call(server, "GET", f"/audio/{server.rec_a}?{query}", cookies=cookies)
        assert bad.status == 400, (query, bad.status)


# -- the page side (workbench.web.session), in Streamlit's AppTest on its own store --


def _page() -> None:
    import streamlit as st

    from workbench.web import session

    me = session.signed_in()
    st.write("signed in as " + me.account.name)
    st.write(session.audio_url(7, 1.5, 30))


def test_a_page_run_stops_when_the_session_has_ended(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("WORKBENCH_DATA", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_WORKERS", "0")
    with Store(tmp_path / "workbench.duckdb") as store:
        account, _ = Accounts(store).add(
            "pageclerk", "clerk", by=console_access(store).actor, password="page-password-1", must_change=False
        )
        token = Sessions(store).start(account, "127.0.0.1")
    at = AppTest.from_function(_page)
    at.session_state["wb_session"] = token
    at.run(timeout=60)
    shown = " ".join(m.value for m in at.markdown)
    assert "signed in as pageclerk" in shown, shown
    assert re.search(r"http://[^/]+/audio/7\?start=1\.500&dur=30\.000", shown), shown
    from workbench.web.cache import runtime

    Sessions(runtime().store).end(token, account.actor("127.0.0.1"))
    at.run(timeout=60)
    assert not any("signed in as" in m.value for m in at.markdown)
    assert any("登录已过期或已退出" in w.value for w in at.warning)
    assert any('href="/signin?next=' in m.value for m in at.markdown)


# -- last: what the server recorded (stops the module's server to read its store) --


def test_plays_and_sign_ins_are_audited(server: Server) -> None:
    cookies = {"wb_session": session_of(sign_in(server, "clerk1"))}
    url = f"/audio/{server.rec_a}?start=2.25&dur=1"
    assert call(server, "GET", url, cookies=cookies).status == 200  # no Range: a play
    assert call(server, "GET", url, cookies=cookies, headers={"Range": "bytes=0-"}).status == 206  # the same clip
    assert call(server, "GET", url, cookies=cookies, headers={"Range": "bytes=1000-"}).status == 206  # a seek: not
    # A clip fetched from byte 1 on (all of its audio, the header's first byte aside) is a play all the same.
    other = f"/audio/{server.rec_a}?start=3.5&dur=1"
    assert call(server, "GET", other, cookies=cookies, headers={"Range": "bytes=1-"}).status == 206
    stop_server(server.proc)
    with Store(server.data / "workbench.duckdb") as store:
        rows = store.audit_rows(action=audit.AUDIO_PLAYED)
        assert [r.detail["start"] for r in rows if r.detail.get("start") == 3.5] == [3.5]
        plays = [r for r in rows if r.detail.get("start") == 2.25]
        assert len(plays) == 1, plays
        assert all(p.account == "clerk1" and p.detail["recording_id"] == server.rec_a for p in plays)
        assert all(p.detail["duration"] == 1.0 and p.client == "127.0.0.1" for p in plays)
        assert store.audit_rows(action=audit.SIGN_OUT)
        failed = store.audit_rows(action=audit.SIGN_IN_FAILED)
        assert any(r.client == "127.0.0.2" for r in failed)
