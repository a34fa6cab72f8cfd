"""HTTPS: the certificate `workbench serve` makes (names, addresses, key mode, reuse) and the one it serves."""

from __future__ import annotations

import hashlib
import http.client
import re
import socket
import ssl
import stat
from pathlib import Path
from urllib.parse import urlencode

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from servers import free_port, start_server, stop_server, unverified

from workbench.accounts import Accounts, console_access
from workbench.cli.serve import NO_ADMIN
from workbench.server import tls
from workbench.store import Store

FINGERPRINT = re.compile(r"SHA-256 fingerprint: ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})")


def _independent_fingerprint(cert_path: Path) -> str:
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text())
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, 64, 2))


def test_the_certificate_names_the_server_and_its_key_is_private(tmp_path: Path) -> None:
    cert, key = tls.ensure_certificate(tmp_path / "tls", ["Court-WB", "wb.court.local", "10.9.8.7"], ["192.168.1.20"])
    assert tls.sans(cert) == (["court-wb", "localhost", "wb.court.local"], ["10.9.8.7", "127.0.0.1", "192.168.1.20"])
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    assert isinstance(parsed.public_key(), ec.EllipticCurvePublicKey)
    assert parsed.public_key().curve.name == "secp256r1"
    days = (parsed.not_valid_after_utc - parsed.not_valid_before_utc).days
    assert 824 <= days <= 825
    assert not parsed.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    fp = tls.fingerprint(cert)
    assert re.fullmatch(r"(?:[0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    assert fp == _independent_fingerprint(cert)


def test_the_certificate_is_reused_until_the_names_change(tmp_path: Path) -> None:
    folder = tmp_path / "tls"
    cert, key = tls.ensure_certificate(folder, ["wb"], ["10.0.0.5"])
    first, first_key = cert.read_bytes(), key.read_bytes()
    again, _ = tls.ensure_certificate(folder, ["wb"], ["10.0.0.5"])
    assert again.read_bytes() == first and key.read_bytes() == first_key  # the same certificate, not a new one
    moved, _ = tls.ensure_certificate(folder, ["wb"], ["10.0.0.6"])  # a new address from DHCP
    moved_bytes = moved.read_bytes()
    assert moved_bytes != first
    assert "10.0.0.6" in tls.sans(moved)[1] and "10.0.0.5" not in tls.sans(moved)[1]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # a key that does not belong to the certificate (a half-copied folder) is replaced as well
    other_folder = tmp_path / "other"
    tls.ensure_certificate(other_folder, ["wb"], ["10.0.0.6"])
    (folder / tls.KEY_FILE).write_bytes((other_folder / tls.KEY_FILE).read_bytes())
    fixed, fixed_key = tls.ensure_certificate(folder, ["wb"], ["10.0.0.6"])
    assert fixed.read_bytes() != moved_bytes
    assert fixed_key.read_bytes() != (other_folder / tls.KEY_FILE).read_bytes()


def _served_der(port: int) -> bytes:
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        unverified().wrap_socket(raw, server_hostname="127.0.0.1") as s,
    ):
        der = s.getpeercert(binary_form=True)
    assert der
    return der


def _sign_in_over_https(port: int, context: ssl.SSLContext) -> http.client.HTTPResponse:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=30, context=context)
    conn.request("GET", "/signin")
    r = conn.getresponse()
    r.read()
    [csrf_line] = [c for c in r.headers.get_all("set-cookie") if c.startswith("wb_csrf=")]
    assert "secure" in [a.strip().lower() for a in csrf_line.split(";")], csrf_line
    token = csrf_line.split(";")[0].split("=", 1)[1]
    body = urlencode({"csrf": token, "name": "admin", "password": "admin-password-1", "next": "/"})
    conn.request(
        "POST",
        "/signin",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"wb_csrf={token}"},
    )
    r = conn.getresponse()
    r.read()
    conn.close()
    return r


def test_serve_makes_a_certificate_serves_it_and_prints_its_fingerprint(tmp_path: Path) -> None:
    with Store(tmp_path / "workbench.duckdb") as store:
        Accounts(store).add(
            "admin", "admin", by=console_access(store).actor, password="admin-password-1", must_change=False
        )
    port = free_port()
    proc = start_server(tmp_path, port, https=True, extra_env={"WORKBENCH_WORKERS": "0"})
    try:
        log = (tmp_path / "server.log").read_text()
        made = tmp_path / "tls" / tls.CERT_FILE
        assert made.is_file() and stat.S_IMODE((tmp_path / "tls" / tls.KEY_FILE).stat().st_mode) == 0o600
        [printed] = FINGERPRINT.findall(log)
        assert printed == tls.fingerprint_of(_served_der(port)) == _independent_fingerprint(made)
        assert "URL: https://127.0.0.1:" in log and "no admin yet" not in log, log
        # A client that trusts exactly this certificate verifies it, host name (127.0.0.1) included.
        trusting = ssl.create_default_context(cafile=str(made))
        r = _sign_in_over_https(port, trusting)
        assert r.status == 303
        [session_line] = [c for c in r.headers.get_all("set-cookie") if c.startswith("wb_session=")]
        attrs = [a.strip().lower() for a in session_line.split(";")]
        assert "secure" in attrs and "httponly" in attrs and "samesite=strict" in attrs, session_line
        # plain HTTP on the HTTPS port gets no page
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/signin")
            status = conn.getresponse().status
        except (http.client.HTTPException, OSError):
            status = None
        finally:
            conn.close()
        assert status != 200
    finally:
        stop_server(proc)


def test_serve_uses_the_certificate_it_is_given(tmp_path: Path) -> None:
    given_cert, given_key = tls.ensure_certificate(tmp_path / "given", ["given.example"], [])
    port = free_port()
    args = ("--cert", str(given_cert), "--key", str(given_key))
    proc = start_server(tmp_path, port, https=True, extra_env={"WORKBENCH_WORKERS": "0"}, args=args)
    try:
        log = (tmp_path / "server.log").read_text()
        assert FINGERPRINT.findall(log) == [tls.fingerprint(given_cert)]
        assert tls.fingerprint_of(_served_der(port)) == tls.fingerprint(given_cert)
        assert not (tmp_path / "tls").exists()  # none made
        assert NO_ADMIN in log
    finally:
        stop_server(proc)
