"""`/audio/<recording_id>?start=S&dur=D`: a stretch of a recording as WAV, for a session that may hear it.

This replaces `st.audio(bytes)`, whose `/media/<hash>` URLs answered anyone who had one. The hearing is
checked with the session's `Access` on every request; a recording that does not exist and one of another
case answer the same 404, so an id tells nothing. Each play is audited (`audio_played` with the range).

HTTP Range requests are served (206 with Content-Range): Chromium's media player asks for `bytes=0-`
first and seeks in a WAV by asking for the byte range of the new position; without ranges it can only
play from the start (`currentTime` jumps back to 0). The audit row is written for the request that
sends a session a clip it had not been sent (any range of it), not for every seek. A sealed (不公开) part of the
clip is silence for an account that may not see sealed text (a viewer), the length unchanged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from workbench.accounts import HEARING_NOT_YOURS, Access, Account, NotYours
from workbench.store import audit
from workbench.store.records import NotFound, Recording
from workbench.web.clips import clip_wav, silence

if TYPE_CHECKING:
    from workbench.store import Store

log = logging.getLogger("workbench.web.audio")

MAX_DURATION_S = 300.0  # as workbench.web.clips.PLAY_WINDOW_S: five minutes per request
MAX_START_S = 7 * 24 * 3600.0  # no recording is a week long
CLIPS_KEPT = 6  # ~10 MB each at 16 kHz mono for five minutes
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class _Clips:
    """The last few clips made, so a seek (a Range request) does not decode the audio again."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, float, float], bytes] = OrderedDict()
        self._guard = threading.Lock()

    def get(self, path: Path, start: float, duration: float) -> bytes:
        key = (str(path), start, duration)
        with self._guard:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        data = clip_wav(path, start, duration)
        with self._guard:
            self._items[key] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data

    def clear(self) -> None:
        with self._guard:
            self._items.clear()


clips = _Clips(CLIPS_KEPT)


class _Played:
    """The clips each session has been sent, so a play is audited once, whatever bytes of it the player asks
    for: a seek is a Range request of the same clip, and a range that skips byte 0 still carries the audio."""

    def __init__(self, size: int = 5000, keep_s: float = 1800.0) -> None:
        self.size, self.keep_s = size, keep_s
        self._seen: OrderedDict[tuple[str, int, float, float], float] = OrderedDict()
        self._guard = threading.Lock()

    def first_time(self, token: str, recording_id: int, start: float, duration: float) -> bool:
        key = (hashlib.sha256(token.encode()).hexdigest(), recording_id, start, duration)
        now = time.monotonic()
        with self._guard:
            seen = self._seen.get(key)
            self._seen[key] = now
            self._seen.move_to_end(key)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)
        return seen is None or now - seen > self.keep_s


played = _Played()


def _not_found() -> Response:
    return PlainTextResponse(HEARING_NOT_YOURS, status_code=404, headers={"cache-control": "no-store"})


def _bad(message: str) -> Response:
    return PlainTextResponse(message, status_code=400, headers={"cache-control": "no-store"})


def _seconds(raw: str | None, name: str, default: float, top: float) -> float:
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: 需要秒数 (expected seconds), got {raw[:20]!r}") from None
    if not math.isfinite(value) or value < 0 or value > top:
        raise ValueError(f"{name}: 应在 0 到 {top:g} 秒之间 (must be between 0 and {top:g} seconds)")
    return value


def parse_range(header: str | None, size: int) -> tuple[int, int] | str | None:
    """(first, last) bytes of a single `bytes=` range; None for no (or an ignorable) header; "bad" if unsatisfiable."""
    if not header:
        return None
    m = _RANGE.fullmatch(header.strip())
    if m is None:
        return None  # several ranges or another unit: the whole file (allowed by RFC 9110)
    first_s, last_s = m.groups()
    if not first_s and not last_s:
        return None
    if not first_s:  # the last N bytes
        n = int(last_s)
        if n == 0:
            return "bad"
        return max(size - n, 0), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        return "bad"
    return first, min(last, size - 1)


def _hearing_of(store: Store, account: Account, client: str, recording_id: int) -> tuple[Access, Recording]:
    access = Access(store, account, client)
    recording = store.recording(recording_id)
    access.hearing(recording.hearing_id)  # NotYours for another case's hearing
    return access, recording


def _sealed_silent(access: Access, recording: Recording, data: bytes, start: float, duration: float) -> bytes:
    """The clip with its sealed (不公开) parts silent for an account that may not see them (a viewer): what is
    left out of every export and of a viewer's transcript is not played to them either."""
    hearing = access.store.hearing(recording.hearing_id)
    if access.may_see_sealed(hearing.case_id):
        return data
    end = start + duration
    spans = [(p.start, p.end) for p in access.store.sealed_parts(hearing.id) if p.start < end and p.end > start]
    return silence(data, start, spans) if spans else data


async def audio(request: Request) -> Response:
    account: Account | None = getattr(request.state, "account", None)
    store = getattr(request.state, "store", None)
    if account is None or store is None:  # the guard lets no one here without a session
        return PlainTextResponse("请先登录 (sign in first)", status_code=401)
    try:
        recording_id = int(request.path_params["recording_id"])
    except (KeyError, ValueError):
        return _not_found()
    if not 0 < recording_id < 2**31:
        return _not_found()
    try:
        start = _seconds(request.query_params.get("start"), "start", 0.0, MAX_START_S)
        duration = _seconds(request.query_params.get("dur"), "dur", MAX_DURATION_S, MAX_DURATION_S)
    except ValueError as e:
        return _bad(str(e))
    if duration <= 0:
        return _bad("dur: 应大于 0 (must be more than 0 seconds)")
    client = request.client.host if request.client else "unknown"
    try:
        access, recording = await run_in_threadpool(_hearing_of, store, account, client, recording_id)
    except (NotYours, NotFound):
        return _not_found()

    try:
        data = await run_in_threadpool(clips.get, recording.stored_path, start, duration)
    except Exception as e:  # a missing or undecodable file: say so without the server's paths
        log.warning("recording %s: cannot make a clip: %s", recording_id, e)
        return PlainTextResponse("无法读取录音 (the recording cannot be read)", status_code=500)

    try:
        data = await run_in_threadpool(_sealed_silent, access, recording, data, start, duration)
    except NotFound:
        return _not_found()
    size = len(data)
    wanted = parse_range(request.headers.get("range"), size)
    token = getattr(request.state, "session_token", "") or ""
    if request.method == "GET" and played.first_time(token, recording_id, start, duration):
        detail = {"recording_id": recording_id, "start": round(start, 3), "duration": round(duration, 3)}
        await run_in_threadpool(
            store.record, access.actor, audit.AUDIO_PLAYED, hearing_id=recording.hearing_id, detail=detail
        )
    headers = {
        "accept-ranges": "bytes",
        "cache-control": "private, no-store",  # a court recording is not kept in a shared machine's cache
        "content-type": "audio/wav",
    }
    if wanted == "bad":
        return Response(b"", status_code=416, headers={**headers, "content-range": f"bytes */{size}"})
    if wanted is None:
        return Response(data, headers=headers)
    first, last = wanted  # type: ignore[misc]
    headers["content-range"] = f"bytes {first}-{last}/{size}"
    return Response(data[first : last + 1], status_code=206, headers=headers)


def routes() -> list[Route]:
    return [Route("/audio/{recording_id}", audio, methods=["GET", "HEAD"])]
