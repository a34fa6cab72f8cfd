"""A sealed (不公开) part is silence in the audio an account may not see it in (a viewer), and plays for the
clerk: `workbench.web.audio` serves every clip through `_sealed_silent`. Real store, real recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import clip
from store_samples import CASE, CONSOLE, OTHER_CASE, court_accounts, hearing

from workbench.accounts import Access, Accounts
from workbench.speech.audio import SAMPLE_RATE
from workbench.store import Store
from workbench.web.audio import _sealed_silent
from workbench.web.clips import clip_wav, silence

HEADER = 44


def _samples(wav: bytes) -> np.ndarray:
    return np.frombuffer(wav[HEADER:], dtype=np.int16)


def test_silence_zeroes_exactly_the_span_and_keeps_the_length() -> None:
    wav = bytes(HEADER) + np.full(SAMPLE_RATE * 3, 1000, dtype=np.int16).tobytes()  # 3 s from 10 s in
    out = _samples(silence(wav, 10.0, [(11.0, 12.0), (9.0, 10.5), (20.0, 21.0)]))
    assert len(out) == SAMPLE_RATE * 3
    assert not out[: SAMPLE_RATE // 2].any()  # 10.0–10.5: the part of a span before the clip is cut off
    assert out[SAMPLE_RATE // 2 : SAMPLE_RATE].all()
    assert not out[SAMPLE_RATE : 2 * SAMPLE_RATE].any()
    assert out[2 * SAMPLE_RATE :].all()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "wb.duckdb")
    hid = hearing(s)
    s.ensure_case(OTHER_CASE, actor=CONSOLE)
    court_accounts(s)
    sha, stored = s.store_audio(clip("zh_aishell1_BAC009S0764W0121.wav"))
    with s.writing() as con:
        s.add_recording(hid, file_name="a.wav", stored_path=stored, sha256=sha, duration=4.0, format="wav", con=con)
    s.seal(hid, 1.0, 2.0, "涉及个人隐私", actor=CONSOLE)
    assert s.hearing(hid).case_number == CASE
    return s


def test_a_viewer_hears_silence_where_the_record_is_sealed_and_the_clerk_hears_it(store: Store) -> None:
    [recording] = store.recordings(1)
    wav = clip_wav(recording.stored_path, 0.0, 3.0)
    assert _samples(wav)[SAMPLE_RATE : 2 * SAMPLE_RATE].any(), "the clip has speech where the part is sealed"

    def heard(name: str) -> np.ndarray:
        access = Access(store, Accounts(store).get(name), "test")
        return _samples(_sealed_silent(access, recording, wav, 0.0, 3.0))

    viewer, clerk, admin = heard("qian"), heard("wang"), heard("root")
    assert not viewer[SAMPLE_RATE : 2 * SAMPLE_RATE].any()
    assert viewer[:SAMPLE_RATE].any() and len(viewer) == len(_samples(wav))
    assert (clerk == _samples(wav)).all() and (admin == _samples(wav)).all()
    # a clip that does not reach the sealed part is the same bytes for the viewer
    later = clip_wav(recording.stored_path, 2.5, 1.0)
    access = Access(store, Accounts(store).get("qian"), "test")
    assert _sealed_silent(access, recording, later, 2.5, 1.0) is later
