"""What a model folder may hold before anything of it is imported or loaded: no code, no hostile pickles, pinned files.

Three checks, each raising `ModelError` naming the file and why:

- code: a folder carrying Python (`*.py`, `*.pyc`, ...) or a config asking for `remote_code` /
  `trust_remote_code` is refused; FunASR would otherwise import a `model.py` found beside the weights.
- pickles: every PyTorch checkpoint (zip or legacy format) is read opcode by opcode, without running it,
  and refused when it names any global outside a short list of tensor-rebuilding ones; so a library that
  unpickles it in full (pyannote does, `weights_only=False`) runs nothing a weights-only load would refuse.
- pins: a pinned default (`defaults.py`) must still have every file with its pinned sha256, checked at load,
  not only at pull. Hashes are cached per process by (path, size, mtime), so a model is hashed once.

`check_folder` is what import runs; `check_before_load` (called by `memory.load` and the loaders) adds the pins.
"""

from __future__ import annotations

import json
import logging
import os
import pickletools
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import yaml

from workbench.files import sha256_file
from workbench.models import defaults
from workbench.models.manifest import MANIFEST, PYANNOTE_PIPELINE, WHISPER, ModelError, read_manifest

log = logging.getLogger("workbench.models.safety")

CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".pyw", ".pyd", ".so"})
REMOTE_CODE_KEYS = frozenset({"remote_code", "trust_remote_code"})
CHECKPOINT_SUFFIXES = frozenset({".pt", ".pth", ".bin", ".ckpt", ".pkl", ".pickle"})
CONFIG_NAMES = ("config.yaml", "configuration.json", "config.json")

# Globals a checkpoint may name: what torch's weights-only unpickler allows for tensors and state dicts,
# plus the plain classes pyannote stores beside its weights (task specifications, the torch version).
_TORCH_DTYPES = frozenset(
    "bfloat16 bool complex128 complex32 complex64 float16 float32 float64 half float double int8 int16 int32 "
    "int64 uint8 uint16 uint32 uint64 bits16 bits1x8 bits2x4 bits4x2 bits8 qint8 quint8 qint32 quint4x2 "
    "quint2x4 float8_e4m3fn float8_e5m2 float8_e4m3fnuz float8_e5m2fnuz".split()
)
ALLOWED_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "builtins.complex",
        "_codecs.encode",  # protocol 2 writes bytes as _codecs.encode(str, "latin1")
        "torch.Size",
        "torch.device",
        "torch.torch_version.TorchVersion",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_qtensor",
        "torch._utils._rebuild_sparse_tensor",
        "torch._utils._rebuild_meta_tensor_no_storage",
        "torch._utils._rebuild_device_tensor_from_cpu_tensor",
        "pyannote.audio.core.task.Specifications",
        "pyannote.audio.core.task.Problem",
        "pyannote.audio.core.task.Resolution",
    }
)

_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING", "STRING"}
)
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
ZIP_MAGIC = b"PK\x03\x04"  # what torch.serialization checks to choose its zip format
_LEGACY_PICKLES = 5  # torch's legacy format: magic, protocol, sys info, the object, storage keys


# Python 2 names that protocol 0-2 pickles carry and the unpickler maps back (`fix_imports`).
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _qualified(module: str, name: str) -> str:
    return f"{_PY2_MODULES.get(module, module)}.{name}"


def allowed_global(qualified: str) -> bool:
    if qualified in ALLOWED_GLOBALS:
        return True
    module, _, name = qualified.rpartition(".")
    if module in ("torch", "torch.cuda") and (name.endswith("Storage") or name.endswith("Tensor")):
        return True
    return module == "torch" and name in _TORCH_DTYPES


class _Unreadable(Exception):
    """The bytes are not a pickle at all (no loader would unpickle them either)."""


def _pickle_globals(stream: IO[bytes]) -> Iterator[str]:
    """Every global one pickle in `stream` names, read without running it; raises ModelError when one
    cannot be known statically (a STACK_GLOBAL fed by anything but plain strings, an extension code)."""
    memo: dict[int, Any] = {}
    recent: list[Any] = []  # the values the last opcodes pushed: strings, or None for anything else
    try:
        ops = pickletools.genops(stream)
        for op, arg, _pos in ops:
            name = op.name
            if name in _STRING_OPS:
                recent.append(arg)
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
                continue
            elif name in _PUT_OPS:
                memo[int(arg)] = recent[-1] if recent else None
                continue
            elif name in _GET_OPS:
                recent.append(memo.get(int(arg)))
            elif name == "GLOBAL" or name == "INST":
                module, _, attr = str(arg).partition(" ")
                yield _qualified(module, attr)
                recent.append(None)
            elif name == "STACK_GLOBAL":
                if len(recent) < 2 or not all(isinstance(v, str) for v in recent[-2:]):
                    raise ModelError("a STACK_GLOBAL whose module and name are not plain strings")
                yield _qualified(recent[-2], recent[-1])
                recent.append(None)
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise ModelError(f"an extension-registry global ({name})")
            else:
                recent.append(None)
            del recent[:-4]
    except ValueError as e:  # not a pickle, or cut short
        raise _Unreadable(str(e)) from e


