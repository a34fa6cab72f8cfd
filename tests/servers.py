"""A real `workbench serve` process for tests and benches, and the real accounts it is signed in with.

`start_server` runs the server on 127.0.0.1 (plain HTTP unless `https=True`) with its own data folder and the
checkout's models, and returns once `/healthz` (the one route open without a session) answers. Accounts are
made in the store file before the server opens it (DuckDB: one writing process at a time).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from workbench import settings
from workbench.store.audit import Actor

ROOT = Path(__file__).resolve().parents[1]
# The test accounts' password: long enough for the default policy (password_min_length 10), not a name.
PASSWORD = "e2e-Pass-2025-long"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unverified() -> ssl.SSLContext:
    """A client context for the self-signed certificate (the TLS tests check the certificate themselves)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def start_server(
    data: Path,
    port: int,
    *,
    https: bool = False,
    address: str = "127.0.0.1",
    extra_env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    wait_s: float = 90,
) -> subprocess.Popen[bytes]:
    """`workbench serve` on `data`, its output in `data/server.log`; returns once `/healthz` answers."""
    env = dict(os.environ)
    env[settings.REGISTRY["data_dir"].env] = str(data)
    env[settings.REGISTRY["models_dir"].env] = str(ROOT / "data" / "models")
    env.update(extra_env or {})
    cmd = [str(Path(sys.executable).with_name("workbench")), "serve", "--port", str(port), "--address", address]
    if not https:
        cmd.append("--http")
    proc = subprocess.Popen(
        [*cmd, *args],
        cwd=ROOT,
        env=env,
        stdout=open(data / "server.log", "ab"),  # noqa: SIM115 - the server outlives this call
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    scheme = "https" if https else "http"
    context = unverified() if https else None
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}/healthz", timeout=2, context=context) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    stop_server(proc)
    raise RuntimeError(f"the server did not start:\n{(data / 'server.log').read_text(errors='replace')[-3000:]}")


def stop_server(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def setup_actor() -> Actor:
    """The admin-rights actor the tests make their accounts and cases with (not an account itself)."""
    return Actor("e2e-setup", "test", role="admin")


def make_account(store, name: str, role: str, *, password: str = PASSWORD, must_change: bool = False):  # type: ignore[no-untyped-def]
    """A real local account in `store` (argon2 hash, audited); `must_change=False` signs straight in."""
    from workbench.accounts import Accounts

    account, _ = Accounts(store).add(name, role, by=setup_actor(), password=password, must_change=must_change)
    return account


def make_accounts(db_path: Path, accounts: dict[str, str]) -> None:
    """Makes `{name: role}` accounts in the store file before a server opens it."""
    from workbench.store import Store

    with Store(db_path) as store:
        for name, role in accounts.items():
            make_account(store, name, role)


def server_info(data: Path, wait_s: float = 10) -> dict:  # type: ignore[type-arg]
    """`<data>/server.json` of a server started on `data` (written once it listens), waiting for it."""
    import json

    path = data / "server.json"
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if path.exists():
            try:
                return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
            except ValueError:  # replaced just now
                pass
        time.sleep(0.05)
    raise RuntimeError(f"{path} was not written")


def make_session(db_path: Path, name: str) -> str:
    """A live browser session (`wb_session` cookie value) of account `name`, made before a server opens the file."""
    from workbench.accounts import Accounts, Sessions
    from workbench.store import Store

    with Store(db_path) as store:
        return Sessions(store).start(Accounts(store).get(name), "test")


def make_token(db_path: Path, name: str, token_name: str = "test") -> str:
    """A live API token's secret for account `name` (made before a server opens the file)."""
    from workbench.accounts import Accounts
    from workbench.accounts.tokens import ApiTokens
    from workbench.store import Store

    with Store(db_path) as store:
        account = Accounts(store).get(name)
        _, secret = ApiTokens(store).create(account, token_name, actor=account.actor("test"))
        return secret
