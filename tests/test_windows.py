"""Whisper's windows: speech packed end to end across chunk edges, and times mapped back to the recording."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.speech.asr.windows import Timeline, WindowPacker
from workbench.speech.audio import SAMPLE_RATE


def _chunk(seconds: float, marker: float) -> np.ndarray:
    return np.full(int(seconds * SAMPLE_RATE), marker, dtype=np.float32)


def _s(seconds: float) -> int:
    return int(seconds * SAMPLE_RATE)


def test_packing_leaves_out_silence_and_fills_windows_across_chunks() -> None:
    packer = WindowPacker(max_window=30.0)
    first = _chunk(240, 1.0)
    # 10 s + 12 s of speech with silence between, then 6 s at the chunk's very end
    packer.add(0.0, first, [(_s(5), _s(15)), (_s(40), _s(52)), (_s(234), _s(240))])
    assert packer.ready() == 0  # 28 s wait for more: the chunk's end does not close the window
    second = _chunk(100, 2.0)
    packer.add(240.0, second, [(0, _s(4)), (_s(50), _s(70))])  # 4 s continue the 6 s; 20 s more
    assert packer.ready() == 1
    assert packer.pending_start() == 5.0
    batch = packer.take(4)
    assert batch is not None and packer.ready() == 0
    # 10 + 12 + (6 + 4, one stretch across the chunk edge) = 32 s > 30: the stretch moves whole to window 2
    assert batch.windows == [{"start": 0.0, "end": 22.0}]
    assert batch.samples.shape[0] == _s(22)
    assert packer.pending_start() == 234.0
    (rest,) = packer.flush()
    assert rest.windows == [{"start": 0.0, "end": 30.0}]  # 10 s stretch + 20 s: full, not over
    assert rest.samples[: _s(6)].max() == 1.0 and rest.samples[_s(6) : _s(10)].min() == 2.0
    assert rest.timeline.start(7.0) == pytest.approx(241.0)  # the stretch spans the chunk edge unbroken
    assert rest.timeline.start(12.0) == pytest.approx(292.0)
    assert packer.flush() == [] and packer.pending_start() is None


def test_a_window_never_exceeds_thirty_seconds() -> None:
    packer = WindowPacker(max_window=30.0)
    chunk = _chunk(120, 1.0)
    packer.add(0.0, chunk, [(0, _s(45)), (_s(50), _s(79))])  # an over-long region is laid over two windows
    (batch,) = packer.flush()
    lengths = [w["end"] - w["start"] for w in batch.windows]
    assert lengths == pytest.approx([30.0, 15.0, 29.0])
    assert batch.samples.shape[0] == _s(74)


def test_pieces_are_copies_so_a_chunk_can_go() -> None:
    packer = WindowPacker()
    chunk = _chunk(60, 1.0)
    packer.add(0.0, chunk, [(0, _s(10))])
    chunk[:] = 0.0
    (batch,) = packer.flush()
    assert batch.samples.min() == 1.0


def test_timeline_maps_seams_to_the_right_side() -> None:
    timeline = Timeline()
    timeline.add(0.0, 100.0, 10.0)  # packed 0–10 s was recorded at 100–110 s
    timeline.add(10.0, 250.0, 5.0)  # packed 10–15 s at 250–255 s
    assert timeline.start(3.0) == 103.0 and timeline.end(3.0) == 103.0
    assert timeline.start(10.0) == 250.0  # a word starting at the seam starts in the later piece
    assert timeline.end(10.0) == 110.0  # a word ending at the seam ends in the earlier piece
    assert timeline.end(12.5) == 252.5
    assert timeline.end(99.0) == 255.0  # past the end: held at the last piece's end
    assert timeline.start(-1.0) == 100.0


def test_a_word_across_a_seam_stays_in_the_piece_that_holds_most_of_it() -> None:
    timeline = Timeline()
    timeline.add(0.0, 0.0, 11.0)
    timeline.add(11.0, 51.0, 3.0)
    assert timeline.span(10.8, 11.5) == pytest.approx((51.0, 51.5))  # not 10.8 → 51.5, over 40 s of silence
    assert timeline.span(10.2, 11.1) == pytest.approx((10.2, 11.0))
    assert timeline.span(12.0, 12.4) == pytest.approx((52.0, 52.4))


def test_a_window_closes_between_touching_regions_not_before_their_whole_run() -> None:
    packer = WindowPacker(max_window=30.0)
    chunk = _chunk(120, 1.0)
    # 20 s, then three 6 s regions whose padding meets (pauses of a few hundred ms between them)
    packer.add(0.0, chunk, [(0, _s(20)), (_s(25), _s(31)), (_s(31), _s(37)), (_s(37), _s(43))])
    (batch,) = packer.flush()
    # 20 + 6 fill the first window; the run of touching regions is not moved whole (which left 20 s)
    assert [w["end"] - w["start"] for w in batch.windows] == pytest.approx([26.0, 12.0])
    assert batch.timeline.start(27.0) == pytest.approx(32.0)  # touching pieces map as one stretch
    assert batch.timeline.span(37.0, 38.5) == pytest.approx((42.0, 43.0))
