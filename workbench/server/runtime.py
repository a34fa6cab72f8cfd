"""What the web pages need that is not a Streamlit widget: the server's worker, memory, audio clips, page data.

One `Runtime` per server process (the pages get it through `st.cache_resource`, see `workbench.web.ui`)
owns the store and the background `Worker`. Jobs therefore belong to the server, not to a browser
session: closing a tab does not stop them, every browser sees the same queue, and a restarted server
resumes an interrupted job (`jobs.recover`, called before each claim). The worker's thread keeps the
queue and the database; the recognition itself runs in a child process at lower priority
(`workbench.server.job_process`), so the pages keep their GIL and their CPU share while a job runs.

"Unload models" never pulls a model from under a running job. Every job's pipeline call goes through
`Runtime._pipeline`, which counts running jobs under a condition; `request_unload()` unloads at once
when none runs, and otherwise leaves a request that the last job to finish carries out (and the
worker's idle hook, as a second chance). Unloading ends the idle child processes (their models, their
libraries and their CUDA context go with them), drops `workbench.models.memory`'s cache in this process,
clears the Streamlit caches the pages registered (`on_unload`), closes the idle database file
(DuckDB's buffer pool), collects garbage and returns freed heap to the system (`memory.trim`).
"""

from __future__ import annotations

import contextlib
import html
import importlib
import io
import logging
import re
import tempfile
import threading
import time
import wave
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from workbench import settings
from workbench.files import safe_file_name
from workbench.models import memory
from workbench.progress import ProgressHook
from workbench.server.job_process import PipelineProcesses
from workbench.server.worker import Worker
from workbench.speech.options import TranscribeOptions
from workbench.speech.transcript import Party, Transcript
from workbench.store import Hearing, Speaker, Store, StoredSegment, jobs

log = logging.getLogger("workbench.server.runtime")

JOB_STATE_LABELS = {
    "queued": "排队中",
    "running": "处理中",
    "done": "完成",
    "failed": "失败",
    "cancelled": "已取消",
}
STEP_LABELS = {
    "starting": "启动",
    "recognition": "语音识别",
    "speakers": "说话人分离",
    "done": "完成",
    "interrupted, queued again": "中断后重新排队",
}
UPLOAD_TYPES = ("wav", "mp3", "m4a", "aac", "flac", "ogg", "opus", "wma", "amr", "mp4", "mkv", "webm", "mov")
SAMPLE_SECONDS = 6.0  # length of each speaker's audio sample
PLAY_WINDOW_S = 300.0  # audio sent to the browser per click: five minutes from the segment


# --- formatting ------------------------------------------------------------------------------------


def clock(seconds: float | None) -> str:
    """00:12:03 for a time in the recording."""
    if seconds is None:
        return "--:--:--"
    s = int(max(seconds, 0))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def size(n: int | float | None) -> str:
    if n is None:
        return "—"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":  # 1000, not 1024: "1.0 GB" reads better than "1018.6 MB"
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def eta(seconds: float | None) -> str:
    if seconds is None:
        return "估算中"
    if seconds < 60:
        return f"约 {max(int(seconds), 1)} 秒"
    if seconds < 3600:
        return f"约 {round(seconds / 60)} 分钟"
    return f"约 {seconds / 3600:.1f} 小时"


def highlight(snippet: str, marks: Sequence[tuple[int, int]]) -> str:
    """The snippet as HTML with each hit in <mark>; everything else escaped."""
    out, pos = [], 0
    for a, b in marks:
        out += [html.escape(snippet[pos:a]), "<mark>", html.escape(snippet[a:b]), "</mark>"]
        pos = b
    out.append(html.escape(snippet[pos:]))
    return "".join(out)


_PARTY_RE = re.compile(r"^\s*([^：:]+?)\s*[：:]\s*(.+?)\s*$")


