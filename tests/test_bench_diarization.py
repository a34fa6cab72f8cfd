"""The diarization bench's --peer path (bench/diarization.py): pyannote's own pipeline with our two models.

Runs both engines on the first 20 s of pyannote's sample (both its voices; the peer embeds every 10 s chunk
of every local speaker, so the whole 30 s costs it 20-40 s on these 2 cores) in this process, the models
loaded once per session through `workbench.models.memory`, so that the side-by-side bench cannot rot unseen.
"""

from __future__ import annotations

import sys
import wave
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/ is scripts, not an installed package
from bench import diarization as bench

SAMPLE = bench.DATA / "pyannote_sample.wav"
CUT_S = 20.0


@pytest.fixture(scope="module")
def short_sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """pyannote_sample cut to its first `CUT_S` seconds, with its reference cut the same way."""
    from workbench.speech import audio

    folder = tmp_path_factory.mktemp("short")
    wav, rttm = folder / "pyannote_sample.wav", folder / "pyannote_sample.rttm"
    samples = audio.load(SAMPLE)[: int(CUT_S * audio.SAMPLE_RATE)]
    with wave.open(str(wav), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(audio.SAMPLE_RATE)
        sink.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    lines = []
    for line in SAMPLE.with_suffix(".rttm").read_text().splitlines():
        f = line.split()
        start, end = float(f[3]), min(float(f[3]) + float(f[4]), CUT_S)
        if end > start:
            f[4] = f"{end - start:.3f}"
            lines.append(" ".join(f))
    rttm.write_text("\n".join(lines) + "\n")
    return wav, rttm


@pytest.fixture(scope="module")
def rows(models_dir: Path, short_sample: tuple[Path, Path]) -> list[dict]:
    return [bench.run_one(*short_sample, "ours"), bench.run_one(*short_sample, "peer")]


@pytest.mark.slow
def test_peer_is_pyannotes_pipeline_with_our_models(models_dir: Path) -> None:
    from pyannote.audio.pipelines import SpeakerDiarization
    from pyannote.audio.pipelines.clustering import AgglomerativeClustering

    from workbench.speech.diarization.embedding import CamppEmbedding
    from workbench.speech.diarization.streaming import CamppSpeakerDiarization

    peer = bench.peer_pipeline()
    assert type(peer) is SpeakerDiarization and not isinstance(peer, CamppSpeakerDiarization)
    assert isinstance(peer._embedding, CamppEmbedding)
    assert type(peer.clustering) is AgglomerativeClustering
    assert peer.clustering.method == "centroid" and peer.clustering.min_cluster_size == 12
    assert peer.clustering.threshold == pytest.approx(0.7045654963945799)
    assert peer.embedding_exclude_overlap is True and peer._segmentation.step == pytest.approx(1.0)


@pytest.mark.slow
def test_peer_and_ours_scored_side_by_side(rows: list[dict]) -> None:
    ours, peer = rows
    assert (ours["engine"], peer["engine"]) == ("ours", "peer")
    for row in rows:
        assert row["ref"] == 2 and row["duration"] == pytest.approx(CUT_S, abs=0.1)
        assert 0.0 <= row["der25"] <= row["der0"] <= 1.0 and row["rtf"] > 0 and row["cpu"] > 0
    # both find the two voices of pyannote's own sample; ours is not worse there
    assert peer["found"] == 2 and peer["der25"] < 0.15
    assert ours["found"] == 2 and ours["der25"] <= peer["der25"]
    table = bench.side_by_side(rows)
    line = next(t for t in table if t.startswith("| pyannote_sample |"))
    assert f"{ours['der25']:.1%} / {peer['der25']:.1%}" in line
    assert f"{ours['rtf']:.3f} / {peer['rtf']:.3f}" in line
    assert table[-1] == "peer better at collar 0.25 on: none"


def test_side_by_side_names_the_files_where_the_peer_is_better() -> None:
    def row(file: str, engine: str, der: float) -> dict:
        return dict(file=file, engine=engine, duration=30.0, der25=der, der0=der, found=2, ref=2, rtf=0.1, cpu=3.0)

    rows = [row("a", "ours", 0.1), row("a", "peer", 0.2), row("b", "ours", 0.3), row("b", "peer", 0.2)]
    table = bench.side_by_side(rows)
    assert table[-1] == "peer better at collar 0.25 on: b"
    assert sum(t.startswith("| a |") or t.startswith("| b |") for t in table) == 2
