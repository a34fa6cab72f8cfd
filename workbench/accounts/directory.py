"""Directory sign-in: a simple bind to an LDAP / Active Directory server, and its groups mapped to a role.

Settings (workbench.settings): `ldap_url` (ldap:// or ldaps://; empty means off), `ldap_user_dn` (the bind
name, `{name}` being the name typed: a DN template such as `uid={name},ou=people,dc=court,dc=local`, or an AD
form such as `{name}@court.local`), `ldap_group_base` (where the role groups are) and `ldap_roles`
(`admin=wb-admins,judge=wb-judges,...`: role=group cn pairs). A user in several groups gets the highest role
(admin > judge > clerk > viewer); a user in none of them cannot sign in.

The name typed is escaped for the DN (RFC 4514) and for every search filter (RFC 4515); an empty password is
refused before any bind, since an empty simple bind is an unauthenticated bind that many servers answer with
success. The password is never logged nor kept.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import ssl
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException, LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from workbench import settings
from workbench.accounts.roles import Role

log = logging.getLogger(__name__)

TIMEOUT_S = 5  # connect and per-answer limit: a sign-in page must not hang on a dead server
NAME_MAX = 256
PASSWORD_MAX = 1024  # no directory password is longer; longer input is refused without asking the server
DISPLAY_NAME_MAX = 64  # as workbench.accounts.users.DISPLAY_NAME_MAX
RANK = {Role.ADMIN: 4, Role.JUDGE: 3, Role.CLERK: 2, Role.VIEWER: 1}
# LDAP result codes that mean "the server cannot answer now", not "wrong password".
_UNAVAILABLE_CODES = {51, 52}  # busy, unavailable
_CA_FILE_SETTING = "ldap_ca_file"


@dataclass(frozen=True)
class DirectoryUser:
    name: str  # the sign-in name as the directory spells it (its uid / sAMAccountName when it has one)
    display_name: str
    role: Role


class DirectoryUnavailable(Exception):
    """The directory server cannot be reached or does not answer (the message says which server and why)."""


class DirectoryConfigError(DirectoryUnavailable, ValueError):
    """A directory setting that cannot be used (the message names the setting and what is wrong).

    A kind of DirectoryUnavailable, so a sign-in refuses it the same way (and audits the message)."""


@dataclass(frozen=True)
class DirectoryConfig:
    url: str
    user_dn: str  # template with {name}
    group_base: str
    roles: dict[str, Role]  # group cn (lower case) -> role
    ca_file: str = ""

    @property
    def binds_with_dn(self) -> bool:
        """True for a DN template (uid={name},...); False for AD's `{name}@domain` or `DOMAIN\\{name}` forms."""
        return "=" in self.user_dn


def parse_roles(text: str) -> dict[str, Role]:
    """`admin=wb-admins,judge=wb-judges` -> {"wb-admins": ADMIN, "wb-judges": JUDGE}; a role may have several groups.

    DirectoryConfigError naming the piece that is wrong: no `=`, an unknown role, an empty group, a group given
    two different roles.
    """
    roles: dict[str, Role] = {}
    for piece in (p.strip() for p in str(text).split(",")):
        if not piece:
            continue
        role_text, sep, group = (part.strip() for part in piece.partition("="))
        if not sep or not group:
            raise DirectoryConfigError(f"ldap_roles: {piece!r} 不是 角色=组 (is not role=group), e.g. judge=wb-judges")
        try:
            role = Role(role_text.lower())
        except ValueError:
            raise DirectoryConfigError(
                f"ldap_roles: 未知角色 {role_text!r} (unknown role {role_text!r}) in {piece!r}: "
                f"one of {', '.join(r.value for r in Role)}"
            ) from None
        key = group.lower()
        if roles.get(key, role) is not role:
            raise DirectoryConfigError(
                f"ldap_roles: 组 {group!r} 对应两个角色 (group {group!r} is given two roles): "
                f"{roles[key].value} and {role.value}"
            )
        roles[key] = role
    if not roles:
        raise DirectoryConfigError("ldap_roles: 没有角色映射 (no role=group pair): e.g. judge=wb-judges")
    return roles


