"""Speech activity per seat channel: frame powers, noise floors, crosstalk coupling, margins, turns (numpy only).

Stage 1 of `workbench.speech.channels` (see its docstring).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from workbench.speech import audio

log = logging.getLogger("workbench.speech.channels")

FRAME = audio.SAMPLE_RATE // 100  # 10 ms: the unit of speech activity
FRAME_S = FRAME / audio.SAMPLE_RATE
_TINY = 1e-12  # power floor: log10 of digital silence
SILENT_DB = -100.0  # a frame below this is digital silence (a muted input), not a room's noise


@dataclass(frozen=True, slots=True)
class ActivityParams:
    """How speech activity is decided per channel: margins in dB over the noise floor and over predicted crosstalk."""

    noise_on_db: float = 10.0  # a turn starts where a frame stands this far above the channel's noise floor ...
    bleed_on_db: float = 6.0  # ... and this far above the crosstalk predicted from the other seats
    noise_off_db: float = 6.0  # it lasts while its frames stay this far above both
    bleed_off_db: float = 3.0
    # ... and within this much of the channel's own speech level (its loudest frames): a seat's background
    # (a recording's hiss, a room's murmur) that stands over the noise floor is still not speech
    level_on_db: float = 28.0
    level_off_db: float = 30.0
    level_percentile: float = 99.5  # the channel's speech level: this percentile of its candidate frames
    smooth_frames: int = 3  # power averaged over 30 ms before anything is decided
    bleed_reach_frames: int = 2  # a neighbour's level is its maximum over ±20 ms (acoustic delay, echo)
    floor_percentile: float = 10.0  # a channel's noise floor: this percentile of its frame levels
    coupling_percentile: float = 30.0  # the crosstalk level among level differences (the low cluster)
    coupling_min_db: float = -40.0  # a coupling measured weaker than this is taken as this
    coupling_max_db: float = -10.0  # never assume a neighbour closer than this (two talkers stay apart)
    coupling_unknown_db: float = -12.0  # too little of a seat alone to measure: compare with the loudest
    merge_gap_s: float = 0.6  # pauses shorter than this stay inside one turn (breaths between words)
    min_turn_s: float = 0.25  # shorter bursts are knocks and coughs
    pad_s: float = 0.05  # each turn widened by this much (onsets and decays under the threshold)


@dataclass(frozen=True, slots=True)
class Turn:
    """One stretch of one channel's own speech, in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


# --- speech activity (numpy only) ---------------------------------------------------------------


def frame_powers(source: Iterable[np.ndarray]) -> np.ndarray:
    """(channels, n) blocks -> (channels, frames) float32 mean power of each 10 ms frame (the last partial dropped)."""
    parts: list[np.ndarray] = []
    carry: np.ndarray | None = None
    for block in source:
        block = np.asarray(block, dtype=np.float32)
        if carry is not None and carry.shape[1]:
            block = np.concatenate([carry, block], axis=1)
        n = block.shape[1] // FRAME
        frames = block[:, : n * FRAME].reshape(block.shape[0], n, FRAME)
        parts.append(np.einsum("cnf,cnf->cn", frames, frames, dtype=np.float32) / FRAME)
        carry = block[:, n * FRAME :]
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(parts, axis=1)


