"""Small file helpers every layer uses: content hashes, file names safe to write anywhere, generated text sections."""

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


def rewrite_between(path: Path, start: str, end: str, body: str) -> bool:
    """Replaces what lies between the markers `start` and `end` in the text file `path` with `body` (the
    README's generated tables); True if the file changed, False too when it lacks the markers."""
    content = path.read_text(encoding="utf-8")
    if start not in content or end not in content:
        return False
    before, _, rest = content.partition(start)
    _, _, after = rest.partition(end)
    updated = f"{before}{start}\n{body}\n{end}{after}"
    if updated != content:
        path.write_text(updated, encoding="utf-8")
    return updated != content
