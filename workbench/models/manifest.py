"""What a model folder is: `<models_dir>/<name>/` with a `model.json` manifest.

The manifest names the model's kind, where it came from and the sha256 of each file. A directory
without a manifest is not a model: pulls and imports are staged in a hidden `.staging-*` folder and
renamed into place only once complete (`move_into_place`), so an interrupted one leaves nothing
that later passes as valid.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from workbench.files import sha256_file

MANIFEST = "model.json"

# Kinds of model the workbench can use.
WHISPER = "whisper"  # CTranslate2 Whisper directory, for faster-whisper
FUNASR_ASR = "funasr-asr"
FUNASR_VAD = "funasr-vad"
FUNASR_PUNC = "funasr-punc"
PYANNOTE_SEGMENTATION = "pyannote-segmentation"
PYANNOTE_EMBEDDING = "pyannote-embedding"
PYANNOTE_PIPELINE = "pyannote-pipeline"
SPEAKER_EMBEDDING = "campplus"  # 3D-Speaker CAM++ state dict

FUNASR_KINDS = {
    "Paraformer": FUNASR_ASR,
    "SeacoParaformer": FUNASR_ASR,
    "BiCifParaformer": FUNASR_ASR,
    "ContextualParaformer": FUNASR_ASR,
    "SenseVoiceSmall": FUNASR_ASR,
    "FunASRNano": FUNASR_ASR,
    "FsmnVADStreaming": FUNASR_VAD,
    "FsmnVAD": FUNASR_VAD,
    "CTTransformer": FUNASR_PUNC,
}


class ModelError(Exception):
    """A model cannot be fetched, imported or found; the message says why and what to do."""


@dataclass(slots=True)
class ModelEntry:
    name: str
    kind: str
    source: str
    path: Path
    files: dict[str, str]
    size_bytes: int = 0
    verified: bool | None = None
    loaded: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        data.pop("files")
        return data


def read_manifest(path: Path) -> ModelEntry | None:
    """The model in folder `path`, or None when it has no readable manifest."""
    try:
        data = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        return ModelEntry(
            name=data["name"],
            kind=data["kind"],
            source=data["source"],
            path=path,
            files=data["files"],
            detail=data.get("detail", {}),
        )
    except (OSError, ValueError, KeyError):
        return None


def write_manifest(entry: ModelEntry) -> None:
    data = {
        "name": entry.name,
        "kind": entry.kind,
        "source": entry.source,
        "files": entry.files,
        "detail": entry.detail,
    }
    (entry.path / MANIFEST).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def verify(entry: ModelEntry) -> bool:
    """True when every file of the manifest is there with its recorded sha256."""
    for rel, expected in entry.files.items():
        file = entry.path / rel
        if not file.is_file() or sha256_file(file) != expected:
            return False
    return True


def move_into_place(staging: Path, dest: Path, entry: ModelEntry) -> ModelEntry:
    """Swaps a complete staging folder in for `dest`; the old copy, if any, is removed after."""
    old = None
    if dest.exists():
        old = dest.with_name(f".old-{dest.name}-{os.getpid()}")
        os.replace(dest, old)
    os.replace(staging, dest)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    entry.path = dest
    return entry
