"""Importing one class out of a heavy package without running the package's `__init__`.

FunASR's `__init__` imports its whole toolkit (AutoModel, modelscope, librosa, numba...): measured here,
`import funasr` adds ~100 MB of RSS and 9 s, where its CAM++ module alone adds 4 MB and 0.1 s. Diarization
needs only that one class (`funasr.models.campplus.model.CAMPPlus`), so it is imported under a stand-in
package whose `__path__` is FunASR's folder: the submodules load from the real files, the package's
`__init__` never runs. The stand-in and what was imported under it leave `sys.modules` afterwards, so a
later `import funasr` (the FunASR engine, in the same job child) gets the real package, whole.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import types
from collections.abc import Iterator


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
