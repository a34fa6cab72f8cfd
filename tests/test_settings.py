"""The settings registry: one source for CLI, UI and the README."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

from workbench import settings


def test_readme_documents_every_setting(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    shutil.copy(REPO / "README.md", copy)
    changed = settings.update_readme(copy)
    assert not changed, "README's settings table is stale: run `.venv/bin/python -m workbench.settings`"


def test_environment_beats_saved_beats_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WORKBENCH_LANGUAGE", raising=False)
    assert settings.get("language") == "auto"
    settings.save({"language": "zh"})
    assert settings.get("language") == "zh"
    monkeypatch.setenv("WORKBENCH_LANGUAGE", "en")
    assert settings.get("language") == "en"
    settings.save({"language": "auto"})


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="expected one of"):
        settings.save({"engine": "kaldi"})
    monkeypatch.setenv("WORKBENCH_ITN", "maybe")
    with pytest.raises(ValueError, match="expected true or false"):
        settings.get("itn")
    for raw in ("1.5", "-0.1", "nan"):
        monkeypatch.setenv("WORKBENCH_LOW_CONFIDENCE", raw)
        with pytest.raises(ValueError, match="low_confidence: expected a number from 0 to 1"):
            settings.get("low_confidence")
    monkeypatch.setenv("WORKBENCH_LOW_CONFIDENCE", "0.35")
    assert settings.get("low_confidence") == 0.35


def test_paths_are_absolute_and_the_same_from_any_folder(tmp_path: Path) -> None:
    """With no data setting, every command finds the checkout's data/, wherever it is typed."""
    code = "from workbench import settings; print(settings.data_dir(), settings.db_path(), settings.models_dir())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    answers = set()
    for cwd in (REPO, tmp_path, Path("/")):
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=True)
        answers.add(out.stdout.strip())
    [answer] = answers
    assert answer.split() == [
        str(REPO / "data"),
        str(REPO / "data" / "workbench.duckdb"),
        str(REPO / "data" / "models"),
    ]


def test_a_relative_data_setting_is_taken_from_where_the_command_was_typed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA", "court-data")
    monkeypatch.delenv("WORKBENCH_MODELS", raising=False)
    assert settings.data_dir() == tmp_path / "court-data"
    assert settings.models_dir() == tmp_path / "court-data" / "models"


def test_the_models_list_is_the_same_from_another_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    workbench = Path(sys.executable).with_name("workbench")
    here = subprocess.run([workbench, "models", "list"], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    there = subprocess.run([workbench, "models", "list"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert there.returncode == 0, there.stderr
    assert "whisper-base" in here.stdout and there.stdout == here.stdout
