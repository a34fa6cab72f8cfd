"""`workbench serve`: the web workbench for the court's LAN, over HTTPS, behind sign-in; prints how to reach it.

Runs `workbench.web.asgi.create_app()` (Streamlit's `st.App` on `workbench/web/app.py`, our sign-in and
audio routes, the host and session guard) in uvicorn. TLS uses the certificate and key given (`--cert`
/ `--key`, or the `tls_cert` / `tls_key` settings), else one made on first start in `<data_dir>/tls/`
for this machine's names and LAN addresses; its SHA-256 fingerprint is printed so a clerk can compare
it with what the browser shows. `--http` serves plain HTTP, explicitly (tests on 127.0.0.1, or behind a
TLS proxy): the session cookie is then not marked Secure.

Once listening it writes `<data_dir>/server.json` (mode 0600, replaced atomically) for the CLI beside it
(`workbench.api.client`): `{"url", "pid", "started_at", "console_key", "cert_fingerprint"}`. The console
key (fresh each start, `secrets`) is a bearer key for the API with the CLI's rules of who runs a verb;
whoever reads the data folder already has full access. The file is removed on shutdown.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from workbench import settings
from workbench.server.logs import log_to_stderr

APP = Path(__file__).resolve().parents[1] / "web" / "app.py"
CHECKOUT = APP.parents[2]  # .streamlit/config.toml and pages/ are here
# The server holds the database while it runs (DuckDB: one writing process), so the first admin is made
# with the server stopped; the line says so, or the command would wait for the lock and fail.
NO_ADMIN = (
    "还没有管理员 (no admin yet): stop this server (Ctrl-C), run `workbench users add NAME --role admin`, "
    "start it again"
)
ANY_ADDRESS = ("0.0.0.0", "", "::")
SERVER_FILE = "server.json"
CONSOLE_KEY_PREFIX = "wbc_"  # API tokens start wbt_; a console key is told apart at a glance


def server_file(data: Path | None = None) -> Path:
    return (data or settings.data_dir()) / SERVER_FILE


def local_url(address: str, port: int, scheme: str) -> str:
    """The URL a CLI on this machine reaches the server at."""
    host = "127.0.0.1" if address in ANY_ADDRESS else address
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


def write_server_file(path: Path, info: dict[str, Any]) -> None:
    """`info` as JSON at `path`, mode 0600 from the start, replacing any old file in one step."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(info, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def remove_server_file(path: Path, pid: int) -> None:
    """Removes `path` if it is still this server's (a newer server may have replaced it)."""
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") != pid:
            return
        path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def lan_urls(address: str, port: int, scheme: str = "https") -> list[str]:
    """The URLs a clerk's browser can open: every IPv4 address of this machine when serving on all of them."""
    if address not in ANY_ADDRESS:
        return [f"{scheme}://{address}:{port}"]
    from workbench.server import tls

    hosts = tls.lan_addresses()
    return [f"{scheme}://{h}:{port}" for h in hosts] + [f"{scheme}://{socket.gethostname()}:{port}"]


def _no_external_ip() -> None:
    return None


def _certificate(data: Path, address: str, cert: str | None, key: str | None) -> tuple[Path, Path]:
    """The certificate and key to serve: given (flags, then settings) or made for this machine."""
    from workbench.server import tls

    cert = cert or str(settings.get("tls_cert") or "")
    key = key or str(settings.get("tls_key") or "")
    if cert or key:
        if not (cert and key):
            raise click.UsageError("give both the certificate and its key (--cert and --key, or tls_cert and tls_key)")
        for what, path in (("certificate", cert), ("key", key)):
            if not Path(path).is_file():
                raise click.UsageError(f"the TLS {what} {path} does not exist")
        return Path(cert).resolve(), Path(key).resolve()
    addresses = tls.lan_addresses()
    if address not in ANY_ADDRESS:
        addresses.append(address)
    names = tls.server_names(str(settings.get("server_names") or ""))
    try:
        return tls.ensure_certificate(data / "tls", names, addresses)
    except ValueError as e:  # an address that is not one (a bad --address or server_names entry)
        raise click.UsageError(f"cannot make the TLS certificate: {e}") from e


def _has_admin() -> bool:
    from workbench.accounts import Accounts
    from workbench.store import Store

    with Store(settings.db_path()) as store:
        return Accounts(store).has_admin()


