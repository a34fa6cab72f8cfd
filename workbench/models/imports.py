"""Importing heavy packages for less: one class without its package's `__init__`; a library without an
unused optional dependency.

FunASR's `__init__` imports its whole toolkit (AutoModel, modelscope, librosa, numba...): measured here,
`import funasr` adds ~100 MB of RSS and 9 s, where its CAM++ module alone adds 4 MB and 0.1 s. Diarization
needs only that one class (`funasr.models.campplus.model.CAMPPlus`), so it is imported under a stand-in
package whose `__path__` is FunASR's folder: the submodules load from the real files, the package's
`__init__` never runs. The stand-in and what was imported under it leave `sys.modules` afterwards, so a
later `import funasr` (the FunASR engine, in the same job child) gets the real package, whole.

pyannote.audio imports Lightning for training code diarization never runs, Lightning imports
torchmetrics, and torchmetrics, finding transformers installed (FunASR needs it), imports its `AutoModel`
at once for BERTScore: measured here, 30 MB of RSS in every process that diarizes (930 MB after importing
torch and pyannote.audio, 900 without it), for a metric nobody computes. `hide_optional_transformers()`
makes torchmetrics' own availability checks for transformers say no, so its BERTScore, InfoLM and CLIP
metrics stay unloaded; transformers itself still imports normally.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Iterator, Sequence
from typing import Any


@contextlib.contextmanager
def without_package_init(package: str) -> Iterator[None]:
    """Inside, `from package.sub.module import X` loads only what that module needs; see the module doc.

    Where the real package is already imported, or is not installed, nothing changes.
    """
    if package in sys.modules:
        yield
        return
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        yield
        return
    before = set(sys.modules)
    stand_in = types.ModuleType(package)
    stand_in.__path__ = list(spec.submodule_search_locations)
    stand_in.__package__ = package
    sys.modules[package] = stand_in
    try:
        yield
    finally:
        for name in set(sys.modules) - before:
            if name == package or name.startswith(package + "."):
                del sys.modules[name]
        if sys.modules.get(package) is stand_in:
            del sys.modules[package]


# torchmetrics.utilities.imports' checks for transformers (`lightning_utilities.RequirementCache` objects)
TORCHMETRICS_IMPORTS = "torchmetrics.utilities.imports"
TRANSFORMERS_CHECKS = ("_TRANSFORMERS_AVAILABLE", "_TRANSFORMERS_GREATER_EQUAL_4_4", "_TRANSFORMERS_GREATER_EQUAL_4_10")


class _ChecksAnsweredNo(importlib.abc.MetaPathFinder):
    """Finds `module` as the normal finders do, and once it has run, answers its named checks "not met"."""

    def __init__(self, module: str, checks: Sequence[str]) -> None:
        self.module = module
        self.checks = tuple(checks)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.module:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module
        checks = self.checks

        def exec_module(module: types.ModuleType) -> None:
            run(module)
            for name in checks:
                check = getattr(module, name, None)
                if check is not None:  # a RequirementCache caches `available` and never asks again
                    check.available = False
                    check.message = f"{name}: not loaded by the workbench (see workbench/models/imports.py)"

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def hide_optional_transformers() -> None:
    """torchmetrics, when it is imported, will not load transformers' models; see the module doc.

    Called before pyannote is imported. Does nothing once torchmetrics is imported or the hook is in place.
    """
    if TORCHMETRICS_IMPORTS in sys.modules or any(isinstance(f, _ChecksAnsweredNo) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _ChecksAnsweredNo(TORCHMETRICS_IMPORTS, TRANSFORMERS_CHECKS))
