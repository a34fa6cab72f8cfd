"""How long each page's script ran on the server, in the server's log."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

log = logging.getLogger("workbench.web.timing")

SLOW_PAGE_S = 0.5  # page runs at least this long are logged at INFO (all of them at DEBUG)


@contextlib.contextmanager
def page_timer(name: str) -> Iterator[None]:
    """Logs how long a page's script ran on the server: wall time and this thread's CPU time.

    Wall time well above CPU time means the run waited (for a core, or for the GIL).
    Streamlit ends a page early with exceptions (st.stop, st.rerun); the run is logged all the same.
    """
    t0, c0 = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
        log.log(
            logging.INFO if wall >= SLOW_PAGE_S else logging.DEBUG,
            "page %s ran %.0f ms (CPU %.0f ms)",
            name,
            wall * 1000,
            cpu * 1000,
        )
