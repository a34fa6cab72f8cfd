"""`workbench serve`: the runtime starts with the server, no outside service is asked, plain HTTP only when asked.

The helpers that start a real `workbench serve` process are in tests/servers.py.
"""

from __future__ import annotations

import time
from pathlib import Path

from conftest import clip
from servers import free_port, start_server, stop_server

from workbench.cli.serve import NO_ADMIN
from workbench.speech.options import TranscribeOptions
from workbench.store import Store, jobs
from workbench.store.audit import Actor

ROOT = Path(__file__).resolve().parents[1]
TESTER = Actor("tester", "test")


def test_server_works_the_queue_before_any_browser_connects(tmp_path: Path) -> None:
    """A job left queued (or interrupted) is done after a restart with no browser open, and the log
    keeps its INFO lines (the `workbench` command's own logging is WARNING)."""
    with Store(tmp_path / "workbench.duckdb") as store:
        [queued] = jobs.submit(
            store,
            [clip("en_jfk.flac")],
            case_number="S-1",
            options=TranscribeOptions.from_settings(diarize=False),
            actor=TESTER,
        )
    proc = start_server(tmp_path, free_port())
    log = tmp_path / "server.log"
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and f"job {queued.job_id} done" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        text = log.read_text()
        assert f"job {queued.job_id} done: hearing {queued.hearing_id}" in text, text
        assert "warmed up in" in text and "No runtime found" not in text
    finally:
        stop_server(proc)


def test_serving_the_lan_asks_no_outside_service_and_says_how_to_make_an_admin(tmp_path: Path) -> None:
    """On 0.0.0.0 Streamlit would ask checkip.amazonaws.com for a public address: printed as "External
    URL" where the internet answers, warned about where it does not. A court LAN is often air-gapped.
    A store without an admin says, in one line, how to make the first one; plain HTTP says it is plain."""
    proc = start_server(tmp_path, free_port(), address="0.0.0.0", extra_env={"WORKBENCH_WORKERS": "0"})
    log = tmp_path / "server.log"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and "Uvicorn running" not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert "URL: http://" in text, text
        assert "External URL" not in text and "external IP" not in text and "checkip" not in text, text
        assert NO_ADMIN in text, text
        assert "plain HTTP" in text and "not marked Secure" in text, text
    finally:
        stop_server(proc)
