"""Importing a model folder or archive brought in by hand: recognise its kind, check it, copy it, register it.

Never uses the network. The browser imports only an entry directly inside one folder (`import_dir()`,
chosen by name: `import_choices`, `import_from_import_dir`); the CLI, the admin's tool, takes any path.
An archive is recognised by its name (.zip, .tar, .tar.gz, .tgz), never by content, and its whole
listing is checked (size, member count, ratio, names, links) before anything is unpacked. A folder
carrying code or a checkpoint that would run code is refused (`safety`); a pinned default's name is
never imported over. The copy is staged and renamed into place once its manifest is written.
"""

from __future__ import annotations

import json
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import yaml

from workbench import settings
from workbench.files import sha256_file
from workbench.models import safety
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

# Archive limits, checked on the archive's listing BEFORE anything is written: a zip bomb or a tar of links
# is refused without unpacking a byte. The total is the setting `model_archive_max_mb`.
ARCHIVE_MAX_MEMBERS = 10_000
ARCHIVE_MAX_RATIO = 200  # uncompressed : compressed; model weights barely compress (about 1.1 : 1)
_RATIO_MIN_BYTES = 16 << 20  # below this an archive's ratio is not judged (a few small, very compressible files)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


def archive_format(path: Path) -> str | None:
    """ "zip", "tar" or "tar.gz" by the file's name alone; an archive is never recognised by its content,
    so an upload named `x.mp3` is never unpacked whatever it holds."""
    lowered = path.name.lower()
    if lowered.endswith(".zip"):
        return "zip"
    if lowered.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lowered.endswith(".tar"):
        return "tar"
    return None


def _archive_max_bytes() -> int:
    return int(settings.get("model_archive_max_mb")) << 20


def _check_member_name(archive: Path, name: str) -> None:
    """No absolute paths, drive letters, `..`, NUL or backslash tricks in an archive member's name."""
    parts = name.replace("\\", "/").split("/")
    if not name or "\x00" in name or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts:
        raise ModelError(f"{archive.name}: refusing archive member {name!r} outside the target folder")


class _Budget:
    """Running totals of an archive's listing against the caps; raises ModelError on the first one passed."""

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.compressed = max(archive.stat().st_size, 1)
        self.max_bytes = _archive_max_bytes()
        self.members = 0
        self.total = 0

    def add(self, name: str, size: int) -> None:
        self.members += 1
        self.total += max(size, 0)
        if self.members > ARCHIVE_MAX_MEMBERS:
            raise ModelError(f"{self.archive.name}: more than {ARCHIVE_MAX_MEMBERS} members, refusing the archive")
        if self.total > self.max_bytes:
            raise ModelError(
                f"{self.archive.name}: unpacks to more than {self.max_bytes >> 20} MB "
                "(setting model_archive_max_mb), refusing the archive"
            )
        if self.total > _RATIO_MIN_BYTES and self.total > ARCHIVE_MAX_RATIO * self.compressed:
            raise ModelError(
                f"{self.archive.name}: unpacks to over {ARCHIVE_MAX_RATIO} times its size (at {name!r}): "
                "a compression bomb, refusing the archive"
            )


def _zip_is_link(info: zipfile.ZipInfo) -> bool:
    """A symlink, device or fifo as Unix zip tools store them; no type bits (Windows tools, `writestr`) is a file."""
    file_type = stat.S_IFMT(info.external_attr >> 16)
    return file_type not in (0, stat.S_IFREG, stat.S_IFDIR)


def _extract_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as z:
            infos = z.infolist()
            budget = _Budget(archive)
            for info in infos:  # every check before the first byte is written
                _check_member_name(archive, info.filename)
                if _zip_is_link(info):
                    raise ModelError(f"{archive.name}: refusing link or special member {info.filename!r}")
                budget.add(info.filename, info.file_size)
            written = 0
            for info in infos:
                target = dest / info.filename
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, target.open("wb") as out:
                    while block := src.read(1 << 20):  # zipfile stops at the declared size; count anyway
                        written += len(block)
                        if written > budget.max_bytes:
                            raise ModelError(f"{archive.name}: unpacks to more than declared, refusing it")
                        out.write(block)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as e:
        raise ModelError(f"{archive.name}: not a readable .zip archive ({e})") from e


def _extract_tar(archive: Path, dest: Path, compressed: bool) -> None:
    try:
        with tarfile.open(archive, "r:gz" if compressed else "r:") as t:
            budget = _Budget(archive)
            members = []
            # Listed one by one (a .tar.gz is decompressed to list it), stopping at the first cap passed.
            while (member := t.next()) is not None:
                _check_member_name(archive, member.name)
                if not (member.isfile() or member.isdir()):
                    raise ModelError(f"{archive.name}: refusing link or device member {member.name!r}")
                budget.add(member.name, member.size)
                members.append(member)
            t.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ModelError(f"{archive.name}: not a readable {'.tar.gz' if compressed else '.tar'} archive ({e})") from e


def _safe_extract(archive: Path, dest: Path) -> None:
    """Unpacks a .zip, .tar, .tar.gz or .tgz (by its name) after checking its whole listing against the caps."""
    kind = archive_format(archive)
    if kind == "zip":
        _extract_zip(archive, dest)
    elif kind in ("tar", "tar.gz"):
        _extract_tar(archive, dest, compressed=kind == "tar.gz")
    else:
        raise ModelError(
            f"{archive.name}: not a model folder, nor a .zip or .tar.gz archive (archives are recognised by "
            f"their name: {', '.join(ARCHIVE_SUFFIXES)})"
        )


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