def parse_parties(text: str) -> tuple[Party, ...]:
    """Parties from the upload form, one per line: "原告：张三；代理人：李四、王五" or "被告：某公司"."""
    parties = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = re.split(r"[；;]", line, maxsplit=1)
        main, reps = parts[0], ""
        if len(parts) > 1:
            rep_match = _PARTY_RE.match(parts[1])
            reps = rep_match.group(2) if rep_match else parts[1]
        m = _PARTY_RE.match(main)
        if m is None:
            raise ValueError(f"当事人一行应为“角色：名称”，例如“原告：张三”；无法识别：{line.strip()!r}")
        representatives = tuple(r.strip() for r in re.split(r"[、,，]", reps) if r.strip())
        parties.append(Party(m.group(1), m.group(2), representatives))
    return tuple(parties)


def format_parties(parties: Iterable[Party]) -> str:
    lines = []
    for p in parties:
        line = f"{p.role}：{p.name}"
        if p.representatives:
            line += "；代理人：" + "、".join(p.representatives)
        lines.append(line)
    return "\n".join(lines)


def log_to_stderr(level: int = logging.INFO, *, force: bool = False) -> None:
    """Sends the log (worker, jobs, unloading, slow pages) to the server's stderr, unless already set up
    (`force`: replacing the set-up, such as the `workbench` command's WARNING level).

    Streamlit configures only its own loggers; without this, our INFO lines would be dropped until some
    model library happened to configure the root logger (which then does nothing, as it already is).
    """
    if force or not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=force)


# --- the runtime: store, worker, unloading ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnloadResult:
    done: bool  # False: a job is running; the unload happens when it finishes
    names: tuple[str, ...] = ()
    rss_before: int = 0
    rss_after: int = 0