def _smooth(powers: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along frames."""
    if width <= 1 or powers.shape[1] < width:
        return powers
    kernel = np.ones(width, dtype=np.float32) / width
    return np.stack([np.convolve(row, kernel, mode="same") for row in powers])


def _max_reach(levels: np.ndarray, reach: int) -> np.ndarray:
    """Each frame's maximum over ±`reach` frames, along frames."""
    out = levels.copy()
    for shift in range(1, reach + 1):
        np.maximum(out[:, shift:], levels[:, :-shift], out=out[:, shift:])
        np.maximum(out[:, :-shift], levels[:, shift:], out=out[:, :-shift])
    return out


def estimate_coupling(levels: np.ndarray, floors: np.ndarray, params: ActivityParams = ActivityParams()) -> np.ndarray:
    """(seats, seats) dB: how far down seat k's voice arrives on seat s's microphone (`coupling[s, k]`).

    Measured over the frames where k talks loudly (25 dB over its floor) and stands out the most of all
    seats: there the level difference s - k is the crosstalk (or s's noise, when the crosstalk stays under
    it) where s is silent, and s's own level where s talks too; the low cluster (a low percentile) is the
    crosstalk. Where k's voice stays under s's noise the value comes out low, and predicts nothing.
    """
    count = levels.shape[0]
    coupling = np.full((count, count), params.coupling_min_db, dtype=np.float32)
    if count < 2:
        return coupling
    snr = levels - floors[:, None]
    loudest = np.argmax(snr, axis=0)
    for k in range(count):
        alone = (loudest == k) & (snr[k] > 25.0)
        frames = int(alone.sum())
        for s in range(count):
            if s == k:
                continue
            if frames < 100:  # under a second of k alone: cannot measure, so compare with the loudest
                coupling[s, k] = params.coupling_unknown_db
                continue
            difference = levels[s, alone] - levels[k, alone]
            value = float(np.percentile(difference, params.coupling_percentile))
            coupling[s, k] = min(max(value, params.coupling_min_db), params.coupling_max_db)
    return coupling


def _noise_floors(levels: np.ndarray, percentile: float) -> np.ndarray:
    """Each channel's noise floor (dB) among its frames above digital silence: a microphone muted to exact zeros
    before the opening or in a recess must not put its floor at -120 dB, or its live room noise reads as speech."""
    floors = np.full(levels.shape[0], SILENT_DB, dtype=np.float32)
    for c, row in enumerate(levels):
        live = row[row > SILENT_DB]
        if live.size:
            floors[c] = np.percentile(live, percentile)
    return floors


def speech_margins(powers: np.ndarray, params: ActivityParams = ActivityParams()) -> tuple[np.ndarray, np.ndarray]:
    """(seats, frames) power -> dB by which each frame stands over its noise floor, and over predicted crosstalk."""
    smoothed = _smooth(powers.astype(np.float32, copy=False), params.smooth_frames)
    levels = 10.0 * np.log10(smoothed + _TINY)
    del smoothed
    floors = _noise_floors(levels, params.floor_percentile)
    coupling = estimate_coupling(levels, floors, params)
    reach = _max_reach(levels, params.bleed_reach_frames)
    over_bleed = np.empty_like(levels)
    for s in range(levels.shape[0]):
        expected = np.full(levels.shape[1], _TINY, dtype=np.float32)
        for k in range(levels.shape[0]):
            if k != s:
                expected += 10.0 ** ((reach[k] + coupling[s, k]) / 10.0)
        over_bleed[s] = levels[s] - 10.0 * np.log10(expected)
    log.debug("floors %s dB; coupling (dB) %s", np.round(floors, 1).tolist(), np.round(coupling, 1).tolist())
    return levels - floors[:, None], over_bleed


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) frame indices of the True runs of a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)


def turns_from_margins(
    over_noise: np.ndarray, over_bleed: np.ndarray, duration: float, params: ActivityParams = ActivityParams()
) -> list[Turn]:
    """One channel's frame margins -> its turns: hysteresis, then merged gaps, minimum length, padding."""
    lasting = (over_noise > params.noise_off_db) & (over_bleed > params.bleed_off_db)
    if not lasting.any():
        return []
    # the channel's own speech level, from the frames that pass the noise and crosstalk tests
    level = float(np.percentile(over_noise[lasting], params.level_percentile))
    lasting &= over_noise > level - params.level_off_db
    starts, ends = _runs(lasting)
    if starts.size == 0:
        return []
    above = (
        (over_noise > params.noise_on_db)
        & (over_bleed > params.bleed_on_db)
        & (over_noise > level - params.level_on_db)
    ).astype(np.int8)
    keep = np.maximum.reduceat(above, starts) > 0
    spans: list[list[float]] = []
    for a, b in zip(starts[keep], ends[keep], strict=True):
        begin, end = a * FRAME_S, b * FRAME_S
        if spans and begin - spans[-1][1] < params.merge_gap_s:
            spans[-1][1] = end
        else:
            spans.append([begin, end])
    turns: list[Turn] = []
    for begin, end in spans:
        if end - begin < params.min_turn_s:
            continue
        begin, end = max(0.0, begin - params.pad_s), min(duration, end + params.pad_s)
        if turns and begin <= turns[-1].end:
            turns[-1] = Turn(turns[-1].start, end)
        else:
            turns.append(Turn(round(begin, 3), round(end, 3)))
    return turns


def channel_turns(powers: np.ndarray, params: ActivityParams = ActivityParams()) -> list[list[Turn]]:
    """(seats, frames) frame powers of the seat channels -> each seat's turns, crosstalk rejected."""
    if powers.size == 0:
        return [[] for _ in range(powers.shape[0])]
    duration = powers.shape[1] * FRAME_S
    over_noise, over_bleed = speech_margins(powers, params)
    return [turns_from_margins(n, b, duration, params) for n, b in zip(over_noise, over_bleed, strict=True)]