def import_dir() -> Path:
    """The one folder the browser imports models from: setting `model_import_dir`, else `<data_dir>/import`."""
    configured = str(settings.get("model_import_dir") or "").strip()
    return Path(configured).expanduser().resolve() if configured else settings.data_dir() / "import"


def _is_importable(path: Path) -> bool:
    return path.is_dir() or (path.is_file() and archive_format(path) is not None)


def import_choices() -> list[str]:
    """Names of the folders and archives directly inside `import_dir()` that the browser may import."""
    root = import_dir()
    if not root.is_dir():
        return []
    resolved_root = root.resolve()
    names = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        try:
            target = child.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if target.is_relative_to(resolved_root) and target != resolved_root and _is_importable(target):
            names.append(child.name)
    return names


def _refuse_links_outside(folder: Path, root: Path) -> None:
    """A folder imported from the browser may not reach out of the import folder through a symlink."""
    for p in folder.rglob("*"):
        if p.is_symlink():
            try:
                target = p.resolve(strict=True)
            except (OSError, RuntimeError):
                raise ModelError(f"{p.relative_to(root)}: a broken or looping link, refusing the folder") from None
            if not target.is_relative_to(root):
                raise ModelError(
                    f"{p.relative_to(root)}: 链接指向导入目录之外，拒绝 (a link pointing outside the import folder)"
                )


def import_from_import_dir(
    name: str, *, new_name: str | None = None, models_dir: Path | None = None, force: bool = False
) -> ModelEntry:
    """The browser's import: the entry `name` directly inside `import_dir()`, chosen by name only.

    Refused: a name with a folder part, `..` or a leading dot; an entry (or a link inside a folder)
    resolving outside the import folder; anything `import_model` refuses. Admin-only is the page's check.
    """
    root = import_dir()
    if (
        not name
        or name != Path(name).name
        or name in (".", "..")
        or name.startswith(".")
        or "\x00" in name
        or "/" in name
        or "\\" in name
    ):
        raise ModelError(f"{name!r}: 只能选择导入目录中的条目 (choose an entry directly inside {root})")
    resolved_root = root.resolve()
    candidate = root / name
    try:
        target = candidate.resolve(strict=True)
    except (OSError, RuntimeError):
        raise ModelError(f"{name}: 导入目录中没有这个条目 (no such entry in {root})") from None
    if not target.is_relative_to(resolved_root) or target == resolved_root:
        raise ModelError(f"{name}: 指向导入目录之外，拒绝 (it resolves to a path outside the import folder {root})")
    if not _is_importable(target):
        raise ModelError(
            f"{name}: 不是模型目录或压缩包 (not a folder, nor an archive named {', '.join(ARCHIVE_SUFFIXES)})"
        )
    if target.is_dir():
        _refuse_links_outside(target, resolved_root)
    return import_model(target, name=new_name, models_dir=models_dir, force=force)


def import_model(
    source: Path, *, name: str | None = None, models_dir: Path | None = None, force: bool = False
) -> ModelEntry:
    """Registers a model folder or archive brought in from elsewhere; never uses the network.

    Any path (this is the CLI's, the admin's tool; the browser goes through `import_from_import_dir`).
    Refused: a folder carrying code or a remote-code config, a checkpoint that would run code when
    unpickled, an archive over the caps, a pinned default's name; an existing other name only with `force`.
    """
    root = models_dir or settings.models_dir()
    root.mkdir(parents=True, exist_ok=True)
    if not source.exists():
        raise ModelError(f"{source}: no such file or folder")
    if not source.is_dir() and archive_format(source) is None:
        raise ModelError(
            f"{source.name}: not a model folder, nor a .zip or .tar.gz archive (archives are recognised by "
            f"their name: {', '.join(ARCHIVE_SUFFIXES)})"
        )
    base = name or re.sub(r"\.(zip|tar\.gz|tgz|tar)$", "", source.name, flags=re.IGNORECASE)
    if source.is_dir() and not name:
        base = _model_root(source).name
    safe = _NAME_RE.sub("-", base).strip(".-") or "model"
    if safe.casefold() in {n.casefold() for n in safety.default_names()}:
        raise ModelError(
            f"{safe!r} 是内置默认模型的名称，不能导入或覆盖 (the name of a pinned default model cannot be imported "
            "over); `workbench models pull` restores the default; import this copy with another --name"
        )
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-import-"))
    try:
        if source.is_dir():
            model_root = _model_root(source)
        else:
            unpacked = staging / "unpacked"
            unpacked.mkdir()
            _safe_extract(source, unpacked)
            model_root = _model_root(unpacked)
        safety.refuse_code(model_root)
        kind, detail = detect_kind(model_root)
        dest = root / safe
        files_dir = staging / "model"
        shutil.copytree(model_root, files_dir, ignore=shutil.ignore_patterns(MANIFEST, ".*"))
        safety.check_folder(files_dir, kind)  # the copy, as it will be loaded (links followed)
        files = {str(p.relative_to(files_dir)): sha256_file(p) for p in sorted(files_dir.rglob("*")) if p.is_file()}
        existing = read_manifest(dest)
        if existing is not None:
            if existing.files == files and existing.kind == kind:
                return existing
            if not force:
                raise ModelError(
                    f"a different model named {safe!r} is already registered; pass --name, or --force to replace it"
                )
        elif dest.exists():
            raise ModelError(f"{dest} exists and is not a registered model; choose another --name")
        entry = ModelEntry(
            name=safe, kind=kind, source=f"imported: {source}", path=files_dir, files=files, detail=detail
        )
        write_manifest(entry)
        return move_into_place(files_dir, dest, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
