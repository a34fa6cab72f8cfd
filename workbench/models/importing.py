"""Importing a model folder or archive brought in by hand: recognise its kind, copy it, register it.

Never uses the network. An archive is unpacked refusing members that would land outside the target;
the copy is staged and renamed into place once its manifest is written.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from workbench import settings
from workbench.files import sha256_file
from workbench.models.manifest import (
    FUNASR_KINDS,
    MANIFEST,
    PYANNOTE_EMBEDDING,
    PYANNOTE_PIPELINE,
    PYANNOTE_SEGMENTATION,
    SPEAKER_EMBEDDING,
    WHISPER,
    ModelEntry,
    ModelError,
    move_into_place,
    read_manifest,
    write_manifest,
)


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpacks a .zip or .tar(.gz) refusing members that would land outside `dest`."""
    dest_resolved = dest.resolve()

    def check(name: str) -> None:
        target = (dest / name).resolve()
        if not target.is_relative_to(dest_resolved):
            raise ModelError(f"{archive.name}: refusing archive member {name!r} outside the target folder")

    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            for name in z.namelist():
                check(name)
            z.extractall(dest)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as t:
            for member in t.getmembers():
                check(member.name)
                if member.issym() or member.islnk() or member.isdev():
                    raise ModelError(f"{archive.name}: refusing link or device member {member.name!r}")
            t.extractall(dest, filter="data")
    else:
        raise ModelError(f"{archive.name}: not a model folder, nor a .zip or .tar.gz archive")


def _model_root(path: Path) -> Path:
    """Descends through folders that hold a single folder and nothing else (typical of archives)."""
    while True:
        children = [c for c in path.iterdir() if not c.name.startswith(".") and c.name != "__MACOSX"]
        if len(children) == 1 and children[0].is_dir():
            path = children[0]
        else:
            return path


def detect_kind(root: Path) -> tuple[str, dict[str, Any]]:
    """Recognises a model folder from its files; raises ModelError saying why it cannot be used."""
    names = {p.name for p in root.iterdir()}
    if {"model.bin", "config.json"} <= names and ({"tokenizer.json", "vocabulary.txt", "vocabulary.json"} & names):
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
        if "lang_ids" in config or "suppress_ids" in config or "alignment_heads" in config:
            return WHISPER, {"multilingual": bool(config.get("lang_ids"))}
        raise ModelError(f"{root.name}: a CTranslate2 model, but not a Whisper one (its config has no lang_ids)")
    if "config.yaml" in names:
        try:
            config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise ModelError(f"{root.name}/config.yaml is not valid YAML: {e}") from e
        if not isinstance(config, dict):
            raise ModelError(f"{root.name}/config.yaml does not describe a model")
        if isinstance(config.get("pipeline"), dict):
            pipeline = str(config["pipeline"].get("name", ""))
            if "SpeakerDiarization" not in pipeline:
                raise ModelError(f"{root.name}: a pyannote pipeline, but {pipeline!r}, not speaker diarization")
            return PYANNOTE_PIPELINE, {"pipeline": pipeline}
        model = config.get("model")
        if isinstance(model, dict) and "_target_" in model:
            if "pytorch_model.bin" not in names:
                raise ModelError(f"{root.name}: a pyannote model config without pytorch_model.bin")
            task = str((config.get("task") or {}).get("_target_", ""))
            kind = PYANNOTE_SEGMENTATION if "Diarization" in task or "Segmentation" in task else PYANNOTE_EMBEDDING
            return kind, {"class": model["_target_"]}
        if isinstance(model, str):
            kind = FUNASR_KINDS.get(model)
            if kind is None:
                raise ModelError(
                    f"{root.name}: a FunASR model of class {model!r}, which this workbench does not use "
                    f"(it uses {', '.join(sorted(FUNASR_KINDS))})"
                )
            if "model.pt" not in names:
                raise ModelError(
                    f"{root.name}: FunASR {model} without model.pt (an ONNX-only export cannot be used; "
                    "copy the PyTorch model folder)"
                )
            return kind, {"class": model}
        raise ModelError(f"{root.name}/config.yaml names no model class this workbench knows")
    weights = [p for p in root.iterdir() if p.suffix in (".pt", ".bin") and "campplus" in p.name.lower()]
    if len(weights) == 1:
        return SPEAKER_EMBEDDING, {"file": weights[0].name}
    listed = ", ".join(sorted(names)[:8]) or "nothing"
    raise ModelError(
        f"{root.name}: not a model folder this workbench recognises (it holds {listed}); expected a "
        "CTranslate2 Whisper folder, a FunASR model folder (config.yaml + model.pt), a pyannote "
        "pipeline or model folder, or a CAM++ state dict"
    )


_NAME_RE = re.compile(r"[^A-Za-z0-9._-]+")


def import_model(
    source: Path, *, name: str | None = None, models_dir: Path | None = None, force: bool = False
) -> ModelEntry:
    """Registers a model folder or archive brought in from elsewhere; never uses the network."""
    root = models_dir or settings.models_dir()
    root.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        raise ModelError(f"{source}: no such file or folder")
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-import-"))
    try:
        if source.is_dir():
            model_root = _model_root(source)
        else:
            unpacked = staging / "unpacked"
            unpacked.mkdir()
            _safe_extract(source, unpacked)
            model_root = _model_root(unpacked)
        kind, detail = detect_kind(model_root)
        base = name or re.sub(r"\.(zip|tar\.gz|tgz|tar)$", "", model_root.name if source.is_dir() else source.name)
        safe = _NAME_RE.sub("-", base).strip(".-") or "model"
        dest = root / safe
        files_dir = staging / "model"
        shutil.copytree(model_root, files_dir, ignore=shutil.ignore_patterns(MANIFEST, ".*"))
        files = {str(p.relative_to(files_dir)): sha256_file(p) for p in sorted(files_dir.rglob("*")) if p.is_file()}
        existing = read_manifest(dest)
        if existing is not None:
            if existing.files == files and existing.kind == kind:
                return existing
            if not force:
                raise ModelError(f"a different model named {safe!r} is already registered; pass --name or --force")
        entry = ModelEntry(
            name=safe, kind=kind, source=f"imported: {source}", path=files_dir, files=files, detail=detail
        )
        write_manifest(entry)
        return move_into_place(files_dir, dest, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
