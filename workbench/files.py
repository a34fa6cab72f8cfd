"""Small file helpers every layer uses: content hashes and file names safe to write anywhere."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

# Characters Windows, macOS or a shell would trip over in a file name, and control characters.
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """The file's sha256, read in 1 MB blocks (recordings are gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def safe_file_name(name: str, fallback: str) -> str:
    """`name` without folders or characters a file system refuses; `fallback` when nothing is left."""
    return _UNSAFE.sub("_", Path(name).name).strip(" .") or fallback
