"""The whole pipeline (ASR + diarization + speaker attribution) on long built inputs, and memory over a batch.

    .venv/bin/python bench/long.py                      # 30 min, 1 h and 3 h inputs, then 20 files in a row
    .venv/bin/python bench/long.py --minutes 30 --repeat 0

    .venv/bin/python bench/long.py --profile --minutes 20 --no-diarize   # the memory budget per stage
    .venv/bin/python bench/long.py --profile --minutes 60 --job           # ... and in the server's job child

Each long input runs as its own `workbench transcribe` process, so its wall time and peak RSS (from
wait4) are the process's own, model loading included. The batch run transcribes 20 different 1-minute
files one after another in one process and prints RSS after the 1st and after the 20th.

`--profile` runs `workbench transcribe` in a child that is the CLI itself (its `main`, in-process) with a
few hooks: RSS after the imports, after each model load (`memory.load`), at each change of progress
stage (recognition, speakers) and after each release (`memory.release`/`unload_all`); and the peak inside
each stretch between two such marks, read from the kernel's own high-water mark (VmHWM, reset at each
mark through /proc/self/clear_refs), so no peak between two samples is missed. `--job` does the same for
the server's job child process: a real `PipelineProcesses` child (nice, its pipe, its loop) whose target
is the pipeline wrapped by the same hooks; two jobs in a row, as the server keeps the child.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import inputs  # noqa: E402

WORKBENCH = ROOT / ".venv" / "bin" / "workbench"
PROFILE_MARK = "PROFILE "
PROFILE_OUT_ENV = "WORKBENCH_PROFILE_OUT"  # the job child writes its marks here (its stdout is the server's log)
MODEL_LIBRARIES = ("torch", "torchaudio", "pyannote", "funasr", "ctranslate2", "faster_whisper", "onnxruntime")


def run_long(minutes: float) -> dict[str, float]:
    path = inputs.build(minutes)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(WORKBENCH), "transcribe", str(path), "--out", out, "--formats", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"workbench transcribe failed on {path.name} (status {status})")
        data = json.loads((Path(out) / f"{path.stem}.json").read_text(encoding="utf-8"))
    return {
        "minutes": minutes,
        "wall": wall,
        "rtf": wall / data["duration"],
        "peak_mb": usage.ru_maxrss / 1024,
        "segments": len(data["segments"]),
        "speakers": len(data["speakers"] or []),
    }


def repeat_child(count: int) -> None:
    """Runs in a child process: prints one JSON line per file with the RSS after it."""
    from workbench.models import memory
    from workbench.speech.options import TranscribeOptions
    from workbench.speech.pipeline import transcribe

    options = TranscribeOptions.from_settings()
    for i in range(count):
        path = inputs.build(1, seed=100 + i)
        started = time.perf_counter()
        result = transcribe(path, options)
        memory.trim()
        rss = memory.rss_bytes() / 2**20
        print(json.dumps({"i": i + 1, "rss_mb": rss, "wall": time.perf_counter() - started, "n": len(result.segments)}))
        sys.stdout.flush()


# --- the memory budget per stage (--profile) ------------------------------------------------------------


def _status_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Profiler:
    """Marks in one process: RSS now, and the peak since the previous mark (the kernel's VmHWM, then reset)."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self.emit = emit
        self.stage = "start"
        self.started = time.perf_counter()
        self.lock = threading.Lock()
        self._reset_peak()

    @staticmethod
    def _reset_peak() -> None:
        with contextlib.suppress(OSError):  # "5": reset the peak RSS to the current RSS (Linux 4.0+)
            Path("/proc/self/clear_refs").write_text("5", encoding="ascii")

    def mark(self, event: str, stage: str | None = None) -> None:
        with self.lock:
            peak_mb = _status_kb("VmHWM") / 1024  # the peak of the stretch that ends here
            self._reset_peak()
            libraries = sorted({m.partition(".")[0] for m in sys.modules} & set(MODEL_LIBRARIES))
            self.emit(
                {
                    "event": event,
                    "stage": self.stage,
                    "rss_mb": _status_kb("VmRSS") / 1024,
                    "peak_mb": peak_mb,
                    "t": time.perf_counter() - self.started,
                    "libraries": libraries,
                }
            )
            if stage is not None:
                self.stage = stage

    def progress_hook(self, hook: Any) -> Any:
        """`hook` that also marks each change of step (the pipeline's stages: recognition, speakers, done)."""

        def marked(step: str, completed: float, total: float | None = None) -> None:
            if step != self.stage:
                self.mark(f"stage {step} begins", stage=step)
            hook(step, completed, total)

        return marked

    def install(self) -> None:
        """Marks each model load and each release, wherever in the pipeline they happen."""
        from workbench.models import memory

        load, unload_all = memory.load, memory.unload_all
        release = getattr(memory, "release", None)

        def marked_load(key: tuple[Any, ...], name: str, path: Path, loader: Callable[[], Any]) -> Any:
            fresh = not any(m.key == key for m in memory.loaded())
            instance = load(key, name, path, loader)
            if fresh:
                self.mark(f"loaded {name}")
            return instance

        def marked_unload_all() -> list[str]:
            names = unload_all()
            self.mark(f"released {', '.join(names) or 'nothing'}")
            return names

        memory.load = marked_load  # type: ignore[assignment]
        memory.unload_all = marked_unload_all  # type: ignore[assignment]
        if release is not None:

            def marked_release(*args: Any, **kwargs: Any) -> list[str]:
                names = release(*args, **kwargs)
                self.mark(f"released {', '.join(names) or 'nothing'}")
                return names

            memory.release = marked_release


def _print_mark(line: dict[str, Any]) -> None:
    print(PROFILE_MARK + json.dumps(line), flush=True)


def profile_child(argv: list[str]) -> None:
    """`workbench ARGV...` in this process, as its console script runs it, with the profiler's marks."""
    profiler = Profiler(_print_mark)
    from workbench import progress
    from workbench.cli import main as cli_main

    profiler.mark("imports")
    profiler.install()
    tqdm_call = progress.TqdmHook.__call__

    def marked_call(bar: Any, step: str, completed: float, total: float | None = None) -> None:
        if step != profiler.stage:
            profiler.mark(f"stage {step} begins", stage=step)
        tqdm_call(bar, step, completed, total)

    progress.TqdmHook.__call__ = marked_call  # type: ignore[method-assign]
    try:
        cli_main.main(args=argv, prog_name="workbench", standalone_mode=False)
    finally:
        profiler.mark("end")


_job_profiler: Profiler | None = None


def profiled_job(path: Path, options: Any, hook: Any) -> Any:
    """The job child's target (`bench.long:profiled_job`): the server's pipeline with the profiler's marks."""
    global _job_profiler
    from workbench.speech.pipeline import transcribe

    if _job_profiler is None:
        out = Path(os.environ[PROFILE_OUT_ENV])

        def emit(line: dict[str, Any]) -> None:
            with out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")

        _job_profiler = Profiler(emit)
        _job_profiler.mark("imports (the child at rest)")
        _job_profiler.install()
    profiler = _job_profiler
    profiler.mark("job begins", stage="job")
    try:
        return transcribe(path, options, profiler.progress_hook(hook))
    finally:
        profiler.mark("job ends", stage="idle")


@dataclass
class Budget:
    what: str
    marks: list[dict[str, Any]]
    peak_mb: float  # the whole process's peak: the largest of the marks' peaks
    wall: float
    cpu: float
    audio_s: float


def profile_cli(path: Path, diarize: bool) -> Budget:
    """One `workbench transcribe` process (the CLI's main in a child) with the profiler's marks."""
    with tempfile.TemporaryDirectory() as out:
        argv = ["transcribe", str(path), "--out", out, "--formats", "json"]
        argv += [] if diarize else ["--no-diarize"]
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--profile-child", *argv], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        assert proc.stdout is not None
        lines = proc.stdout.read().decode().splitlines()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        if status != 0:
            raise RuntimeError(f"workbench transcribe failed on {path.name} (status {status}):\n" + "\n".join(lines))
        duration = json.loads((Path(out) / f"{path.stem}.json").read_text(encoding="utf-8"))["duration"]
    marks = [json.loads(line[len(PROFILE_MARK) :]) for line in lines if line.startswith(PROFILE_MARK)]
    what = f"workbench transcribe {path.name}" + ("" if diarize else " --no-diarize")
    # ru_maxrss is the kernel's high-water mark, which the marks reset: the peak is the largest stretch's
    peak = max([m["peak_mb"] for m in marks], default=usage.ru_maxrss / 1024)
    return Budget(what, marks, peak, wall, usage.ru_utime + usage.ru_stime, duration)


def profile_job(path: Path, diarize: bool, jobs: int = 2) -> Budget:
    """The server's job child (`PipelineProcesses`), `jobs` jobs in a row on one child, with the marks."""
    from workbench.server.job_process import PipelineProcesses
    from workbench.speech.options import TranscribeOptions

    options = TranscribeOptions.from_settings(diarize=diarize)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "marks.jsonl"
        os.environ[PROFILE_OUT_ENV] = str(out)
        os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
        processes = PipelineProcesses("bench.long:profiled_job")
        started = time.perf_counter()
        cpu = 0.0
        try:
            for _ in range(jobs):
                transcript = processes(path, options, lambda *a: None)
            pid = processes.pids()[0]
            times = psutil.Process(pid).cpu_times()
            cpu = times.user + times.system
        finally:
            processes.end_all()
        wall = time.perf_counter() - started
        marks = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    what = f"job child, {jobs} job(s) on {path.name}" + ("" if diarize else ", no diarization")
    return Budget(what, marks, max(m["peak_mb"] for m in marks), wall, cpu, transcript.duration * jobs)


def print_budget(budget: Budget) -> None:
    print(f"\nMemory budget: {budget.what}\n")
    print(f"{'t s':>7} {'stage':<12} {'mark':<44} {'RSS MB':>7} {'peak since last':>16}  model libraries")
    for m in budget.marks:
        libraries = ",".join(x for x in m["libraries"] if x in ("torch", "pyannote", "funasr")) or "-"
        print(
            f"{m['t']:7.1f} {m['stage']:<12} {m['event'][:44]:<44} {m['rss_mb']:7.0f} {m['peak_mb']:13.0f} MB  "
            f"{libraries}"
        )
    stages: dict[str, float] = {}
    for m in budget.marks:
        stages[m["stage"]] = max(stages.get(m["stage"], 0.0), m["peak_mb"])
    print("\npeak per stage: " + ", ".join(f"{k} {v:.0f} MB" for k, v in stages.items()))
    print(
        f"process peak {budget.peak_mb:.0f} MB; wall {budget.wall:.1f} s, RTF {budget.wall / budget.audio_s:.3f}; "
        f"CPU {budget.cpu:.1f} s, {budget.cpu / budget.audio_s:.3f} CPU s per audio s; load {os.getloadavg()[0]:.2f}",
        flush=True,
    )


def server_at_rest(settle_s: float = 5.0) -> dict[str, Any]:
    """A real `workbench serve` with no job: its RSS after start and a few requests, and what it has mapped."""
    import urllib.request

    sys.path.insert(0, str(ROOT / "tests"))
    from servers import free_port, make_accounts, make_token, start_server, stop_server  # tests/servers.py

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        make_accounts(data / "workbench.duckdb", {"admin1": "admin"})
        token = make_token(data / "workbench.duckdb", "admin1")
        port = free_port()
        proc = start_server(data, port)
        try:
            statuses = []
            for path in ("/signin", "/api/v1/health", "/api/v1/jobs", "/api/v1/models"):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {token}"}
                )
                with urllib.request.urlopen(request, timeout=60) as reply:
                    statuses.append(reply.status)
            time.sleep(settle_s)
            server = psutil.Process(proc.pid)
            mapped = Path(f"/proc/{proc.pid}/maps").read_text(encoding="ascii", errors="replace")
            found = sorted({lib for lib in ("libtorch", "libctranslate2", "onnxruntime", "funasr") if lib in mapped})
            return {
                "rss_mb": server.memory_info().rss / 2**20,
                "peak_mb": _status_kb_of(proc.pid, "VmHWM") / 1024,
                "children": len(server.children(recursive=True)),
                "statuses": statuses,
                "model_libraries_mapped": found,
            }
        finally:
            stop_server(proc)


