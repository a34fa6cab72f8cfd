"""The strace reader behind tests/test_egress.py, on a canned trace: what counts as egress, and who did it."""

from __future__ import annotations

import egress_trace as trace


def query(name: str, qtype: int = 1, *, ident: int = 0x61A7) -> bytes:
    """A DNS query packet, as a resolver sends it."""
    header = ident.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    labels = b"".join(len(p).to_bytes(1, "big") + p.encode() for p in name.split("."))
    return header + labels + b"\x00" + qtype.to_bytes(2, "big") + b"\x00\x01"


def hexed(data: bytes) -> str:
    """Bytes as `strace -x` prints a string holding non-printable bytes."""
    return "".join(f"\\x{b:02x}" for b in data)


PY = "/srv/workbench/.venv/bin/python3"  # a path as a trace shows it; nothing runs it
ORT_QUERY = hexed(query("mobile.events.data.microsoft.com", 28, ident=0x4557))
QUERY_A = hexed(query("court-records.example.org", 1))
QUERY_AAAA = hexed(query("court-records.example.org", 28, ident=0xBFAA))
THREAD = (
    "clone3({flags=CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS, "
    "child_tid=0x7fa1130b8990, parent_tid=0x7fa1130b8990, exit_signal=0, stack=0x7fa1128b8000, "
    "stack_size=0x7fff80, tls=0x7fa1130b86c0} => {parent_tid=[%d]}, 88) = %d"
)
CANNED = f"""\
100 execve("{PY}", ["{PY}", "-m", "workbench", "transcribe", "a.flac"], 0x56140bc324b0 /* 38 vars */) = 0
100 {THREAD % (101, 101)}
101 connect(3, {{sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}}, 110) = -1 ENOENT (No such file or directory)
101 connect(3, {{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.255.255.53")}}, 16) = 0
101 sendmmsg(3, [{{msg_hdr={{msg_name=NULL, msg_namelen=0, msg_iov=[{{iov_base="{QUERY_A}", iov_len=43}}], \
msg_iovlen=1, msg_controllen=0, msg_flags=0}}, msg_len=43}}, {{msg_hdr={{msg_name=NULL, msg_namelen=0, \
msg_iov=[{{iov_base="{QUERY_AAAA}", iov_len=43}}], msg_iovlen=1, msg_controllen=0, msg_flags=0}}, msg_len=43}}], \
2, MSG_NOSIGNAL) = 2
100 connect(4, {{sa_family=AF_INET, sin_port=htons(8501), sin_addr=inet_addr("127.0.0.1")}}, 16) = 0
100 sendto(4, "GET / HTTP/1.1\\r\\n", 16, 0, NULL, 0) = 16
100 sendto(5, [{{nlmsg_len=20, nlmsg_type=RTM_GETLINK, nlmsg_flags=NLM_F_REQUEST|NLM_F_DUMP, nlmsg_seq=1, \
nlmsg_pid=0}}], 20, 0, {{sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}}, 12) = 20
100 connect(6, {{sa_family=AF_INET6, sin6_port=htons(8501), sin6_flowinfo=htonl(0), \
inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}}, 28) = 0
100 connect(6, {{sa_family=AF_INET6, sin6_port=htons(8501), sin6_flowinfo=htonl(0), \
inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6_addr), sin6_scope_id=0}}, 28) = 0
100 connect(7, {{sa_family=AF_INET, sin_port=htons(1), sin_addr=inet_addr("8.8.8.8")}}, 16) = 0
100 {THREAD % (102, 102)}
102 sendto(8, "{hexed(query("not-a-resolver.example"))}", 40, 0, NULL, 0) = 40
100 {THREAD % (103, 103)}
103 connect(9, {{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("127.0.0.53")}} <unfinished ...>
100 vfork( <unfinished ...>
104 execve("/usr/bin/soffices", ["soffice"], 0x7ffc2e7398e0 /* 38 vars */) = -1 ENOENT (No such file or directory)
104 execve("\\x2f\\x75\\x73\\x72\\x2f\\x62\\x69\\x6e\\x2f\\x73\\x6f\\x66\\x66\\x69\\x63\\x65", \
["\\x73\\x6f\\x66\\x66\\x69\\x63\\x65", "--headless", "--convert-to", "pdf"], \
0x7ffc2e7398e0 /* 38 vars */ <unfinished ...>
103 <... connect resumed>)            = 0
103 sendto(9, "{ORT_QUERY}", 50, MSG_NOSIGNAL, NULL, 0 <unfinished ...>
100 <... vfork resumed>)              = 104
104 <... execve resumed>)             = 0
103 <... sendto resumed>)             = 50
104 connect(3, {{sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), \
inet_pton(AF_INET6, "2001:db8::1", &sin6_addr), sin6_scope_id=0}}, 28) = -1 ENETUNREACH (Network is unreachable)
104 sendto(4, "<14>hello", 9, 0, {{sa_family=AF_INET, sin_port=htons(514), sin_addr=inet_addr("192.168.1.20")}}, 16) = 9
100 --- SIGCHLD {{si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=104, si_uid=0, si_status=0}} ---
"""
TRANSCRIBE = f"{PY} -m workbench transcribe a.flac"
SOFFICE = "soffice --headless --convert-to pdf"


