"""The server's log: where the worker's, the jobs', the unloading's and the slow pages' lines go."""

from __future__ import annotations

import logging


def log_to_stderr(level: int = logging.INFO, *, force: bool = False) -> None:
    """Sends the log (worker, jobs, unloading, slow pages) to the server's stderr, unless already set up
    (`force`: replacing the set-up, such as the `workbench` command's WARNING level).

    Streamlit configures only its own loggers; without this, our INFO lines would be dropped until some
    model library happened to configure the root logger (which then does nothing, as it already is).
    """
    if force or not logging.getLogger().handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=force)
