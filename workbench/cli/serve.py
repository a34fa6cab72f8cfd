"""`workbench serve`: the web workbench for the court's LAN (Streamlit on `workbench/web/app.py`); prints the URLs."""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from pathlib import Path

import click

from workbench import settings
from workbench.server.logs import log_to_stderr

APP = Path(__file__).resolve().parents[1] / "web" / "app.py"
CHECKOUT = APP.parents[2]  # .streamlit/config.toml and pages/ are here


def lan_urls(address: str, port: int) -> list[str]:
    """The URLs a clerk's browser can open: every IPv4 address of this machine when serving on all of them."""
    if address not in ("0.0.0.0", "", "::"):
        return [f"http://{address}:{port}"]
    import psutil

    hosts = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                hosts.append(a.address)
    return [f"http://{h}:{port}" for h in sorted(set(hosts))] + [f"http://localhost:{port}"]


def _start_runtime(wait_s: float = 120.0) -> None:
    """Builds the pages' runtime (queue, worker, warm-up) as soon as Streamlit's own runtime exists.

    Streamlit runs the app only when a browser connects. Starting ours with the server resumes an
    interrupted job at once and spares the first clerk after a restart 2-3 s of pages waiting on the
    warm-up. `cache.runtime()` is the pages' cached runtime (st.cache_resource), so the first page run
    finds it built, or waits for it. `workbench.web.cache` is imported only once Streamlit's runtime
    exists: its st.cache_data functions pick their storage when they are defined.
    """
    from streamlit import runtime

    deadline = time.monotonic() + wait_s
    while not runtime.exists():
        if time.monotonic() > deadline:
            return  # the server never started; the first page run would build the runtime itself
        time.sleep(0.05)
    from workbench.web import cache

    cache.runtime()


def _no_external_ip() -> None:
    return None


@click.command("serve")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--address",
    default="0.0.0.0",
    show_default=True,
    help="Address to listen on: 0.0.0.0 for every network interface (the LAN), 127.0.0.1 for this machine only.",
)
def serve_cmd(port: int, address: str) -> None:
    """Serve the workbench in the browser: upload, review, search. Jobs run in this server's child processes."""
    if not APP.is_file():
        raise click.ClickException(f"{APP}: the web app is missing; run `workbench serve` from a source checkout")
    # The data folder is resolved here, from where the command was typed, not from the app's folder.
    data = settings.data_dir().resolve()
    os.environ[settings.REGISTRY["data_dir"].env] = str(data)
    click.echo("庭审转写工作台 · hearing workbench")
    click.echo(f"  data: {data}  database: {settings.db_path().resolve()}")
    click.echo("  open in a browser:")
    for url in lan_urls(address, port):
        click.echo(f"    {url}")
    sys.stdout.flush()
    os.chdir(CHECKOUT)  # Streamlit reads .streamlit/config.toml from here: upload limit, XSRF, no usage statistics
    from streamlit import net_util
    from streamlit.web import cli as streamlit_cli

    # Served on every interface, Streamlit asks checkip.amazonaws.com for this machine's public address,
    # to print it: a call out of a court LAN, which is often air-gapped (there it costs two 1 s timeouts
    # and a warning). The addresses to open are printed above; cross-origin checks then fail closed.
    net_util.get_external_ip = _no_external_ip

    log_to_stderr(force=True)  # the server logs at INFO with times; one-shot commands at WARNING
    threading.Thread(target=_start_runtime, name="workbench-start", daemon=True).start()
    sys.argv = [
        "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", "true", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    streamlit_cli.main(prog_name="streamlit")
