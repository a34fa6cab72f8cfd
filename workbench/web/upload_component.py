"""The upload page's file picker: a `st.components.v2` component whose script sends files to `/api/v1/uploads`.

Streamlit's `st.file_uploader` keeps every file in the server's memory (up to 2 GB each, any number at
once). This component's script (`upload_component.js`) instead POSTs `/api/v1/uploads {name, size}` and
PATCHes 8 MiB chunks with the browser's own session cookie (same origin, header `X-Workbench-Client:
browser`), shows each file's progress, and resumes after a dropped connection. The page gets only the
finished uploads' ids (`SentFile`), and hands them to `POST /hearings {uploads: [...]}` with the details.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

CHUNK_BYTES = 8 << 20
_HERE = Path(__file__).resolve().parent
_CSS = """
.wb-up { font-family: var(--st-font, sans-serif); color: var(--st-text-color); }
.wb-up-pick { display: flex; align-items: center; gap: .75rem; padding: 1rem; cursor: pointer;
  border: 1px dashed var(--st-border-color, #ccc); border-radius: var(--st-base-radius, .5rem);
  background: var(--st-secondary-background-color); }
.wb-up-label { font-weight: 600; }
.wb-up-note { color: var(--st-red-color, #c00); font-size: .875rem; margin: .25rem 0; }
.wb-up-list { list-style: none; padding: 0; margin: .5rem 0 0 0; }
.wb-up-item { padding: .4rem 0; border-bottom: 1px solid var(--st-border-color-light, #eee); }
.wb-up-head { display: flex; gap: .75rem; align-items: baseline; font-size: .875rem; }
.wb-up-name { font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; flex: 1 1 auto; }
.wb-up-status { color: var(--st-text-color); opacity: .75; white-space: nowrap; }
.wb-up-item[data-state="error"] .wb-up-status { color: var(--st-red-color, #c00); opacity: 1; white-space: normal; }
.wb-up-item[data-state="done"] .wb-up-status { color: var(--st-green-color, #080); opacity: 1; }
.wb-up-remove, .wb-up-retry { border: none; background: none; cursor: pointer; color: inherit; font-size: 1rem; }
.wb-up-bar { width: 100%; height: .4rem; accent-color: var(--st-primary-color); }
"""

_component = st.components.v2.component(
    "workbench.uploader",
    css=_CSS,
    js=(_HERE / "upload_component.js").read_text(encoding="utf-8"),
)


@dataclass(frozen=True)
class SentFile:
    """A finished upload, as the browser reported it: `id` goes to `POST /hearings {uploads: [...]}`."""

    id: str
    name: str
    size: int


@dataclass(frozen=True)
class Picked:
    """What the picker holds now: the finished uploads, and whether any file is still on its way."""

    files: tuple[SentFile, ...]
    busy: bool


def _sent(raw: Any) -> Picked:
    """The component's state, checked: it comes from the browser, so anything malformed counts as nothing."""
    if not isinstance(raw, dict):
        return Picked((), False)
    files = []
    for entry in raw.get("uploads") or []:
        if not isinstance(entry, dict):
            continue
        upload_id, name, size = entry.get("id"), entry.get("name"), entry.get("size")
        if (
            isinstance(upload_id, str)
            and isinstance(name, str)
            and isinstance(size, int)
            and not isinstance(size, bool)
        ):
            files.append(SentFile(upload_id, name, size))
    return Picked(tuple(files[:100]), bool(raw.get("busy")))


def upload_picker(*, key: str, types: tuple[str, ...], max_bytes: int, label: str) -> Picked:
    """Draws the picker (a fresh `key` gives a fresh, empty one) and answers what it holds.

    Any choice of files starts their uploads at once; the page reruns when the set of finished ones changes.
    """
    result = _component(
        key=key,
        data={"types": list(types), "max_bytes": max_bytes, "chunk_bytes": CHUNK_BYTES, "label": label},
        default={"uploads": None},
        on_uploads_change=lambda: None,
    )
    return _sent(getattr(result, "uploads", None))
