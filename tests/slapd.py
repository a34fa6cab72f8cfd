"""A real OpenLDAP `slapd` for tests: its own cn=config, its own data, on 127.0.0.1 and a free port.

Nothing of the system's slapd (a Debian postinst may have started one, or made /etc/ldap/slapd.d) is
used: the config is made with `slapadd -n0 -F <tmp>/slapd.d` from the LDIF below, the directory data
with `slapadd -n1`, and the server runs in the foreground (`-d 0`) until `stop()`. It listens on ldap://
(`url`) and on ldaps:// (`tls_url`, a certificate for 127.0.0.1 from a test CA, `ca_file`).

The directory (suffix dc=court,dc=local):
- people under ou=people: alice (wb-judges), bob (wb-clerks), carol (only in a group no role maps), dave
  (wb-viewers, a posixGroup with memberUid, as older directories keep their groups), `o,brien` (wb-clerks; a
  comma in the uid) and `d*` (no group; a star in the uid);
- groups under ou=groups: wb-admins (nobody), wb-judges, wb-clerks, unrelated (carol) as groupOfNames,
  each also holding the suffix DN as a placeholder member (groupOfNames needs one).
Like Active Directory and many older servers, it answers a simple bind with a DN and an empty password as an
unauthenticated bind, with success (`olcAllows: bind_anon_dn`; OpenLDAP 2.5 refuses it by default), so the
tests show the workbench never makes one. Each person's password is `PASSWORDS[name]`; the root DN (for
changes) is ROOT_DN / ROOT_PASSWORD.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLAPD = "/usr/sbin/slapd"
SLAPADD = "/usr/sbin/slapadd"
LDAPMODIFY = "ldapmodify"
LDAPWHOAMI = "ldapwhoami"
TOOLS = (SLAPD, SLAPADD, LDAPMODIFY, LDAPWHOAMI)
INSTALL = "apt-get install slapd ldap-utils (scripts/setup.sh test does)"
SCHEMAS = Path("/etc/ldap/schema")
MODULES = Path("/usr/lib/ldap")

SUFFIX = "dc=court,dc=local"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PASSWORD = "root-secret-for-tests"
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
PASSWORDS = {
    "alice": "alice-correct-horse",
    "bob": "bob-battery-staple",
    "carol": "carol-no-groups-here",
    "dave": "dave-posix-viewer",
    "o,brien": "obrien-comma-in-name",  # a comma in the uid: binds only when the name is escaped for the DN
    "d*": "star-in-the-name",  # in no group: an unescaped (memberUid=d*) would find dave's viewer group
}
DISPLAY_NAMES = {
    "alice": "Alice 法官",
    "bob": "Bob Clerk",
    "carol": "Carol",
    "dave": "Dave",
    "o,brien": "O'Brien",
    "d*": "D Star",
}


def ssha(password: str) -> str:
    """The {SSHA} form slapd checks a simple bind against (the data file never holds the clear text)."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def user_dn(name: str) -> str:
    # RFC 4514 escaping written out here (not ldap3's), so the test does not share the code it checks.
    value = "".join("\\" + ch if ch in '\\,+"<>;=' else ch for ch in name)
    return f"uid={value},{PEOPLE}"


def group_dn(cn: str) -> str:
    return f"cn={cn},{GROUPS}"