def configured() -> bool:
    """Directory sign-in is on (ldap_url is set)."""
    return bool(str(settings.get("ldap_url") or "").strip())


def config() -> DirectoryConfig:
    """The directory settings, checked; DirectoryConfigError naming the setting otherwise."""
    url = str(settings.get("ldap_url") or "").strip()
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.hostname or parts.path.strip("/"):
        raise DirectoryConfigError(
            f"ldap_url: 需要 ldap://主机[:端口] 或 ldaps://主机[:端口] (expected ldap://host[:port] or "
            f"ldaps://host[:port]), got {url!r}"
        )
    user_dn = str(settings.get("ldap_user_dn") or "").strip()
    if user_dn.count("{name}") != 1 or "{" in user_dn.replace("{name}", ""):
        raise DirectoryConfigError(
            f"ldap_user_dn: 需要恰好一个 {{name}} (needs exactly one {{name}} and no other braces), got {user_dn!r}"
        )
    group_base = str(settings.get("ldap_group_base") or "").strip()
    try:
        parse_dn(group_base)
    except LDAPInvalidDnError as error:
        raise DirectoryConfigError(f"ldap_group_base: 不是有效的 DN (not a valid DN) {group_base!r}: {error}") from None
    return DirectoryConfig(
        url=url,
        user_dn=user_dn,
        group_base=group_base,
        roles=parse_roles(str(settings.get("ldap_roles") or "")),
        ca_file=str(settings.get(_CA_FILE_SETTING) or "").strip(),
    )


def _plain_name(name: object) -> str | None:
    """The name typed, stripped, or None when it cannot be anyone's: empty, too long, control characters."""
    if not isinstance(name, str):
        return None
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        return None
    # NUL and other control or format characters (bidi overrides) are in no directory name; ldap3's
    # escape_rdn does not encode NUL as RFC 4514 asks, so such a name never reaches the server.
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        return None
    return name


# Characters that cannot be part of a user name in AD's bind forms (name@domain, DOMAIN\name).
_NOT_IN_AD_NAME = set('@\\/,=+<>#;"*()[]:|?') | {" "}


def bind_name(cfg: DirectoryConfig, name: str) -> str | None:
    """The name to bind as, the typed name escaped for a DN template; None when the name cannot be in an AD form."""
    if cfg.binds_with_dn:
        return cfg.user_dn.replace("{name}", escape_rdn(name))
    if any(ch in _NOT_IN_AD_NAME for ch in name):
        return None
    return cfg.user_dn.replace("{name}", name)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _server(cfg: DirectoryConfig) -> ldap3.Server:
    parts = urlsplit(cfg.url)
    secure = parts.scheme.lower() == "ldaps"
    # Certificate and host name checked over ldaps; the system's CAs unless a CA file is set.
    tls = None
    if secure:
        if cfg.ca_file and not os.path.isfile(cfg.ca_file):
            raise DirectoryConfigError(f"{_CA_FILE_SETTING}: 文件不存在 (no such file) {cfg.ca_file!r}")
        host = parts.hostname or ""
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=cfg.ca_file or None,
            sni=None if _is_address(host) else host,  # the name, for a server that holds several certificates
        )
    return ldap3.Server(
        parts.hostname,
        port=parts.port or (636 if secure else 389),
        use_ssl=secure,
        tls=tls,
        connect_timeout=TIMEOUT_S,
        get_info=ldap3.NONE,
    )


def _unavailable(cfg: DirectoryConfig, why: object) -> DirectoryUnavailable:
    return DirectoryUnavailable(f"目录服务器不可用 (directory server unavailable): {cfg.url}: {why}")