@click.command("serve")
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
@click.option(
    "--address",
    default="0.0.0.0",
    show_default=True,
    help="Address to listen on: 0.0.0.0 for every network interface (the LAN), 127.0.0.1 for this machine only.",
)
@click.option("--cert", type=click.Path(dir_okay=False), help="TLS certificate (PEM); default: tls_cert, or one made.")
@click.option("--key", type=click.Path(dir_okay=False), help="The certificate's private key (PEM), with --cert.")
@click.option(
    "--http",
    "plain_http",
    is_flag=True,
    help="Serve plain HTTP, not HTTPS: passwords and audio cross the network in clear (tests, or behind a TLS proxy).",
)
def serve_cmd(port: int, address: str, cert: str | None, key: str | None, plain_http: bool) -> None:
    """Serve the workbench in the browser (HTTPS, sign-in required): upload, review, search.

    Jobs run in this server's child processes.
    """
    if not APP.is_file():
        raise click.ClickException(f"{APP}: the web app is missing; run `workbench serve` from a source checkout")
    # The data folder is resolved here, from where the command was typed, not from the app's folder.
    data = settings.data_dir().resolve()
    os.environ[settings.REGISTRY["data_dir"].env] = str(data)
    cert_path = key_path = None
    if not plain_http:
        cert_path, key_path = _certificate(data, address, cert, key)
    scheme = "http" if plain_http else "https"

    click.echo("庭审转写工作台 · hearing workbench")
    click.echo(f"  data: {data}  database: {settings.db_path().resolve()}")
    click.echo("  open in a browser:")
    for url in lan_urls(address, port, scheme):
        click.echo(f"    URL: {url}")
    if cert_path is not None:
        from workbench.server import tls

        click.echo(f"  certificate: {cert_path}")
        click.echo(f"  SHA-256 fingerprint: {tls.fingerprint(cert_path)}")
        click.echo("  (compare it with the one the browser shows before you trust the certificate)")
    else:
        click.echo("  警告 (warning): plain HTTP: passwords, records and audio cross the network unencrypted, and")
        click.echo("  the session cookie is not marked Secure. Use it on 127.0.0.1 or behind a TLS proxy only.")
    if not _has_admin():
        click.echo(f"  {NO_ADMIN}")
    sys.stdout.flush()

    os.chdir(CHECKOUT)  # Streamlit reads .streamlit/config.toml from here: upload limit, XSRF, no usage statistics
    log_to_stderr(force=True)  # the server logs at INFO with times; one-shot commands at WARNING
    from workbench.server import tls

    info = {
        "url": local_url(address, port, scheme),
        "pid": os.getpid(),
        "started_at": "",
        "console_key": CONSOLE_KEY_PREFIX + secrets.token_urlsafe(32),
        "cert_fingerprint": tls.fingerprint(cert_path) if cert_path is not None else None,
    }
    _serve(address, port, cert_path, key_path, info=info, info_path=server_file(data))


def _serve(
    address: str,
    port: int,
    cert_path: Path | None,
    key_path: Path | None,
    *,
    info: dict[str, Any] | None = None,
    info_path: Path | None = None,
) -> None:
    import uvicorn
    from streamlit import config as streamlit_config
    from streamlit import net_util
    from streamlit.web import bootstrap
    from streamlit.web.server.starlette import starlette_server

    from workbench.server import tls
    from workbench.web.asgi import create_app

    # Streamlit may ask checkip.amazonaws.com for this machine's public address (to print it, or for a
    # cross-origin check): a call out of a court LAN, which is often air-gapped. Never.
    net_util.get_external_ip = _no_external_ip

    extra = [address] if address not in ANY_ADDRESS else []
    hosts = sorted({"localhost", "127.0.0.1", *extra, *tls.server_names(str(settings.get("server_names") or ""))})
    hosts += tls.lan_addresses()
    # Streamlit's own settings for this run, over .streamlit/config.toml. `server.allowedHosts` is Streamlit's
    # Host check on its websocket (ours, in the guard, covers every request and re-reads the LAN addresses);
    # `server.sslCertFile` makes Streamlit's own XSRF cookie Secure.
    flags: dict[str, object] = {
        "server_port": port,
        "server_address": address,
        "server_headless": True,
        "browser_gatherUsageStats": False,
        "server_allowedHosts": hosts,
    }
    if cert_path is not None:
        flags["server_sslCertFile"] = str(cert_path)
        flags["server_sslKeyFile"] = str(key_path)
    bootstrap.load_config_options(flags)
    streamlit_config._server_mode = "starlette-app"

    from workbench.api import http as api_http

    api_http.set_console_key(info["console_key"] if info else None)
    app = create_app(extra_hosts=extra)
    # Streamlit's own uvicorn settings for st.App (websocket implementation, ping, the 200 MB message
    # limit from server.maxMessageSize, no access log), with our TLS files.
    kwargs = starlette_server._get_uvicorn_config_kwargs()
    kwargs["ssl_certfile"] = str(cert_path) if cert_path else None
    kwargs["ssl_keyfile"] = str(key_path) if key_path else None
    config = uvicorn.Config(
        app,
        host=address,
        port=port,
        lifespan="on",
        timeout_graceful_shutdown=5,  # open browser tabs keep websockets; do not wait on them for ever
        # The client address (lockout, audit) is the connection's own: uvicorn would otherwise believe an
        # X-Forwarded-For from 127.0.0.1, which any process on this machine can send.
        proxy_headers=False,
        log_config=None,  # our logging (log_to_stderr), not uvicorn's
        **kwargs,
    )

    def started() -> None:
        if info is not None and info_path is not None:
            info["started_at"] = datetime.now().astimezone().isoformat(timespec="seconds")
            try:
                write_server_file(info_path, info)
            except OSError as e:  # the server still serves; the CLI beside it just cannot find it
                logging.getLogger("workbench.cli.serve").warning("cannot write %s: %s", info_path, e)

    def stopping() -> None:
        if info is not None and info_path is not None:
            remove_server_file(info_path, info["pid"])

    try:
        _listening_server(config, started, stopping).run()
    finally:
        stopping()


def _listening_server(config: Any, on_listening: Callable[[], None], on_stopping: Callable[[], None]) -> Any:
    """uvicorn's server, calling `on_listening` once its socket listens (server.json then, not before) and
    `on_stopping` as it shuts down: uvicorn raises a SIGTERM again once it has stopped, so code after
    `run()` does not run then."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets)
            if self.started:
                on_listening()

        async def shutdown(self, sockets: Any = None) -> None:
            on_stopping()
            await super().shutdown(sockets)

    return Server(config)