def _status_kb_of(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="*", default=[30, 60, 180])
    parser.add_argument("--repeat", type=int, default=20, help="files transcribed in a row in one process (0: skip)")
    parser.add_argument("--profile", action="store_true", help="the memory budget per stage of each --minutes input")
    parser.add_argument("--no-diarize", action="store_true", help="with --profile: recognition only")
    parser.add_argument("--job", action="store_true", help="with --profile: also in the server's job child process")
    parser.add_argument("--server", action="store_true", help="the web server's own RSS at rest (no job), then stop")
    parser.add_argument("--child-repeat", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.profile_child is not None:
        profile_child(args.profile_child)
        return
    if args.child_repeat:
        repeat_child(args.child_repeat)
        return
    if args.server:
        rest = server_at_rest()
        print(
            f"\nworkbench serve at rest (no job): RSS {rest['rss_mb']:.0f} MB (peak {rest['peak_mb']:.0f} MB), "
            f"{rest['children']} child process(es), model libraries mapped: "
            f"{', '.join(rest['model_libraries_mapped']) or 'none'}; "
            f"requests answered {rest['statuses']}; load {os.getloadavg()[0]:.2f}"
        )
        return
    if args.profile:
        for minutes in args.minutes:
            path = inputs.build(minutes)
            print_budget(profile_cli(path, diarize=not args.no_diarize))
            if args.job:
                print_budget(profile_job(path, diarize=not args.no_diarize))
        return
    threads = os.environ.get("WORKBENCH_CPU_THREADS", "2")
    if args.minutes:
        print(f"\nWhole pipeline (ASR + diarization + attribution), `workbench transcribe`, {threads} CPU threads\n")
        print(f"{'input':>7} {'wall s':>8} {'RTF':>6} {'peak RSS':>9} {'segments':>8} {'speakers':>8}")
        rows = []
        for minutes in args.minutes:
            r = run_long(minutes)
            rows.append(r)
            print(
                f"{minutes:>5g} m {r['wall']:8.0f} {r['rtf']:6.3f} {r['peak_mb']:6.0f} MB "
                f"{r['segments']:8d} {r['speakers']:8d}",
                flush=True,
            )
        peaks = {r["minutes"]: r["peak_mb"] for r in rows}
        if 60 in peaks and 180 in peaks:
            print(f"\npeak RSS 3 h vs 1 h: {100 * (peaks[180] / peaks[60] - 1):+.1f}%")
    if args.repeat:
        for i in range(args.repeat):
            inputs.build(1, seed=100 + i)
        out = subprocess.run(
            [sys.executable, __file__, "--child-repeat", str(args.repeat)], check=True, capture_output=True, text=True
        ).stdout
        rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
        print(f"\n{args.repeat} one-minute files in a row in one process (RSS after each, after malloc_trim)\n")
        print(" ".join(f"{r['rss_mb']:.0f}" for r in rows))
        print(
            f"\nRSS after file 1: {rows[0]['rss_mb']:.0f} MB, after file {len(rows)}: {rows[-1]['rss_mb']:.0f} MB, "
            f"difference {rows[-1]['rss_mb'] - rows[0]['rss_mb']:+.0f} MB"
        )


if __name__ == "__main__":
    main()
