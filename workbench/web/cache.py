"""What the pages keep between runs, in Streamlit's caches: the server's one runtime, and audio clips.

`st.cache_resource` makes the runtime one per server process, shared by every browser session;
`st.cache_data` keeps the clips played last. Streamlit picks a cache's storage when the function is
defined, so this module is imported only once Streamlit's runtime exists (see `workbench.cli.serve`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench import settings
from workbench.server.logs import log_to_stderr
from workbench.server.runtime import Runtime
from workbench.web.clips import clip_wav


@st.cache_resource(show_spinner=False)
def _runtime(db_path: str, workers: int) -> Runtime:
    # Keyed by the database, so a test (or a settings change) with another file gets its own runtime.
    log_to_stderr()
    rt = Runtime.create(Path(db_path), workers=workers)
    rt.on_unload.append(clip.clear)
    rt.warm_up()
    return rt


def runtime() -> Runtime:
    """The server process's one runtime (store + worker), started on first use."""
    return _runtime(str(settings.db_path()), int(settings.get("workers")))


@st.cache_data(show_spinner=False, max_entries=24)
def clip(path: str, start: float, duration: float) -> bytes:
    """`clip_wav`, cached: the review page redraws on every click, the audio is the same."""
    return clip_wav(Path(path), start, duration)
