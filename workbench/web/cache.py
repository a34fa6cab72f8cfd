"""The server's one runtime (store, queue, worker), kept in Streamlit's resource cache.

`st.cache_resource` makes the runtime one per server process, shared by every browser session and by
the server's own routes (sign-in, audio: `workbench.web.audio` keeps the clips played last). Streamlit
picks a cache's storage when the function is defined, so this module is imported only once Streamlit's
runtime exists (see `workbench.web.asgi`).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from workbench import desk, settings
from workbench.server.logs import log_to_stderr
from workbench.server.runtime import Runtime
from workbench.store import Store
from workbench.web import audio


@st.cache_resource(show_spinner=False)
def _runtime(db_path: str, workers: int) -> Runtime:
    # Keyed by the database, so a test (or a settings change) with another file gets its own runtime.
    log_to_stderr()
    rt = Runtime.create(Path(db_path), workers=workers)
    rt.on_unload.append(audio.clips.clear)  # the /audio route's clips
    rt.on_unload.append(desk.forget_spans)  # the desk's words placed on the texts (up to ~30 MB)
    rt.warm_up()
    return rt


def runtime() -> Runtime:
    """The server process's one runtime (store + worker), started on first use."""
    return _runtime(str(settings.db_path()), int(settings.get("workers")))


def store() -> Store:
    """The runtime's store: what the pages and the server's own routes (sign-in, audio) read and write."""
    return runtime().store