def make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A test CA (ca.pem) and a server certificate it signed for 127.0.0.1 only (server.pem, server.key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "workbench test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _config_ldif(root: Path) -> str:
    schemas = "\n".join(f"include: file://{SCHEMAS / s}.ldif" for s in ("core", "cosine", "inetorgperson", "nis"))
    return f"""\
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: {root}/slapd.pid
olcLogLevel: none
olcAllows: bind_anon_dn
olcTLSCACertificateFile: {root}/tls/ca.pem
olcTLSCertificateFile: {root}/tls/server.pem
olcTLSCertificateKeyFile: {root}/tls/server.key

dn: cn=module{{0}},cn=config
objectClass: olcModuleList
cn: module{{0}}
olcModulePath: {MODULES}
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

{schemas}

dn: olcDatabase={{-1}}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {{-1}}frontend

dn: olcDatabase={{0}}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {{0}}config
olcAccess: {{0}}to * by * none

dn: olcDatabase={{1}}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {{1}}mdb
olcSuffix: {SUFFIX}
olcRootDN: {ROOT_DN}
olcRootPW: {ssha(ROOT_PASSWORD)}
olcDbDirectory: {root}/data
olcDbMaxSize: 16777216
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: member eq
olcDbIndex: memberUid eq
olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {{1}}to * by users read by * none
"""


def _person(name: str, uid_number: int) -> str:
    return f"""\
dn: {user_dn(name)}
objectClass: inetOrgPerson
objectClass: posixAccount
uid: {name}
cn: {name}
sn: {name}
displayName: {DISPLAY_NAMES[name]}
uidNumber: {uid_number}
gidNumber: {uid_number}
homeDirectory: /home/{name}
userPassword: {ssha(PASSWORDS[name])}
"""


def _group_of_names(cn: str, members: list[str]) -> str:
    # groupOfNames needs at least one member: every group holds the suffix as a placeholder, so moving its
    # last person out (a role change) leaves a valid group.
    lines = [f"member: {m}" for m in [SUFFIX, *members]]
    return f"dn: {group_dn(cn)}\nobjectClass: groupOfNames\ncn: {cn}\n" + "\n".join(lines) + "\n"


def _data_ldif() -> str:
    entries = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: court\no: Court\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
        *(_person(name, 2000 + i) for i, name in enumerate(PASSWORDS)),
        _group_of_names("wb-admins", []),
        _group_of_names("wb-judges", [user_dn("alice")]),
        _group_of_names("wb-clerks", [user_dn("bob"), user_dn("o,brien")]),
        _group_of_names("unrelated", [user_dn("carol")]),
        f"dn: {group_dn('wb-viewers')}\nobjectClass: posixGroup\ncn: wb-viewers\ngidNumber: 3000\nmemberUid: dave\n",
    ]
    return "\n".join(entries)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(args: list[str], *, input_text: str | None = None) -> None:
    done = subprocess.run(args, input=input_text, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:2])} failed ({done.returncode}): {done.stderr.strip() or done.stdout}")


@dataclass
class Slapd:
    """One running slapd; `url` is where it answers."""

    root: Path
    port: int = 0
    tls_port: int = 0  # ldaps, with a certificate for 127.0.0.1 signed by `ca_file`
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}/"

    @property
    def tls_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.tls_port}/"

    @property
    def ca_file(self) -> Path:
        return self.root / "tls" / "ca.pem"

    def start(self, timeout: float = 10.0) -> None:
        config, data = self.root / "slapd.d", self.root / "data"
        for folder in (config, data):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        make_certificates(self.root / "tls")
        (self.root / "config.ldif").write_text(_config_ldif(self.root), encoding="utf-8")
        (self.root / "data.ldif").write_text(_data_ldif(), encoding="utf-8")
        _run([SLAPADD, "-n0", "-F", str(config), "-l", str(self.root / "config.ldif")])
        _run([SLAPADD, "-n1", "-F", str(config), "-l", str(self.root / "data.ldif")])
        for _attempt in range(3):  # a free port may be taken between our probe and slapd's bind
            self.port, self.tls_port = free_port(), free_port()
            log = (self.root / "slapd.log").open("w")
            # -d 0 keeps slapd in the foreground (so Popen owns it); running as root, no -u/-g.
            self.process = subprocess.Popen(
                [SLAPD, "-F", str(config), "-h", f"{self.url} {self.tls_url}", "-d", "0"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_answering(timeout):
                return
            self.stop()
        raise RuntimeError(f"slapd did not start: {(self.root / 'slapd.log').read_text(errors='replace')[-2000:]}")

    def _wait_answering(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                for port in (self.port, self.tls_port):
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                        pass
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def modify(self, ldif: str) -> None:
        """Applies an LDIF change as the root DN, with the real `ldapmodify`."""
        _run([LDAPMODIFY, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD], input_text=ldif)

    def move_member(self, name: str, from_group: str, to_group: str) -> None:
        """Moves a person from one groupOfNames to another (a role change in the directory)."""
        self.modify(
            f"dn: {group_dn(from_group)}\nchangetype: modify\ndelete: member\nmember: {user_dn(name)}\n\n"
            f"dn: {group_dn(to_group)}\nchangetype: modify\nadd: member\nmember: {user_dn(name)}\n"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


def start(root: Path) -> Slapd:
    server = Slapd(root)
    server.start()
    return server
