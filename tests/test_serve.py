"""`workbench serve` builds its runtime with the server, not on the first page view."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import clip
from test_e2e import _free_port, start_server, stop_server

from workbench.speech.options import TranscribeOptions
from workbench.store import Store, jobs


def test_server_works_the_queue_before_any_browser_connects(tmp_path: Path) -> None:
    """A job left queued (or interrupted) is done after a restart with no browser open, and the log
    keeps its INFO lines (the `workbench` command's own logging is WARNING)."""
    with Store(tmp_path / "workbench.duckdb") as store:
        [queued] = jobs.submit(
            store, [clip("en_jfk.flac")], case_number="S-1", options=TranscribeOptions.from_settings(diarize=False)
        )
    proc = start_server(tmp_path, _free_port())
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


def test_serving_the_lan_asks_no_outside_service_for_its_address(tmp_path: Path) -> None:
    """On 0.0.0.0 Streamlit would ask checkip.amazonaws.com for a public address: printed as "External
    URL" where the internet answers, warned about where it does not. A court LAN is often air-gapped."""
    proc = start_server(tmp_path, _free_port(), address="0.0.0.0")
    log = tmp_path / "server.log"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "URL: http" not in log.read_text():
            time.sleep(0.2)
        text = log.read_text()
        assert "URL: http" in text, text
        assert "External URL" not in text and "external IP" not in text, text
    finally:
        stop_server(proc)