def _why(cfg: DirectoryConfig, error: LDAPException) -> str:
    """ldap3's error in a line an admin can act on (its certificate errors print the whole certificate)."""
    text = str(error)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "证书不可信 (the server's TLS certificate is not trusted: "
            f"give its CA in {_CA_FILE_SETTING}, WORKBENCH_{_CA_FILE_SETTING.upper()})"
        )
    if "doesn't match any name" in text:
        return f"证书与主机名不符 (the server's TLS certificate is not for {urlsplit(cfg.url).hostname})"
    return text[:300]


def _first(entry_attributes: dict, *names: str) -> str:
    for key in names:
        value = entry_attributes.get(key)
        if isinstance(value, list):
            value = value[0] if value else ""
        if value:
            return str(value)
    return ""


def _clean_display_name(text: str) -> str:
    """A display name the accounts table takes: no control or format characters, at most 64 characters."""
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    return text[:DISPLAY_NAME_MAX].strip()


def _cn_under(dn: str, base: str) -> str | None:
    """The cn of a group DN (from memberOf) when the group is under `base`; None otherwise."""
    try:
        rdns = [(attr.lower(), value.lower()) for attr, value, _sep in parse_dn(dn, strip=True)]
        tail = [(attr.lower(), value.lower()) for attr, value, _sep in parse_dn(base, strip=True)]
    except LDAPInvalidDnError:
        return None
    if len(rdns) <= len(tail) or rdns[len(rdns) - len(tail) :] != tail or rdns[0][0] != "cn":
        return None
    return rdns[0][1]


def best_role(groups: Iterable[str], roles: dict[str, Role]) -> Role | None:
    """The highest role any of the group cns maps to (case-insensitive); None when none maps."""
    mapped = [roles[g.lower()] for g in groups if g.lower() in roles]
    return max(mapped, key=RANK.__getitem__, default=None)


def _naming_context(base: str) -> str:
    """The dc=... tail of the group base: where an AD user is looked up by name."""
    try:
        rdns = parse_dn(base, strip=True)
    except LDAPInvalidDnError:
        return base
    dcs = [f"{attr}={value}" for attr, value, _sep in rdns if attr.lower() == "dc"]
    return ",".join(dcs) or base


def _user_entry(conn: ldap3.Connection, cfg: DirectoryConfig, name: str, bound_as: str) -> tuple[str, dict]:
    """The bound user's DN and attributes (display name, uid, memberOf)."""
    wanted = ["displayName", "cn", "uid", "sAMAccountName", "memberOf"]
    if cfg.binds_with_dn:
        conn.search(bound_as, "(objectClass=*)", search_scope=ldap3.BASE, attributes=wanted, size_limit=1)
    else:
        value = escape_filter_chars(bound_as)
        conn.search(
            _naming_context(cfg.group_base),
            f"(|(userPrincipalName={value})(sAMAccountName={escape_filter_chars(name)}))",
            search_scope=ldap3.SUBTREE,
            attributes=wanted,
            size_limit=2,
        )
    _raise_if_unavailable(conn, cfg)
    entries = [e for e in conn.response or [] if e.get("type") == "searchResEntry"]
    if len(entries) != 1:  # not readable, or (AD) a name that is not one user
        return (bound_as if cfg.binds_with_dn else ""), {}
    return entries[0]["dn"], dict(entries[0].get("attributes") or {})


