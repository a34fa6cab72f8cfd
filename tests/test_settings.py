"""The settings registry: one source for CLI, UI and the README."""

from __future__ import annotations

import shutil
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
