"""API benchmark: keyword search over HTTP against a running `workbench serve`, as a client system would call it.

    .venv/bin/python bench/api.py                  # 100 hearings x 1,000 segments (100 k) in a temp data folder
    .venv/bin/python bench/api.py --hearings 20    # a quick run

Builds the store with `bench/search.py`'s generator (seeded court text over `--cases` cases), adds an
admin and a clerk who is a member of 2 cases, makes an API token for each, starts the real server
(`workbench serve --http` on a free port, its own data folder), then times the 200 queries of
`bench/search.py` through `GET /api/v1/search` (keep-alive HTTP, 20 hits a page) as the admin and as
the clerk. Prints a table of median and p95 per kind, and the server's RSS. The data folder is removed
at the end. Target (issue 14): p95 ≤ 50 ms at 100 k segments.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search import fill, pct, queries  # noqa: E402
from workbench.accounts import Accounts, Role, console_access  # noqa: E402
from workbench.accounts.tokens import ApiTokens  # noqa: E402
from workbench.store import Store, audit, members  # noqa: E402


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(data: Path, hearings: int, segments: int, n_cases: int, seed: int) -> tuple[str, str, float]:
    """The store, an admin and a clerk of 2 cases with a token each: (admin token, clerk token, build seconds)."""
    started = time.perf_counter()
    with Store(data / "workbench.duckdb") as store:
        fill(store, hearings, segments, seed, n_cases)
        accounts = Accounts(store)
        operator = console_access(store).actor  # the bench runs as the console operator (an admin), as `users add`
        admin, _ = accounts.add(
            "bench-admin", Role.ADMIN, by=operator, password="bench-admin-password-1", must_change=False
        )
        clerk, _ = accounts.add(
            "bench-clerk", Role.CLERK, by=operator, password="bench-clerk-password-1", must_change=False
        )
        with store.writing() as con:
            for case in store.cases()[:2]:
                members.add(con, case.id, clerk.id, audit.SYSTEM)
        tokens = ApiTokens(store)
        _, admin_token = tokens.create(admin, "bench", actor=admin.actor("bench"))
        _, clerk_token = tokens.create(clerk, "bench", actor=clerk.actor("bench"))
    return admin_token, clerk_token, time.perf_counter() - started


def serve(data: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "WORKBENCH_DATA": str(data)}
    proc = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "workbench"), "serve", "--http", "--address", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(data / "server.log").open("wb"),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).ok:
                return proc
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"the server exited: see {data / 'server.log'}")
        time.sleep(0.5)
    proc.kill()
    raise SystemExit("the server did not answer within 120 s")


def params_of(q: str, f: dict) -> dict[str, str]:
    """bench/search.py's filters as the API's query parameters."""
    out = {"q": q, "limit": "20"}
    for key, name in (("case", "case"), ("role", "role"), ("speaker", "speaker")):
        if key in f:
            out[name] = str(f[key])
    if "date_from" in f:
        out["from"] = f["date_from"].isoformat()
        out["to"] = f["date_to"].isoformat()
    return out


def timed(http: requests.Session, url: str, token: str, qs: list[tuple[str, str, dict]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {token}"}
    for kind, q, f in qs:
        t = time.perf_counter()
        r = http.get(url, params=params_of(q, f), headers=headers, timeout=30)
        elapsed = (time.perf_counter() - t) * 1000
        if r.status_code != 200:
            raise SystemExit(f"search {q!r} answered {r.status_code}: {r.text[:200]}")
        times.setdefault(kind, []).append(elapsed)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hearings", type=int, default=100)
    ap.add_argument("--segments", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the temp data folder (its path is printed)")
    args = ap.parse_args()

    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    proc = None
    try:
        admin_token, clerk_token, build_s = build(data, args.hearings, args.segments, args.cases, args.seed)
        with Store(data / "workbench.duckdb") as store:
            qs = queries(args.seed, store)
            with store.reading() as con:
                n_seg = con.execute("SELECT count(*) FROM segments").fetchone()[0]
        port = free_port()
        proc = serve(data, port)
        url = f"http://127.0.0.1:{port}/api/v1/search"
        http = requests.Session()
        load = os.getloadavg()
        timed(http, url, admin_token, qs[:20])  # warm-up: a server that has answered a few searches
        admin = timed(http, url, admin_token, qs)
        clerk = timed(http, url, clerk_token, qs)
        rss = sum(p.memory_info().rss for p in [psutil.Process(proc.pid), *psutil.Process(proc.pid).children(True)])

        print(f"\nAPI search over HTTP: {n_seg:,} segments in {args.hearings} hearings, {args.cases} cases")
        print(f"(build {build_s:.0f} s; load average before the queries {load[0]:.2f}; server RSS {rss >> 20} MB)\n")
        print("| who | kind | queries | median ms | p95 ms |")
        print("| --- | --- | ---: | ---: | ---: |")
        for who, times in (("admin (all cases)", admin), ("clerk (2 cases)", clerk)):
            for kind, values in times.items():
                print(f"| {who} | {kind} | {len(values)} | {statistics.median(values):.1f} | {pct(values, 95):.1f} |")
            every = [x for v in times.values() for x in v]
            print(f"| {who} | **all** | {len(every)} | {statistics.median(every):.1f} | **{pct(every, 95):.1f}** |")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if args.keep:
            print(f"data kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
