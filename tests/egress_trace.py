"""Reads an `strace -f` log for network egress: every connection or datagram that may leave the machine.

What counts as egress: a connect/sendto/sendmsg/sendmmsg to an IPv4 or IPv6 address that is not loopback
(127.0.0.0/8, ::1; 0.0.0.0 and :: also reach only this machine), any address family other than Unix
sockets and netlink, and any DNS query whatever its destination: a query sent to a stub resolver on
loopback still asks about a name outside. Attempts count as much as successes (on an air-gapped LAN they
fail quietly; on a connected one they would go out), so the return value is ignored.

Each finding names the process (the command line of its latest execve, found through the clone/fork
lines for threads and forked children) and the address or the host name asked for.

The trace is written by `strace -f -qq -s 512 -x -e trace=TRACED -o LOG ...`: `-s 512` keeps a DNS
packet whole, `-x` prints it in hex (the decoding below takes strace's C-style escapes, `-xx` too).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TRACED = "execve,clone,clone3,fork,vfork,connect,sendto,sendmsg,sendmmsg"
STRACE_ARGS = ("-f", "-qq", "--seccomp-bpf", "-s", "512", "-x", "-e", f"trace={TRACED}")

SENDS = ("connect", "sendto", "sendmsg", "sendmmsg")
LOCAL_FAMILIES = {"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"}  # AF_UNSPEC: connect() to dissolve a UDP peer
QTYPES = {1: "A", 28: "AAAA", 5: "CNAME", 12: "PTR", 15: "MX", 16: "TXT", 33: "SRV", 65: "HTTPS"}

_LINE = re.compile(r"^(\d+)\s+(.*)$")
_CALL = re.compile(r"^(\w+)\((.*)$")
_RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
_RESULT = re.compile(r"\)\s+=\s+(-?\d+)")
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
_NEXT_WORD = re.compile(r"(?:\.\.\.)?,\s*")  # "..." marks a string cut short by -s
_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)", re.DOTALL)
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f", b'"': b'"', b"\\": b"\\"}


@dataclass(frozen=True, slots=True)
class Egress:
    pid: int
    command: str
    syscall: str
    address: str  # "10.0.0.53:53", "[2001:db8::1]:443", or the family when it has no address
    host: str | None = None  # the name a DNS query asks for

    def __str__(self) -> str:
        what = f"DNS query for {self.host} to {self.address}" if self.host else self.address
        return f"pid {self.pid} ({self.command}): {self.syscall} → {what}"


def unescape(text: str) -> bytes:
    """The bytes of a string as strace prints it (C escapes: \\xNN, \\NNN, \\n, \\", ...)."""

    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1] == b"x":
            return bytes([int(code[1:], 16)])
        if code[:1].isdigit():
            return bytes([int(code, 8) & 0xFF])
        return _SIMPLE.get(code, code)

    return _ESCAPE.sub(one, text.encode("latin-1", "backslashreplace"))


def dns_question(payload: bytes) -> tuple[str, str] | None:
    """(name, type) when `payload` is a DNS query (or one over TCP, with its 2-byte length first)."""
    for data in (payload, payload[2:]):
        found = _question(data)
        if found is not None:
            return found
    return None


def _question(data: bytes) -> tuple[str, str] | None:
    if len(data) < 17:
        return None
    flags, qdcount = int.from_bytes(data[2:4], "big"), int.from_bytes(data[4:6], "big")
    if flags & 0x8000 or (flags >> 11) & 0xF or not 1 <= qdcount <= 4:  # a response, not a QUERY opcode, or no question
        return None
    labels, at = [], 12
    while at < len(data):
        size = data[at]
        at += 1
        if size == 0:
            break
        if size > 63 or at + size > len(data):
            return None
        label = data[at : at + size]
        if not all(33 <= b < 127 for b in label):
            return None
        labels.append(label.decode("ascii"))
        at += size
    else:
        return None
    if at + 4 > len(data) or len(".".join(labels)) > 253:
        return None
    qtype = int.from_bytes(data[at : at + 2], "big")
    return ".".join(labels) + ".", QTYPES.get(qtype, str(qtype))


def _sockaddrs(args: str) -> Iterable[tuple[str, str, int | None]]:
    """(family, address, port) of every sockaddr in a call's arguments."""
    for start in (m.start() for m in re.finditer(r"\{sa_family=", args)):
        body = _until_brace(args, start + 1)
        family = re.match(r"sa_family=(\w+)", body)
        assert family is not None
        port = re.search(r"sin6?_port=htons\((\d+)\)", body)
        addr = re.search(r'inet_addr\("([^"]*)"\)', body) or re.search(r'inet_pton\(AF_INET6?, "([^"]*)"', body)
        yield (
            family.group(1),
            unescape(addr.group(1)).decode("ascii", "replace") if addr else "",
            int(port.group(1)) if port else None,
        )


def _until_brace(text: str, at: int) -> str:
    """The text from `at` to the closing brace of the sockaddr, skipping braces inside strings."""
    depth, i = 1, at
    while i < len(text) and depth:
        c = text[i]
        if c == '"':
            m = _STRING.match(text, i)
            i = m.end() if m else len(text)
            continue
        depth += {"{": 1, "}": -1}.get(c, 0)
        i += 1
    return text[at : i - 1]