def _group_cns(conn: ldap3.Connection, cfg: DirectoryConfig, name: str, user_dn: str, attrs: dict) -> set[str]:
    """The cns of the user's groups under ldap_group_base: groupOfNames / AD `member`, groupOfUniqueNames,
    posixGroup `memberUid`, and the user's own `memberOf` where the server keeps it."""
    clauses = [f"(memberUid={escape_filter_chars(name)})"]
    if user_dn:
        dn_value = escape_filter_chars(user_dn)
        clauses += [f"(member={dn_value})", f"(uniqueMember={dn_value})"]
    conn.search(
        cfg.group_base,
        f"(|{''.join(clauses)})",
        search_scope=ldap3.SUBTREE,
        attributes=["cn"],
        size_limit=500,
    )
    _raise_if_unavailable(conn, cfg)
    if conn.result.get("result") not in (0, 4):  # 4: size limit, keep what came
        log.warning("directory group search under %s: %s", cfg.group_base, conn.result.get("description"))
    found: set[str] = set()
    for entry in conn.response or []:
        if entry.get("type") == "searchResEntry":
            cn = (entry.get("attributes") or {}).get("cn")
            found.update(str(c) for c in (cn if isinstance(cn, list) else [cn]) if c)
    member_of = attrs.get("memberOf") or []
    for dn in member_of if isinstance(member_of, list) else [member_of]:
        cn = _cn_under(str(dn), cfg.group_base)
        if cn:
            found.add(cn)
    return found


def _raise_if_unavailable(conn: ldap3.Connection, cfg: DirectoryConfig) -> None:
    if (conn.result or {}).get("result") in _UNAVAILABLE_CODES:
        raise _unavailable(cfg, conn.result.get("description"))


def _directory_name(name: str, attrs: dict) -> str:
    """The directory's own spelling of the name (uid / sAMAccountName), when it is the same name."""
    spelled = _first(attrs, "uid", "sAMAccountName")
    return spelled if spelled.lower() == name.lower() else name


_warned_clear_text: set[str] = set()


def _warn_if_clear_text(cfg: DirectoryConfig) -> None:
    """Once per URL: ldap:// to another machine sends every password over the LAN in clear text."""
    parts = urlsplit(cfg.url)
    host = parts.hostname or ""
    if parts.scheme.lower() == "ldaps" or cfg.url in _warned_clear_text:
        return
    if host == "localhost" or (_is_address(host) and ipaddress.ip_address(host).is_loopback):
        return
    _warned_clear_text.add(cfg.url)
    log.warning("ldap_url %s is not ldaps://: passwords cross the network in clear text", cfg.url)


def authenticate(name: str, password: str) -> DirectoryUser | None:
    """Binds as the user and maps their groups to a role.

    None: the bind fails (wrong name or password), the password is empty, the name cannot be anyone's, or
    the user is in none of the role groups. DirectoryUnavailable: the server cannot be reached, does not
    answer within TIMEOUT_S, or refuses its TLS certificate. DirectoryConfigError: the settings are wrong.
    """
    cfg = config()
    plain = _plain_name(name)
    if plain is None or not isinstance(password, str) or not password or len(password) > PASSWORD_MAX:
        return None  # before any connection: an empty password would be an unauthenticated bind
    bound_as = bind_name(cfg, plain)
    if bound_as is None:
        return None
    _warn_if_clear_text(cfg)
    conn = ldap3.Connection(
        _server(cfg),
        user=bound_as,
        password=password,
        authentication=ldap3.SIMPLE,
        receive_timeout=TIMEOUT_S,
        read_only=True,
        raise_exceptions=False,
        auto_referrals=False,
    )
    try:
        conn.open()
        if not conn.bind():
            code = (conn.result or {}).get("result")
            if code in _UNAVAILABLE_CODES:
                raise _unavailable(cfg, conn.result.get("description"))
            log.info("directory sign-in refused for %r: %s", plain, (conn.result or {}).get("description"))
            return None
        user_dn, attrs = _user_entry(conn, cfg, plain, bound_as)
        role = best_role(_group_cns(conn, cfg, plain, user_dn, attrs), cfg.roles)
        if role is None:
            log.info("directory user %r is in no role group of ldap_roles", plain)
            return None
        display = _clean_display_name(_first(attrs, "displayName", "cn"))
        return DirectoryUser(name=_directory_name(plain, attrs), display_name=display, role=role)
    except DirectoryUnavailable:
        raise
    except LDAPException as error:
        # Socket, timeout and TLS errors; ldap3's messages carry no password.
        raise _unavailable(cfg, _why(cfg, error)) from None
    finally:
        with contextlib.suppress(LDAPException):
            conn.unbind()
