"""Which browser session an exported file was made for: its `/media/` URL answers that session alone.

A download button's file is made on the click (`widgets.export_button`, checked and audited there)
and served by Streamlit at `/media/<id>.<ext>`, where the id is a hash of the file. Streamlit serves
that URL to whoever asks; the guard in front of it (`workbench.web.asgi`) asks `may_fetch` first, so a
URL copied from one clerk's browser (its history, a shared courtroom PC) gives another signed-in
account nothing. The id is computed the way Streamlit's media storage computes it, when the bytes
are handed over.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from streamlit.runtime.memory_media_file_storage import _calculate_file_id

KEEP_S = 3600.0  # a download link older than an hour is refused (the button makes a new file on a click)
KEEP_MAX = 2000

_grants: OrderedDict[str, tuple[str, float]] = OrderedDict()  # file id -> (session token's sha256, when)
_guard = threading.Lock()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def allow(body: bytes, mimetype: str | None, file_name: str, token: str) -> str:
    """Records that the file made of `body` is the session's (`token`'s); returns its media id."""
    file_id = _calculate_file_id(body, mimetype or "application/octet-stream", file_name)
    with _guard:
        _grants[file_id] = (_token_digest(token), time.monotonic())
        _grants.move_to_end(file_id)
        while len(_grants) > KEEP_MAX:
            _grants.popitem(last=False)
    return file_id


def may_fetch(path: str, token: str) -> bool:
    """Whether the session may fetch this `/media/` path: only a file made for it, not long ago.

    Fails closed: our pages put nothing else under `/media/` (audio goes through `/audio`), so a file
    with no grant, or an old one, is refused.
    """
    file_id = path.rsplit("/", 1)[-1].split(".", 1)[0]
    with _guard:
        grant = _grants.get(file_id)
    if grant is None or time.monotonic() - grant[1] > KEEP_S:
        return False
    return grant[0] == _token_digest(token)