def test_finds_each_way_out_and_names_the_process() -> None:
    found = {(f.pid, f.command, f.syscall, f.address, f.host) for f in trace.Trace(CANNED).egress()}
    assert found == {
        # a resolver thread: the name server, and the names asked for
        (101, TRANSCRIBE, "connect", "10.255.255.53:53", None),
        (101, TRANSCRIBE, "sendmmsg", "10.255.255.53:53", "court-records.example.org. (A)"),
        (101, TRANSCRIBE, "sendmmsg", "10.255.255.53:53", "court-records.example.org. (AAAA)"),
        # a route probe sends nothing, but asks the way out all the same
        (100, TRANSCRIBE, "connect", "8.8.8.8:1", None),
        # a stub resolver on loopback is still a DNS query for a name outside
        (103, TRANSCRIBE, "connect", "127.0.0.53:53", None),
        (103, TRANSCRIBE, "sendto", "127.0.0.53:53", "mobile.events.data.microsoft.com. (AAAA)"),
        # a child (vfork, then execve): named by its own command line; failed attempts count
        (104, SOFFICE, "connect", "[2001:db8::1]:443", None),
        (104, SOFFICE, "sendto", "192.168.1.20:514", None),
    }


def test_local_traffic_is_not_egress() -> None:
    local = "\n".join(
        line
        for line in CANNED.splitlines()
        if "AF_UNIX" in line or "127.0.0.1" in line or "AF_NETLINK" in line or '"::1"' in line or "execve" in line
    )
    assert trace.Trace(local).egress() == []


def test_a_query_shaped_packet_off_a_resolver_thread_is_not_read_as_dns() -> None:
    assert not [f for f in trace.Trace(CANNED).egress() if f.pid == 102]


def test_dns_questions() -> None:
    assert trace.dns_question(query("mobile.events.data.microsoft.com", 28)) == (
        "mobile.events.data.microsoft.com.",
        "AAAA",
    )
    tcp = query("example.org")
    assert trace.dns_question(len(tcp).to_bytes(2, "big") + tcp) == ("example.org.", "A")
    answer = bytearray(query("example.org"))
    answer[2] |= 0x80
    assert trace.dns_question(bytes(answer)) is None
    assert trace.dns_question(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n") is None
    assert trace.unescape(r"\x2f\x62in\"\\\n\101") == b'/bin"\\\nA'


def test_the_report_folds_threads_and_names_hosts() -> None:
    text = trace.report(trace.Trace(CANNED).egress(), "canned")
    assert text.startswith("canned: 8 attempt(s) to reach beyond this machine:")
    assert f"{TRANSCRIBE}: sendto → DNS query for mobile.events.data.microsoft.com. (AAAA) to 127.0.0.53:53" in text
    assert f"{SOFFICE}: connect → [2001:db8::1]:443  (pid 104)" in text
