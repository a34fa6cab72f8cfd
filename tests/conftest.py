"""Shared fixtures: real models loaded once per session, a private data folder per test session.

The models come from the repository's `data/models` (laid out by `workbench models pull`, which
the test command runs first); everything else a test writes goes to a temporary data folder.
A tool a test needs (LibreOffice, Chromium) that is missing fails the run (`require_tool`): a broken
set-up must not pass as a green run with skips. On a developer's machine WORKBENCH_TESTS_ALLOW_SKIPS=1
turns those failures into skips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TESTDATA = REPO.parent / "shared" / "testdata"
MODELS = Path(os.environ.get("WORKBENCH_MODELS") or REPO / "data" / "models")
WHEEL_CACHE = REPO / "data" / "cache" / "wheels"
ALLOW_SKIPS = "WORKBENCH_TESTS_ALLOW_SKIPS"


def require_tool(*tools: str, install: str = "") -> None:
    """Fails the test unless every tool is there (a command on PATH, or an absolute path to an executable).

    Skips instead only where WORKBENCH_TESTS_ALLOW_SKIPS=1 (a developer's machine without, say, LibreOffice).
    `install` says how to get the tools, e.g. "apt-get install poppler-utils".
    """
    missing = [t for t in tools if shutil.which(t) is None]
    if not missing:
        return
    reason = f"needs {', '.join(missing)}, not found" + (f": {install}" if install else "")
    if os.environ.get(ALLOW_SKIPS) == "1":
        pytest.skip(f"{reason} ({ALLOW_SKIPS}=1)")
    pytest.fail(f"{reason}; to skip such tests on a developer's machine, set {ALLOW_SKIPS}=1", pytrace=False)


@pytest.fixture(scope="session", autouse=True)
def _private_data(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Points the workbench at a temporary data folder, keeping the pulled models."""
    data = tmp_path_factory.mktemp("data")
    os.environ["WORKBENCH_DATA"] = str(data)
    os.environ["WORKBENCH_MODELS"] = str(MODELS)
    os.environ.pop("WORKBENCH_DB", None)


@pytest.fixture(scope="session")
def models_dir() -> Path:
    from workbench.models import registry as models

    missing = [a.name for a in models.DEFAULT_ARTIFACTS if not (MODELS / a.name / models.MANIFEST).exists()]
    if missing:
        pytest.fail(f"models not pulled ({', '.join(missing)}): run `make test`, which runs `workbench models pull`")
    return MODELS


@pytest.fixture(scope="session")
def whisper_engine(models_dir: Path):
    from workbench.speech import asr

    return asr.load_engine("whisper", device="cpu", cpu_threads=2, batch_size=4)


@pytest.fixture(scope="session")
def tiny_paraformer(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A registered random Paraformer in a models folder of its own, beside a copy of fsmn-vad."""
    import tiny_paraformer as builder

    from workbench.models import registry as models

    root = tmp_path_factory.mktemp("funasr-models")
    shutil.copytree(models_dir / "fsmn-vad", root / "fsmn-vad")
    built = builder.build(tmp_path_factory.mktemp("tiny-paraformer-src") / "tiny-paraformer")
    models.import_model(built, models_dir=root)
    return root


def clip(name: str) -> Path:
    """A test recording by file name, from ../shared/testdata/{asr,diarization}."""
    for folder in ("asr", "diarization"):
        path = TESTDATA / folder / name
        if path.exists():
            return path
    raise FileNotFoundError(name)