def scan_pickle_file(path: Path) -> None:
    """Refuses a checkpoint naming globals outside `ALLOWED_GLOBALS`, and one this scan cannot read through.

    The format is told as torch tells it, by the first four bytes (a zip's local header), not by
    `zipfile.is_zipfile`, which also accepts a pickle with a zip appended (torch would unpickle the
    front). A pickle the scanner cannot parse is refused rather than passed: torch's unpickler may
    read what `pickletools` does not (a non-ASCII STRING opcode, say), and would run it.
    """

    def check(stream: IO[bytes], where: str) -> None:
        try:
            for qualified in _pickle_globals(stream):
                if not allowed_global(qualified):
                    raise ModelError(
                        f"{where}: 模型文件含可执行的对象 {qualified!r}，拒绝加载 (the checkpoint would run code "
                        f"{qualified!r} when unpickled; only plain tensors are accepted)"
                    )
        except _Unreadable as e:
            raise ModelError(f"{where}: not a checkpoint this workbench can read safely ({e}); refusing it") from e

    try:
        with path.open("rb") as stream:
            is_zip = stream.read(4) == ZIP_MAGIC
        if is_zip:
            with zipfile.ZipFile(path) as z:
                for member in [n for n in z.namelist() if n.endswith(".pkl")]:
                    with z.open(member) as stream:
                        check(stream, f"{path}:{member}")
            return
        # torch's legacy format: a few small pickles (magic number, protocol, system info, the object,
        # the storage keys), then raw storage bytes, which are never unpickled and are not scanned.
        with path.open("rb") as stream:
            for _ in range(_LEGACY_PICKLES):
                if not stream.peek(1):  # a plain pickle file ends after its one pickle
                    break
                check(stream, str(path))
    except ModelError as e:
        if str(e).startswith(str(path)):
            raise
        raise ModelError(f"{path}: {e}; refusing it") from e
    except (OSError, zipfile.BadZipFile) as e:
        raise ModelError(f"{path}: cannot read the checkpoint ({e})") from e


def _has_remote_code_key(value: Any) -> str | None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if str(key) in REMOTE_CODE_KEYS and inner not in (False, None, "", "false", "False"):
                return str(key)
            found = _has_remote_code_key(inner)
            if found:
                return found
    elif isinstance(value, list):
        for inner in value:
            found = _has_remote_code_key(inner)
            if found:
                return found
    return None


def _configs(root: Path) -> Iterator[tuple[str, Any]]:
    """The folder's readable config files, parsed; unreadable ones are detect_kind's and the loaders' to report."""
    for name in CONFIG_NAMES:
        config = root / name
        if not config.is_file():
            continue
        try:
            text = config.read_text(encoding="utf-8")
            yield name, (json.loads(text) if name.endswith(".json") else yaml.safe_load(text))
        except (OSError, ValueError, yaml.YAMLError):
            continue


def refuse_code(root: Path) -> None:
    """Refuses a folder carrying Python files or a config that asks for remote code."""
    code = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.suffix.lower() in CODE_SUFFIXES)
    if code:
        listed = ", ".join(code[:5]) + (" ..." if len(code) > 5 else "")
        raise ModelError(
            f"{root.name}: 模型目录含程序文件 {listed}，拒绝导入或加载 (a model folder carrying code is refused: "
            "the workbench never runs code shipped with a model; remove the files if the model does not need them)"
        )
    for name, data in _configs(root):
        key = _has_remote_code_key(data)
        if key:
            raise ModelError(
                f"{root.name}/{name}: 配置要求运行模型自带代码（{key}），拒绝 (the config asks for remote code "
                f"with {key!r}; the workbench never runs code shipped with a model)"
            )


def checkpoint_files(root: Path, kind: str | None) -> list[Path]:
    if kind == WHISPER:
        return []  # CTranslate2 reads its own format; nothing in the folder is unpickled
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in CHECKPOINT_SUFFIXES)


# -- cached per file: a model is hashed and scanned once per process ------------------------------

_lock = threading.Lock()
_hashes: dict[tuple[str, int, int], str] = {}
_scanned: set[tuple[str, int, int]] = set()