@dataclass(slots=True)
class Runtime:
    """The server process's store, worker and model-unloading state (one per database file)."""

    store: Store
    worker: Worker | None = None
    processes: PipelineProcesses | None = None  # the jobs' child processes; None: jobs run in this process
    floor_rss: int | None = None  # RSS just before the first job, the pages' libraries imported
    last_unload: UnloadResult | None = None
    on_unload: list[Callable[[], None]] = field(default_factory=list)  # page caches to clear
    _running: int = 0
    _unload_pending: bool = False
    _cond: threading.Condition = field(default_factory=threading.Condition)
    _pipeline_fn: Callable[[Path, Any, ProgressHook], Transcript] | None = None

    @classmethod
    def create(
        cls,
        db_path: Path | None = None,
        *,
        workers: int | None = None,
        pipeline: Callable[[Path, Any, ProgressHook], Transcript] | None = None,
    ) -> Runtime:
        """A runtime on the database; `workers` 0 runs no worker here (another process drains the queue).

        Jobs run in child processes unless a `pipeline` function is given (tests), which runs in the
        worker's thread.
        """
        rt = cls(Store(db_path), _pipeline_fn=pipeline)
        count = settings.get("workers") if workers is None else workers
        if count > 0:
            if pipeline is None:
                rt.processes = PipelineProcesses()
                rt._pipeline_fn = rt.processes
            rt.worker = Worker(rt.store, concurrency=count, pipeline=rt._pipeline, on_idle=rt._on_idle).start()
            log.info("worker started on %s (%d at a time)", rt.store.path, count)
        return rt

    def warm_up(self) -> threading.Thread:
        """Loads, in the background, what the first page views would otherwise wait for: the pages'
        libraries, jieba's dictionary (the search box) and the hearings list's tables (DuckDB's cache).
        The first search after a start took 1.0 s without it and 0.7 s with it (`bench/ui.py`). The
        hearings list comes first: it is the page a clerk opens first, and its table needs pandas."""

        def work() -> None:
            t0 = time.perf_counter()
            try:
                importlib.import_module("pandas")  # 0.2 s: Streamlit imports it on the first st.dataframe
                list_hearings(self.store, limit=50)
                self._import_libraries()
                log.info("warmed up in %.1f s", time.perf_counter() - t0)
            except Exception:  # a warm-up is an optimisation: the pages report real errors themselves
                log.exception("warm-up failed")

        thread = threading.Thread(target=work, name="workbench-warm-up", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stop(timeout=5)
        if self.processes is not None:
            self.processes.end_all()

    def job_rss(self) -> int:
        """The job processes' resident memory (0 when jobs run in this process or nowhere)."""
        return self.processes.rss() if self.processes is not None else 0

    def total_rss(self) -> int:
        """This process's resident memory plus its job processes'."""
        return memory.rss_bytes() + self.job_rss()

    def models(self) -> tuple[tuple[str, int], ...]:
        """(name, approximate bytes) of the models loaded now, in this process or in a job process."""
        here = tuple((m.name, m.approx_bytes) for m in memory.loaded())
        return here + (self.processes.models() if self.processes is not None else ())

    @property
    def running(self) -> int:
        with self._cond:
            return self._running

    @property
    def unload_pending(self) -> bool:
        with self._cond:
            return self._unload_pending

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def _pipeline(self, path: Path, options: Any, hook: ProgressHook) -> Transcript:
        with self._cond:
            self._running += 1
        try:
            models_held = self.processes.pids() if self.processes is not None else memory.loaded()
            if self.floor_rss is None and not models_held:
                self._import_libraries()
                self.floor_rss = self.total_rss()
            assert self._pipeline_fn is not None  # set by create() whenever a worker runs
            return self._pipeline_fn(path, options, hook)
        finally:
            with self._cond:
                self._running -= 1
                run_unload = self._unload_pending and self._running == 0
            if run_unload:
                self._unload_if_idle()

    @staticmethod
    def _import_libraries() -> None:
        """Imports the libraries the pages keep, so the floor reading includes them.

        Imported modules stay for the life of the process whatever "Unload models" does; so does jieba's
        dictionary, which the store needs to index every transcript and the search page to read queries.
        pandas backs every table, altair draws the review timeline and workbench.record.docx the Word record:
        a page imports them for good the first time it is opened, job or no job. The model libraries
        live in the job's child process and leave with it.
        """
        for name in ("pandas", "altair", "workbench.record"):
            importlib.import_module(name)
        from workbench.store import search

        search.prepare()

    def _on_idle(self) -> None:
        if self.unload_pending:
            self._unload_if_idle()

    def request_unload(self) -> UnloadResult:
        """Unloads now when no job runs; otherwise marks the unload for when the running job ends."""
        with self._cond:
            if self._running:
                self._unload_pending = True
                return UnloadResult(False)
        return self._unload_if_idle() or UnloadResult(False)

    def _unload_if_idle(self) -> UnloadResult | None:
        # The condition is held through the unload: a job that starts meanwhile waits for it to finish,
        # then loads its models again.
        with self._cond:
            if self._running:
                self._unload_pending = True
                return None
            before = self.total_rss()
            names = memory.unload_all()
            if self.processes is not None:
                names += self.processes.end_all()
            for clear in self.on_unload:
                clear()
            self.store.release()  # DuckDB's buffer pool and caches; the next page reopens the file
            memory.trim()
            self._unload_pending = False
            result = UnloadResult(True, tuple(names), before, self.total_rss())
            self.last_unload = result
        log.info("unloaded %s: RSS %s -> %s", ", ".join(names) or "nothing", size(before), size(result.rss_after))
        return result


# --- memory gauge ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gauge:
    reading: memory.MemoryReading
    models: tuple[tuple[str, int], ...]  # (name, approximate bytes)
    job_rss: int  # the job processes' resident memory (reading.rss is this process's)
    running: int
    unload_pending: bool
    floor_rss: int | None


def gauge(rt: Runtime) -> Gauge:
    return Gauge(
        memory.reading(),
        rt.models(),
        rt.job_rss(),
        rt.running,
        rt.unload_pending,
        rt.floor_rss,
    )


# --- uploads -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HearingDetails:
    case_number: str
    starts_at: datetime | None = None
    courtroom: str = ""
    presiding_judge: str = ""
    clerk: str = ""
    parties: tuple[Party, ...] = ()
    cause: str = ""


def submit_uploads(
    rt: Runtime,
    files: Sequence[tuple[str, IO[bytes]]],
    details: HearingDetails,
    options: TranscribeOptions,
    *,
    paths: Sequence[str | Path] = (),
) -> list[jobs.Submission]:
    """Stores the uploaded files (and recordings already on the server, `paths`), creates their
    hearings and queues their jobs; wakes the worker.

    Each upload is spooled to a temporary file beside the audio store (same disk, so the store's copy
    is cheap) and removed once stored. A server path must name an existing file with an audio or
    video extension, so the form cannot be used to copy other files of the server into the store.
    """
    number = details.case_number.strip()
    if not number:
        raise ValueError("请填写案号，例如（2024）京0105民初1234号")
    local = [Path(p).expanduser() for p in paths]
    for p in local:
        if p.suffix.lower().lstrip(".") not in UPLOAD_TYPES:
            raise ValueError(f"{p}: 不是支持的录音格式（{', '.join(UPLOAD_TYPES)}）")
        if not p.is_file():
            raise ValueError(f"{p}: 服务器上没有这个文件，请检查路径")
    try:
        rt.store.case(number)
    except KeyError:
        rt.store.add_case(number, cause=details.cause, parties=details.parties)
    rt.store.audio_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=rt.store.audio_dir, prefix=".upload-") as tmp:
        spooled: list[Path] = []
        for i, (name, stream) in enumerate(files):
            safe = safe_file_name(name, f"upload-{i}")
            path = Path(tmp) / f"{i:03d}" / safe
            path.parent.mkdir()
            with path.open("wb") as out:
                while chunk := stream.read(1 << 20):
                    out.write(chunk)
            spooled.append(path)
        out_subs = jobs.submit(
            rt.store,
            [*spooled, *local],
            case_number=number,
            starts_at=details.starts_at,
            courtroom=details.courtroom,
            presiding_judge=details.presiding_judge,
            clerk=details.clerk,
            options=options,
        )
    rt.wake()
    return out_subs


