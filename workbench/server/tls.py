"""The server's TLS certificate: made on first start for its names and LAN addresses, reused afterwards.

A court LAN has no public CA to ask, so `workbench serve` makes a self-signed certificate (ECDSA P-256,
825 days: the longest browsers accept for a leaf) whose names are the machine's host name, the
`server_names` setting, its LAN IPv4 addresses, localhost and 127.0.0.1. Clerks compare the SHA-256
fingerprint that `workbench serve` prints with the one their browser shows before trusting it. The
certificate is made again when the names or addresses it must carry changed (a new IP from DHCP),
since a browser refuses a certificate that does not name the address it opened.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 825
CERT_FILE = "server.crt"
KEY_FILE = "server.key"
ALWAYS_NAMES = ("localhost",)
ALWAYS_ADDRESSES = ("127.0.0.1",)


def lan_addresses() -> list[str]:
    """This machine's IPv4 addresses other than loopback (asks no outside service)."""
    import psutil

    found = {
        a.address
        for addrs in psutil.net_if_addrs().values()
        for a in addrs
        if a.family == socket.AF_INET and not a.address.startswith("127.")
    }
    return sorted(found)


def server_names(extra: str | Iterable[str] = "") -> list[str]:
    """The host names the server answers to: its own host name and `extra` (the setting, `;`-separated)."""
    items = extra.split(";") if isinstance(extra, str) else list(extra)
    # Not socket.getfqdn(): it asks DNS, which on an air-gapped LAN can hang for seconds (and this runs in
    # the server's request path); a fully qualified name goes into `server_names`.
    names = [socket.gethostname(), *(n.strip() for n in items)]
    out: list[str] = []
    for n in names:
        n = n.lower().rstrip(".")
        if n and n not in out:
            out.append(n)
    return out


def _wanted(names: Iterable[str], addresses: Iterable[str]) -> tuple[list[str], list[str]]:
    dns = sorted({n.strip().lower().rstrip(".") for n in (*names, *ALWAYS_NAMES) if n.strip()})
    ips = sorted({str(ipaddress.ip_address(a.strip())) for a in (*addresses, *ALWAYS_ADDRESSES) if a.strip()})
    # A "name" that is an address belongs with the addresses (a server_names entry like 10.0.0.5).
    for n in list(dns):
        try:
            ips = sorted({*ips, str(ipaddress.ip_address(n))})
            dns.remove(n)
        except ValueError:
            pass
    return dns, ips


def sans(cert_path: Path) -> tuple[list[str], list[str]]:
    """The certificate's subject alternative names: (DNS names, IP addresses), sorted."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    dns = sorted(n.lower() for n in ext.get_values_for_type(x509.DNSName))
    ips = sorted(str(a) for a in ext.get_values_for_type(x509.IPAddress))
    return dns, ips


def _still_good(cert_path: Path, key_path: Path, dns: list[str], ips: list[str]) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError):
        return False
    if cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ) != key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        return False
    if cert.not_valid_after_utc - dt.timedelta(days=30) < dt.datetime.now(dt.UTC):
        return False  # renewed a month before it runs out
    return sans(cert_path) == (dns, ips)


def ensure_certificate(folder: Path, names: Iterable[str], addresses: Iterable[str]) -> tuple[Path, Path]:
    """The certificate and key in `folder` for these names and addresses, made (or made again) when needed.

    Kept as long as it names exactly these hosts (plus localhost and 127.0.0.1), matches its key and has
    more than 30 days left. The key file is readable by its owner only (0600).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / CERT_FILE, folder / KEY_FILE
    dns, ips = _wanted(names, addresses)
    if _still_good(cert_path, key_path, dns, ips):
        return cert_path, key_path

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, (dns[0] if dns else "localhost")[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "庭审转写工作台 hearing workbench"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    alt = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The key is written into a file made 0600 from the start, never readable by others even for a moment.
    tmp_key = key_path.with_suffix(".key.tmp")
    tmp_key.unlink(missing_ok=True)
    fd = os.open(tmp_key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key_bytes)
    os.replace(tmp_key, key_path)
    os.chmod(key_path, 0o600)
    tmp_cert = cert_path.with_suffix(".crt.tmp")
    tmp_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.replace(tmp_cert, cert_path)
    return cert_path, key_path


def fingerprint_of(der: bytes) -> str:
    """SHA-256 of a DER certificate as browsers show it: `AB:CD:...`."""
    import hashlib

    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def fingerprint(cert_path: Path) -> str:
    """The certificate's SHA-256 fingerprint, `AB:CD:...` (what a browser's certificate viewer shows)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return fingerprint_of(cert.public_bytes(serialization.Encoding.DER))
