"""Upload benchmark: 1 GB recordings through `/api/v1/uploads` of a real `workbench serve`, and the server's memory.

    .venv/bin/python bench/upload.py                 # one 1 GB upload, then three at once
    .venv/bin/python bench/upload.py --mb 256        # a quick run

Makes an admin and an API token with the CLI (`workbench users add`, `workbench tokens create`) in a temp
data folder, starts the real server (`workbench serve --http` on a free port, no job worker: only the
upload is measured), and sends generated recordings (a WAV header, then noise) in 8 MiB PATCHes, as the
upload page's script does. The server's RSS (psutil, the server process and its children) is sampled every
50 ms: before, peak and after each run. Prints a table; removes the data folder. Targets (issue 14): a 1 GB
upload raises the server's RSS by at most 100 MB; three at once by at most 150 MB in all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workbench import settings  # noqa: E402

BIN = Path(sys.executable).with_name("workbench")
CHUNK = 8 << 20
PASSWORD = "bench-upload-password-1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wav_header(data_bytes: int, rate: int = 16000) -> bytes:
    """A 16-bit mono PCM WAV header for `data_bytes` of samples."""
    return (
        b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data" + struct.pack("<I", data_bytes)
    )  # fmt: skip


class Recording:
    """`size` bytes of a WAV file, made chunk by chunk (never whole in the client's memory either)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.header = wav_header(size - 44)
        self.noise = os.urandom(CHUNK)  # one chunk of noise, repeated

    def chunk(self, offset: int) -> bytes:
        end = min(offset + CHUNK, self.size)
        body = self.noise[: end - offset]
        if offset == 0:
            body = self.header + body[len(self.header) :]
        return body


def tree_rss(pid: int) -> int:
    """RSS in bytes of the process and its children."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


class Sampler:
    """The server's RSS every 50 ms in a thread, for the peak."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(0.05)

    def __enter__(self) -> Sampler:
        self.peak = tree_rss(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, tree_rss(self.pid))


def upload(base: str, token: str, name: str, recording: Recording) -> str:
    """One recording through POST + PATCHes on one keep-alive connection; returns its id."""
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {token}"
        r = http.post(f"{base}/api/v1/uploads", json={"name": name, "size": recording.size}, timeout=30)
        r.raise_for_status()
        upload_id = r.json()["id"]
        offset = 0
        while offset < recording.size:
            r = http.patch(
                f"{base}/api/v1/uploads/{upload_id}",
                data=recording.chunk(offset),
                headers={"Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset)},
                timeout=120,
            )
            r.raise_for_status()
            offset = r.json()["offset"]
        state = http.get(f"{base}/api/v1/uploads/{upload_id}", timeout=30).json()
        assert state["complete"], state
    return str(upload_id)


def remove(base: str, token: str, upload_id: str) -> None:
    requests.delete(f"{base}/api/v1/uploads/{upload_id}", headers={"Authorization": f"Bearer {token}"}, timeout=30)


@dataclass
class Row:
    name: str
    files: int
    mb_each: int
    seconds: float
    before: int
    peak: int
    after: int
    target_mb: int

    def line(self) -> str:
        rise = (self.peak - self.before) / 2**20
        rate = self.files * self.mb_each / self.seconds
        verdict = "ok" if rise <= self.target_mb else "OVER"
        return (
            f"{self.name:<22} {self.files:>5} {self.mb_each:>8} {self.seconds:>8.1f} {rate:>8.0f} "
            f"{self.before / 2**20:>9.0f} {self.peak / 2**20:>9.0f} {self.after / 2**20:>9.0f} "
            f"{rise:>8.1f} {self.target_mb:>7} {verdict:>5}"
        )


def run(base: str, token: str, pid: int, name: str, files: int, mb: int, target_mb: int) -> Row:
    recording = Recording(mb << 20)
    before = tree_rss(pid)
    ids: list[str] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            ids.append(upload(base, token, f"bench-{i}.wav", recording))
        except BaseException as e:  # reported after the run
            errors.append(e)

    started = time.perf_counter()
    with Sampler(pid) as sampler:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(files)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    after = tree_rss(pid)
    for upload_id in ids:
        remove(base, token, upload_id)  # the disk back for the next run
    return Row(name, files, mb, seconds, before, sampler.peak, after, target_mb)


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(BIN), *args], env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )
    if done.returncode:
        raise SystemExit(f"workbench {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="Size of each recording in MB (default 1024).")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="wb-bench-upload-"))
    names = settings.REGISTRY
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")},  # nothing of another setup
        names["data_dir"].env: str(data),
        names["models_dir"].env: str(ROOT / "data" / "models"),
        names["workers"].env: "0",
        names["upload_max_mb"].env: str(max(4096, args.mb)),
    }
    proc: subprocess.Popen[bytes] | None = None
    try:
        cli(env, "users", "add", "bench-admin", "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
        token = cli(env, "tokens", "create", "bench", "--as", "bench-admin")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = open(data / "server.log", "ab")  # noqa: SIM115 - the server outlives this block
        proc = subprocess.Popen(
            [str(BIN), "serve", "--http", "--port", str(port), "--address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not start:\n" + (data / "server.log").read_text(errors="replace"))
            time.sleep(0.3)
        run(base, token, proc.pid, "warm-up", 1, 16, 10_000)  # imports and first-call caches are not uploads
        time.sleep(1)
        rows = [
            run(base, token, proc.pid, f"one {args.mb} MB", 1, args.mb, 100),
            run(base, token, proc.pid, f"three {args.mb} MB at once", 3, args.mb, 150),
        ]
        print(f"\nserver pid {proc.pid}; chunks of {CHUNK >> 20} MiB; RSS of the server and its children in MB")
        print(
            f"{'run':<22} {'files':>5} {'MB each':>8} {'seconds':>8} {'MB/s':>8} "
            f"{'RSS before':>9} {'peak':>9} {'after':>9} {'rise':>8} {'target':>7} {'':>5}"
        )
        for row in rows:
            print(row.line())
        if any((r.peak - r.before) / 2**20 > r.target_mb for r in rows):
            sys.exit(1)
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