def _is_local(family: str, address: str) -> bool:
    if family in LOCAL_FAMILIES:
        return True
    if family not in ("AF_INET", "AF_INET6"):
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback or ip.is_unspecified


def _show(family: str, address: str, port: int | None) -> str:
    if not address:
        return family
    host = f"[{address}]" if ":" in address else address
    return f"{host}:{port}" if port is not None else host


class Trace:
    """One strace log: who is who (execve, clone), and every send with its arguments."""

    def __init__(self, text: str) -> None:
        self.commands: dict[int, str] = {}
        self.parents: dict[int, int] = {}
        self.sends: list[tuple[int, str, str]] = []  # (pid, syscall, arguments)
        pending: dict[int, tuple[str, str]] = {}  # an <unfinished ...> call per pid, until it resumes
        for raw in text.splitlines():
            line = _LINE.match(raw)
            if not line:
                continue
            pid, rest = int(line.group(1)), line.group(2)
            if resumed := _RESUMED.match(rest):
                name, args = pending.pop(pid, (resumed.group(1), ""))
                self._call(pid, name, args, resumed.group(2), resumed=True)
            elif call := _CALL.match(rest):
                name, args = call.groups()
                if args.endswith("<unfinished ...>"):
                    args = args.removesuffix("<unfinished ...>")
                    pending[pid] = (name, args)
                    if name in SENDS:  # what it sends is known already; whether it worked does not matter
                        self.sends.append((pid, name, args))
                else:
                    self._call(pid, name, args, "", resumed=False)

    def _call(self, pid: int, name: str, args: str, tail: str, *, resumed: bool) -> None:
        results = _RESULT.findall(args + tail)
        result = int(results[-1]) if results else None
        if name == "execve" and result == 0:
            self.commands[pid] = " ".join(_argv(args))[:200]
        elif name in ("clone", "clone3", "fork", "vfork") and result is not None and result > 0:
            self.parents[result] = pid
        elif name in SENDS and not resumed:
            self.sends.append((pid, name, args))

    def command(self, pid: int) -> str:
        """The command line a process (or thread) runs: its own execve's, else its parent's."""
        seen = set()
        while pid not in self.commands and pid in self.parents and pid not in seen:
            seen.add(pid)
            pid = self.parents[pid]
        return self.commands.get(pid, "?")

    def egress(self) -> list[Egress]:
        # Resolvers connect a UDP socket to the name server, then send on it with no address: a payload
        # is read as DNS only from a thread that talks to port 53, so no other packet passes for a query.
        resolvers = {pid for pid, _, args in self.sends if any(port == 53 for *_, port in _sockaddrs(args))}
        server: dict[int, str] = {}  # the name server each resolver thread last connected to
        found: dict[tuple[int, str, str, str | None], Egress] = {}

        def add(pid: int, syscall: str, address: str, host: str | None = None) -> None:
            found.setdefault((pid, syscall, address, host), Egress(pid, self.command(pid), syscall, address, host))

        for pid, name, args in self.sends:
            addrs = list(_sockaddrs(args))
            to_53 = [_show(*a) for a in addrs if a[2] == 53]
            if to_53:
                server[pid] = to_53[0]
            questions = []
            if name != "connect" and pid in resolvers:
                questions = [q for s in _STRING.findall(args) if (q := dns_question(unescape(s))) is not None]
            for family, address, port in addrs:
                if port == 53 and questions:
                    continue  # named below, with the name asked for
                if port == 53 or not _is_local(family, address):
                    add(pid, name, _show(family, address, port))
            for host, qtype in questions:
                add(pid, name, server.get(pid, "a name server"), f"{host} ({qtype})")
        return list(found.values())


def _argv(args: str) -> list[str]:
    """The argument vector of an execve: the strings of its second argument, `"path", ["arg0", ...]`."""
    path = _STRING.match(args)
    open_bracket = re.compile(r",\s*\[").match(args, path.end()) if path else None
    if open_bracket is None:
        return []
    words, at = [], open_bracket.end()
    while word := _STRING.match(args, at):
        words.append(unescape(word.group(1)).decode("utf-8", "replace"))
        separator = _NEXT_WORD.match(args, word.end())
        if separator is None:
            break
        at = separator.end()
    return words


def egress(log: Path | str) -> list[Egress]:
    """Every egress in an strace log file."""
    return Trace(Path(log).read_text(encoding="utf-8", errors="replace")).egress()


def report(findings: list[Egress], what: str) -> str:
    """A failure message: what was traced and, per command, where it tried to go (threads folded together)."""
    pids: dict[tuple[str, str, str], list[int]] = {}
    for f in findings:
        target = f"DNS query for {f.host} to {f.address}" if f.host else f.address
        pids.setdefault((f.command, f.syscall, target), []).append(f.pid)
    lines = [f"{what}: {len(findings)} attempt(s) to reach beyond this machine:"]
    for (command, syscall, target), ids in sorted(pids.items()):
        lines.append(f"  {command}: {syscall} → {target}  (pid {', '.join(map(str, sorted(set(ids))))})")
    return "\n".join(lines)