# --- audio -----------------------------------------------------------------------------------------------


def clip_wav(path: Path, start: float, duration: float) -> bytes:
    """`duration` seconds of the recording from `start`, as 16 kHz mono WAV bytes for the browser.

    Seeks in the container rather than decoding from the beginning, so a click at 2:40:00 in a
    three-hour file answers as fast as one at the start.
    """
    import av

    from workbench.speech.audio import SAMPLE_RATE, AudioError

    start = max(float(start), 0.0)
    want = int(duration * SAMPLE_RATE)
    parts: list[np.ndarray] = []
    got = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            if start > 1.0:
                container.seek(int(start / stream.time_base), stream=stream, any_frame=False, backward=True)
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                t0 = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                for out in resampler.resample(frame):
                    data = out.to_ndarray().reshape(-1)
                    skip = int(max(start - t0, 0.0) * SAMPLE_RATE)
                    if skip >= data.shape[0]:
                        continue
                    data = data[skip:]
                    parts.append(data)
                    got += data.shape[0]
                    t0 = start  # later chunks of this frame continue where this one ended
                if got >= want:
                    break
    except (av.error.FFmpegError, IndexError) as e:
        raise AudioError(path, f"cannot decode audio for playback ({e})") from e
    pcm = np.concatenate(parts)[:want] if parts else np.zeros(0, dtype=np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.astype(np.int16).tobytes())
    return buf.getvalue()


def sample_span(segments: Sequence[StoredSegment], label: str, seconds: float = SAMPLE_SECONDS) -> tuple[float, float]:
    """A stretch of `label`'s speech to play as their sample: their longest segment, at most `seconds`."""
    own = [s for s in segments if s.speaker == label]
    if not own:
        return 0.0, 0.0
    best = max(own, key=lambda s: min(s.end - s.start, seconds * 2))
    return best.start, min(best.end, best.start + seconds)


