"""Nothing leaves the server: the CLI, the server with its job child and a browser, and the export, under strace.

Each run is traced with `strace -f` (every process and thread it starts: the job child, LibreOffice);
tests/egress_trace.py reads the log. A connection or datagram to anything but loopback, a Unix socket or
netlink, or any DNS query at all, fails the test with the process and the address or the name asked for.

The commands get an environment without the switches workbench/offline.py sets, so what is judged is
what the workbench sets itself, not what this test process inherited from importing it.

The browser runs outside the trace: in a court it is a clerk's, on another machine. What is judged is
the server's process tree (Chromium is started with its background networking off all the same).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import egress_trace
import psutil
import pytest
from browser import ARGS, CHROMIUM, idle, sign_in
from conftest import clip, require_tool
from servers import free_port, make_account, unverified
from store_samples import TESTER, transcript

from workbench import offline

ROOT = Path(__file__).resolve().parents[1]
WORKBENCH = str(Path(sys.executable).with_name("workbench"))

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _strace() -> None:
    require_tool("strace", install="apt-get install strace (scripts/setup.sh test does)")


def _env(data: Path, models: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {s.variable for s in offline.SWITCHES}}
    env.update(WORKBENCH_DATA=str(data), WORKBENCH_MODELS=str(models))
    return env


def traced(log: Path, *command: str) -> list[str]:
    return ["strace", *egress_trace.STRACE_ARGS, "-o", str(log), *command]


def run_traced(log: Path, env: dict[str, str], *command: str, timeout: float = 240) -> str:
    done = subprocess.run(traced(log, *command), env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def assert_stays_local(log: Path, what: str) -> None:
    text = log.read_text(encoding="utf-8", errors="replace")
    trace = egress_trace.Trace(text)
    assert trace.commands, f"{log}: strace recorded no execve (is ptrace allowed here?)"
    findings = trace.egress()
    if findings:
        pytest.fail(egress_trace.report(findings, what) + f"\n(trace: {log})", pytrace=False)


def test_transcribe_with_diarization(tmp_path: Path, models_dir: Path) -> None:
    """(a) The CLI: Whisper with Silero VAD (onnxruntime), pyannote segmentation, CAM++."""
    log = tmp_path / "transcribe.strace"
    out = tmp_path / "out"
    audio = clip("en_jfk.flac")
    cmd = (WORKBENCH, "transcribe", str(audio), "--out", str(out), "--diarize", "--device", "cpu")
    run_traced(log, _env(tmp_path, models_dir), *cmd)
    assert (out / "en_jfk.json").exists()
    assert_stays_local(log, f"workbench transcribe {audio.name} --diarize")


def _models_with_tiny_paraformer(tmp_path: Path, models_dir: Path, tiny_paraformer: Path) -> Path:
    """The pulled models and the tiny Paraformer in one models folder (links, nothing copied)."""
    root = tmp_path / "models"
    root.mkdir()
    for model in sorted(models_dir.iterdir()):
        if model.is_dir() and not model.name.startswith("."):
            (root / model.name).symlink_to(model)
    (root / "tiny-paraformer").symlink_to(tiny_paraformer / "tiny-paraformer")
    return root


def _server_child(strace: subprocess.Popen[bytes]) -> psutil.Process:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = psutil.Process(strace.pid).children()
        if children:
            return children[0]
        time.sleep(0.1)
    raise RuntimeError("strace started no server")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2, context=unverified()) as r:
            return r.status == 200
    except OSError:
        return False


def _wait_for(what: str, ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        assert proc.poll() is None, f"the server ended: {log.read_text()[-3000:]}"
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout:.0f} s; server log:\n{log.read_text()[-3000:]}")


def test_server_jobs_and_every_page(tmp_path: Path, models_dir: Path, tiny_paraformer: Path) -> None:
    """(b) a FunASR job on the tiny Paraformer and a Whisper job, both in the server's job child, and
    (c) `workbench serve` with every page loaded in a browser, the review page on a transcribed hearing."""
    from playwright.sync_api import sync_playwright

    from workbench.speech.options import TranscribeOptions
    from workbench.store import Store, jobs
    from workbench.web import nav

    models = _models_with_tiny_paraformer(tmp_path, models_dir, tiny_paraformer)
    with Store(tmp_path / "workbench.duckdb") as store:
        make_account(store, "admin1", "admin")
        [funasr] = jobs.submit(
            store,
            [clip("zh_aishell1_BAC009S0724W0121.wav")],
            case_number="E-1",
            actor=TESTER,
            options=TranscribeOptions(engine="funasr", model="tiny-paraformer", diarize=False, device="cpu"),
        )
        [whisper] = jobs.submit(
            store,
            [clip("zh_aishell1_BAC009S0764W0121.wav")],
            case_number="E-2",
            actor=TESTER,
            options=TranscribeOptions(engine="whisper", language="zh", diarize=False, device="cpu"),
        )
    trace_log, server_log = tmp_path / "serve.strace", tmp_path / "server.log"
    port = free_port()
    url = f"https://127.0.0.1:{port}"  # HTTPS, as served on a court's LAN: the certificate is made under the trace
    proc = subprocess.Popen(
        traced(trace_log, WORKBENCH, "serve", "--port", str(port), "--address", "127.0.0.1"),
        cwd=ROOT,
        env=_env(tmp_path, models),
        stdout=open(server_log, "ab"),  # noqa: SIM115 - the server outlives this call
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for("the server did not answer", lambda: _answers(url), proc, server_log, 90)
        done = [f"job {s.job_id} done" for s in (funasr, whisper)]
        _wait_for(
            "the jobs were not done", lambda: all(d in server_log.read_text() for d in done), proc, server_log, 240
        )

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, ignore_https_errors=True)
            page.set_default_timeout(30_000)
            sign_in(page, url, "admin1")
            for section in nav.SECTIONS.values():
                for view in section:
                    query = f"?hearing={whisper.hearing_id}" if view is nav.REVIEW else ""
                    page.goto(f"{url}/{view.url_path}{query}")
                    idle(page)
                    assert page.locator("[data-testid='stException']").count() == 0, view.url_path
            browser.close()
    finally:
        # The server alone is stopped: strace then follows its shutdown, the job child's too, and exits.
        if proc.poll() is None:
            _server_child(proc).send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
    text = trace_log.read_text(encoding="utf-8", errors="replace")
    assert "workbench.server.job_process" in text, "the job child ran under the trace"
    assert_stays_local(trace_log, "workbench serve, a FunASR and a Whisper job, every page in a browser")


def test_export_docx_and_pdf(tmp_path: Path, models_dir: Path) -> None:
    """(d) The court record as .docx (`workbench export`), then as PDF through LibreOffice."""
    env = _env(tmp_path, models_dir)
    source = tmp_path / "hearing.json"
    source.write_text(json.dumps(transcript().to_dict(), ensure_ascii=False), encoding="utf-8")
    record = tmp_path / "record.docx"
    docx_log, pdf_log = tmp_path / "export.strace", tmp_path / "pdf.strace"
    run_traced(docx_log, env, WORKBENCH, "export", "--from-json", str(source), "--format", "docx", "--out", str(record))
    to_pdf = (
        "import sys; from pathlib import Path; from workbench.record.pdf import to_pdf; "
        "to_pdf([Path(sys.argv[1])], Path(sys.argv[2]))"
    )
    run_traced(pdf_log, env, sys.executable, "-c", to_pdf, str(record), str(tmp_path / "pdf"))
    assert (tmp_path / "pdf" / "record.pdf").stat().st_size > 0
    assert_stays_local(docx_log, "workbench export --format docx")
    assert_stays_local(pdf_log, "the record to PDF with LibreOffice")
