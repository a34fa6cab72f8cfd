"""`bench/asr.py --peer`: ours and faster-whisper's batched pipeline in child processes, measured and scored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import asr as bench_asr  # noqa: E402
from bench import inputs  # noqa: E402

CLIP = inputs.TESTDATA / "asr" / "zh_aishell1_BAC009S0764W0121.wav"


def test_run_child_measures_the_child_alone() -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\nprint('done')"
    run, stdout = bench_asr.run_child("ours", [sys.executable, "-c", burn])
    assert stdout.strip() == "done"
    assert run.cpu_s >= 0.25  # the child's own CPU time, from os.wait4
    assert run.wall_s >= run.cpu_s * 0.5 and run.peak_mb > 5


def test_run_child_names_a_failure() -> None:
    with pytest.raises(RuntimeError, match=r"peer failed \(exit 3\).*broken"):
        bench_asr.run_child("peer", [sys.executable, "-c", "import sys; print('broken', file=sys.stderr); sys.exit(3)"])


def test_score_counts_characters_for_mandarin_and_words_for_english() -> None:
    # Traditional script and punctuation are not errors
    assert bench_asr.score("zh", "甚至出现交易几乎停滞的情况", "甚至出現交易幾乎停滯的情況。") == (0, 13)
    assert bench_asr.score("zh", "甚至出现交易", "甚至交易") == (2, 6)
    assert bench_asr.score("en", "Ask not what your country", "ask what your country can") == (2, 5)


@pytest.mark.skipif(not CLIP.exists(), reason="../shared/testdata is not here")
def test_peer_machinery_on_a_clip(capsys: pytest.CaptureFixture[str]) -> None:
    """Both sides really run (the real model, two processes) and are scored against the clip's reference."""
    report = bench_asr.compare([], [CLIP])
    assert [r.side for r in report.clip_runs] == ["ours", "peer"]
    for run in report.clip_runs:
        assert run.wall_s > 0 and run.cpu_s > 0.5 and run.peak_mb > 100  # a model was loaded and ran
        assert set(run.texts) == {CLIP.name} and run.texts[CLIP.name].strip()
    metric, ours_rate = report.scores[CLIP.name]["ours"]
    assert metric == "CER" and ours_rate < 30 and report.scores[CLIP.name]["peer"][1] < 30
    assert report.totals["ours"]["zh"].length == 13

    # the side-by-side table of long runs, from figures that need no model
    report.long_inputs, report.audio_s = [CLIP], 4.2
    report.runs = [
        bench_asr.ChildRun("ours", 10.0, 8.0, 400.0, 4.2),
        bench_asr.ChildRun("peer", 12.0, 10.0, 500.0, 4.2),
    ]
    bench_asr.print_report(report, 2)
    out = capsys.readouterr().out
    assert "ours ÷ peer: wall 0.83×, CPU 0.80×" in out
    assert "  1 ours         4     10.0      8.0         1.9048      400" in out
    assert f"{CLIP.name:38} CER" in out