# --- page data --------------------------------------------------------------------------------------------


def hearing_rows(hearings: Sequence[Hearing]) -> list[dict[str, Any]]:
    """The hearings table as rows for `st.dataframe`."""
    return [
        {
            "ID": h.id,
            "案号": h.case_number,
            "开庭时间": h.starts_at.strftime("%Y-%m-%d %H:%M") if h.starts_at else "",
            "法庭": h.courtroom,
            "审判长": h.presiding_judge,
            "书记员": h.clerk,
            "状态": h.status.label,
            "时长": clock(h.duration) if h.duration else "",
            "段落": h.segments,
        }
        for h in hearings
    ]


def list_hearings(
    store: Store,
    *,
    case: str | None = None,
    statuses: Sequence[str] = (),
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 500,
) -> list[Hearing]:
    """Hearings for the list page: the store's filters, several statuses at once, newest first."""
    if len(statuses) == 1:
        return store.hearings(case=case, status=statuses[0], date_from=date_from, date_to=date_to, limit=limit)
    found = store.hearings(case=case, date_from=date_from, date_to=date_to, limit=None if statuses else limit)
    if statuses:
        found = [h for h in found if h.status in statuses][:limit]
    return found


def speaker_display(speakers: Sequence[Speaker]) -> dict[str, str]:
    """Labels shown as "S1 · 审判长张三", for selectboxes and the timeline."""
    out = {}
    for s in speakers:
        shown = s.display()
        out[s.label] = s.label if shown == s.label else f"{s.label} · {shown}"
    return out


def timeline_rows(segments: Sequence[StoredSegment], names: dict[str, str]) -> list[dict[str, Any]]:
    """Who spoke when: one bar per segment, in minutes."""
    return [
        {
            "speaker": names.get(s.speaker or "", s.speaker or "未分配"),
            "start": round(s.start / 60, 4),
            "end": round(max(s.end, s.start + 0.2) / 60, 4),
            "at": clock(s.start),
            "t": s.start,
            "text": s.text[:60],
        }
        for s in segments
    ]


def page_of(segments: Sequence[StoredSegment], t: float, per_page: int) -> int:
    """The 1-based page of the segment playing at time `t`."""
    for i, s in enumerate(segments):
        if s.end > t:
            return i // per_page + 1
    return max((len(segments) - 1) // per_page + 1, 1)


def active_segment(segments: Sequence[StoredSegment], t: float | None) -> int | None:
    """The id of the segment holding time `t` (or the next one after it)."""
    if t is None:
        return None
    for s in segments:
        if s.end > t + 0.01:
            return s.id
    return None


def job_caption(info: jobs.JobInfo) -> str:
    step = STEP_LABELS.get(info.step, info.step)
    if info.state == jobs.JobState.RUNNING:
        return f"{step} {info.progress * 100:.0f}% · 剩余{eta(info.eta_s)}"
    if info.state == jobs.JobState.QUEUED:
        return "排队等待" + (f"（{step}）" if info.step else "")
    return JOB_STATE_LABELS.get(info.state, info.state)


def megabytes(n: int | float | None) -> str:
    """1,234 MB: memory to the megabyte, for readings compared with each other (the floor, RSS)."""
    return "—" if n is None else f"{n / 2**20:,.0f} MB"


SLOW_PAGE_S = 0.5  # page runs at least this long are logged at INFO (all of them at DEBUG)


@contextlib.contextmanager
def page_timer(name: str) -> Iterator[None]:
    """Logs how long a page's script ran on the server: wall time and this thread's CPU time.

    Wall time well above CPU time means the run waited (for a core, or for the GIL).
    Streamlit ends a page early with exceptions (st.stop, st.rerun); the run is logged all the same.
    """
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        log.log(
            logging.INFO if wall >= SLOW_PAGE_S else logging.DEBUG,
            "page %s ran %.0f ms (CPU %.0f ms)",
            name,
            wall * 1000,
            cpu * 1000,
        )


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0