def _file_key(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def cached_sha256(path: Path) -> str:
    key = _file_key(path)
    with _lock:
        hit = _hashes.get(key)
    if hit is None:
        hit = sha256_file(path)
        with _lock:
            _hashes[key] = hit
    return hit


def _scan_cached(path: Path) -> None:
    key = _file_key(path)
    with _lock:
        if key in _scanned:
            return
    scan_pickle_file(path)
    with _lock:
        _scanned.add(key)


def clear_cache() -> None:
    with _lock:
        _hashes.clear()
        _scanned.clear()


def pinned_files(name: str) -> dict[str, str] | None:
    """The pinned default's files and their sha256, or None when `name` is not a default."""
    for artifact in defaults.DEFAULT_ARTIFACTS:
        if artifact.name == name:
            return {f.name: f.sha256 for f in artifact.files}
    return None


def default_names() -> frozenset[str]:
    return frozenset(a.name for a in defaults.DEFAULT_ARTIFACTS)


def check_pins(root: Path, name: str) -> None:
    pins = pinned_files(name)
    if pins is None:
        return
    for file_name, expected in pins.items():
        file = root / file_name
        if not file.is_file():
            raise ModelError(f"{file}: 默认模型 {name} 缺少文件 (missing); run `workbench models pull` to fetch it")
        actual = cached_sha256(file)
        if actual != expected:
            raise ModelError(
                f"{file}: 默认模型文件已被改动，拒绝加载 (sha256 {actual[:16]}... is not the pinned "
                f"{expected[:16]}...: the file changed since it was pulled); run `workbench models pull`"
            )


PIPELINE_MODULE = "pyannote.audio.pipelines."


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def check_pipeline_config(root: Path) -> None:
    """A pyannote pipeline's config may name only pyannote's own pipeline classes and models inside its folder.

    pyannote imports the class the config names and loads (fully unpickling) every checkpoint it points
    at, so a path out of the folder would bring in a checkpoint this module never scanned.
    """
    try:
        config = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ModelError(f"{root.name}/config.yaml: unreadable ({e})") from e
    name = str((config.get("pipeline") or {}).get("name", "")) if isinstance(config, dict) else ""
    if not name.startswith(PIPELINE_MODULE):
        raise ModelError(f"{root.name}/config.yaml: pipeline {name!r} is not one of pyannote's ({PIPELINE_MODULE}*)")
    for text in _strings(config):
        if text.startswith("$model"):
            relative = text.removeprefix("$model").lstrip("/")
            if ".." in Path(relative).parts:
                raise ModelError(f"{root.name}/config.yaml: {text!r} leaves the model folder")
        elif text.startswith(("/", "~", "\\")) or ".." in Path(text).parts or "://" in text:
            raise ModelError(f"{root.name}/config.yaml: {text!r} points outside the model folder; use $model/... paths")


def check_config_paths(root: Path) -> None:
    """A model's config may not point at files outside its folder (FunASR takes `init_param`, `cmvn_file`,
    `bpemodel`, `file_path_metas` ... from it as they are, an absolute path included): such a file was
    never scanned nor pinned. A path that exists nowhere (a stale training path) is left to the loader."""
    folder = root.resolve()
    for name, data in _configs(root):
        for value in _strings(data):
            if not value or len(value) > 4096 or "\0" in value or ("/" not in value and "\\" not in value):
                continue  # not a path: a class name, a word, a number
            path = Path(value).expanduser()
            climbs = not path.is_absolute() and os.path.normpath(path).split(os.sep)[0] == ".."
            target = (root / path).resolve()
            # Climbing out is refused whatever is there now (the folder is checked before it moves into
            # place, and is loaded from beside the other models); an absolute path, when it exists.
            if climbs or (target.exists() and not target.is_relative_to(folder)):
                raise ModelError(
                    f"{root.name}/{name}: {value!r} 指向模型目录以外的文件，拒绝 (points at a file outside the model "
                    "folder, which was never checked: keep every file the model needs inside its folder)"
                )


def check_folder(root: Path, kind: str | None = None) -> None:
    """Import-time checks of a model folder: no code, no remote-code config, no paths out of the folder,
    checkpoints of tensors only."""
    refuse_code(root)
    if kind == PYANNOTE_PIPELINE:
        check_pipeline_config(root)
    elif kind != WHISPER:  # CTranslate2's config.json is a vocabulary and settings, no paths
        check_config_paths(root)
    for file in checkpoint_files(root, kind):
        _scan_cached(file)


def check_before_load(root: Path) -> None:
    """Load-time checks of a registered model folder (one with a manifest); raises ModelError."""
    root = Path(root)
    entry = read_manifest(root)
    if entry is None:
        if (root / MANIFEST).exists():
            raise ModelError(f"{root}/{MANIFEST}: unreadable manifest; import or pull the model again")
        return  # not a model folder (tests load plain objects through memory.load)
    started = time.perf_counter()
    check_folder(root, entry.kind)
    for name in {entry.name, root.name} & default_names():
        check_pins(root, name)
    log.debug("checked %s in %.3f s", root, time.perf_counter() - started)
